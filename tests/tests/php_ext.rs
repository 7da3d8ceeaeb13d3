//! The `msgpush` extension in the real `php` CLI, against the real msgpushd,
//! with real socket.io clients receiving.

use msgpush_testkit::*;
use serde_json::{json, Value};

#[test]
fn push_returns_sockets_reached_and_messages_arrive_as_given() {
    let daemon = Daemon::start();
    let mut u123 =
        Browser::open_with(&daemon, BrowserOptions { tabs: 2, ..BrowserOptions::new(ClientVersion::V4, "123") });
    let mut u456 = Browser::open_with(&daemon, BrowserOptions::new(ClientVersion::V2, "456"));
    daemon.wait_online("123", 2);
    daemon.wait_online("456", 1);

    let counts = php_json(&daemon.socket, "push.php", &[], &[]);
    assert_eq!(
        counts,
        json!({
            "int_uid": 2, "string_uid": 1, "array_uids": 3, "offline": 0, "empty_array": 0,
            "json": 1, "int_content": 1, "html_untouched": 1,
            "broadcast": 3, "empty_string_is_everyone": 3, "no_argument_is_everyone": 3
        })
    );
    u123.expect_count(2, |l| l["data"] == "to 123");
    u456.expect_event("new_msg", &text("to 456"));
    u123.expect_count(2, |l| l["data"] == "to both");
    u456.expect_event("new_msg", &text("to both"));
    let order = json!({ "order": 42, "items": ["tea", "cake"], "paid": true, "total": 9.5 });
    u456.expect_event("order_shipped", &order);
    u456.expect_event("new_msg", &text("5"));
    u456.expect_event("new_msg", &text("<b>raw & \"as given\"</b>"));
    for message in ["to all", "again all", "third all"] {
        u123.expect_count(2, |l| l["data"] == message);
        u456.expect_event("new_msg", &text(message));
    }
    assert_eq!(u123.count_event("new_msg", &text("nobody hears this")), 0);
}

#[test]
fn every_failure_is_a_push_exception_with_its_code_and_the_callers_line() {
    let nowhere = TempDir::new("nowhere");
    let silent = FakeDaemon::silent();
    let refusing = FakeDaemon::refusing();
    let missing = nowhere.path().join("missing.sock");
    let out = php_json(
        &missing,
        "errors.php",
        &[missing.to_str().unwrap(), silent.socket.to_str().unwrap(), refusing.socket.to_str().unwrap()],
        &[],
    );
    let case = |name: &str| -> &Value { &out[name] };
    let expect = |name: &str, code: i64, fragment: &str| {
        let c = case(name);
        assert_eq!(c["class"], "MsgPush\\PushException", "{name}: {c}");
        assert_eq!(c["runtime"], true, "{name} extends RuntimeException");
        assert_eq!(c["code"], code, "{name}: {c}");
        assert!(c["message"].as_str().unwrap().contains(fragment), "{name}: {c}");
        assert_eq!(c["file"], "errors.php", "{name}: thrown at the caller");
        assert!(c["line"].as_i64().unwrap() > 10, "{name}: a real line number");
    };
    assert_eq!(out["codes"], json!([1, 2, 3, 4, 5, 6]));
    expect("daemon_down", 1, &format!("cannot connect to msgpushd at {}", missing.display()));
    expect("daemon_down", 1, "is msgpushd running?");
    expect("timeout", 2, "did not answer within 300 ms");
    expect("refused", 3, "the fake daemon refuses");
    expect("too_large", 4, "msgpush.max_message_bytes");
    expect("uid_too_long", 4, "257 bytes");
    expect("uid_in_array_too_long", 4, "300 bytes");
    expect("uid_float", 4, "a uid must be a string or an int");
    expect("invalid_utf8_content", 4, "not valid UTF-8");
    expect("invalid_utf8_in_array", 4, "not valid UTF-8");
    expect("invalid_utf8_uid", 4, "not valid UTF-8");
    expect("object_content", 4, "must be a string or an array");
    expect("empty_event", 4, "must not be empty");
    expect("reserved_event", 4, "reserved");
    expect("bad_setting", 4, "msgpush.timeout_ms must be a positive integer");
    expect("token_daemon_down", 1, "is msgpushd running?");
    expect("token_timeout", 2, "did not answer within 300 ms");
    expect("token_refused", 3, "msgpushd refused the token request: the fake daemon refuses");
    expect("token_empty_uid", 4, "must not be empty");
    expect("token_uid_too_long", 4, "257 bytes");
    expect("token_uid_array", 4, "a uid must be a string or an int");
    for ttl in ["token_ttl_zero", "token_ttl_negative", "token_ttl_too_long"] {
        expect(ttl, 4, "a token lifetime must be 1 to 2592000 seconds");
    }
    expect("disconnect_empty_uid", 4, "must not be empty");
    expect("disconnect_refused", 3, "msgpushd refused the disconnect");
}

