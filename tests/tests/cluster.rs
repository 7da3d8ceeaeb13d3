//! Several msgpushd nodes on one (private) redis-server: pushes from any
//! node reach every node's browsers, counts are the cluster's, and a node or
//! Redis that dies is handled as documented.

use msgpush_protocol::frame;
use msgpush_protocol::{Command as Cmd, Content, Disconnect, Publish, Reply, Request, Target};
use msgpush_testkit::*;
use serde_json::json;

fn online(uids: u32, sockets: u32) -> serde_json::Value {
    text(&format!("当前<b>{uids}</b>人在线，共打开<b>{sockets}</b>个页面"))
}

#[test]
fn a_push_on_any_node_reaches_every_tab_and_counts_are_the_clusters() {
    let redis = RedisServer::start();
    let (_shared, nodes) = redis.nodes(3, &[]);
    let [one, two, three] = &nodes[..] else { unreachable!() };
    let mut carol = Browser::open(three, "carol");
    let mut dave_old = Browser::open_with(one, BrowserOptions::new(ClientVersion::V2, "dave"));
    let mut dave_new = Browser::open(two, "dave");
    one.wait_online("dave", 2);
    one.wait_online("carol", 1);

    // Every node counts every node's sockets; a uid on two nodes counts once.
    for browser in [&mut carol, &mut dave_old, &mut dave_new] {
        browser.expect_event("update_online_count", &online(2, 3));
    }
    // So do the metrics and the status page, beside the node's own figures.
    let metrics = Scrape::get(two.http, "/metrics");
    assert_eq!(metrics.value("msgpush_redis_up", &[]), 1.0);
    assert_eq!(metrics.value("msgpush_cluster_nodes", &[]), 3.0);
    assert_eq!(metrics.value("msgpush_cluster_users", &[]), 2.0);
    assert_eq!(metrics.value("msgpush_cluster_logged_in_sockets", &[]), 3.0);
    assert_eq!(metrics.value("msgpush_users", &[]), 1.0, "dave, on this node");
    let (_, status) = http_get(two.http, "/status");
    assert!(status.contains("<b id=\"cluster-users\">2</b>"), "{status}");
    assert!(status.contains("<b id=\"cluster-nodes\">3</b>"), "{status}");
    assert_eq!(status.matches("<tr><td><code>").count(), 3, "a row per node: {status}");
    assert_eq!(status.matches("this node").count(), 1, "{status}");
    // A targeted push from node 1 reaches carol on node 3, and nobody else.
    assert_eq!(one.unix().push_text("carol", "for carol"), 1);
    carol.expect_event("new_msg", &text("for carol"));
    // The HTTP API on node 3 reaches dave's tabs on nodes 1 and 2.
    let (status, body) =
        http_post(three.http, "/", "application/x-www-form-urlencoded", b"type=publish&to=dave&content=for+dave");
    assert_eq!((status, body.as_str()), (200, "ok"));
    dave_old.expect_event("new_msg", &text("for dave"));
    dave_new.expect_event("new_msg", &text("for dave"));
    assert!(dave_old.received("new_msg").iter().chain(&dave_new.received("new_msg")).all(|m| m != "for carol"));
    // The extension on node 2.
    let pushed = php_json(&two.socket, "push.php", &[], &[]);
    assert_eq!(pushed["broadcast"], 3, "a broadcast reaches the cluster's sockets: {pushed}");
    for browser in [&mut carol, &mut dave_old, &mut dave_new] {
        browser.expect_event("new_msg", &text("to all"));
    }

    // One publisher's messages arrive in order on another node.
    let mut unix = one.unix();
    for i in 0..200 {
        assert_eq!(unix.push_text("carol", &format!("n{i}")), 1);
    }
    carol.expect(|l| l["data"] == "n199");
    let expected: Vec<String> = (0..200).map(|i| format!("n{i}")).collect();
    let got: Vec<String> = carol.received("new_msg").into_iter().filter(|m| m.starts_with('n')).collect();
    assert_eq!(got, expected);

    // Auth::disconnect on node 3 closes dave's tabs on nodes 1 and 2.
    let reply = three.unix().request(Cmd::Disconnect(Disconnect { uids: vec!["dave".into()] }));
    assert_eq!(reply, Reply::Disconnected { sockets: 2 });
    dave_old.expect(|l| l["type"] == "disconnected");
    dave_new.expect(|l| l["type"] == "disconnected");
    carol.expect_event("update_online_count", &online(1, 1));
}

