//! Groups and presence on one daemon: tabs in groups by their login token
//! and by their user's memberships, pushes to groups and with exceptions,
//! PHP's presence questions, a page's presence in its group, and the same
//! commands on the HTTP API's JSON endpoint. The real extension in the real
//! php CLI, real socket.io 4.x and 2.x clients.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use msgpush_testkit::*;
use serde_json::{json, Value};

#[test]
fn a_token_with_groups_puts_exactly_that_tab_in_them_for_its_life() {
    let daemon = Daemon::start();
    let mut php = PhpSession::start(&daemon.socket, &[]);
    // The order page's tab, a 2.x tab of the same user on another order, a third tab on no order.
    let mut order_page = Browser::open_in_groups(&daemon, ClientVersion::V4, "alice", &["order-42"]);
    let mut other_order = Browser::open_in_groups(&daemon, ClientVersion::V2, "alice", &["order-43"]);
    let mut home = Browser::open(&daemon, "alice");
    daemon.wait_online("alice", 3);

    assert_eq!(php.send(json!({ "group": "order-42", "content": "shipped" })), 1);
    order_page.expect_event("new_msg", &text("shipped"));
    assert_eq!(php.send(json!({ "group": "order-43", "content": "paid" })), 1);
    other_order.expect_event("new_msg", &text("paid"));
    assert_eq!(php.send(json!({ "user": "alice", "content": "to every tab" })), 3);
    for browser in [&mut order_page, &mut other_order, &mut home] {
        browser.expect_event("new_msg", &text("to every tab"));
    }
    assert_eq!(order_page.count_event("new_msg", &text("paid")), 0);
    assert_eq!(other_order.count_event("new_msg", &text("shipped")), 0);
    assert!(home.received("new_msg").iter().all(|m| m == "to every tab"), "{:?}", home.received("new_msg"));
    assert_eq!(php.call("Group::count", json!(["order-42"])), json!({ "users": 1, "tabs": 1 }));
    assert_eq!(php.call("Group::members", json!(["order-42"])), json!(["alice"]));

    // A reconnect presents the same token: the tab is in its group again.
    order_page.command(json!({ "drop": true }));
    order_page.expect_count(2, |l| l["type"] == "connected");
    order_page.expect_count(2, |l| l["event"] == "update_online_count");
    assert_eq!(php.send(json!({ "group": "order-42", "content": "delivered" })), 1);
    order_page.expect_event("new_msg", &text("delivered"));

    // Group::leave ends memberships, not what a token says.
    assert_eq!(php.call("Group::leave", json!(["order-42", "alice"])), json!(0));
    assert_eq!(php.send(json!({ "group": "order-42", "content": "still here" })), 1);
    order_page.expect_event("new_msg", &text("still here"));

    // Once closed, the group is empty.
    order_page.command(json!({ "close": true }));
    daemon.wait_online("alice", 2);
    assert_eq!(php.send(json!({ "group": "order-42", "content": "gone" })), 0);
    assert_eq!(php.call("Group::count", json!(["order-42"])), json!({ "users": 0, "tabs": 0 }));
}

