//! The extension under the real php-fpm (Debian's), workers running as
//! `www-data`, requests sent over FastCGI as nginx would.

use msgpush_testkit::php_fpm::PhpFpm;
use msgpush_testkit::*;
use serde_json::{json, Value};

/// Runs tests/php/fpm_push.php through php-fpm and parses its JSON answer.
fn push(fpm: &PhpFpm, uid: &str, text: &str) -> Value {
    let response = fpm.get("fpm_push.php", &format!("uid={uid}&text={text}"));
    let body = response.split_once("\r\n\r\n").map_or(response.as_str(), |(_, body)| body);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("bad php-fpm response ({e}): {response}"))
}

#[test]
fn fpm_worker_as_www_data_reuses_one_connection_across_requests() {
    let daemon = Daemon::start_with(&["--socket-group", "www-data", "--socket-mode", "660"]);
    let mut browser = Browser::open(&daemon, "fpm");
    daemon.wait_online("fpm", 1);
    let fpm = PhpFpm::start(&daemon.socket, &repo_root().join("tests/php"));

    let replies: Vec<Value> = (1..=3).map(|i| push(&fpm, "fpm", &format!("request{i}"))).collect();
    let pid = replies[0]["pid"].clone();
    for reply in &replies {
        assert_eq!(reply["sockets"], json!(1), "{reply}");
        assert_eq!(reply["user"], json!("www-data"), "{reply}");
        assert_eq!(reply["pid"], pid, "one worker served every request");
    }
    for i in 1..=3 {
        browser.expect_event("new_msg", &Value::String(format!("request{i}")));
    }
    let connections = daemon.log().matches(&format!("pid=Some({pid})")).count();
    assert_eq!(connections, 1, "the worker opened one connection for three requests");
}

#[test]
fn fpm_worker_without_socket_permission_gets_a_clear_error() {
    // Default mode 660 with root's group: www-data may not connect.
    let daemon = Daemon::start();
    let fpm = PhpFpm::start(&daemon.socket, &repo_root().join("tests/php"));
    let reply = push(&fpm, "anyone", "x");
    assert_eq!(reply["error"], json!(1), "{reply}");
    let message = reply["message"].as_str().unwrap();
    assert!(message.contains("Permission denied") && message.contains("--socket-group"), "{message}");
}

#[test]
fn a_full_queue_never_makes_an_fpm_request_wait() {
    let dir = TempDir::new("fpm-queue");
    let fpm = PhpFpm::start(&dir.path().join("absent.sock"), &repo_root().join("tests/php"));
    let response = fpm.get("fpm_queue.php", "n=10005");
    let body = response.split_once("\r\n\r\n").map_or(response.as_str(), |(_, body)| body);
    let reply: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("bad php-fpm response ({e}): {response}"));
    assert_eq!(reply["queued"], json!(10_000), "msgpush.queue_size: {reply}");
    assert_eq!(reply["queue"], json!("10000 queued, 0 answered, 0 refused, 5 dropped (queue full), 0 waited for room"));
}