#[test]
fn one_connection_per_process_survives_a_daemon_restart() {
    let mut daemon = Daemon::start();
    let mut browser = Browser::open(&daemon, "r");
    daemon.wait_online("r", 1);
    let mut php = PhpSession::start(&daemon.socket, &[]);
    let pid = php.pid();
    for i in 0..3 {
        assert_eq!(php.ask(&format!("push r before {i}")), "pushed 1");
    }
    let info = php.ask("info");
    assert!(info.contains(&format!("connection => connected to {}", daemon.socket.display())), "{info}");
    let opened = |log: &str| log.matches(&format!("pid=Some({pid})")).count();
    assert_eq!(opened(&daemon.log()), 1, "three pushes, one connection");

    daemon.restart();
    daemon.wait_online("r", 1);
    assert_eq!(php.ask("push r after restart"), "pushed 1", "reconnected transparently");
    browser.expect_event("new_msg", &text("after restart"));
    assert_eq!(opened(&daemon.log()), 2, "one new connection after the restart");

    daemon.stop();
    let down = php.ask("push r while down");
    assert!(down.starts_with("error 1 cannot connect to msgpushd"), "{down}");
    assert!(php.finish().success());
}

#[test]
fn a_forked_child_uses_its_own_connection() {
    let daemon = Daemon::start();
    let mut browser = Browser::open(&daemon, "f");
    daemon.wait_online("f", 1);
    let mut php = PhpSession::start(&daemon.socket, &[]);
    assert_eq!(php.ask("push f parent before"), "pushed 1");
    assert_eq!(php.ask("fork f from the child"), "child 0", "the child's push reached 1 socket");
    assert_eq!(php.ask("push f parent after"), "pushed 1", "the parent's connection is intact");
    browser.expect_event("new_msg", &text("from the child"));
    browser.expect_event("new_msg", &text("parent after"));
}

/// The child of a process that queued has neither the parent's writer thread
/// nor its unused message ids: it starts a writer of its own and draws its
/// own ids, so its message and the parent's next one both arrive (the same
/// id twice would be delivered once).
#[test]
fn a_forked_child_queues_through_its_own_writer_with_its_own_ids() {
    let daemon = Daemon::start();
    let mut browser = Browser::open(&daemon, "fq");
    daemon.wait_online("fq", 1);
    let mut php = PhpSession::start(&daemon.socket, &[]);
    assert_eq!(php.ask("queue fq parent before"), "queued true");
    browser.expect_event("new_msg", &text("parent before"));
    assert_eq!(php.ask("forkqueue fq from the child"), "child 0", "the child's queue was flushed");
    assert_eq!(php.ask("queue fq parent after"), "queued true");
    browser.expect_event("new_msg", &text("from the child"));
    browser.expect_event("new_msg", &text("parent after"));
    assert_eq!(php.ask("flush 5000"), "flushed true");
}

#[test]
fn php_subclass_shim_works() {
    let daemon = Daemon::start();
    let mut browser = Browser::open(&daemon, "s");
    daemon.wait_online("s", 1);
    let out = php_json(&daemon.socket, "subclass.php", &["s"], &[]);
    assert_eq!(out, json!({ "class": "Lib\\Event\\PushEvent", "same": true, "sockets": 1 }));
    browser.expect_event("new_msg", &text("from the subclass"));
}

#[test]
fn queued_messages_all_arrive_in_order() {
    let daemon = Daemon::start();
    let mut browser = Browser::open(&daemon, "bulk");
    daemon.wait_online("bulk", 1);
    let out = php_json(&daemon.socket, "bulk.php", &["bulk", "1000"], &[]);
    assert_eq!(out, json!({ "queued": 1000, "flushed": true }));
    browser.expect_event("new_msg", &text("bulk 1000"));
    let received = browser.received("new_msg");
    let expected: Vec<String> = (1..=1000).map(|i| format!("bulk {i}")).collect();
    assert_eq!(received, expected);
}

#[test]
fn a_cli_loop_waits_for_room_in_a_full_queue_and_loses_nothing() {
    let daemon = Daemon::start();
    let mut browser = Browser::open(&daemon, "bulk");
    daemon.wait_online("bulk", 1);
    let small = ["msgpush.queue_size=5"];
    let out = php_json(&daemon.socket, "bulk.php", &["bulk", "3000"], &small);
    assert_eq!(out, json!({ "queued": 3000, "flushed": true }), "under the CLI a full queue() waits");
    browser.expect_event("new_msg", &text("bulk 3000"));
    let expected: Vec<String> = (1..=3000).map(|i| format!("bulk {i}")).collect();
    assert_eq!(browser.received("new_msg"), expected);

    // The same loop told not to wait outruns the writer and drops.
    let out = php_json(&daemon.socket, "bulk.php", &["bulk", "3000"], &[small[0], "msgpush.queue_wait_ms=0"]);
    assert!(out["queued"].as_u64().unwrap() < 3000, "{out}");
}

