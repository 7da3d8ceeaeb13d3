//! Events to the application: the example site (`php-examples/site`) behind
//! nginx and php-fpm receives msgpushd's webhook, checks it with
//! `MsgPush\Webhook::events()`, logs each event once (`data/events.log`),
//! and answers the pages' chat messages by pushing to their room.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use msgpush_protocol::{Command as Cmd, Content, Publish, Target};
use msgpush_testkit::redis::RedisServer;
use msgpush_testkit::site::{site_address, ExampleSite};
use msgpush_testkit::*;
use serde_json::{json, Value};

/// What the site took, as the tests read it.
trait Took {
    /// `(type, uid)` of the events about the users `uids`.
    fn of(&self, uids: &[&str]) -> Vec<(String, String)>;
    /// Waits (up to `secs`) until the site took `n` events about `uids`.
    fn wait_for(&self, uids: &[&str], n: usize, secs: u64) -> Vec<(String, String)>;
}

impl Took for ExampleSite {
    fn of(&self, uids: &[&str]) -> Vec<(String, String)> {
        self.events()
            .iter()
            .filter(|e| uids.contains(&e["data"]["uid"].as_str().unwrap_or("")))
            .map(|e| (e["type"].as_str().unwrap().to_owned(), e["data"]["uid"].as_str().unwrap().to_owned()))
            .collect()
    }

    fn wait_for(&self, uids: &[&str], n: usize, secs: u64) -> Vec<(String, String)> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.of(uids).len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.of(uids)
    }
}

fn event(kind: &str, uid: &str) -> (String, String) {
    (kind.to_owned(), uid.to_owned())
}

#[test]
fn a_first_tab_is_online_a_reload_nothing_and_the_last_tab_gone_offline_after_the_grace() {
    let (addr, url) = site_address();
    let daemon = Daemon::start_with(&[
        "--socket-group",
        "www-data",
        "--webhook-url",
        &url,
        "--offline-grace-secs",
        "2",
        "--webhook-batch-ms",
        "20",
    ]);
    let site = ExampleSite::start(addr, &daemon);

    let mut first = Browser::open(&daemon, "w1");
    assert_eq!(site.wait_for(&["w1"], 1, 10), [event("user_online", "w1")]);
    let mut second = Browser::open(&daemon, "w1");
    daemon.wait_online("w1", 2);
    first.command(json!({ "close": true }));
    daemon.wait_online("w1", 1);
    // A reload: the last tab closes and a new one opens within the grace.
    second.command(json!({ "close": true }));
    let reloaded = Browser::open(&daemon, "w1");
    daemon.wait_online("w1", 1);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(site.of(&["w1"]), [event("user_online", "w1")], "a second tab and a reload are no event");
    drop(reloaded);
    let closed = Instant::now();
    assert_eq!(site.wait_for(&["w1"], 2, 10), [event("user_online", "w1"), event("user_offline", "w1")]);
    assert!(closed.elapsed() >= Duration::from_secs(2), "offline only after the grace");
    let last_seen = std::fs::read_to_string(site.data().join("last-seen/w1")).unwrap();
    let offline = site.events().into_iter().find(|e| e["type"] == "user_offline").unwrap();
    assert_eq!(last_seen, offline["time"].to_string(), "the site keeps the user's last seen");
    assert!(offline["id"].as_str().unwrap().len() == 32 && offline["time"].as_u64().unwrap() > 0);
}

#[test]
fn across_three_nodes_each_event_is_sent_once() {
    let (addr, url) = site_address();
    let redis = RedisServer::start();
    let args =
        ["--socket-group", "www-data", "--webhook-url", &url, "--offline-grace-secs", "1", "--webhook-batch-ms", "20"];
    let (_shared, nodes) = redis.nodes(3, &args);
    let site = ExampleSite::start(addr, &nodes[0]);

    let tabs: Vec<Browser> = (0..3).map(|n| Browser::open(&nodes[n], "c1")).collect();
    let other = Browser::open(&nodes[2], "c2");
    nodes[0].wait_online("c1", 3);
    assert_eq!(site.wait_for(&["c1", "c2"], 2, 10).len(), 2);
    drop(tabs);
    drop(other);
    site.wait_for(&["c1", "c2"], 4, 15);
    std::thread::sleep(Duration::from_secs(2));
    let mut events = site.of(&["c1", "c2"]);
    assert_eq!(events.len(), 4, "once each, not once per node: {events:?}");
    events.sort();
    assert_eq!(
        events,
        [
            event("user_offline", "c1"),
            event("user_offline", "c2"),
            event("user_online", "c1"),
            event("user_online", "c2")
        ]
    );
}

