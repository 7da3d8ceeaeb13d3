//! Nothing lost between two page loads: a tab that was away gets every
//! message it missed (its user's, its groups', everyone's), in order, once,
//! before newer ones, also after the daemon was killed and restarted; a gap
//! beyond the retention is said; a kept message waits for an offline user
//! until a tab acknowledged it. The real daemon and its embedded store, the
//! real extension in php, real socket.io 4.x and 2.x clients.

use std::cell::RefCell;

use msgpush_testkit::*;
use serde_json::{json, Value};

/// A tab of `version` logged in as `uid` with a token putting it in
/// `groups`, presenting its positions whenever it logs in.
fn recovering_tab(daemon: &Daemon, version: ClientVersion, uid: &str, groups: &[&str], via: Via) -> Browser {
    let token = daemon.unix().token_in_groups(uid, 3600, groups);
    let options = BrowserOptions { login: Some(token), via, recover: true, ..BrowserOptions::new(version, uid) };
    let mut tab = Browser::open_with(daemon, options);
    tab.logged_in(1);
    tab
}

/// What the second `msgpush:recovered` `tab` got says (the first came at
/// its first login).
fn last_recovered(tab: &mut Browser) -> Value {
    tab.expect_count(2, |l| l["event"] == "msgpush:recovered");
    tab.seen.iter().rfind(|l| l["event"] == "msgpush:recovered").unwrap()["data"].clone()
}

/// The contents of the `new_msg` events `tab` received, in order.
fn contents(tab: &Browser) -> Vec<String> {
    tab.received("new_msg")
}

/// Pushes 50 messages, a third each to `uid`, to `group` and to everyone,
/// and some the tab must not get: to its user but leaving it out, to
/// another group, and one not kept in history. Returns the 50 in order.
fn fifty(php: &mut PhpSession, uid: &str, group: &str) -> Vec<String> {
    let mut expected = Vec::new();
    for i in 0..50 {
        let content = format!("m{i}");
        let setters = match i % 3 {
            0 => json!({ "user": uid, "content": content }),
            1 => json!({ "group": group, "content": content }),
            _ => json!({ "content": content }),
        };
        php.send(setters);
        expected.push(content);
        if i == 10 {
            php.send(json!({ "user": [uid, "other"], "except": uid, "content": "left out" }));
            php.send(json!({ "group": "another-group", "content": "another group's" }));
            php.send(json!({ "user": uid, "history": false, "content": "not kept" }));
        }
    }
    expected
}

/// How a tab goes away and comes back.
struct Trip<'a> {
    /// Makes the tab go away; returns once its user is offline.
    away: Box<dyn FnMut(&mut Browser) + 'a>,
    /// Happens while it is away, after the messages were pushed.
    meanwhile: Box<dyn FnMut() + 'a>,
    /// The client command that brings it back.
    back: Value,
}

/// The tab away (as `trip` says) while [`fifty`] are pushed through the
/// daemon at `socket`, then back, then a newer message: checks it got
/// exactly the 50, in order, once, before the newer one.
fn away_and_back(socket: &std::path::Path, tab: &mut Browser, uid: &str, group: &str, mut trip: Trip<'_>) {
    let mut php = PhpSession::start(socket, &[]);
    php.send(json!({ "user": uid, "content": "before" }));
    tab.expect_event("new_msg", &text("before"));
    (trip.away)(tab);
    let expected = fifty(&mut php, uid, group);
    drop(php);
    (trip.meanwhile)();
    tab.command(trip.back);
    let recovered = last_recovered(tab);
    assert_eq!((&recovered["complete"], &recovered["incomplete"]), (&json!(true), &json!([])), "{recovered}");
    let mut php = PhpSession::start(socket, &[]);
    php.send(json!({ "user": uid, "content": "newer" }));
    tab.expect_event("new_msg", &text("newer"));
    let mut want = vec!["before".to_owned()];
    want.extend(expected);
    want.push("newer".to_owned());
    assert_eq!(contents(tab), want, "all 50, in order, once, before the newer one");
    let given: Vec<&Value> =
        tab.seen.iter().filter(|l| l["event"] == "new_msg" && l["meta"]["recovered"] == true).collect();
    assert_eq!(given.len(), 50, "the 50 were given at login, marked recovered");
    // The recovered event comes after the last of them, and before the newer message.
    let at = |matches: &dyn Fn(&Value) -> bool| tab.seen.iter().rposition(matches).unwrap();
    assert!(at(&|l| l["data"] == "m49") < at(&|l| l["event"] == "msgpush:recovered"));
    assert!(at(&|l| l["event"] == "msgpush:recovered") < at(&|l| l["data"] == "newer"));
}

/// A trip on one daemon: the tab's transport cut (no goodbye), and back.
fn cut<'a>(daemon: &'a RefCell<Daemon>, uid: &'a str, meanwhile: Box<dyn FnMut() + 'a>) -> Trip<'a> {
    Trip {
        away: Box::new(move |tab| {
            tab.command(json!({ "cut": true }));
            tab.expect(|l| l["type"] == "disconnected");
            daemon.borrow().wait_online(uid, 0);
        }),
        meanwhile,
        back: json!({ "reconnect": true }),
    }
}

