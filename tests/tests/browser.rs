//! The article's story end to end in a real browser: chromium opens pages
//! served by nginx + php-fpm (as www-data), rendered with a login token from
//! `MsgPush\Auth::token()`, logs in on msgpushd, and sees the messages a PHP
//! action pushes. Screenshots go to `tests/output/browser/`.

use std::process::Command;

use msgpush_testkit::nginx::Nginx;
use msgpush_testkit::php_fpm::PhpFpm;
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
