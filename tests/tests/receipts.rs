//! Receipts: PHP learns which users' tabs acknowledged a message, waiting
//! for them (`setAckTimeout()`) or afterwards (`Receipt::of()`), and which
//! read it (`msgpush:read`). The real daemon (alone, and three nodes on a
//! real `redis-server`), the real extension in php, real socket.io 4.x and
//! 2.x clients acknowledging with socket.io's callback.

use std::time::{Duration, Instant};

use msgpush_testkit::*;
use serde_json::{json, Value};

/// A tab of `version` logged in as `uid` (in `groups`, by its token) that
/// acknowledges every message asking for it; returns once it logged in.
fn acking_tab(daemon: &Daemon, version: ClientVersion, uid: &str, groups: &[&str]) -> Browser {
    let token = daemon.unix().token_in_groups(uid, 3600, groups);
    let options =
        BrowserOptions { login: Some(token), via: Via::Handshake, ack: true, ..BrowserOptions::new(version, uid) };
    let mut tab = Browser::open_with(daemon, options);
    tab.logged_in(1);
    tab
}

/// The receipts of message `id`, as `Receipt::of()` gives them.
fn receipts(php: &mut PhpSession, id: &Value) -> Vec<Value> {
    php.call("Receipt::of", json!([id])).as_array().cloned().unwrap_or_default()
}

/// The uids of `receipts`, in their order.
fn uids(receipts: &[Value]) -> Vec<&str> {
    receipts.iter().map(|receipt| receipt["uid"].as_str().unwrap()).collect()
}

#[test]
fn a_waiting_push_counts_the_tabs_that_acknowledged_in_time_and_each_user_once() {
    let daemon = Daemon::start();
    let mut ann = acking_tab(&daemon, ClientVersion::V4, "ann", &[]);
    let mut late = acking_tab(&daemon, ClientVersion::V2, "bob", &[]);
    late.command(json!({ "ack_delay": 2500 }));
    let mut never = Browser::open_with(&daemon, BrowserOptions::new(ClientVersion::V4, "bob"));
    never.logged_in(1);
    daemon.wait_online("bob", 2);
    let mut php = PhpSession::start(&daemon.socket, &[]);

    let started = Instant::now();
    let acked = php.send(json!({ "user": ["ann", "bob"], "ack_timeout": 1500, "content": "order confirmed" }));
    let waited = started.elapsed();
    assert_eq!(acked, 1, "ann's tab at once; bob's one too late, the other never");
    let last = php.last();
    assert_eq!((&last["reached"], &last["acked_by"]), (&json!(3), &json!(["ann"])), "{last}");
    assert!(waited >= Duration::from_millis(1500), "it waited for the deadline: {waited:?}");
    assert!(waited < Duration::from_millis(1500 + 3000), "and returned at it: {waited:?}");
    for tab in [&mut ann, &mut late, &mut never] {
        tab.expect_event("new_msg", &text("order confirmed"));
    }
    let line = never.seen.iter().find(|l| l["data"] == "order confirmed").unwrap();
    assert_eq!(line["acked"], false, "asked, never answered: {line}");

    // The late acknowledgement is not counted, but recorded.
    let id = last["id"].clone();
    assert!(wait_until(|| uids(&receipts(&mut php, &id)) == ["ann", "bob"]), "{:?}", receipts(&mut php, &id));

    // Every tab answering ends the wait at once; repeats and unsent ids count nothing.
    let dan = Browser::open_with(&daemon, BrowserOptions::new(ClientVersion::V2, "dan"));
    daemon.wait_online("dan", 1);
    ann.command(json!({ "ack_extra": true }));
    let acked = php.send(json!({ "user": ["ann", "dan"], "ack_timeout": 1000, "content": "twice" }));
    assert_eq!((acked, php.last()["acked_by"].clone()), (1, json!(["ann"])), "ann's tab answered three times");
    let started = Instant::now();
    assert_eq!(php.send(json!({ "user": "ann", "ack_timeout": 5000, "content": "quick" })), 1);
    assert!(started.elapsed() < Duration::from_millis(5000), "no wait once every tab answered");
    let started = Instant::now();
    assert_eq!(php.send(json!({ "user": "nobody", "ack_timeout": 5000, "content": "offline" })), 0);
    assert!(started.elapsed() < Duration::from_millis(5000), "no wait for a push that reached no tab");
    drop(dan);

    // Pages with one-argument handlers (web-msg-sender's) are not asked, nor slowed down.
    assert_eq!(php.send(json!({ "user": "ann", "content": "plain" })), 1);
    let plain = ann.expect(|l| l["data"] == "plain");
    assert_eq!(plain.get("acked"), None, "no acknowledgement asked: {plain}");
    assert_eq!(php.last()["acked_by"], json!([]));
    let id = php.last()["id"].clone();
    assert!(receipts(&mut php, &id).is_empty(), "no receipts asked");
}