#[test]
fn a_forged_altered_replayed_or_unsigned_request_is_refused() {
    let (_, url) = site_address();
    let daemon = Daemon::start_with(&["--webhook-url", &url]);
    // The secret exists once the daemon runs with --webhook-url.
    let secret = daemon.secret_path().with_file_name("webhook-secret");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the webhook secret is private");
    let body =
        r#"{"events":[{"id":"00000000000000000000000000000001","type":"user_online","time":1,"data":{"uid":"7"}}]}"#;
    let checked = php_json(&daemon.socket, "webhook_check.php", &[secret.to_str().unwrap(), body], &[]);
    assert_eq!(
        checked,
        json!({ "signed": 1, "forged": "REFUSED", "altered": "REFUSED", "replayed": "REFUSED", "unsigned": "REFUSED" })
    );
    // The JSON HTTP API checks the same way, for back ends without the extension.
    let check = json!({ "webhook_check": { "body": body, "timestamp": "1", "signature": "v1=00" } });
    let (status, reply) = http_post(daemon.http, "/api/v1", "application/json", check.to_string().as_bytes());
    assert_eq!(status, 400, "{reply}");
    assert_eq!(serde_json::from_str::<Value>(&reply).unwrap()["error"]["code"], "forged", "{reply}");
}

#[test]
fn events_wait_while_the_application_is_down_and_each_arrives_once_in_order() {
    let (addr, url) = site_address();
    let daemon = Daemon::start_with(&[
        "--socket-group",
        "www-data",
        "--webhook-url",
        &url,
        "--offline-grace-secs",
        "1",
        "--webhook-batch-ms",
        "20",
        "--webhook-batch-size",
        "2",
        "--page-messages",
        "chat",
    ]);
    let users = ["d1", "d2", "d3"];
    for uid in users {
        let tab = Browser::open(&daemon, uid);
        daemon.wait_online(uid, 1);
        drop(tab);
    }
    // A page's message while the application is down is answered with an error.
    let mut page = Browser::open(&daemon, "d4");
    daemon.wait_online("d4", 1);
    page.command(json!({ "ask": "msgpush:send", "args": [{ "name": "chat", "data": { "room": "1", "text": "x" } }] }));
    let answer = page.expect(|l| l["type"] == "ack");
    assert!(answer["data"]["error"].as_str().unwrap().contains("could not be reached"), "{answer}");
    drop(page);
    std::thread::sleep(Duration::from_secs(10));
    let requests = Scrape::get(daemon.http, "/metrics");
    assert!(requests.value("msgpush_webhook_requests_total", &[("outcome", "failed")]) >= 2.0, "retried");
    let site = ExampleSite::start(addr, &daemon);
    let mut expected = Vec::new();
    for uid in ["d1", "d2", "d3", "d4"] {
        expected.extend([event("user_online", uid), event("user_offline", uid)]);
    }
    let events = site.wait_for(&["d1", "d2", "d3", "d4"], 8, 40);
    let mut sorted = events.clone();
    sorted.sort_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
    assert_eq!(sorted, expected, "every event once");
    for uid in ["d1", "d2", "d3", "d4"] {
        let own: Vec<&(String, String)> = events.iter().filter(|e| e.1 == uid).collect();
        assert_eq!(own[0].0, "user_online", "in order per user: {events:?}");
    }
    let ids: std::collections::HashSet<String> =
        site.events().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), site.events().len(), "each id once");
    let metrics = Scrape::get(daemon.http, "/metrics");
    assert_eq!(metrics.value("msgpush_webhook_delivered_total", &[]), 8.0);
    assert_eq!(metrics.value("msgpush_webhook_dropped_total", &[("reason", "expired")]), 0.0);
}