#[test]
fn group_join_and_leave_change_what_reaches_the_users_tabs_now_and_later() {
    let daemon = Daemon::start();
    let mut php = PhpSession::start(&daemon.socket, &[]);
    let mut bob =
        Browser::open_with(&daemon, BrowserOptions { tabs: 2, ..BrowserOptions::new(ClientVersion::V4, "bob") });
    let mut carol = Browser::open_with(&daemon, BrowserOptions::new(ClientVersion::V2, "carol"));
    daemon.wait_online("bob", 2);
    daemon.wait_online("carol", 1);

    assert_eq!(php.send(json!({ "group": "team-7", "content": "before" })), 0, "nobody is in it yet");
    assert_eq!(php.call("Group::join", json!(["team-7", "bob"])), json!(2), "bob's two tabs");
    assert_eq!(php.send(json!({ "group": "team-7", "content": "you were added to team 7" })), 2);
    bob.expect_count(2, |l| l["data"] == "you were added to team 7");
    assert_eq!(carol.count_event("new_msg", &text("you were added to team 7")), 0);

    // A tab opened later, and a tab that reconnects, are in the group.
    let mut bob_later = Browser::open_with(&daemon, BrowserOptions::new(ClientVersion::V2, "bob"));
    daemon.wait_online("bob", 3);
    bob.command(json!({ "drop": true, "tab": 0 }));
    bob.expect_count(3, |l| l["type"] == "connected");
    daemon.wait_online("bob", 3);
    assert_eq!(php.send(json!({ "group": "team-7", "content": "after a reload" })), 3);
    bob.expect_count(2, |l| l["data"] == "after a reload");
    bob_later.expect_event("new_msg", &text("after a reload"));
    assert_eq!(php.call("Group::count", json!(["team-7"])), json!({ "users": 1, "tabs": 3 }));

    // Several users and groups at once; an int uid is its decimal string.
    let mut user_9 = Browser::open(&daemon, "9");
    daemon.wait_online("9", 1);
    assert_eq!(php.call("Group::join", json!([["team-7", "team-8"], ["carol", 9]])), json!(2));
    assert_eq!(php.send(json!({ "group": "team-8", "content": "team 8" })), 2);
    carol.expect_event("new_msg", &text("team 8"));
    user_9.expect_event("new_msg", &text("team 8"));
    assert_eq!(php.call("Group::members", json!(["team-7"])), json!(["9", "bob", "carol"]));

    // Leaving: bob's tabs stop receiving, now and after a reconnect.
    assert_eq!(php.call("Group::leave", json!(["team-7", "bob"])), json!(3));
    assert_eq!(php.send(json!({ "group": "team-7", "content": "without bob" })), 2);
    carol.expect_event("new_msg", &text("without bob"));
    bob_later.command(json!({ "drop": true }));
    bob_later.expect_count(2, |l| l["type"] == "connected");
    daemon.wait_online("bob", 3);
    assert_eq!(php.send(json!({ "group": "team-7", "content": "still without bob" })), 2);
    carol.expect_event("new_msg", &text("still without bob"));
    for message in ["without bob", "still without bob"] {
        assert_eq!(bob.count_event("new_msg", &text(message)) + bob_later.count_event("new_msg", &text(message)), 0);
    }
    assert_eq!(php.call("Group::leave", json!(["team-7", "nobody"])), json!(0));
}

#[test]
fn a_push_to_overlapping_groups_reaches_each_tab_once_and_except_leaves_users_out() {
    let daemon = Daemon::start();
    let mut php = PhpSession::start(&daemon.socket, &[]);
    let mut dave = Browser::open_in_groups(&daemon, ClientVersion::V4, "dave", &["g1"]);
    let mut erin = Browser::open_with(&daemon, BrowserOptions::new(ClientVersion::V2, "erin"));
    let mut fred = Browser::open(&daemon, "fred");
    daemon.wait_online("erin", 1);
    daemon.wait_online("fred", 1);
    assert_eq!(php.call("Group::join", json!([["g1", "g2"], ["dave", "erin"]])), json!(2));

    // dave's tab is in g1 twice over (token and membership) and in g2.
    assert_eq!(php.send(json!({ "group": ["g1", "g2"], "content": "once each" })), 2);
    dave.expect_event("new_msg", &text("once each"));
    erin.expect_event("new_msg", &text("once each"));
    // The sender's own tabs are left out, whoever the recipients are.
    assert_eq!(php.send(json!({ "group": ["g1", "g2"], "except": "dave", "content": "not dave" })), 1);
    erin.expect_event("new_msg", &text("not dave"));
    assert_eq!(php.send(json!({ "user": null, "except": ["dave", "erin"], "content": "to all but two" })), 1);
    fred.expect_event("new_msg", &text("to all but two"));
    assert_eq!(php.send(json!({ "user": ["dave", "fred"], "except": "fred", "content": "dave only" })), 1);
    dave.expect_event("new_msg", &text("dave only"));
    assert_eq!(php.send(json!({ "group": "g2", "except": [], "content": "nobody left out" })), 2);
    erin.expect_event("new_msg", &text("nobody left out"));
    dave.expect_event("new_msg", &text("nobody left out"));

    // A last message to everyone: what came before it has all arrived.
    assert_eq!(php.send(json!({ "content": "end" })), 3);
    for browser in [&mut dave, &mut erin, &mut fred] {
        browser.expect_event("new_msg", &text("end"));
    }
    assert_eq!(dave.count_event("new_msg", &text("once each")), 1, "{:?}", dave.received("new_msg"));
    assert_eq!(dave.received("new_msg"), ["once each", "dave only", "nobody left out", "end"]);
    assert_eq!(erin.received("new_msg"), ["once each", "not dave", "nobody left out", "end"]);
    assert_eq!(fred.received("new_msg"), ["to all but two", "end"]);
}