#[test]
fn a_tab_cut_off_gets_all_it_missed_in_order_once_before_newer_messages_4x_and_2x() {
    let daemon = RefCell::new(Daemon::start());
    let socket = daemon.borrow().socket.clone();
    for (version, via, uid) in [
        (ClientVersion::V4, Via::Handshake, "ann"),
        (ClientVersion::V2, Via::Handshake, "ben"),
        (ClientVersion::V4, Via::Event, "cat"),
    ] {
        let mut tab = recovering_tab(&daemon.borrow(), version, uid, &["team"], via);
        away_and_back(&socket, &mut tab, uid, "team", cut(&daemon, uid, Box::new(|| {})));
    }
}

#[test]
fn a_killed_daemon_restarted_gives_what_was_missed_from_its_store() {
    let daemon = RefCell::new(Daemon::start());
    let mut tab = recovering_tab(&daemon.borrow(), ClientVersion::V4, "dee", &["crew"], Via::Handshake);
    let socket = daemon.borrow().socket.clone();
    let restart = || {
        // After the store's durable commit (at most a second).
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let mut daemon = daemon.borrow_mut();
        daemon.kill();
        daemon.start_again();
    };
    away_and_back(&socket, &mut tab, "dee", "crew", cut(&daemon, "dee", Box::new(restart)));
}

#[test]
fn a_tab_whose_node_died_gets_what_it_missed_on_another_node() {
    let redis = RedisServer::start();
    let (_shared, mut nodes) = redis.nodes(3, &["--cluster-node-ttl-secs", "2"]);
    let mut tab = recovering_tab(&nodes[2], ClientVersion::V4, "joy", &["team"], Via::Handshake);
    let back = json!({ "reconnect": nodes[1].url() });
    let socket = nodes[0].socket.clone();
    let [first, _, third] = &mut nodes[..] else { unreachable!() };
    let trip = Trip {
        away: Box::new(|tab| {
            third.kill();
            tab.expect(|l| l["type"] == "disconnected");
            first.wait_online("joy", 0);
        }),
        meanwhile: Box::new(|| {}),
        back,
    };
    away_and_back(&socket, &mut tab, "joy", "team", trip);

    // A message kept for a user offline on every node, given by another node, acknowledged there.
    let mut php = PhpSession::start(&nodes[0].socket, &[]);
    assert_eq!(php.send(json!({ "user": "kay", "keep": 600, "content": "kept in redis" })), 0);
    assert_eq!(php.last()["kept"], 1);
    let mut kay =
        Browser::open_with(&nodes[1], BrowserOptions { ack: true, ..BrowserOptions::new(ClientVersion::V2, "kay") });
    kay.expect(|l| l["data"] == "kept in redis" && l["acked"] == true);
    assert!(
        wait_until(|| php.call("Inbox::count", json!(["kay"])) == json!(0)),
        "acknowledged on node 2, seen on node 1"
    );
}

#[test]
fn a_gap_beyond_the_history_is_said_and_what_is_kept_is_given() {
    let daemon = Daemon::start_with(&["--history-size", "5"]);
    let mut tab = recovering_tab(&daemon, ClientVersion::V4, "eli", &[], Via::Handshake);
    let mut php = PhpSession::start(&daemon.socket, &[]);
    php.send(json!({ "user": "eli", "content": "seen" }));
    tab.expect_event("new_msg", &text("seen"));
    let seen = tab.seen.iter().find(|l| l["data"] == "seen").unwrap()["meta"].clone();
    assert_eq!(seen["positions"]["user"]["position"], 1, "{seen}");
    assert_eq!(seen["id"].as_str().unwrap().len(), 32);
    assert_eq!(php.last()["id"], seen["id"], "PHP and the page see the same id");
    assert_eq!(php.last()["positions"]["user:eli"], seen["positions"]["user"]);
    tab.command(json!({ "cut": true }));
    daemon.wait_online("eli", 0);
    for i in 0..12 {
        php.send(json!({ "user": "eli", "content": format!("g{i}") }));
    }
    tab.command(json!({ "reconnect": true }));
    let recovered = last_recovered(&mut tab);
    assert_eq!((&recovered["complete"], &recovered["incomplete"]), (&json!(false), &json!(["user"])), "{recovered}");
    assert_eq!(recovered["positions"]["user"]["position"], 13, "where the stream stands now");
    assert_eq!(contents(&tab), ["seen", "g7", "g8", "g9", "g10", "g11"], "the kept tail, in order");
    assert_eq!(Scrape::get(daemon.http, "/metrics").value("msgpush_history_dropped_total", &[("reason", "size")]), 8.0);
}