#[test]
fn a_killed_node_stops_being_counted_and_a_restarted_one_counts_once() {
    let redis = RedisServer::start();
    let (_shared, mut nodes) = redis.nodes(2, &["--cluster-node-ttl-secs", "2"]);
    let mut frank = Browser::open(&nodes[1], "frank");
    nodes[0].wait_online("frank", 1);

    nodes[1].kill();
    // Its socket is gone with it; node 1 stops counting it within the ttl.
    nodes[0].wait_online("frank", 0);
    assert!(nodes[0].log().contains("silent nodes are no longer counted"), "{}", nodes[0].log());

    // Back on the same port: the tab reconnects, logs in again, counts once.
    nodes[1].start_again();
    frank.expect_count(2, |l| l["type"] == "connected");
    nodes[0].wait_online("frank", 1);
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(nodes[0].sockets_of("frank"), 1, "still one after the ttl: the old node was not counted twice");
    assert_eq!(nodes[0].unix().push_text("frank", "welcome back"), 1);
    frank.expect_event("new_msg", &text("welcome back"));

    // A node that stops cleanly leaves the counts before it exits.
    assert!(nodes[1].stop().success());
    assert_eq!(nodes[0].sockets_of("frank"), 0);
}

#[test]
fn with_redis_down_each_node_serves_its_own_browsers_and_cluster_delivery_resumes() {
    let mut redis = RedisServer::start();
    let (_shared, nodes) = redis.nodes(2, &[]);
    let mut gina = Browser::open(&nodes[0], "gina");
    let mut hank = Browser::open(&nodes[1], "hank");
    nodes[0].wait_online("hank", 1);

    redis.kill();
    // Local delivery goes on, with an honest count; remote users count 0.
    assert_eq!(nodes[0].unix().push_text("gina", "local during the outage"), 1);
    gina.expect_event("new_msg", &text("local during the outage"));
    assert_eq!(nodes[0].unix().push_text("hank", "remote during the outage"), 0);
    // The extension's push gets its answer within msgpush.timeout_ms: no exception.
    let pushed = php_json(&nodes[1].socket, "push.php", &[], &[]);
    assert_eq!(pushed["broadcast"], 1, "node 2's own browser: {pushed}");
    hank.expect_event("new_msg", &text("to all"));
    assert!(wait_until(|| nodes[0].log().contains("redis unreachable")), "the outage is logged");
    let log = nodes[0].log();
    assert_eq!(log.matches("redis unreachable").count(), 1, "logged once per outage: {log}");
    // The readiness check says so, for a load balancer or a monitor.
    let readyz = || http_get(nodes[0].http, "/readyz");
    assert_eq!(readyz(), (503, "not ready: redis unreachable\n".into()));
    let redis_up = || Scrape::get(nodes[0].http, "/metrics").value("msgpush_redis_up", &[]);
    assert_eq!(redis_up(), 0.0);
    assert!(http_get(nodes[0].http, "/status").1.contains("Redis <b id=\"redis\">UNREACHABLE</b>"));

    redis.start_again();
    nodes[0].wait_online("hank", 1);
    assert_eq!(nodes[0].unix().push_text("hank", "after the outage"), 1);
    hank.expect_event("new_msg", &text("after the outage"));
    assert!(hank.received("new_msg").iter().all(|m| m != "remote during the outage"));
    assert!(nodes[0].log().contains("redis reachable again"), "{}", nodes[0].log());
    assert_eq!(readyz(), (200, "ready\n".into()));
    assert_eq!(redis_up(), 1.0);
    nodes[0].assert_serving();
    nodes[1].assert_serving();
}

#[test]
fn a_node_started_before_its_redis_waits_for_it() {
    let port = free_port();
    let late = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(2));
        RedisServer::start_on(port)
    });
    let url = format!("redis://127.0.0.1:{port}");
    // Daemon::start waits (up to PATIENCE) for the node to listen: once Redis is up.
    let node = Daemon::start_with(&["--redis-url", &url]);
    let _redis = late.join().unwrap();
    let log = node.log();
    assert_eq!(log.matches("waiting for Redis before joining the cluster").count(), 1, "{log}");
    assert!(log.contains("cluster node on redis"), "{log}");
    let _browser = Browser::open(&node, "early");
    node.wait_online("early", 1);
}

