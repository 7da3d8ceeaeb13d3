//! The code users copy: the article's curl class against the HTTP API, and
//! the PHP examples, run for real against msgpushd.

use std::path::PathBuf;
use std::process::Command;

use msgpush_testkit::*;

#[test]
fn seed_curl_push_event_class_works_unchanged_against_the_http_api() {
    let daemon = Daemon::start();
    let mut browser = Browser::open_with(&daemon, BrowserOptions::new(ClientVersion::V2, "123"));
    daemon.wait_online("123", 1);
    let url = format!("http://{}/", daemon.http);
    let curl = ["extension=curl"];
    assert_eq!(php_ok(&daemon.socket, "seed_curl.php", &[&url, "123"], &curl).trim(), "ok");
    browser.expect_event("new_msg", &text("Man Always Remember Love Because Of Romance Only"));
    assert_eq!(php_ok(&daemon.socket, "seed_curl.php", &[&url, "999"], &curl).trim(), "offline");
    assert_eq!(php_ok(&daemon.socket, "seed_curl.php", &[&url, ""], &curl).trim(), "ok", "empty uid: everyone");
    browser.expect_count(2, |l| l["data"] == "Man Always Remember Love Because Of Romance Only");
}

fn example(path: &str) -> PathBuf {
    repo_root().join("php-examples").join(path)
}

#[test]
fn every_php_example_parses() {
    let mut files = Vec::new();
    let mut dirs = vec![repo_root().join("php-examples")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "php") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 5, "examples found: {files:?}");
    for file in files {
        let lint = Command::new("php").args(["-n", "-l"]).arg(&file).output().unwrap();
        assert!(lint.status.success(), "{}: {}", file.display(), String::from_utf8_lossy(&lint.stdout));
    }
}

#[test]
fn plain_and_bulk_examples_deliver() {
    let daemon = Daemon::start();
    let mut browser = Browser::open(&daemon, "42");
    daemon.wait_online("42", 1);
    let run = |script: &str, args: &[&str]| {
        let out = php_command(&daemon.socket, &[]).arg(example(script)).args(args).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(run("plain/push.php", &["42", "plain hello"]), "user 42 got it in 1 tab(s)");
    browser.expect_event("new_msg", &text("plain hello"));
    assert_eq!(run("plain/push.php", &["7", "x"]), "user 7 is offline");
    assert_eq!(run("plain/bulk_notify.php", &["1", "100", "bulk hello"]), "queued 100, dropped 0, all answered");
    browser.expect_event("new_msg", &text("bulk hello"));

    let down =
        php_command(&daemon.dir.path().join("absent.sock"), &[]).arg(example("plain/push.php")).output().unwrap();
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("push failed: cannot connect to msgpushd"));
}

#[test]
fn plain_page_example_renders_a_token_that_logs_its_user_in() {
    let daemon = Daemon::start();
    let signed_in = "session_id('example'); session_start(); $_SESSION['uid'] = '42'; session_write_close();";
    let out = php_command(&daemon.socket, &[])
        .arg("-r")
        .arg(format!("{signed_in} include '{}';", example("plain/page.php").display()))
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{page}{}", String::from_utf8_lossy(&out.stderr));
    let token = page.split("token: \"").nth(1).and_then(|rest| rest.split('"').next()).expect("a token in the page");
    let options = BrowserOptions {
        login: Some(token.to_owned()),
        via: Via::Handshake,
        ..BrowserOptions::new(ClientVersion::V4, "42")
    };
    let mut browser = Browser::open_with(&daemon, options);
    daemon.wait_online("42", 1);
    assert_eq!(daemon.unix().push_text("42", "for the page"), 1);
    browser.expect_event("new_msg", &text("for the page"));
}