#[test]
fn receipts_come_later_for_a_queued_message_and_reads_follow_acknowledgements() {
    let mut daemon = Daemon::start();
    let mut eve = acking_tab(&daemon, ClientVersion::V4, "eve", &[]);
    let mut ivy = Browser::open_with(&daemon, BrowserOptions::new(ClientVersion::V4, "ivy"));
    ivy.logged_in(1);
    let mut php = PhpSession::start(&daemon.socket, &[]);
    assert!(php.send_queued(json!({ "user": ["eve", "ivy"], "receipts": true, "content": "invoice" })));
    let id = php.last()["id"].clone();
    eve.expect(|l| l["data"] == "invoice" && l["acked"] == true);
    assert!(wait_until(|| uids(&receipts(&mut php, &id)) == ["eve"]));
    let receipt = receipts(&mut php, &id)[0].clone();
    assert!(receipt["acked_ms"].as_u64().unwrap() > 1_700_000_000_000, "{receipt}");
    assert_eq!(receipt["read_ms"], Value::Null);

    // A read counts for a user whose tab acknowledged; ivy's tab got it but never acknowledged.
    ivy.expect_event("new_msg", &text("invoice"));
    ivy.command(json!({ "emit": "msgpush:read", "args": [id] }));
    eve.command(json!({ "emit": "msgpush:read", "args": [{ "id": id }] }));
    assert!(wait_until(|| receipts(&mut php, &id)[0]["read_ms"].is_u64()), "{:?}", receipts(&mut php, &id));
    let metrics = Scrape::get(daemon.http, "/metrics");
    assert_eq!(metrics.value("msgpush_receipts_total", &[("kind", "read")]), 1.0);
    assert_eq!(metrics.value("msgpush_receipts_total", &[("kind", "acked")]), 1.0);
    assert_eq!(uids(&receipts(&mut php, &id)), ["eve"], "ivy read nothing she acknowledged");

    // Kept in the store: a restart keeps them (after its durable commit, within a second).
    std::thread::sleep(Duration::from_millis(1500));
    drop((eve, ivy));
    daemon.kill();
    daemon.start_again();
    let mut php = PhpSession::start(&daemon.socket, &[]);
    assert_eq!(uids(&receipts(&mut php, &id)), ["eve"]);

    // A kept message sent with receipts, given at the next login, is acknowledged there.
    assert_eq!(php.send(json!({ "user": "zed", "keep": 600, "receipts": true, "content": "while away" })), 0);
    let kept = php.last()["id"].clone();
    let mut zed = acking_tab(&daemon, ClientVersion::V2, "zed", &[]);
    zed.expect(|l| l["data"] == "while away" && l["acked"] == true);
    assert!(wait_until(|| uids(&receipts(&mut php, &kept)) == ["zed"]), "{:?}", receipts(&mut php, &kept));

    // Also on the JSON HTTP API; bad ids are refused with the rule.
    let body = json!({ "receipts": { "msg_id": id } }).to_string();
    let (status, reply) = http_post(daemon.http, "/api/v1", "application/json", body.as_bytes());
    assert_eq!(status, 200, "{reply}");
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["receipts"]["receipts"][0]["uid"], "eve", "{reply}");
    let (code, message) = php.call_error("Receipt::of", json!(["not-an-id"]));
    assert_eq!((code, message.contains("32 hex digits")), (4, true), "{message}");
}