#[test]
fn an_empty_list_of_users_reaches_no_one_while_redis_is_slow() {
    let redis = RedisServer::start();
    let (_shared, nodes) = redis.nodes(1, &[]);
    let mut browser = Browser::open(&nodes[0], "ivy");
    nodes[0].wait_online("ivy", 1);
    let mut unix = nodes[0].unix();
    // Too slow to count a push's sockets (so the push counts only this
    // node's), not so slow that the node takes it for an outage.
    redis.pause(1500);
    let reply = unix.publish(Target::Users(vec![]), "new_msg", Content::Text("to nobody".into()));
    assert_eq!(sockets_delivered(&reply), 0);
    assert_eq!(unix.request(Cmd::Disconnect(Disconnect { uids: vec![] })), Reply::Disconnected { sockets: 0 });
    std::thread::sleep(std::time::Duration::from_millis(1600));
    assert_eq!(unix.push_text("ivy", "after"), 1);
    browser.expect_event("new_msg", &text("after"));
    assert_eq!(browser.count_event("new_msg", &text("to nobody")), 0, "nobody named is nobody, not everyone");
    assert!(browser.seen.iter().all(|l| l["type"] != "disconnected"));
}

#[test]
fn groups_and_presence_span_the_cluster_and_a_dead_nodes_tabs_leave_them() {
    let redis = RedisServer::start();
    let (_shared, mut nodes) = redis.nodes(3, &["--cluster-node-ttl-secs", "2", "--offline-grace-secs", "1"]);
    let mut php: Vec<PhpSession> = nodes.iter().map(|node| PhpSession::start(&node.socket, &[])).collect();
    // mia on node 1 by her token; ned on node 2 and olga on node 3 (a tab by token, one by membership).
    let mut mia = Browser::open_in_groups(&nodes[0], ClientVersion::V4, "mia", &["room"]);
    let mut ned = Browser::open_with(&nodes[1], BrowserOptions::new(ClientVersion::V2, "ned"));
    ned.logged_in(1);
    let mut olga_by_token = Browser::open_in_groups(&nodes[2], ClientVersion::V4, "olga", &["room"]);
    let mut olga = Browser::open(&nodes[2], "olga");
    olga.logged_in(1);
    // (The census copies a login to Redis just after answering it.)
    nodes[0].wait_online("olga", 2);
    nodes[0].wait_online("ned", 1);

    // Group::join on node 1 puts tabs on nodes 2 and 3 in the group.
    assert_eq!(php[0].call("Group::join", json!(["room", ["ned", "olga"]])), json!(3));
    let four_tabs = json!({ "users": 3, "tabs": 4 });
    assert!(wait_until(|| php[0].call("Group::count", json!(["room"])) == four_tabs));
    // Every node answers for the whole cluster, exactly.
    for php in &mut php {
        assert_eq!(php.call("Group::count", json!(["room"])), json!({ "users": 3, "tabs": 4 }));
        assert_eq!(php.call("Group::members", json!(["room"])), json!(["mia", "ned", "olga"]));
        assert_eq!(php.call("Presence::count", json!([])), json!({ "users": 3, "tabs": 4 }));
        assert_eq!(php.call("Presence::online", json!([["olga", "zed", "ned"]])), json!(["olga", "ned"]));
        assert_eq!(php.call("Presence::tabs", json!(["olga"])), json!(2));
    }
    let first = php[1].call("Presence::users", json!([null, 2]));
    assert_eq!(first, json!({ "users": ["mia", "ned"], "cursor": "ned" }));
    assert_eq!(php[2].call("Presence::users", json!(["ned", 2])), json!({ "users": ["olga"], "cursor": null }));

    // A push to the group from node 2 reaches each of its tabs once, on every node.
    assert_eq!(php[1].send(json!({ "group": "room", "content": "to the room" })), 4);
    for browser in [&mut mia, &mut ned, &mut olga_by_token, &mut olga] {
        browser.expect_event("new_msg", &text("to the room"));
    }
    assert_eq!(php[2].send(json!({ "group": ["room", "other"], "except": "mia", "content": "not mia" })), 3);
    for browser in [&mut ned, &mut olga_by_token, &mut olga] {
        browser.expect_event("new_msg", &text("not mia"));
    }
    // mia's page was told of each arrival once, and can ask who is there.
    mia.expect_event("msgpush:joined", &json!({ "group": "room", "uid": "ned" }));
    mia.expect_event("msgpush:joined", &json!({ "group": "room", "uid": "olga" }));
    mia.command(json!({ "ask": "msgpush:members", "args": ["room"] }));
    assert_eq!(mia.expect(|l| l["type"] == "ack")["data"], json!({ "group": "room", "uids": ["mia", "ned", "olga"] }));

    // A page moving to another node within the grace (a reload, a failover) is no departure.
    let mut pia = Browser::open_in_groups(&nodes[0], ClientVersion::V4, "pia", &["room"]);
    mia.expect_event("msgpush:joined", &json!({ "group": "room", "uid": "pia" }));
    pia.command(json!({ "close": true }));
    let _pia_again = Browser::open_in_groups(&nodes[1], ClientVersion::V4, "pia", &["room"]);

    // A tab ned opens later on node 3 is in the group: memberships live in Redis.
    let mut ned_later = Browser::open(&nodes[2], "ned");
    ned_later.logged_in(1);
    // (The census copies a login to Redis just after answering it.)
    let six_tabs = json!({ "users": 4, "tabs": 6 });
    assert!(wait_until(|| php[0].call("Group::count", json!(["room"])) == six_tabs));
    assert_eq!(php[0].send(json!({ "group": "room", "content": "later" })), 6);
    ned_later.expect_event("new_msg", &text("later"));
    assert_eq!(php[2].call("Group::leave", json!(["room", "ned"])), json!(2));
    assert_eq!(php[0].send(json!({ "group": "room", "content": "without ned" })), 4);
    mia.expect_event("msgpush:left", &json!({ "group": "room", "uid": "ned" }));

    // Node 3 dies: olga is dropped from presence after the TTL, and the room's pages are told once.
    nodes[2].kill();
    assert!(wait_until(|| php[0].call("Presence::isOnline", json!(["olga"])) == json!(false)));
    mia.expect_event("msgpush:left", &json!({ "group": "room", "uid": "olga" }));
    assert_eq!(php[0].call("Group::count", json!(["room"])), json!({ "users": 2, "tabs": 2 }), "mia and pia");
    assert_eq!(php[1].call("Presence::count", json!([])), json!({ "users": 3, "tabs": 3 }), "mia, ned, pia");
    assert_eq!(php[0].send(json!({ "group": "room", "content": "end" })), 2);
    mia.expect_event("new_msg", &text("end"));
    for (uid, arrivals, departures) in [("ned", 1, 1), ("olga", 1, 1), ("pia", 1, 0)] {
        let what = json!({ "group": "room", "uid": uid });
        assert_eq!(mia.count_event("msgpush:joined", &what), arrivals, "{uid}: {:#?}", mia.seen);
        assert_eq!(mia.count_event("msgpush:left", &what), departures, "{uid}: {:#?}", mia.seen);
    }
}