#[test]
fn a_full_queue_drops_and_counts() {
    let (_, url) = site_address();
    let daemon = Daemon::start_with(&["--webhook-url", &url, "--webhook-queue-size", "2", "--webhook-batch-size", "1"]);
    let tabs: Vec<Browser> = (0..6).map(|n| Browser::open(&daemon, &format!("f{n}"))).collect();
    let metrics = || Scrape::get(daemon.http, "/metrics");
    assert!(wait_until(|| metrics().value("msgpush_webhook_events_total", &[("type", "user_online")]) >= 6.0));
    let dropped = metrics().value("msgpush_webhook_dropped_total", &[("reason", "full")]);
    assert!((3.0..=4.0).contains(&dropped), "6 events, one in flight and 2 queued: {dropped} dropped");
    assert!(daemon.log().contains("webhook events arrive faster than the application takes them"));
    drop(tabs);
}

#[test]
fn a_pages_message_reaches_the_application_as_its_user_and_the_answer_comes_back() {
    let (addr, url) = site_address();
    let daemon = Daemon::start_with(&[
        "--socket-group",
        "www-data",
        "--webhook-url",
        &url,
        "--page-messages",
        "chat,typing",
        "--max-page-message-bytes",
        "200",
        "--max-client-messages-per-sec",
        "3",
    ]);
    let site = ExampleSite::start(addr, &daemon);
    let mut alice = Browser::open_in_groups(&daemon, ClientVersion::V4, "alice", &["room-5"]);
    let mut bob = Browser::open_in_groups(&daemon, ClientVersion::V4, "bob", &["room-5"]);
    // The answer to a page's next message (its acks, counted).
    let mut asked = 0;
    let mut ask = |browser: &mut Browser, message: Value| {
        browser.command(json!({ "ask": "msgpush:send", "args": [message] }));
        asked += 1;
        browser.expect_count(asked, |l| l["type"] == "ack");
        std::thread::sleep(Duration::from_millis(400)); // within --max-client-messages-per-sec
        browser.acks().last().unwrap().clone()
    };
    // The page claims to be bob: the application hears alice, whom its tab logged in as.
    let answer = ask(&mut alice, json!({ "name": "chat", "data": { "room": "5", "text": "hello", "uid": "bob" } }));
    assert_eq!(answer, json!({ "answer": { "sent": 1 } }));
    bob.expect_event("room_msg", &json!({ "from": "alice", "text": "hello" }));
    let message = site.events().into_iter().find(|e| e["type"] == "page_message").unwrap();
    assert_eq!(message["data"]["uid"], "alice");
    assert_eq!(message["data"]["name"], "chat");
    // The application's own refusal reaches the page as its answer.
    let answer = ask(&mut alice, json!({ "name": "chat", "data": { "room": "6", "text": "hi" } }));
    assert_eq!(answer, json!({ "answer": { "error": "not in that room" } }));

    let refused = |answer: &Value, why: &str| {
        let error = answer["error"].as_str().unwrap_or_else(|| panic!("refused: {answer}"));
        assert!(error.contains(why), "{error}");
    };
    refused(&ask(&mut alice, json!({ "name": "order", "data": {} })), "not a message this site takes");
    refused(&ask(&mut alice, json!({ "name": "chat", "data": "x".repeat(300) })), "--max-page-message-bytes");
    refused(&ask(&mut alice, json!("chat")), "{name, data}");
    // Too fast: over --max-client-messages-per-sec.
    for _ in 0..5 {
        alice.command(json!({ "ask": "msgpush:send", "args": [{ "name": "typing", "data": {} }] }));
    }
    alice.expect_count(asked + 5, |l| l["type"] == "ack");
    let answers = alice.acks();
    assert!(
        answers.iter().any(|a| a["error"].as_str().is_some_and(|e| e.contains("too many messages"))),
        "{answers:?}"
    );
    let mut anonymous = Browser::open_with(&daemon, BrowserOptions::anonymous(ClientVersion::V4));
    anonymous.command(json!({ "ask": "msgpush:send", "args": [{ "name": "chat", "data": {} }] }));
    refused(&anonymous.expect(|l| l["type"] == "ack")["data"], "not logged in");
    let metrics = Scrape::get(daemon.http, "/metrics");
    assert!(metrics.value("msgpush_page_messages_total", &[("outcome", "answered")]) >= 2.0);
    assert!(metrics.value("msgpush_page_messages_total", &[("outcome", "refused")]) >= 4.0);
}

