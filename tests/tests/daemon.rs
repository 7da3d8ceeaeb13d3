//! msgpushd end to end: real daemon, real socket.io clients (4.x and 2.x),
//! pushes through the Unix socket and the HTTP API, and bad input of every
//! kind followed by a check that everyone is still served.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use msgpush_protocol::frame::{self, PROTOCOL_VERSION};
use msgpush_protocol::limits::MAX_UID_BYTES;
use msgpush_protocol::{Command as Cmd, Content, Disconnect, ErrorCode, MsgId, Publish, Reply, Request, Target};
use msgpush_testkit::*;
use serde_json::json;

#[test]
fn targeted_push_reaches_only_that_user() {
    let daemon = Daemon::start();
    let mut alice = Browser::open(&daemon, "123");
    let mut bob = Browser::open(&daemon, "456");
    daemon.wait_online("123", 1);
    daemon.wait_online("456", 1);

    let mut unix = daemon.unix();
    assert_eq!(unix.push_text("123", "for alice"), 1);
    assert_eq!(unix.push_text("456", "for bob"), 1);
    alice.expect_event("new_msg", &text("for alice"));
    bob.expect_event("new_msg", &text("for bob"));
    // Bob's message was emitted after Alice's: had hers reached him, he would have it by now.
    assert_eq!(bob.count_event("new_msg", &text("for alice")), 0);
    assert_eq!(unix.push_text("nobody", "lost"), 0, "an offline uid reaches 0 sockets");
}

#[test]
fn with_auth_none_numeric_and_string_uids_are_the_same_user() {
    let daemon = Daemon::start_with(&["--auth", "none"]);
    let mut browser = Browser::open_with(&daemon, BrowserOptions::anonymous(ClientVersion::V4));
    browser.command(json!({ "emit": "login", "args": [123] }));
    daemon.wait_online("123", 1);
    assert_eq!(daemon.unix().push_text("123", "numeric"), 1);
    browser.expect_event("new_msg", &text("numeric"));
}

#[test]
fn socket_io_2_clients_work_over_polling_websocket_and_upgrade() {
    let daemon = Daemon::start();
    for (i, transports) in ["polling", "websocket", "polling,websocket"].into_iter().enumerate() {
        let uid = format!("legacy-{i}");
        let mut browser =
            Browser::open_with(&daemon, BrowserOptions { transports, ..BrowserOptions::new(ClientVersion::V2, &uid) });
        daemon.wait_online(&uid, 1);
        let message = format!("你好 <b>{transports}</b>");
        assert_eq!(daemon.unix().push_text(&uid, &message), 1);
        browser.expect_event("new_msg", &text(&message));
    }
}

#[test]
fn several_tabs_of_one_user_all_receive() {
    let daemon = Daemon::start();
    let options = BrowserOptions { tabs: 3, ..BrowserOptions::new(ClientVersion::V4, "7") };
    let mut tabs = Browser::open_with(&daemon, options);
    daemon.wait_online("7", 3);
    assert_eq!(daemon.unix().push_text("7", "to every tab"), 3);
    tabs.expect_count(3, |l| l["event"] == "new_msg" && l["data"] == "to every tab");
    let tabs_reached: std::collections::BTreeSet<_> =
        tabs.seen.iter().filter(|l| l["data"] == "to every tab").map(|l| l["tab"].as_u64().unwrap()).collect();
    assert_eq!(tabs_reached.len(), 3, "each tab got it once");
}

#[test]
fn broadcast_and_several_uids_and_json_content() {
    let daemon = Daemon::start();
    let mut a = Browser::open(&daemon, "a");
    let mut b = Browser::open(&daemon, "b");
    let mut anonymous = Browser::open_with(&daemon, BrowserOptions::anonymous(ClientVersion::V4));
    daemon.wait_online("a", 1);
    daemon.wait_online("b", 1);
    let mut unix = daemon.unix();

    let reply = unix.publish(Target::Everyone, "new_msg", Content::Text("all".into()));
    assert_eq!(sockets_delivered(&reply), 3, "everyone includes sockets that never logged in");
    for browser in [&mut a, &mut b, &mut anonymous] {
        browser.expect_event("new_msg", &text("all"));
    }

    let order = json!({ "order": 42, "items": ["tea", "cake"], "paid": true });
    let reply = unix.publish(
        Target::Users(vec!["a".into(), "b".into(), "a".into(), "ghost".into()]),
        "order_shipped",
        Content::Json(order.clone()),
    );
    assert_eq!(sockets_delivered(&reply), 2, "duplicates and offline uids are not counted");
    a.expect_event("order_shipped", &order);
    b.expect_event("order_shipped", &order);
    assert_eq!(a.count_event("order_shipped", &order), 1);
}

#[test]
fn online_count_follows_logins_and_closed_tabs() {
    let daemon = Daemon::start();
    let count = |uids: u32, sockets: u32| text(&format!("当前<b>{uids}</b>人在线，共打开<b>{sockets}</b>个页面"));
    let mut watcher = Browser::open(&daemon, "watcher");
    watcher.expect_event("update_online_count", &count(1, 1));

    let options = BrowserOptions { tabs: 2, ..BrowserOptions::new(ClientVersion::V2, "visitor") };
    let mut visitor = Browser::open_with(&daemon, options);
    watcher.expect_event("update_online_count", &count(2, 3));
    // A socket that logs in is answered at once with the last broadcast figures.
    visitor.expect(|l| l["event"] == "update_online_count");

    visitor.command(json!({ "close": true }));
    // The second "1 user, 1 page" message: the count went back after the tabs closed.
    watcher.expect_count(2, |l| l["event"] == "update_online_count" && l["data"] == count(1, 1));
}

#[test]
fn custom_online_count_template() {
    let daemon = Daemon::start_with(&["--online-count-template", "{uids} users, {sockets} tabs"]);
    let mut browser = Browser::open(&daemon, "x");
    browser.expect_event("update_online_count", &text("1 users, 1 tabs"));
}

#[test]
fn clients_log_in_again_after_a_daemon_restart() {
    let mut daemon = Daemon::start();
    let mut v4 = Browser::open(&daemon, "5");
    let mut v2 = Browser::open_with(&daemon, BrowserOptions::new(ClientVersion::V2, "6"));
    daemon.wait_online("5", 1);
    daemon.wait_online("6", 1);

    daemon.restart();
    daemon.wait_online("5", 1);
    daemon.wait_online("6", 1);
    assert_eq!(daemon.unix().push_text("5", "after restart"), 1);
    assert_eq!(daemon.unix().push_text("6", "after restart"), 1);
    v4.expect_event("new_msg", &text("after restart"));
    v2.expect_event("new_msg", &text("after restart"));
}