#[test]
fn a_group_push_across_three_nodes_counts_acknowledgements_from_every_node() {
    let redis = RedisServer::start();
    let (_shared, nodes) = redis.nodes(3, &[]);
    let versions = [ClientVersion::V4, ClientVersion::V2, ClientVersion::V4];
    let mut tabs: Vec<Browser> = nodes
        .iter()
        .zip(versions)
        .enumerate()
        .map(|(i, (node, version))| acking_tab(node, version, &format!("n{i}"), &["ops"]))
        .collect();
    let mut php = PhpSession::start(&nodes[0].socket, &[]);
    assert!(wait_until(|| php.call("Group::count", json!(["ops"]))["tabs"] == 3));
    let acked = php.send(json!({ "group": "ops", "ack_timeout": 5000, "content": "deploy done" }));
    let last = php.last();
    assert_eq!((acked, &last["acked_by"]), (3, &json!(["n0", "n1", "n2"])), "{last}");
    for tab in &mut tabs {
        tab.expect(|l| l["data"] == "deploy done" && l["acked"] == true);
    }
    // Any node answers who acknowledged.
    let mut other = PhpSession::start(&nodes[2].socket, &[]);
    let id = last["id"].clone();
    assert!(wait_until(|| uids(&receipts(&mut other, &id)).len() == 3), "{:?}", receipts(&mut other, &id));
}

#[test]
fn waiting_pushes_are_bounded_and_refused_with_busy_beyond() {
    let daemon = Daemon::start_with(&["--max-waiting-pushes", "1", "--max-ack-timeout-ms", "4000"]);
    let mut fay = Browser::open_with(&daemon, BrowserOptions::new(ClientVersion::V4, "fay"));
    fay.logged_in(1);
    let (mut first, mut second) = (PhpSession::start(&daemon.socket, &[]), PhpSession::start(&daemon.socket, &[]));
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| first.send(json!({ "user": "fay", "ack_timeout": 3000, "content": "wait" })));
        let metrics = || Scrape::get(daemon.http, "/metrics").value("msgpush_waiting_pushes", &[]);
        assert!(wait_until(|| metrics() == 1.0), "the first push waits");
        let (code, message) = second.send_error(json!({ "user": "fay", "ack_timeout": 1000, "content": "no room" }));
        assert_eq!(code, 7, "PushException::BUSY: {message}");
        assert!(message.contains("--max-waiting-pushes"), "{message}");
        assert_eq!(second.send(json!({ "user": "fay", "content": "not waiting" })), 1, "other pushes go on");
        assert_eq!(waiting.join().unwrap(), 0, "fay's page never acknowledges");
    });
    let metrics = Scrape::get(daemon.http, "/metrics");
    assert_eq!(metrics.value("msgpush_waits_refused_total", &[]), 1.0);
    assert_eq!(metrics.value("msgpush_waiting_pushes", &[]), 0.0);
    let (code, message) = second.send_error(json!({ "user": "fay", "ack_timeout": 5000 }));
    assert_eq!((code, message.contains("--max-ack-timeout-ms")), (4, true), "{message}");
    let (code, message) = second.send_error(json!({ "user": "fay", "ack_timeout": 60_001 }));
    assert_eq!((code, message.contains("1 to 60000 ms")), (4, true), "{message}");
    fay.expect_event("new_msg", &text("not waiting"));
    assert_eq!(fay.count_event("new_msg", &text("no room")), 0, "a refused push sends nothing");
}