#[test]
fn a_kept_message_waits_for_the_next_login_until_a_tab_acknowledges_it() {
    let daemon = Daemon::start();
    let mut php = PhpSession::start(&daemon.socket, &[]);
    assert_eq!(php.send(json!({ "user": "fin", "keep": 3600, "content": "while you were away" })), 0);
    assert_eq!(php.last()["kept"], 1);
    assert_eq!(php.call("Inbox::count", json!(["fin"])), json!(1));

    // A page that does not acknowledge gets it at each login.
    let options = BrowserOptions { ..BrowserOptions::new(ClientVersion::V2, "fin") };
    let mut careless = Browser::open_with(&daemon, options.clone());
    careless.expect_event("new_msg", &text("while you were away"));
    let line = careless.seen.iter().find(|l| l["data"] == "while you were away").unwrap().clone();
    assert_eq!((line["meta"]["kept"].clone(), line["acked"].clone()), (json!(true), json!(false)));
    drop(careless);
    daemon.wait_online("fin", 0);
    assert_eq!(php.call("Inbox::count", json!(["fin"])), json!(1));

    // One that acknowledges takes it out: no later login gets it.
    let mut careful = Browser::open_with(&daemon, BrowserOptions { ack: true, ..options.clone() });
    careful.expect(|l| l["data"] == "while you were away" && l["acked"] == true);
    assert!(wait_until(|| php.call("Inbox::count", json!(["fin"])) == json!(0)));
    // Online now: a kept message arrives at once, and is acknowledged.
    assert_eq!(php.send(json!({ "user": "fin", "keep": 3600, "content": "now" })), 1);
    careful.expect(|l| l["data"] == "now" && l["acked"] == true);
    assert!(wait_until(|| php.call("Inbox::count", json!(["fin"])) == json!(0)));
    drop(careful);
    daemon.wait_online("fin", 0);
    let mut later = Browser::open_with(&daemon, options);
    later.logged_in(1);
    assert_eq!(php.send(json!({ "user": "fin", "content": "marker" })), 1);
    later.expect_event("new_msg", &text("marker"));
    assert_eq!(contents(&later), ["marker"], "acknowledged messages do not come again");
    assert_eq!(Scrape::get(daemon.http, "/metrics").value("msgpush_inbox_acknowledged_total", &[]), 2.0);
}

#[test]
fn a_kept_message_expires_on_time_and_an_inbox_can_be_cleared() {
    let daemon = Daemon::start();
    let mut php = PhpSession::start(&daemon.socket, &[]);
    php.send(json!({ "user": "gil", "keep": 2, "content": "short-lived" }));
    php.send(json!({ "user": "gil", "keep": 3600, "content": "long-lived" }));
    assert_eq!(php.call("Inbox::count", json!(["gil"])), json!(2));
    assert!(wait_until(|| php.call("Inbox::count", json!(["gil"])) == json!(1)), "the short-lived one expired");
    let mut tab = Browser::open(&daemon, "gil");
    tab.logged_in(1);
    assert_eq!(contents(&tab), ["long-lived"]);
    assert_eq!(php.call("Inbox::clear", json!(["gil"])), json!(1));
    assert_eq!(php.call("Inbox::count", json!(["gil"])), json!(0));
    let metrics = Scrape::get(daemon.http, "/metrics");
    assert_eq!(metrics.value("msgpush_inbox_dropped_total", &[("reason", "expired")]), 1.0);
    assert_eq!(metrics.value("msgpush_inbox_messages", &[]), 0.0);

    // A group's kept message is kept for its members; bad input is refused with the rule.
    assert_eq!(php.call("Group::join", json!(["club", ["hal", "ivy"]])), json!(0));
    php.send(json!({ "group": "club", "except": "ivy", "keep": 60, "content": "to the club" }));
    assert_eq!(php.last()["kept"], 1, "hal, not ivy");
    let (code, message) = php.send_error(json!({ "user": "x", "keep": 31 * 24 * 3600 }));
    assert_eq!(code, 4);
    assert!(message.contains("a message is kept 1 to 2592000 seconds"), "{message}");
    let (code, message) = php.call_error("Inbox::count", json!([""]));
    assert_eq!((code, message.contains("must not be empty")), (4, true), "{message}");
}

#[test]
fn a_flood_keeps_history_within_its_bytes() {
    let daemon = Daemon::start_with(&["--history-max-bytes", "65536", "--history-size", "100000"]);
    let mut unix = daemon.unix();
    let body = "x".repeat(1000);
    for i in 0..1000 {
        unix.push_text(&format!("user{}", i % 50), &format!("{i} {body}"));
    }
    let metrics = Scrape::get(daemon.http, "/metrics");
    let bytes = metrics.value("msgpush_history_bytes", &[]);
    assert!(bytes > 30_000.0 && bytes <= 65_536.0, "history holds {bytes} bytes");
    assert!(metrics.value("msgpush_history_dropped_total", &[("reason", "bytes")]) > 900.0);
    let file = std::fs::metadata(daemon.state_dir().join("msgpush.redb")).unwrap().len();
    assert!(file < 16 << 20, "the store's file stays small: {file} bytes");
    daemon.assert_serving();
}