#[test]
fn dropped_transport_reconnects_and_is_counted_once() {
    let daemon = Daemon::start();
    let mut browser = Browser::open(&daemon, "9");
    daemon.wait_online("9", 1);
    browser.command(json!({ "drop": true }));
    browser.expect(|l| l["type"] == "disconnected");
    browser.expect_count(2, |l| l["type"] == "connected");
    daemon.wait_online("9", 1);
    assert_eq!(daemon.unix().push_text("9", "back"), 1);
    browser.expect_event("new_msg", &text("back"));
}

#[test]
fn with_auth_none_bad_logins_are_refused_and_harm_no_one() {
    let daemon = Daemon::start_with(&["--auth", "none"]);
    let mut good = Browser::open(&daemon, "good");
    daemon.wait_online("good", 1);
    let mut bad = Browser::open_with(&daemon, BrowserOptions::anonymous(ClientVersion::V4));
    let long_uid = "u".repeat(MAX_UID_BYTES + 1);
    let bad_logins =
        [json!([]), json!([{ "uid": [1] }]), json!([[1, 2]]), json!([null]), json!([true]), json!([long_uid])];
    for args in bad_logins {
        bad.command(json!({ "emit": "login", "args": args }));
    }
    // Each is answered with the reason, and logs nothing in.
    bad.expect_count(6, |l| l["event"] == "login_error");
    let reasons = bad.received("login_error");
    assert!(reasons.iter().any(|r| r.contains("a uid must be a string or a number")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("257 bytes")), "{reasons:?}");
    bad.command(json!({ "emit": "login", "args": ["first"] }));
    daemon.wait_online("first", 1);
    bad.command(json!({ "emit": "login", "args": ["second"] }));
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    while std::time::Instant::now() < deadline {
        assert_eq!(daemon.sockets_of("second"), 0, "the first login on a socket wins");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(daemon.sockets_of("first"), 1);
    assert_eq!(daemon.unix().push_text("good", "still here"), 1);
    good.expect_event("new_msg", &text("still here"));
    daemon.assert_serving();
}

#[test]
fn abusive_browser_connections_are_dropped_and_harm_no_one() {
    let daemon = Daemon::start();
    let mut good = Browser::open(&daemon, "good");
    daemon.wait_online("good", 1);
    let out = Command::new("node")
        .arg(repo_root().join("tests/js/bad_browser.js"))
        .arg(format!("ws://{}", daemon.web))
        .output()
        .expect("run node");
    let ended: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON line");
    // A protocol violation closes that connection; the daemon goes on.
    assert!(ended["invalid_utf8"].as_str().unwrap().starts_with("closed"), "{ended}");
    assert!(ended["oversized"].as_str().unwrap().starts_with("closed"), "{ended}");
    assert!(ended["malformed"].is_string(), "{ended}");
    let flood = ended["flood"].as_str().unwrap();
    assert!(flood == "disconnected" || flood.starts_with("closed"), "a flood of messages is thrown out: {ended}");
    assert_eq!(daemon.unix().push_text("good", "unharmed"), 1);
    good.expect_event("new_msg", &text("unharmed"));
    daemon.assert_serving();
}

#[test]
fn http_api_answers_like_web_msg_sender() {
    let daemon = Daemon::start();
    let mut browser = Browser::open(&daemon, "123");
    daemon.wait_online("123", 1);
    let form = "application/x-www-form-urlencoded";

    let body = "type=publish&to=123&content=%3Cb%3E%27Tom%27+%26+co%3C%2Fb%3E";
    let request = format!(
        "POST /any/path HTTP/1.1\r\nHost: x\r\nContent-Type: {form}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (head_status, head, body) = http_raw(daemon.http, request.as_bytes());
    assert_eq!((head_status, body.as_str()), (200, "ok"));
    assert!(head.to_ascii_lowercase().contains("content-type: text/html;charset=utf-8"), "{head}");
    browser.expect_event("new_msg", &text("&lt;b&gt;&#039;Tom&#039; &amp; co&lt;/b&gt;"));

    assert_eq!(http_post(daemon.http, "/", form, b"type=publish&to=999&content=x"), (200, "offline".into()));
    assert_eq!(http_post(daemon.http, "/", form, b"type=publish&content=everyone"), (200, "ok".into()));
    browser.expect_event("new_msg", &text("everyone"));
    assert_eq!(http_post(daemon.http, "/", form, b"type=subscribe&to=123"), (200, "fail".into()));

    let (status, _, body) = http_raw(
        daemon.http,
        b"GET /?type=publish&to=123&content=by+query HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((status, body.as_str()), (200, "ok"));
    browser.expect_event("new_msg", &text("by query"));

    let json_body = br#"{"type":"publish","to":123,"content":"by json"}"#;
    assert_eq!(http_post(daemon.http, "/", "application/json", json_body), (200, "ok".into()));
    browser.expect_event("new_msg", &text("by json"));

    let multipart = b"--B\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\npublish\r\n--B\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\n123\r\n--B\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\nby multipart\r\n--B--\r\n";
    assert_eq!(http_post(daemon.http, "/", "multipart/form-data; boundary=B", multipart), (200, "ok".into()));
    browser.expect_event("new_msg", &text("by multipart"));
}

#[test]
fn health_checks_answer_and_logs_can_be_json() {
    let daemon = Daemon::start_with(&["--log-format", "json", "--http-api-key", "k"]);
    // Beside the push API, without its key (probes carry none).
    assert_eq!(http_get(daemon.http, "/healthz"), (200, "ok\n".into()));
    assert_eq!(http_get(daemon.http, "/readyz"), (200, "ready\n".into()));
    assert_eq!(http_get(daemon.http, "/?type=publish&to=x&content=y").0, 403, "the push API still wants its key");
    let _browser = Browser::open(&daemon, "json");
    daemon.wait_online("json", 1);
    let lines: Vec<serde_json::Value> = daemon
        .log()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let login =
        lines.iter().find(|l| l["message"] == "socket logged in" && l["level"] == "INFO").expect("a login line");
    assert_eq!(login["uid"], "json", "fields are fields: {login}");
}

#[test]
fn http_api_key_is_required_when_set() {
    let daemon = Daemon::start_with(&["--http-api-key", "s3cret", "--http-body-timeout-secs", "60"]);
    let form = "application/x-www-form-urlencoded";
    assert_eq!(http_post(daemon.http, "/", form, b"type=publish&to=1&content=x").0, 403);
    assert_eq!(http_post(daemon.http, "/", form, b"type=publish&to=1&content=x&key=wrong").0, 403);
    assert_eq!(http_post(daemon.http, "/", form, b"type=publish&to=1&content=x&key=s3cret"), (200, "offline".into()));
    // The key in the URL of a form post (`curl -d 'type=publish&...' '.../?key=K'`).
    assert_eq!(http_post(daemon.http, "/?key=s3cret", form, b"type=publish&to=1&content=x"), (200, "offline".into()));
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let request = format!(
            "GET /?type=publish&to=1 HTTP/1.1\r\nHost: x\r\nAuthorization: {scheme} s3cret\r\nConnection: close\r\n\r\n"
        );
        let (status, _, body) = http_raw(daemon.http, request.as_bytes());
        assert_eq!((status, body.as_str()), (200, "offline"), "the scheme in any case (RFC 7235): {scheme}");
    }
    // A wrong key in the head is refused before the body is read: here the
    // body never comes, and the answer does not wait for it.
    let head = b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000000\r\n\r\n";
    let mut stream = std::net::TcpStream::connect(daemon.http).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    std::io::Write::write_all(&mut stream, head).unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stream), &mut line).unwrap();
    assert!(line.contains(" 403 "), "answered at once: {line:?}");
}