#[test]
fn queue_waits_for_a_daemon_that_is_down_and_refuses_when_full() {
    let dir = TempDir::new("late");
    let socket = dir.path().join("late.sock");
    let mut php = PhpSession::start(&socket, &["msgpush.queue_size=5", "msgpush.queue_wait_ms=300"]);
    let accepted = (0..20).filter(|i| php.ask(&format!("queue late m{i}")) == "queued true").count();
    assert_eq!(accepted, 5, "a full queue refuses more");
    assert_eq!(php.ask("flush 200"), "flushed false", "nothing can be answered while the daemon is down");
    let info = php.ask("info");
    // The first call to find it full waited; the writer did nothing meanwhile,
    // so the others did not wait again.
    assert!(info.contains("5 queued, 0 answered, 0 refused, 15 dropped (queue full), 1 waited for room"), "{info}");
    assert!(info.contains("queue last error => cannot connect to msgpushd"), "{info}");

    // The daemon comes up at the configured path; the writer delivers what it kept.
    let _late = Daemon::start_at(&socket);
    assert_eq!(php.ask("flush 10000"), "flushed true");
    let info = php.ask("info");
    assert!(info.contains(&format!("{accepted} queued, {accepted} answered, 0 refused")), "{info}");
    assert!(php.finish().success());
}

#[test]
fn queued_messages_are_flushed_when_the_script_ends() {
    let daemon = Daemon::start();
    let mut browser = Browser::open(&daemon, "end");
    daemon.wait_online("end", 1);
    let mut php = PhpSession::start(&daemon.socket, &[]);
    for i in 1..=50 {
        assert_eq!(php.ask(&format!("queue end last words {i}")), "queued true");
    }
    assert!(php.finish().success());
    browser.expect_event("new_msg", &text("last words 50"));
}

#[test]
fn a_reply_from_a_newer_daemon_is_a_clear_error_not_a_misread() {
    let newer = FakeDaemon::newer();
    let output = php_command(&newer.socket, &[])
        .args(["-r", "try { (new MsgPush\\PushEvent)->setUser('1')->setContent('x')->push(); } catch (MsgPush\\PushException $e) { echo $e->getMessage(); }"])
        .output()
        .unwrap();
    let message = String::from_utf8_lossy(&output.stdout);
    assert!(message.contains("unreadable reply from msgpushd (is it newer than this extension"), "{message}");
}

#[test]
fn php_ri_shows_version_settings_state_and_the_daemons_version() {
    let ri = |socket: &std::path::Path| {
        let output = php_command(socket, &["msgpush.timeout_ms=250"]).args(["--ri", "msgpush"]).output().unwrap();
        let info = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{info}");
        info
    };
    let version = env!("CARGO_PKG_VERSION");
    let nowhere = TempDir::new("ri");
    let missing = nowhere.path().join("msgpushd.sock");
    let info = ri(&missing);
    for line in [
        "msgpush support => enabled",
        &format!("version => {version}"),
        &format!("msgpush.socket => {}", missing.display()),
        "msgpush.timeout_ms => 250",
        "classes => MsgPush\\PushEvent, MsgPush\\Auth, MsgPush\\Group, MsgPush\\Presence, MsgPush\\Inbox, MsgPush\\Receipt, MsgPush\\Webhook, MsgPush\\PushException",
        "connection => not connected",
        "queue => not started",
        &format!("msgpushd => not reachable: cannot connect to msgpushd at {}", missing.display()),
    ] {
        assert!(info.contains(line), "missing '{line}' in:\n{info}");
    }
    let daemon = Daemon::start();
    let info = ri(&daemon.socket);
    let line = format!("msgpushd => {version} at {}", daemon.socket.display());
    assert!(info.contains(&line), "missing '{line}' in:\n{info}");
}

#[test]
fn the_stub_states_exactly_what_the_extension_declares() {
    let socket = std::path::Path::new(msgpush_protocol::defaults::SOCKET_PATH);
    let declared = php_json(socket, "reflect.php", &[], &[]);
    let stub = repo_root().join("php-ext/msgpush.stub.php");
    let stated = std::process::Command::new("php")
        .arg("-n")
        .arg(repo_root().join("tests/php/reflect.php"))
        .arg(&stub)
        .output()
        .expect("run php");
    assert!(stated.status.success(), "{}", String::from_utf8_lossy(&stated.stderr));
    let stated: Value = serde_json::from_slice(&stated.stdout).expect("JSON");
    assert_eq!(declared, stated, "php-ext/msgpush.stub.php and the extension differ");
    let methods = declared["MsgPush\\PushEvent"]["methods"].as_object().unwrap();
    assert!(methods.contains_key("push") && methods.contains_key("queue"), "{declared}");
}