#[test]
fn presence_answers_match_the_tabs_open_before_and_after_they_close() {
    let daemon = Daemon::start();
    let mut php = PhpSession::start(&daemon.socket, &[]);
    let ask = |php: &mut PhpSession| {
        json!({
            "gina": [php.call("Presence::isOnline", json!(["gina"])), php.call("Presence::tabs", json!(["gina"]))],
            "7": [php.call("Presence::isOnline", json!([7])), php.call("Presence::tabs", json!([7]))],
            "online": php.call("Presence::online", json!([["nobody", 7, "gina", "gina"]])),
            "count": php.call("Presence::count", json!([])),
            "users": php.call("Presence::users", json!([])),
        })
    };
    assert_eq!(
        ask(&mut php),
        json!({
            "gina": [false, 0], "7": [false, 0], "online": [], "count": { "users": 0, "tabs": 0 },
            "users": { "users": [], "cursor": null }
        })
    );
    let mut gina =
        Browser::open_with(&daemon, BrowserOptions { tabs: 2, ..BrowserOptions::new(ClientVersion::V4, "gina") });
    let seven = Browser::open_with(&daemon, BrowserOptions::new(ClientVersion::V2, "7"));
    let anonymous = Browser::open_with(&daemon, BrowserOptions::anonymous(ClientVersion::V4));
    daemon.wait_online("gina", 2);
    daemon.wait_online("7", 1);
    assert_eq!(
        ask(&mut php),
        json!({
            "gina": [true, 2], "7": [true, 1], "online": ["7", "gina"],
            "count": { "users": 2, "tabs": 3 }, "users": { "users": ["7", "gina"], "cursor": null }
        }),
        "a tab that never logged in is nobody"
    );

    gina.command(json!({ "close": true, "tab": 1 }));
    daemon.wait_online("gina", 1);
    drop(seven);
    daemon.wait_online("7", 0);
    assert_eq!(
        ask(&mut php),
        json!({
            "gina": [true, 1], "7": [false, 0], "online": ["gina"],
            "count": { "users": 1, "tabs": 1 }, "users": { "users": ["gina"], "cursor": null }
        })
    );
    drop(anonymous);
}