#[test]
fn bad_http_requests_fail_cleanly() {
    let daemon = Daemon::start_with(&["--max-body-bytes", "1000"]);
    let mut browser = Browser::open(&daemon, "1");
    daemon.wait_online("1", 1);
    let form = "application/x-www-form-urlencoded";
    for body in [
        &b"type=publish&to[]=1&content=x"[..],
        b"type=publish&to=1&content[]=x",
        b"type[]=publish",
        b"to=1&content=no+type",
        b"",
    ] {
        assert_eq!(http_post(daemon.http, "/", form, body), (200, "fail".into()), "{}", String::from_utf8_lossy(body));
    }
    assert_eq!(http_post(daemon.http, "/", "application/json", b"[1,2]"), (200, "fail".into()));
    assert_eq!(http_post(daemon.http, "/", "application/json", b"{\"type\":"), (200, "fail".into()));
    assert_eq!(http_post(daemon.http, "/", "multipart/form-data; boundary=Z", b"--Z\r\nbroken"), (200, "fail".into()));
    assert_eq!(http_post(daemon.http, "/", form, &[b'a'; 5000]).0, 413);
    let (status, _, _) = http_raw(daemon.http, b"\x00\x01 NOT HTTP\r\n\r\n");
    assert_eq!(status, 400);
    // Invalid UTF-8 in the content is delivered with replacement characters.
    assert_eq!(http_post(daemon.http, "/", form, b"type=publish&to=1&content=a%FFb"), (200, "ok".into()));
    browser.expect_event("new_msg", &text("a\u{fffd}b"));
    daemon.assert_serving();
}

fn raw_frame(version: u8, body: &[u8]) -> Vec<u8> {
    let mut frame = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    frame.push(version);
    frame.extend_from_slice(body);
    frame
}