/// Pushes `from..to` (`p{n}`, every other one kept in history) to `uid`
/// through `unix` in one write; each is answered, in order, as delivered
/// to one tab.
fn pipelined_pushes(unix: &mut UnixClient, uid: &str, from: u64, to: u64) {
    let mut burst = Vec::new();
    for id in from..to {
        let publish = Publish {
            history: id % 2 == 0,
            ..Publish::new(Target::Users(vec![uid.into()]), "new_msg", Content::Text(format!("p{id}")))
        };
        frame::encode(&Request { id, cmd: Cmd::Publish(publish) }, &mut burst);
    }
    unix.send_raw(&burst);
    for id in from..to {
        let response = unix.read_response();
        assert_eq!((response.id, sockets_delivered(&response.reply)), (id, 1));
    }
}

#[test]
fn pipelined_pushes_and_joins_cross_the_cluster_in_order_even_when_redis_forgot_its_scripts() {
    let redis = RedisServer::start();
    let (_shared, nodes) = redis.nodes(2, &[]);
    let [one, two] = &nodes[..] else { unreachable!() };
    let mut carol = Browser::open(two, "carol");
    one.wait_online("carol", 1);
    let mut unix = one.unix();
    pipelined_pushes(&mut unix, "carol", 0, 300);
    // Redis restarted with its data (or flushed): the scripts are loaded again.
    redis.forget_scripts();
    pipelined_pushes(&mut unix, "carol", 300, 600);
    carol.expect_event("new_msg", &text("p599"));
    let expected: Vec<String> = (0..600).map(|n| format!("p{n}")).collect();
    assert_eq!(carol.received("new_msg"), expected);

    // A push to a group right behind the join that put the tab in it.
    unix.join_and_push_pipelined("carol", 1..=20, 1001);
    carol.expect_event("new_msg", &text("r20"));
    let rooms: Vec<String> = carol.received("new_msg").into_iter().filter(|m| m.starts_with('r')).collect();
    assert_eq!(rooms, (1..=20).map(|n| format!("r{n}")).collect::<Vec<_>>());
}
