//! The article's story end to end in a real browser: chromium opens pages
//! served by nginx + php-fpm (as www-data), rendered with a login token from
//! `MsgPush\Auth::token()`, logs in on msgpushd, and sees the messages a PHP
//! action pushes. Screenshots go to `tests/output/browser/`.

use std::process::Command;

use msgpush_testkit::nginx::Nginx;
use msgpush_testkit::php_fpm::PhpFpm;
use msgpush_testkit::site::{site_address, ExampleSite};
use msgpush_testkit::*;
use serde_json::{json, Value};

/// Runs the chromium scenario `tests/js/SCRIPT` with `args` and its
/// `output` directory; returns the summary it printed last.
fn scenario(script: &str, args: &[&str], output: &std::path::Path, daemon: &Daemon) -> Value {
    let run = Command::new("node")
        .arg(repo_root().join("tests/js").join(script))
        .args(args)
        .arg(output)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{script} failed:\n{}\n{stdout}\ndaemon log:\n{}",
        String::from_utf8_lossy(&run.stderr),
        daemon.log()
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

#[test]
fn seed_scenario_in_chromium_through_nginx_and_php_fpm() {
    let daemon = Daemon::start_with(&["--socket-group", "www-data"]);
    let fpm = PhpFpm::start(&daemon.socket, &repo_root().join("php-examples/site"));
    // An existing front end's own copy of socket.io-client 2.x.
    let vendor = fpm.root.join("vendor");
    std::fs::create_dir_all(&vendor).unwrap();
    std::fs::copy(
        repo_root().join("node_modules/socket.io-client-v2/dist/socket.io.js"),
        vendor.join("socket.io-2.js"),
    )
    .unwrap();
    let nginx = Nginx::start(&fpm.root, fpm.addr, daemon.web, "");

    let output = repo_root().join("tests/output/browser");
    let _ = std::fs::remove_dir_all(&output);
    std::fs::create_dir_all(&output).unwrap();
    let summary = scenario("browser_scenario.js", &[&nginx.url(), &daemon.url()], &output, &daemon);

    assert_eq!(summary["push123"], json!({ "uid": "123", "sockets": 1 }));
    assert_eq!(summary["push456"], json!({ "uid": "456", "sockets": 1 }));
    assert_eq!(summary["broadcast"], json!({ "uid": "", "sockets": 2 }));
    let alice: Vec<&str> = summary["aliceMessages"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    let bob: Vec<&str> = summary["bobMessages"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert_eq!(
        alice,
        [
            "Man Always Remember Love Because Of Romance Only",
            "<img src=x onerror=\"document.title='owned'\">",
            "to everyone"
        ]
    );
    assert_eq!(bob, ["only for bob", "to everyone"], "user 456 never saw user 123's messages");
    assert_eq!(summary["bobClaims123"], "login refused: invalid token: not a login token");
    assert_eq!(summary["aliceTitle"], "msgpush example", "pushed markup was shown, not run");
    assert_eq!(summary["aliceCountAfterClose"], "当前1人在线，共打开1个页面");
    assert_eq!(summary["pushLegacy"], json!({ "uid": "789", "sockets": 1 }));
    assert!(summary["legacyTarget"].as_str().unwrap().contains("hello old page"));
    assert_eq!(summary["legacyClient"], 4, "the old page speaks socket.io protocol 4 (client 2.x)");
    for shot in ["alice-123.png", "bob-456.png", "alice-after-bob-left.png", "legacy-789.png"] {
        let size = std::fs::metadata(output.join(shot)).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "screenshot {shot} saved");
    }
}

#[test]
fn demo_page_form_push_reaches_another_tab() {
    let daemon = Daemon::start_with(&["--demo"]);
    let output = repo_root().join("tests/output/demo");
    let _ = std::fs::remove_dir_all(&output);
    std::fs::create_dir_all(&output).unwrap();
    let summary = scenario("demo_scenario.js", &[&daemon.url()], &output, &daemon);
    assert_eq!(summary, json!({ "senderGotIt": 0, "result": "reached 1 tab(s)" }), "only alice's tab got it");
    assert!(output.join("demo-receiver.png").exists());
}

#[test]
fn the_chat_room_page_shows_who_is_here_and_the_rooms_messages_in_chromium() {
    let daemon = Daemon::start_with(&["--socket-group", "www-data", "--offline-grace-secs", "3"]);
    let fpm = PhpFpm::start(&daemon.socket, &repo_root().join("php-examples/site"));
    let nginx = Nginx::start(&fpm.root, fpm.addr, daemon.web, "");
    let output = repo_root().join("tests/output/room");
    let _ = std::fs::remove_dir_all(&output);
    std::fs::create_dir_all(&output).unwrap();
    let summary = scenario("room_scenario.js", &[&nginx.url()], &output, &daemon);
    assert_eq!(
        summary,
        json!({
            "bobSees": ["123", "456 (you)"],
            "carolSees": ["789 (you)"],
            "aliceMessages": ["456: hello room 7", "123: hi bob"],
            "carolMessages": ["789: hello room 8"],
            "bobSeesAfterReload": ["123", "456 (you)"],
            "aliceHeard": ["joined room-7 456", "left room-7 456"],
        }),
        "each room's pages only, a reload neither a departure nor an arrival"
    );
    for shot in ["room-7-alice.png", "room-7-after-bob-left.png"] {
        assert!(std::fs::metadata(output.join(shot)).map(|m| m.len()).unwrap_or(0) > 1000, "screenshot {shot}");
    }
}

#[test]
fn msgpush_js_renews_its_token_recovers_acknowledges_once_and_follows_a_room_in_chromium() {
    let (addr, url) = site_address();
    let daemon = Daemon::start_with(&[
        "--socket-group",
        "www-data",
        "--webhook-url",
        &url,
        "--page-messages",
        "chat",
        "--offline-grace-secs",
        "1",
        "--dedup-window-secs",
        "1",
    ]);
    let site = ExampleSite::start(addr, &daemon);
    let output = repo_root().join("tests/output/helper");
    let _ = std::fs::remove_dir_all(&output);
    std::fs::create_dir_all(&output).unwrap();
    let api = format!("http://{}", daemon.http);
    let summary = scenario("helper_scenario.js", &[&site.url(), &api], &output, &daemon);

    assert!(summary["tokensFetched"].as_u64().unwrap() >= 1, "the 6 s token was renewed: {summary}");
    assert_eq!(summary["afterReload"], json!(["between"]), "a reload recovers only what came meanwhile");
    assert_eq!(
        summary["newTabGot"],
        json!(["boom"]),
        "the shown notice was acknowledged, the one whose handler threw was not"
    );
    assert_eq!(summary["onlyOnce"], 1, "a message delivered twice is shown once");
    assert_eq!(summary["answer"], json!({ "sent": 2 }), "the application answered the chat line (h1's two tabs)");
    assert_eq!(summary["membersAfter"], json!(["h1 (you)"]), "h2 left the room");
}

#[test]
fn msgpushd_serves_msgpush_js_and_its_types_check() {
    let daemon = Daemon::start();
    let (status, script) = http_get(daemon.web, "/msgpush.js");
    assert_eq!(status, 200);
    assert_eq!(script, std::fs::read_to_string(repo_root().join("js/msgpush.js")).unwrap());
    // The declarations, with a typed page using them, and a page that misuses them.
    let tsc = |project: &str| {
        Command::new(repo_root().join("node_modules/.bin/tsc"))
            .args(["--noEmit", "-p"])
            .arg(repo_root().join("tests/ts").join(project))
            .output()
            .expect("run tsc (TypeScript from npm)")
    };
    let good = tsc("tsconfig.json");
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stdout));
    let bad = tsc("tsconfig.misuse.json");
    let errors = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success() && errors.contains("misuse.ts"), "a wrong use must not type-check: {errors}");
}