#[test]
fn a_token_from_php_logs_in_and_disconnect_closes_exactly_that_users_sockets() {
    let daemon = Daemon::start();
    let mut php = PhpSession::start(&daemon.socket, &[]);
    let answer = php.ask("token 123");
    let token = answer.strip_prefix("token ").unwrap_or_else(|| panic!("{answer}")).to_owned();
    let as_123 =
        |version, via| BrowserOptions { login: Some(token.clone()), via, ..BrowserOptions::new(version, "123") };
    let mut tabs = Browser::open_with(&daemon, BrowserOptions { tabs: 2, ..as_123(ClientVersion::V4, Via::Event) });
    let mut legacy = Browser::open_with(&daemon, as_123(ClientVersion::V2, Via::Handshake));
    let mut other = Browser::open(&daemon, "456");
    daemon.wait_online("123", 3);
    daemon.wait_online("456", 1);

    assert_eq!(php.ask("disconnect 123,ghost"), "disconnected 3");
    tabs.expect_count(2, |l| l["type"] == "disconnected" && l["reason"] == "io server disconnect");
    legacy.expect(|l| l["type"] == "disconnected" && l["reason"] == "io server disconnect");
    daemon.wait_online("123", 0);
    assert_eq!(php.ask("disconnect ghost"), "disconnected 0");
    assert_eq!(daemon.unix().push_text("456", "still here"), 1, "the other user is untouched");
    other.expect_event("new_msg", &text("still here"));
    let info = php.ask("info");
    assert!(info.contains("login tokens minted => 1"), "{info}");
    assert!(php.finish().success());
}

/// Sends `signal` to the daemon's process.
fn signal(daemon: &Daemon, signal: &str) {
    let status = std::process::Command::new("kill").args([signal, &daemon.pid().to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_timed_out_push_retried_and_a_resent_queued_message_are_each_delivered_once() {
    let daemon = Daemon::start();
    let mut browser = Browser::open(&daemon, "r");
    daemon.wait_online("r", 1);
    let mut php = PhpSession::start(&daemon.socket, &["msgpush.timeout_ms=300"]);
    assert_eq!(php.ask("push r warm-up"), "pushed 1");

    // The daemon stops answering (paused) past msgpush.timeout_ms: the outcome
    // of the push is unknown to PHP, and the queue's writer times out and resends.
    signal(&daemon, "-STOP");
    let answer = php.ask("push r once");
    assert!(answer.starts_with("error 2 "), "TIMEOUT expected: {answer}");
    assert_eq!(php.ask("queue r queued once"), "queued true");
    assert_eq!(php.ask("flush 1500"), "flushed false", "nothing is answered while the daemon is paused");
    signal(&daemon, "-CONT");

    // The application retries the same PushEvent: answered, not delivered again.
    assert_eq!(php.ask("again"), "pushed 1");
    assert_eq!(php.ask("flush 10000"), "flushed true");
    assert_eq!(php.ask("push r after"), "pushed 1");
    browser.expect_event("new_msg", &text("after"));
    assert_eq!(browser.count_event("new_msg", &text("once")), 1, "{:?}", browser.received("new_msg"));
    assert_eq!(browser.count_event("new_msg", &text("queued once")), 1, "{:?}", browser.received("new_msg"));
    // A new message with the same text is a new message.
    assert_eq!(php.ask("push r once"), "pushed 1");
    browser.expect_count(2, |l| l["data"] == "once");
    assert!(php.finish().success());
}

#[test]
fn a_connection_closed_for_idleness_is_replaced_without_an_error() {
    let daemon = Daemon::start_with(&["--unix-idle-timeout-secs", "1"]);
    let _browser = Browser::open(&daemon, "i");
    daemon.wait_online("i", 1);
    let mut php = PhpSession::start(&daemon.socket, &[]);
    assert_eq!(php.ask("push i before"), "pushed 1");
    let closed = wait_until(|| daemon.log().contains("closing an idle unix socket connection"));
    assert!(closed, "the daemon closed the idle connection");
    assert_eq!(php.ask("push i after"), "pushed 1");
    let connections = daemon.log().matches(&format!("unix socket connection opened pid=Some({})", php.pid())).count();
    assert_eq!(connections, 2, "one reconnect");
    assert!(php.finish().success());
}