/// `(type, uid, msg_id)` of the receipts' events the site took.
fn receipt_events(site: &ExampleSite) -> Vec<(String, String, String)> {
    let events = site.events().into_iter().filter(|e| e["data"]["msg_id"].is_string());
    events
        .map(|e| {
            let field = |name: &str| e["data"][name].as_str().unwrap().to_owned();
            (e["type"].as_str().unwrap().to_owned(), field("uid"), field("msg_id"))
        })
        .collect()
}

/// A user's first acknowledgement and first read of message `id` (pushed
/// through `pusher`, the user's two tabs on `tabs_on`), as the site must see them.
fn acknowledged_and_read(site: &ExampleSite, pusher: &Daemon, tabs_on: [&Daemon; 2]) {
    let tabs: Vec<Browser> = tabs_on
        .iter()
        .map(|daemon| {
            let token = daemon.token("r1");
            let options = BrowserOptions {
                login: Some(token),
                via: Via::Handshake,
                ack: true,
                ..BrowserOptions::new(ClientVersion::V4, "r1")
            };
            let mut tab = Browser::open_with(daemon, options);
            tab.logged_in(1);
            tab
        })
        .collect();
    pusher.wait_online("r1", 2);
    let id = "0000000000000000000000000000beef";
    let mut publish = Publish::new(Target::Users(vec!["r1".into()]), "new_msg", Content::Text("invoice".into()));
    (publish.msg_id, publish.receipts) = (Some(serde_json::from_value(json!(id)).unwrap()), true);
    assert_eq!(sockets_delivered(&pusher.unix().request(Cmd::Publish(publish))), 2);
    let acked = ("message_acked".to_owned(), "r1".to_owned(), id.to_owned());
    let mut tabs = tabs;
    for tab in &mut tabs {
        tab.expect(|l| l["data"] == "invoice" && l["acked"] == true);
        tab.command(json!({ "emit": "msgpush:read", "args": [id] }));
    }
    let read = ("message_read".to_owned(), "r1".to_owned(), id.to_owned());
    let deadline = Instant::now() + Duration::from_secs(10);
    while receipt_events(site).len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(receipt_events(site), [acked, read], "two tabs: one acknowledgement, one read");
    assert!(site.of(&["r1"]).iter().all(|(kind, _)| kind.starts_with("message_")), "only the events asked for");
}

#[test]
fn a_users_first_acknowledgement_and_read_of_a_message_are_events_once() {
    let (addr, url) = site_address();
    let events = ["--webhook-events", "message_acked,message_read", "--webhook-batch-ms", "20"];
    let daemon = Daemon::start_with(&[&["--socket-group", "www-data", "--webhook-url", &url][..], &events].concat());
    let site = ExampleSite::start(addr, &daemon);
    acknowledged_and_read(&site, &daemon, [&daemon, &daemon]);
}

#[test]
fn in_a_cluster_receipts_from_tabs_on_two_nodes_are_events_once() {
    let (addr, url) = site_address();
    let redis = RedisServer::start();
    let args = ["--socket-group", "www-data", "--webhook-url", &url, "--webhook-events", "message_acked,message_read"];
    let (_shared, nodes) = redis.nodes(3, &args);
    let site = ExampleSite::start(addr, &nodes[0]);
    acknowledged_and_read(&site, &nodes[0], [&nodes[1], &nodes[2]]);
}