#[test]
fn presence_users_pages_through_5000_users_with_no_repeat_and_no_miss() {
    let daemon = Daemon::start_with(&["--auth", "none"]);
    let mut many = Command::new("node")
        .arg(repo_root().join("tests/js/many_users.js"))
        .args([&daemon.url(), "user-", "10000", "5000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run node");
    let mut ready = String::new();
    BufReader::new(many.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    let _many = ChildGuard::kill_on_drop(many);
    assert_eq!(ready.trim(), "ready");

    let mut php = PhpSession::start(&daemon.socket, &[]);
    assert_eq!(php.call("Presence::count", json!([])), json!({ "users": 5000, "tabs": 5000 }));
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = Value::Null;
    let mut pages = 0;
    loop {
        let page = php.call("Presence::users", json!([cursor, 777]));
        let users = page["users"].as_array().unwrap();
        assert!(users.len() <= 777 && !users.is_empty(), "{page}");
        seen.extend(users.iter().map(|uid| uid.as_str().unwrap().to_owned()));
        pages += 1;
        cursor = page["cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(pages, 7, "5000 users in pages of 777");
    let expected: Vec<String> = (10000..15000).map(|i| format!("user-{i}")).collect();
    assert_eq!(seen, expected, "every uid once, in byte order");
    // One page of all, and a cursor past the end.
    let all = php.call("Presence::users", json!([null, 10000]));
    assert_eq!(all["users"].as_array().unwrap().len(), 5000);
    assert_eq!(all["cursor"], Value::Null);
    assert_eq!(php.call("Presence::users", json!(["user-99999", 10])), json!({ "users": [], "cursor": null }));
    // Presence::online answers a long list in one call.
    let asked: Vec<String> = (9000..16000).map(|i| format!("user-{i}")).collect();
    let online = php.call("Presence::online", json!([asked]));
    assert_eq!(online, json!(expected));
    for limit in [0, 10001] {
        let (code, message) = php.call_error("Presence::users", json!([null, limit]));
        assert_eq!(code, 4);
        assert!(message.contains("a page holds 1 to 10000 uids"), "{message}");
    }
}

#[test]
fn a_page_learns_who_is_in_its_group_and_who_arrives_and_leaves_once_per_user() {
    let daemon = Daemon::start_with(&["--offline-grace-secs", "1", "--max-announced-group-users", "2"]);
    let mut php = PhpSession::start(&daemon.socket, &[]);
    let mut hana = Browser::open_in_groups(&daemon, ClientVersion::V4, "hana", &["room-1"]);
    let mut outsider = Browser::open(&daemon, "ivan");
    outsider.logged_in(1);

    // Jack arrives with two tabs (a 2.x one by token, a 4.x one by membership): announced once.
    assert_eq!(php.call("Group::join", json!(["room-1", "jack"])), json!(0));
    let mut jack_v2 = Browser::open_in_groups(&daemon, ClientVersion::V2, "jack", &["room-1"]);
    let mut jack = Browser::open(&daemon, "jack");
    jack.logged_in(1);
    let arrived = json!({ "group": "room-1", "uid": "jack" });
    hana.expect_event("msgpush:joined", &arrived);

    // Who is in the group: asked by a member, refused to a tab outside it.
    hana.command(json!({ "ask": "msgpush:members", "args": ["room-1"] }));
    let answer = hana.expect(|l| l["type"] == "ack");
    assert_eq!(answer["data"], json!({ "group": "room-1", "uids": ["hana", "jack"] }));
    jack_v2.command(json!({ "ask": "msgpush:members", "args": ["room-1"] }));
    assert_eq!(jack_v2.expect(|l| l["type"] == "ack")["data"], json!({ "group": "room-1", "uids": ["hana", "jack"] }));
    outsider.command(json!({ "ask": "msgpush:members", "args": ["room-1"] }));
    assert_eq!(outsider.expect(|l| l["type"] == "ack")["data"], json!({ "error": "not in that group" }));
    outsider.command(json!({ "ask": "msgpush:members", "args": [{ "not": "a name" }] }));
    outsider.expect_count(2, |l| l["type"] == "ack");
    assert!(outsider
        .seen
        .iter()
        .filter(|l| l["type"] == "ack")
        .all(|l| l["data"] == json!({ "error": "not in that group" })));

    // A reload (a tab closed, the page opened again within the grace) is neither a departure nor an arrival.
    jack.command(json!({ "close": true }));
    daemon.wait_online("jack", 1);
    let mut jack_again = Browser::open(&daemon, "jack");
    jack_again.logged_in(1);
    jack_v2.command(json!({ "drop": true }));
    jack_v2.expect_count(2, |l| l["type"] == "connected");
    daemon.wait_online("jack", 2);

    // Jack leaves for good: announced once, after the grace.
    jack_v2.command(json!({ "close": true }));
    jack_again.command(json!({ "close": true }));
    let left = json!({ "group": "room-1", "uid": "jack" });
    hana.expect_event("msgpush:left", &left);
    daemon.wait_online("jack", 0);
    // A marker after the grace: nothing more about jack came before it.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(php.send(json!({ "group": "room-1", "content": "marker" })), 1);
    hana.expect_event("new_msg", &text("marker"));
    assert_eq!(hana.count_event("msgpush:joined", &arrived), 1, "{:#?}", hana.seen);
    assert_eq!(hana.count_event("msgpush:left", &left), 1, "{:#?}", hana.seen);
    assert!(outsider.seen.iter().all(|l| l["event"] != "msgpush:joined" && l["event"] != "msgpush:left"));

    // A group grown past --max-announced-group-users is not announced: its pages ask.
    let _lou = Browser::open_in_groups(&daemon, ClientVersion::V4, "lou", &["room-1"]);
    hana.expect_event("msgpush:joined", &json!({ "group": "room-1", "uid": "lou" }));
    let _max = Browser::open_in_groups(&daemon, ClientVersion::V4, "max", &["room-1"]);
    // Time for an announcement to be made, were it to be made.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(php.send(json!({ "group": "room-1", "content": "three here" })), 3);
    hana.expect_event("new_msg", &text("three here"));
    assert_eq!(hana.count_event("msgpush:joined", &json!({ "group": "room-1", "uid": "max" })), 0);
    hana.command(json!({ "ask": "msgpush:members", "args": ["room-1"] }));
    hana.expect_count(2, |l| l["type"] == "ack");
    let asked = hana.seen.iter().rfind(|l| l["type"] == "ack").unwrap();
    assert_eq!(asked["data"], json!({ "group": "room-1", "uids": ["hana", "lou", "max"] }));
}

#[test]
fn bad_input_is_refused_with_the_rule_it_breaks_and_the_daemon_serves_on() {
    let daemon = Daemon::start_with(&["--max-token-groups", "2", "--max-groups-per-request", "3"]);
    let mut php = PhpSession::start(&daemon.socket, &[]);
    let long = "g".repeat(129);
    let cases = [
        ("Group::join", json!([long, "u"]), "group name of 129 bytes is longer than the limit of 128 bytes"),
        ("Group::join", json!([42, "u"]), "a group name must be a string, not"),
        ("Group::join", json!(["", "u"]), "a group name must not be empty"),
        (
            "Group::join",
            json!([["a", "b", "c", "d"], "u"]),
            "4 groups in one request (--max-groups-per-request) exceed the limit of 3",
        ),
        ("Group::leave", json!([[["nested"]], "u"]), "a group name must be a string"),
        ("Group::members", json!([long]), "longer than the limit of 128 bytes"),
        ("Group::count", json!([null]), "a group name must be a string"),
        (
            "Auth::token",
            json!(["u", 60, ["a", "b", "c"]]),
            "3 groups in a login token (--max-token-groups) exceed the limit of 2",
        ),
        ("Auth::token", json!(["u", 60, [long]]), "longer than the limit of 128 bytes"),
        ("Presence::isOnline", json!([1.5]), "a uid must be a string or an int"),
        ("Presence::online", json!([["ok", ""]]), "must not be empty"),
    ];
    for (function, args, rule) in cases {
        let (code, message) = php.call_error(function, args.clone());
        assert_eq!(code, 4, "{function}{args}: INVALID_INPUT, got {message}");
        assert!(message.contains(rule), "{function}{args}: {message}");
    }
    let (code, message) = php.send_error(json!({ "group": ["a", "b", "c", "d"] }));
    assert_eq!(code, 4);
    assert!(message.contains("4 groups in one push (--max-groups-per-request) exceed the limit of 3"), "{message}");
    let (code, message) = php.send_error(json!({ "group": long }));
    assert_eq!((code, message.contains("129 bytes")), (4, true), "{message}");

    // Nothing was joined; the daemon serves on.
    assert_eq!(php.call("Group::count", json!(["a"])), json!({ "users": 0, "tabs": 0 }));
    let token = php.call("Auth::token", json!(["u", 60, ["a", "b"]]));
    assert!(token.as_str().unwrap().starts_with("eyJ"), "{token}");
    daemon.assert_serving();
}

#[test]
fn the_json_http_api_answers_every_command() {
    let daemon = Daemon::start_with(&["--http-api-key", "sesame"]);
    let mut kim = Browser::open_in_groups(&daemon, ClientVersion::V4, "kim", &["desk"]);
    let mut lee = Browser::open_with(&daemon, BrowserOptions::new(ClientVersion::V2, "lee"));
    lee.logged_in(1);
    let post = |body: Value, key: Option<&str>| -> (u16, Value) {
        let auth = key.map(|key| format!("Authorization: Bearer {key}\r\n")).unwrap_or_default();
        let body = body.to_string();
        let request = format!(
            "POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, _, reply) = http_raw(daemon.http, request.as_bytes());
        (status, serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply}")))
    };
    let ok = |body: Value| {
        let (status, reply) = post(body.clone(), Some("sesame"));
        assert_eq!(status, 200, "{body}: {reply}");
        reply
    };

    assert_eq!(post(json!("ping"), None).0, 403, "the key is required");
    assert_eq!(
        ok(json!({ "group_join": { "groups": ["desk"], "uids": ["lee"] } })),
        json!({ "joined": { "sockets": 1 } })
    );
    let publish = json!({ "publish": { "to": { "groups": ["desk"] }, "except": ["kim"], "event": "new_msg", "content": { "text": "to the desk" } } });
    let delivered = ok(publish);
    assert_eq!(delivered["delivered"]["sockets"], 1, "{delivered}");
    assert_eq!(delivered["delivered"]["positions"]["group:desk"]["position"], 1, "kept in the group's history");
    lee.expect_event("new_msg", &text("to the desk"));
    let marker =
        json!({ "publish": { "to": { "users": ["kim"] }, "event": "new_msg", "content": { "text": "marker" } } });
    assert_eq!(ok(marker)["delivered"]["sockets"], 1);
    kim.expect_event("new_msg", &text("marker"));
    assert_eq!(kim.received("new_msg"), ["marker"], "except left kim out");
    assert_eq!(
        ok(json!({ "presence": { "online": { "uids": ["kim", "zed", "lee"] } } })),
        json!({ "presence": { "online": { "uids": ["kim", "lee"] } } })
    );
    assert_eq!(
        ok(json!({ "presence": { "tabs": { "uid": "kim" } } })),
        json!({ "presence": { "tabs": { "tabs": 1 } } })
    );
    assert_eq!(ok(json!({ "presence": "count" })), json!({ "presence": { "count": { "users": 2, "tabs": 2 } } }));
    assert_eq!(
        ok(json!({ "presence": { "group_count": { "group": "desk" } } })),
        json!({ "presence": { "count": { "users": 2, "tabs": 2 } } })
    );
    assert_eq!(
        ok(json!({ "presence": { "users": { "cursor": null, "limit": 1 } } })),
        json!({ "presence": { "users": { "uids": ["kim"], "cursor": "kim" } } })
    );
    assert_eq!(
        ok(json!({ "presence": { "members": { "group": "desk", "cursor": "kim", "limit": 10 } } })),
        json!({ "presence": { "users": { "uids": ["lee"], "cursor": null } } })
    );
    assert_eq!(
        ok(json!({ "group_leave": { "groups": ["desk"], "uids": ["lee"] } })),
        json!({ "left": { "sockets": 1 } })
    );
    let token = ok(json!({ "token": { "uid": "kim", "ttl": 60, "groups": ["desk"] } }));
    assert!(token["token"]["token"].as_str().unwrap().starts_with("eyJ"), "{token}");
    assert_eq!(ok(json!({ "disconnect": { "uids": ["lee"] } })), json!({ "disconnected": { "sockets": 1 } }));
    lee.expect(|l| l["type"] == "disconnected");

    let (status, reply) =
        post(json!({ "group_join": { "groups": ["g".repeat(129)], "uids": ["lee"] } }), Some("sesame"));
    assert_eq!(status, 400);
    assert_eq!(reply["error"]["code"], "invalid_input", "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("129 bytes"), "{reply}");
    let (status, reply) = post(json!({ "teleport": {} }), Some("sesame"));
    assert_eq!((status, reply["error"]["code"].as_str()), (400, Some("unsupported_command")), "{reply}");
    let (status, reply) = post(json!({ "publish": "nonsense" }), Some("sesame"));
    assert_eq!((status, reply["error"]["code"].as_str()), (400, Some("malformed")), "{reply}");
    assert!(ok(json!("ping"))["pong"]["version"].is_string());
}

#[test]
fn a_single_daemons_memberships_survive_its_restart() {
    let mut daemon = Daemon::start();
    let mut php = PhpSession::start(&daemon.socket, &[]);
    assert_eq!(php.call("Group::join", json!([["crew", "night"], ["nia", "oz"]])), json!(0));
    assert_eq!(php.call("Group::leave", json!(["night", "oz"])), json!(0));
    drop(php);
    // After the store's durable commit (at most a second), a kill.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    daemon.kill();
    daemon.start_again();
    let mut nia = Browser::open(&daemon, "nia");
    let mut oz = Browser::open(&daemon, "oz");
    nia.logged_in(1);
    oz.logged_in(1);
    let mut php = PhpSession::start(&daemon.socket, &[]);
    assert_eq!(php.send(json!({ "group": "crew", "content": "crew" })), 2);
    assert_eq!(php.send(json!({ "group": "night", "content": "night" })), 1);
    nia.expect_event("new_msg", &text("night"));
    oz.expect_event("new_msg", &text("crew"));
    assert_eq!(oz.count_event("new_msg", &text("night")), 0, "oz left night before the restart");
    assert_eq!(php.call("Group::count", json!(["crew"])), json!({ "users": 2, "tabs": 2 }));
}