fn error_code(reply: &Reply) -> ErrorCode {
    match reply {
        Reply::Error { code, .. } => *code,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn bad_unix_frames_are_answered_and_the_connection_goes_on() {
    let daemon = Daemon::start();
    let mut unix = daemon.unix();
    unix.send_raw(&raw_frame(PROTOCOL_VERSION, br#"{"id":5,"cmd":{"publish":{"to":3}}}"#));
    let response = unix.read_response();
    assert_eq!((response.id, error_code(&response.reply)), (5, ErrorCode::Malformed));

    unix.send_raw(&raw_frame(PROTOCOL_VERSION, b"{\"id\":6,\"cmd\":\"\xff\xfe\"}"));
    assert_eq!(error_code(&unix.read_response().reply), ErrorCode::Malformed);

    unix.send_raw(&raw_frame(9, b"{}"));
    assert_eq!(error_code(&unix.read_response().reply), ErrorCode::UnsupportedVersion);

    // A command from a newer extension: named as unknown, with what to do.
    unix.send_raw(&raw_frame(PROTOCOL_VERSION, br#"{"id":7,"cmd":"self_destruct"}"#));
    let response = unix.read_response();
    assert_eq!((response.id, error_code(&response.reply)), (7, ErrorCode::UnsupportedCommand));
    let Reply::Error { message, .. } = response.reply else { unreachable!() };
    assert!(message.contains("does not know the command `self_destruct`"), "{message}");

    for (event, to) in [
        ("", Target::Everyone),
        ("disconnect", Target::Everyone),
        ("new_msg", Target::Users(vec!["x".repeat(MAX_UID_BYTES + 1)])),
    ] {
        let reply = unix.publish(to, event, Content::Text("x".into()));
        assert_eq!(error_code(&reply), ErrorCode::InvalidInput, "{event}");
    }
    assert!(matches!(unix.request(Cmd::Ping), Reply::Pong { .. }), "the connection still works");
    daemon.assert_serving();
}

#[test]
fn oversized_frame_is_refused_and_its_connection_closed() {
    let daemon = Daemon::start_with(&["--max-frame-bytes", "1024"]);
    let mut unix = daemon.unix();
    unix.send_raw(&raw_frame(PROTOCOL_VERSION, &[b' '; 4096]));
    assert_eq!(error_code(&unix.read_response().reply), ErrorCode::FrameTooLarge);
    assert!(unix.is_closed_by_peer());
    let mut huge_announcement = daemon.unix();
    huge_announcement.send_raw(&[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(error_code(&huge_announcement.read_response().reply), ErrorCode::FrameTooLarge);
    daemon.assert_serving();
}

#[test]
fn a_partial_frame_and_a_silent_connection_are_closed_by_their_deadlines() {
    let daemon = Daemon::start_with(&["--unix-idle-timeout-secs", "1", "--unix-io-timeout-secs", "1"]);
    let mut partial = daemon.unix();
    partial.send_raw(&[0, 0, 0, 100, PROTOCOL_VERSION, b'{']);
    let mut silent = daemon.unix();
    let mut busy = daemon.unix();
    for _ in 0..4 {
        assert!(matches!(busy.request(Cmd::Ping), Reply::Pong { .. }), "a connection in use stays open");
        std::thread::sleep(std::time::Duration::from_millis(400));
    }
    assert!(partial.is_closed_by_peer(), "a frame that never completes");
    assert!(silent.is_closed_by_peer(), "a connection that says nothing");
    daemon.assert_serving();
}

#[test]
fn pipelined_requests_are_answered_in_order_and_delivered_in_order() {
    let daemon = Daemon::start_with(&["--history-size", "0"]);
    let mut browser = Browser::open(&daemon, "p");
    daemon.wait_online("p", 1);
    push_burst(&mut daemon.unix(), "p", 200);
    browser.expect_event("new_msg", &text("m200"));
    let expected: Vec<String> = (1..=200).map(|id| format!("m{id}")).collect();
    assert_eq!(browser.received("new_msg"), expected);
}

/// `count` pipelined pushes of `m1`… to `uid`, each answered, in order, as
/// delivered to one tab.
fn push_burst(unix: &mut UnixClient, uid: &str, count: u64) {
    let mut burst = Vec::new();
    for id in 1..=count {
        let publish = Publish::new(Target::Users(vec![uid.into()]), "new_msg", Content::Text(format!("m{id}")));
        frame::encode(&Request { id, cmd: Cmd::Publish(publish) }, &mut burst);
    }
    unix.send_raw(&burst);
    for id in 1..=count {
        let response = unix.read_response();
        assert_eq!((response.id, sockets_delivered(&response.reply)), (id, 1));
    }
}

#[test]
fn pipelined_pushes_share_the_stores_commits_and_keep_their_order() {
    let daemon = Daemon::start();
    let mut browser = Browser::open(&daemon, "c");
    daemon.wait_online("c", 1);
    let commits = || Scrape::get(daemon.http, "/metrics").value("msgpush_store_commits_total", &[]);
    let before = commits();
    push_burst(&mut daemon.unix(), "c", 200);
    let used = commits() - before;
    // One per push if each waited for the one before it (and maybe one of
    // the store's upkeep meanwhile).
    assert!((1.0..=100.0).contains(&used), "200 pipelined pushes kept in history took {used} commits");
    browser.expect_event("new_msg", &text("m200"));
    let expected: Vec<String> = (1..=200).map(|id| format!("m{id}")).collect();
    assert_eq!(browser.received("new_msg"), expected);
}

#[test]
fn pipelined_joins_and_pushes_to_the_groups_joined_keep_their_order() {
    let daemon = Daemon::start();
    let mut browser = Browser::open(&daemon, "j");
    daemon.wait_online("j", 1);
    daemon.unix().join_and_push_pipelined("j", 1..=50, 1);
    browser.expect_event("new_msg", &text("r50"));
    let expected: Vec<String> = (1..=50).map(|n| format!("r{n}")).collect();
    assert_eq!(browser.received("new_msg"), expected);
}

#[test]
fn a_client_that_never_reads_does_not_wedge_the_daemon() {
    let daemon = Daemon::start_with(&["--max-buffered-packets", "64"]);
    let _slow = slow_reader(&daemon, "slow");

    let mut fast = Browser::open(&daemon, "fast");
    daemon.wait_online("fast", 1);
    let mut unix = daemon.unix();
    let big = "x".repeat(64 * 1024);
    let mut missed = 0;
    for _ in 0..1000 {
        match unix.publish(Target::Users(vec!["slow".into()]), "new_msg", Content::Text(big.clone())) {
            Reply::Delivered { sockets: 0, .. } => missed += 1,
            Reply::Delivered { sockets: 1, .. } => {}
            other => panic!("unexpected reply {other:?}"),
        }
    }
    assert!(missed > 0, "the stuck client's buffer is bounded: later messages are refused for it");
    assert!(daemon.log().contains("send buffer is full"));
    assert_eq!(unix.push_text("fast", "unaffected"), 1);
    fast.expect_event("new_msg", &text("unaffected"));
    daemon.assert_serving();
}

#[test]
fn a_message_sent_again_with_its_id_is_answered_but_delivered_once() {
    let daemon = Daemon::start();
    let mut tabs =
        Browser::open_with(&daemon, BrowserOptions { tabs: 2, ..BrowserOptions::new(ClientVersion::V4, "d") });
    daemon.wait_online("d", 2);
    let message = |text: &str, id: u128| {
        Cmd::Publish(Publish {
            msg_id: Some(MsgId(id)),
            ..Publish::new(Target::Users(vec!["d".into()]), "new_msg", Content::Text(text.into()))
        })
    };
    let (mut first, mut second) = (daemon.unix(), daemon.unix());
    assert_eq!(sockets_delivered(&first.request(message("once", 7))), 2);
    assert_eq!(sockets_delivered(&second.request(message("once", 7))), 2, "the copy gets the first answer");
    assert_eq!(sockets_delivered(&first.request(message("once", 8))), 2, "another id is another message");
    assert_eq!(sockets_delivered(&first.request(message("after", 9))), 2);
    tabs.expect_count(2, |l| l["data"] == "after");
    assert_eq!(tabs.count_event("new_msg", &text("once")), 4, "two messages, two tabs each");
}

#[test]
fn a_websocket_that_stops_reading_is_evicted_and_no_longer_counted() {
    let args = ["--ping-interval-secs", "1", "--ping-timeout-secs", "1", "--max-buffered-packets", "64"];
    let daemon = Daemon::start_with(&args);
    let _slow = slow_reader(&daemon, "slow");
    let mut fast = Browser::open(&daemon, "fast");
    daemon.wait_online("fast", 1);
    // Fill the kernel's buffers and the socket's queue: its writer is stuck.
    let big = "x".repeat(64 * 1024);
    let mut unix = daemon.unix();
    while unix.push_text("slow", &big) == 1 {}
    // (Pushes no longer count it now: its buffer is full. Who is online says more.)
    let count = |uids: u32, sockets: u32| text(&format!("当前<b>{uids}</b>人在线，共打开<b>{sockets}</b>个页面"));
    fast.expect_event("update_online_count", &count(2, 2));
    let alone_before = fast.count_event("update_online_count", &count(1, 1));
    // It misses its pings: disconnected, logged out, its buffers released.
    fast.expect_count(alone_before + 1, |l| l["event"] == "update_online_count" && l["data"] == count(1, 1));
    assert!(daemon.log().contains("socket logged out uid=\"slow\""), "{}", daemon.log());
    // A browser that answers its pings stays.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(unix.push_text("fast", "still here"), 1);
    fast.expect_event("new_msg", &text("still here"));
    assert!(fast.seen.iter().all(|l| l["type"] != "disconnected"));
}

#[test]
fn a_session_opened_and_abandoned_is_closed_after_the_connect_timeout() {
    let daemon = Daemon::start_with(&["--connect-timeout-secs", "1"]);
    let (status, sid) = handshake(&daemon, 4, None);
    let sid = sid.unwrap_or_else(|| panic!("handshake answered {status}"));
    // It never joins a namespace: once the timeout passed, the session is gone.
    let gone = wait_until(|| http_get(daemon.web, &format!("/socket.io/?EIO=4&transport=polling&sid={sid}")).0 == 400);
    assert!(gone, "the abandoned session was closed");
    let _browser = Browser::open(&daemon, "joins");
    daemon.wait_online("joins", 1);
}

/// A request to the Socket.IO port over a fresh connection, as if from
/// `client` (an `X-Forwarded-For` address; none: this host); returns the
/// status and the body.
fn socket_io_request(daemon: &Daemon, method: &str, query: &str, client: Option<&str>, body: &str) -> (u16, String) {
    let forwarded = client.map(|ip| format!("X-Forwarded-For: {ip}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} /socket.io/?{query} HTTP/1.1\r\nHost: x\r\n{forwarded}Content-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, _, body) = http_raw(daemon.web, request.as_bytes());
    (status, body)
}

/// A polling handshake of Engine.IO `eio` from `client`: its status and session id.
fn handshake(daemon: &Daemon, eio: u8, client: Option<&str>) -> (u16, Option<String>) {
    let (status, body) = socket_io_request(daemon, "GET", &format!("EIO={eio}&transport=polling"), client, "");
    let sid = body.split("\"sid\":\"").nth(1).and_then(|rest| rest.split('"').next()).map(str::to_owned);
    (status, sid)
}

#[test]
fn a_handshake_flood_hits_its_caps_and_honest_clients_still_connect() {
    let args =
        ["--max-pending-sessions-per-address", "5", "--max-pending-sessions", "12", "--connect-timeout-secs", "2"];
    let daemon = Daemon::start_with(&args);
    // One address floods with handshakes it never follows up (both Engine.IO versions).
    let attacker = Some("203.0.113.7");
    let statuses: Vec<u16> = (0..40).map(|i| handshake(&daemon, 3 + i % 2, attacker).0).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 5, "{statuses:?}");
    assert!(statuses[5..].iter().all(|&s| s == 429), "{statuses:?}");
    // Honest clients from elsewhere, over long-polling, still connect and receive.
    let polling = |version, uid| BrowserOptions { transports: "polling", ..BrowserOptions::new(version, uid) };
    let mut old = Browser::open_with(&daemon, polling(ClientVersion::V2, "old"));
    let mut new = Browser::open_with(&daemon, polling(ClientVersion::V4, "new"));
    daemon.wait_online("old", 1);
    daemon.wait_online("new", 1);
    assert_eq!(daemon.unix().push_text("old", "to 2.x"), 1);
    assert_eq!(daemon.unix().push_text("new", "to 4.x"), 1);
    old.expect_event("new_msg", &text("to 2.x"));
    new.expect_event("new_msg", &text("to 4.x"));
    // Many addresses flooding together hit the total cap of pending sessions.
    let many: Vec<u16> = (1..=10).map(|i| handshake(&daemon, 3, Some(&format!("198.51.100.{i}"))).0).collect();
    assert_eq!(many.iter().filter(|&&s| s == 200).count(), 7, "12 pending in all: {many:?}");
    assert!(many[7..].iter().all(|&s| s == 503), "{many:?}");
    // Unused sessions are closed after the connect timeout, freeing their places.
    let (_, stale) = handshake(&daemon, 3, Some("198.51.100.99"));
    assert!(stale.is_none(), "still full");
    assert!(wait_until(|| handshake(&daemon, 3, attacker).0 == 200), "the attacker's places came back");
    let refusals = daemon.log().matches("listener=\"socket.io sessions\"").count();
    assert!((1..=2).contains(&refusals), "refusals logged once per interval, not per handshake: {refusals}");
    daemon.assert_serving();
}

#[test]
fn sessions_are_capped_per_address_and_forwarded_for_is_believed_from_trusted_proxies_only() {
    let daemon = Daemon::start_with(&["--max-sessions-per-address", "3", "--max-sessions", "5"]);
    // A session used after its handshake (it joins) still counts towards its address.
    let join = |client| {
        let (status, sid) = handshake(&daemon, 4, client);
        let sid = sid.unwrap_or_else(|| panic!("handshake answered {status}"));
        let query = format!("EIO=4&transport=polling&sid={sid}");
        assert_eq!(socket_io_request(&daemon, "POST", &query, client, "40"), (200, "ok".into()));
    };
    let office = Some("192.0.2.10");
    (0..3).for_each(|_| join(office));
    assert_eq!(handshake(&daemon, 4, office).0, 429, "three sessions from one address");
    join(Some("192.0.2.11"));
    join(None);
    assert_eq!(handshake(&daemon, 4, Some("192.0.2.12")).0, 503, "five sessions in all");

    // From a peer that is not a trusted proxy, X-Forwarded-For is ignored.
    let strict = Daemon::start_with(&["--trusted-proxy", "192.0.2.1", "--max-pending-sessions-per-address", "3"]);
    let statuses: Vec<u16> = (1..=5).map(|i| handshake(&strict, 4, Some(&format!("198.51.100.{i}"))).0).collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429], "all from 127.0.0.1");
}

#[test]
fn sigterm_stops_the_daemon_even_with_a_client_that_never_reads() {
    let mut daemon = Daemon::start_with(&["--max-buffered-packets", "64"]);
    let _slow = slow_reader(&daemon, "slow");
    // Fill the kernel's buffers and the socket's queue: its writer is now stuck.
    let big = "x".repeat(64 * 1024);
    let mut unix = daemon.unix();
    while unix.push_text("slow", &big) == 1 {}
    // Daemon::stop gives up after PATIENCE (15 s); the grace period is 5 s.
    let status = daemon.stop();
    assert!(status.success(), "exit status {status}");
    assert!(daemon.log().contains("stopped"), "{}", daemon.log());
    assert!(!daemon.socket.exists(), "socket file removed");
}

/// Reads what `stream` receives until the peer closes it; None if it stays
/// open past PATIENCE.
fn read_until_closed(stream: &mut std::net::TcpStream) -> Option<String> {
    use std::io::Read;
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&received).into_owned()),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(String::from_utf8_lossy(&received).into_owned())
            }
            Err(_) => return None,
        }
    }
}

#[test]
fn idle_half_sent_and_slow_http_connections_are_closed_by_their_deadlines() {
    use std::io::Write;
    let daemon = Daemon::start_with(&["--http-header-timeout-secs", "1", "--http-body-timeout-secs", "1"]);
    let mut browser = Browser::open_with(
        &daemon,
        BrowserOptions { transports: "websocket", ..BrowserOptions::new(ClientVersion::V4, "w") },
    );
    daemon.wait_online("w", 1);
    let connect = |addr| std::net::TcpStream::connect(addr).unwrap();

    let mut idle = connect(daemon.web);
    let mut half_head = connect(daemon.http);
    half_head.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut keep_alive = connect(daemon.http);
    keep_alive.write_all(b"GET /?type=publish&to=nobody HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut slow_body = connect(daemon.http);
    slow_body.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntype=publish").unwrap();

    assert_eq!(read_until_closed(&mut idle).as_deref(), Some(""), "a connection that sends nothing");
    assert_eq!(read_until_closed(&mut half_head).as_deref(), Some(""), "a head that never ends");
    let answered = read_until_closed(&mut keep_alive).expect("an idle keep-alive connection is closed");
    assert!(answered.ends_with("offline"), "after its answer: {answered}");
    let slow = read_until_closed(&mut slow_body).expect("a body that never ends");
    assert!(slow.starts_with("HTTP/1.1 408"), "{slow}");

    // A websocket is not a slow request: it stays, and receives.
    assert_eq!(daemon.unix().push_text("w", "still connected"), 1);
    browser.expect_event("new_msg", &text("still connected"));
    assert!(browser.seen.iter().all(|l| l["type"] != "disconnected"));
    daemon.assert_serving();
}

#[test]
fn at_the_connection_cap_new_connections_are_closed_and_php_still_pushes() {
    let daemon = Daemon::start_with(&["--max-connections", "10"]);
    let mut browser = Browser::open_with(
        &daemon,
        BrowserOptions { transports: "websocket", ..BrowserOptions::new(ClientVersion::V4, "c") },
    );
    daemon.wait_online("c", 1);
    // The browser's websocket holds one place; nine more fill the cap.
    let mut held: Vec<_> = (0..9).map(|_| std::net::TcpStream::connect(daemon.web).unwrap()).collect();
    let mut over: Vec<_> = (0..20).map(|_| std::net::TcpStream::connect(daemon.web).unwrap()).collect();
    for stream in &mut over {
        assert_eq!(read_until_closed(stream).as_deref(), Some(""), "closed at once, over the cap");
    }
    // PHP's Unix socket is not under the cap.
    let pushed = php_json(&daemon.socket, "push.php", &[], &[]);
    assert_eq!(pushed["broadcast"], 1, "{pushed}");
    browser.expect_event("new_msg", &text("to all"));
    let failures = daemon.log().matches("accepting connections fails").count();
    assert!((1..=2).contains(&failures), "logged once per interval, not per refusal: {failures}");

    held.clear();
    let _later = Browser::open(&daemon, "later");
    daemon.wait_online("later", 1);
}

#[test]
fn thousands_of_connections_are_served() {
    let daemon = Daemon::start();
    let options =
        BrowserOptions { tabs: 3000, transports: "websocket", ..BrowserOptions::new(ClientVersion::V4, "crowd") };
    let mut crowd = Browser::open_with(&daemon, options);
    daemon.wait_online("crowd", 3000);
    assert_eq!(daemon.unix().push_text("crowd", "hello crowd"), 3000);
    crowd.expect_count(3000, |l| l["data"] == "hello crowd");
    let tabs: std::collections::BTreeSet<_> =
        crowd.seen.iter().filter(|l| l["data"] == "hello crowd").map(|l| l["tab"].as_u64().unwrap()).collect();
    assert_eq!(tabs.len(), 3000);
}

#[test]
fn sigterm_shuts_down_cleanly_and_removes_the_socket() {
    let mut daemon = Daemon::start();
    let _browser = Browser::open(&daemon, "bye");
    daemon.wait_online("bye", 1);
    assert!(daemon.socket.exists());
    let status = daemon.stop();
    assert!(status.success(), "exit status {status}");
    assert!(!daemon.socket.exists(), "socket file removed");
    assert!(daemon.log().contains("stopped"));
}

#[test]
fn a_live_socket_is_not_stolen_and_a_stale_one_is_replaced() {
    let daemon = Daemon::start();
    let second = msgpushd_command(daemon.dir.path()).arg("--socket").arg(&daemon.socket).output().unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("in use"), "{}", String::from_utf8_lossy(&second.stderr));
    daemon.assert_serving();

    // A crashed daemon leaves its socket file behind.
    let dir = TempDir::new("stale");
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let not_a_socket = dir.path().join("plain-file");
    std::fs::write(&not_a_socket, "keep me").unwrap();
    let refused = msgpushd_command(dir.path()).arg("--socket").arg(&not_a_socket).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a socket"));
    assert_eq!(std::fs::read_to_string(&not_a_socket).unwrap(), "keep me");

    // A daemon started on the stale path replaces it and answers there.
    let replaced = Daemon::start_at(&stale);
    assert!(matches!(replaced.unix().request(Cmd::Ping), Reply::Pong { .. }));
}

#[test]
fn socket_file_gets_the_configured_mode_and_group() {
    let group = if Command::new("getent").args(["group", "www-data"]).output().is_ok_and(|o| o.status.success()) {
        "www-data"
    } else {
        "root"
    };
    let gid = String::from_utf8(Command::new("getent").args(["group", group]).output().unwrap().stdout).unwrap();
    let gid: u32 = gid.split(':').nth(2).unwrap().parse().unwrap();
    let daemon = Daemon::start_with(&["--socket-mode", "620", "--socket-group", group]);
    let meta = std::fs::metadata(&daemon.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o620);
    assert_eq!(meta.gid(), gid);

    let default = Daemon::start();
    assert_eq!(std::fs::metadata(&default.socket).unwrap().permissions().mode() & 0o777, 0o660);
}

#[test]
fn client_script_is_served_and_the_demo_page_only_when_asked() {
    let daemon = Daemon::start();
    let (status, head, body) =
        http_raw(daemon.web, b"GET /socket.io/socket.io.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("application/javascript"));
    assert!(body.contains("Socket.IO") || body.contains("socket.io"), "looks like the client");
    let (_, _, root) = http_raw(daemon.web, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(root.starts_with("msgpushd "), "{root}");
    assert_ne!(http_post(daemon.web, "/demo/push", "application/json", br#"{"to":"","content":"x"}"#).0, 200);

    let demo = Daemon::start_with(&["--demo"]);
    let mut browser = Browser::open(&demo, "d");
    demo.wait_online("d", 1);
    let (_, _, page) = http_raw(demo.web, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(page.contains("<title>msgpush demo</title>"));
    let (status, body) =
        http_post(demo.web, "/demo/push", "application/json", br#"{"to":"d","content":"from the form"}"#);
    assert_eq!((status, body.as_str()), (200, r#"{"sockets":1}"#));
    browser.expect_event("new_msg", &text("from the form"));
    let get = |daemon: &Daemon, path: &str| {
        http_raw(daemon.web, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
    };
    let token = |daemon: &Daemon, origin: Option<&str>| {
        let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
        let body = r#"{"uid":"t"}"#;
        let request = format!(
            "POST /demo/token HTTP/1.1\r\nHost: x\r\n{origin}Content-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, _, body) = http_raw(daemon.web, request.as_bytes());
        (status, body)
    };
    assert_ne!(token(&daemon, None).0, 200, "no demo, no tokens for anyone who asks");
    assert_eq!(get(&demo, "/demo/token?uid=t").0, 405, "a token is asked for with a POST, which carries an Origin");

    // The origin policy covers the demo's endpoints too.
    let listed = Daemon::start_with(&["--demo", "--cors-origin", "http://shop.example"]);
    assert_eq!(token(&listed, Some("http://evil.example")).0, 403, "no token for a foreign page");
    let push = b"POST /demo/push HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\nContent-Type: application/json\r\nContent-Length: 24\r\nConnection: close\r\n\r\n{\"to\":\"\",\"content\":\"x\"}";
    assert_eq!(http_raw(listed.web, push).0, 403, "no push from a foreign page");
    assert_eq!(token(&listed, Some("http://shop.example")).0, 200);
    assert!(demo.log().contains("anyone who reaches it can read any user's messages"), "{}", demo.log());

    // The demo page logs in with a token it fetches, in both modes.
    for demo in [demo, Daemon::start_with(&["--demo", "--auth", "none"])] {
        let (status, body) = token(&demo, None);
        assert_eq!(status, 200, "{body}");
        let token: serde_json::Value = serde_json::from_str(&body).unwrap();
        let token = token["token"].as_str().unwrap().to_owned();
        let options = BrowserOptions { login: Some(token), ..BrowserOptions::new(ClientVersion::V4, "t") };
        let _page = Browser::open_with(&demo, options);
        demo.wait_online("t", 1);
    }
}

#[test]
fn cors_reflects_the_origin_and_an_allow_list_refuses_foreign_origins() {
    let handshake = |daemon: &Daemon, origin: Option<&str>| {
        let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
        let request =
            format!("GET /socket.io/?EIO=3&transport=polling HTTP/1.1\r\nHost: x\r\n{origin}Connection: close\r\n\r\n");
        let (status, head, _) = http_raw(daemon.web, request.as_bytes());
        (status, head.to_ascii_lowercase())
    };
    let upgrade = |daemon: &Daemon, origin: &str| {
        let request = format!(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\n\
             Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        let mut stream = std::net::TcpStream::connect(daemon.web).unwrap();
        std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stream), &mut line).unwrap();
        line
    };
    let open = Daemon::start();
    let (status, head) = handshake(&open, Some("http://shop.example"));
    assert_eq!(status, 200);
    assert!(head.contains("access-control-allow-origin: http://shop.example"), "{head}");
    assert!(head.contains("access-control-allow-credentials: true"), "{head}");
    assert!(upgrade(&open, "http://any.example").contains(" 101 "), "no list: any origin");

    let listed = Daemon::start_with(&["--cors-origin", "http://shop.example,http://admin.example"]);
    let (status, head) = handshake(&listed, Some("http://admin.example"));
    assert_eq!(status, 200);
    assert!(head.contains("access-control-allow-origin: http://admin.example"), "{head}");
    assert!(upgrade(&listed, "http://shop.example").contains(" 101 "));
    assert_eq!(handshake(&listed, Some("http://evil.example")).0, 403, "foreign polling handshake refused");
    assert!(upgrade(&listed, "http://evil.example").contains(" 403 "), "foreign websocket refused");
    assert_eq!(handshake(&listed, None).0, 200, "no Origin (same-origin polling, non-browser clients)");
    listed.assert_serving();

    let strict = Daemon::start_with(&["--cors-origin", "http://shop.example", "--refuse-missing-origin"]);
    assert_eq!(handshake(&strict, None).0, 403);
    assert_eq!(handshake(&strict, Some("http://shop.example")).0, 200);
}

#[test]
fn handshakes_spelt_like_a_sessions_request_still_count_under_the_caps() {
    let args = ["--max-pending-sessions-per-address", "2", "--connect-timeout-secs", "2"];
    let daemon = Daemon::start_with(&args);
    // Engine.IO opens a session for each of these (the last one a polling
    // session, not a websocket): the caps must count them all, as pending.
    let queries = [
        "EIO=4&transport=polling",
        "sid&EIO=4&transport=polling",
        "s%69d=x&EIO=4&transport=polling",
        "tr%61nsport=websocket&transport=polling&EIO=4",
    ];
    for (i, query) in queries.into_iter().enumerate() {
        let client = Some(format!("203.0.113.{i}"));
        let statuses: Vec<u16> =
            (0..4).map(|_| socket_io_request(&daemon, "GET", query, client.as_deref(), "").0).collect();
        assert_eq!(statuses, [200, 200, 429, 429], "{query}");
        // Unused, they are closed after the connect timeout, freeing the places.
        assert!(wait_until(|| socket_io_request(&daemon, "GET", query, client.as_deref(), "").0 == 200), "{query}");
    }
    daemon.assert_serving();
}

#[test]
fn a_unix_client_that_never_reads_its_replies_is_closed_by_the_io_deadline() {
    let daemon = Daemon::start_with(&["--unix-io-timeout-secs", "2", "--unix-idle-timeout-secs", "3"]);
    let unix = daemon.unix();
    let mut pings = Vec::new();
    for id in 1..=12_000u64 {
        frame::encode(&Request { id, cmd: Cmd::Ping }, &mut pings);
    }
    // Pipelined, never read: the replies fill the daemon's buffer and the socket's.
    let (done, writes) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut stream = unix.into_stream();
        let outcome = loop {
            if let Err(e) = std::io::Write::write_all(&mut stream, &pings) {
                break e.kind();
            }
        };
        let _ = done.send(outcome);
    });
    let outcome = writes.recv_timeout(PATIENCE).expect("the daemon closed the connection that never read");
    assert!(matches!(outcome, std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset), "{outcome:?}");
    assert!(daemon.log().contains("its replies are not read"), "{}", daemon.log());
    assert!(wait_until(|| Scrape::get(daemon.http, "/metrics").value("msgpush_unix_connections", &[]) == 0.0));
    daemon.assert_serving();
}

#[test]
fn an_empty_list_of_users_reaches_no_one() {
    let daemon = Daemon::start();
    let mut browser = Browser::open(&daemon, "everyone-but-nobody");
    daemon.wait_online("everyone-but-nobody", 1);
    let mut unix = daemon.unix();
    assert_eq!(
        sockets_delivered(&unix.publish(Target::Users(vec![]), "new_msg", Content::Text("to nobody".into()))),
        0
    );
    assert_eq!(unix.request(Cmd::Disconnect(Disconnect { uids: vec![] })), Reply::Disconnected { sockets: 0 });
    assert_eq!(unix.push_text("everyone-but-nobody", "after"), 1);
    browser.expect_event("new_msg", &text("after"));
    assert_eq!(browser.count_event("new_msg", &text("to nobody")), 0);
    assert!(browser.seen.iter().all(|l| l["type"] != "disconnected"));
}

#[test]
fn the_unix_socket_is_never_reachable_with_other_permissions_than_its_own() {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let dir = TempDir::new("socket-mode");
    let sockets = dir.path().join("run");
    std::fs::create_dir(&sockets).unwrap();
    let watch = Inotify::init(InitFlags::IN_NONBLOCK).unwrap();
    watch.add_watch(&sockets, AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO).unwrap();
    let socket = sockets.join("msgpushd.sock");
    let mut command = msgpushd_command(dir.path());
    command.arg("--socket").arg(&socket).args(["--socket-mode", "600"]);
    // With no umask at all, a socket bound in place is open to everyone until its mode is set.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            nix::sys::stat::umask(nix::sys::stat::Mode::empty());
            Ok(())
        });
    }
    let _daemon = ChildGuard::kill_on_drop(command.spawn().unwrap());
    assert!(wait_until(|| socket.exists()));
    let events = watch.read_events().unwrap();
    let at_its_path: Vec<_> =
        events.iter().filter(|e| e.name.as_deref() == Some(std::ffi::OsStr::new("msgpushd.sock"))).collect();
    assert!(!at_its_path.is_empty());
    assert!(
        at_its_path.iter().all(|e| e.mask.contains(AddWatchFlags::IN_MOVED_TO)),
        "the socket arrives at its path whole, with its mode: {at_its_path:?}"
    );
    assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600);
    let left: Vec<_> = std::fs::read_dir(&sockets).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["msgpushd.sock"], "nothing else left beside it");
}

#[test]
fn a_flood_of_logins_and_closes_leaves_no_room_behind() {
    let daemon = Daemon::start_with(&["--auth", "none"]);
    // Over polling, a login and the close after it come in one request: the
    // login's handler runs in its own task, which the close may overtake.
    for i in 0..300 {
        let (status, sid) = handshake(&daemon, 4, None);
        let sid = sid.unwrap_or_else(|| panic!("handshake answered {status}"));
        let session = format!("EIO=4&transport=polling&sid={sid}");
        assert_eq!(socket_io_request(&daemon, "POST", &session, None, "40"), (200, "ok".into()));
        // The namespace's answer comes once its connect handler ran (a ping may come first).
        let connected = (0..5).any(|_| socket_io_request(&daemon, "GET", &session, None, "").1.contains("40{"));
        assert!(connected, "session {sid} joined");
        let login_and_close = format!("42[\"login\",\"race-{i}\"]\u{1e}1");
        socket_io_request(&daemon, "POST", &session, None, &login_and_close);
    }
    // And over websockets, closed the moment the login is sent.
    let run = Command::new("node")
        .arg(repo_root().join("tests/js/login_and_leave.js"))
        .arg(format!("ws://{}", daemon.web))
        .arg("1000")
        .output()
        .expect("run node");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let settled = wait_until(|| {
        let metrics = Scrape::get(daemon.http, "/metrics");
        metrics.sum("msgpush_sockets") == 0.0 && metrics.value("msgpush_logged_in_sockets", &[]) == 0.0
    });
    assert!(settled, "every socket closed and logged out");
    let metrics = Scrape::get(daemon.http, "/metrics");
    assert_eq!(metrics.value("msgpush_rooms", &[]), 0.0, "no closed socket stayed in its room");
    assert_eq!(metrics.value("msgpush_users", &[]), 0.0);
    daemon.assert_serving();
}

#[test]
fn an_http_client_that_never_reads_its_answers_is_closed() {
    let daemon = Daemon::start_with(&["--http-header-timeout-secs", "2"]);
    let mut stream = std::net::TcpStream::connect(daemon.http).unwrap();
    let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    let (done, writes) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let outcome = loop {
            if let Err(e) = std::io::Write::write_all(&mut stream, &request.repeat(1000)) {
                break e.kind();
            }
        };
        let _ = done.send(outcome);
    });
    let outcome = writes.recv_timeout(PATIENCE).expect("the daemon closed the connection that never read");
    assert!(matches!(outcome, std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset), "{outcome:?}");
    let connections = |daemon: &Daemon| {
        Scrape::get(daemon.http, "/metrics").value("msgpush_http_connections", &[("listener", "http_api")])
    };
    // The scrape itself is the one connection left.
    assert!(wait_until(|| connections(&daemon) == 1.0));
    daemon.assert_serving();
}
