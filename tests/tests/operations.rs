//! What a sysadmin runs msgpushd with: Prometheus metrics, the status page
//! (in chromium), the settings file and `--check-config`, reloading on
//! SIGHUP, TLS on the Socket.IO port, and systemd's readiness protocol.

use std::os::unix::net::UnixDatagram;
use std::process::Command;

use msgpush_protocol::{Content, Reply, Target};
use msgpush_testkit::tls::TestCa;
use msgpush_testkit::*;
use serde_json::Value;

const FORM: &str = "application/x-www-form-urlencoded";

/// `update_online_count` with the default template.
fn online_count(uids: usize, sockets: usize) -> Value {
    text(&format!("当前<b>{uids}</b>人在线，共打开<b>{sockets}</b>个页面"))
}

/// Fills the send buffer of the stuck client logged in as `uid` with pushes
/// until one is dropped for it; returns how many were.
fn fill_until_dropped(daemon: &Daemon, uid: &str) -> f64 {
    let mut unix = daemon.unix();
    let big = "x".repeat(64 * 1024);
    let mut dropped = 0.0;
    for _ in 0..1000 {
        match unix.push_text(uid, &big) {
            0 => dropped += 1.0,
            _ if dropped > 0.0 => panic!("a push got through after one was dropped"),
            _ => {}
        }
        if dropped >= 3.0 {
            break;
        }
    }
    assert_eq!(dropped, 3.0, "the stuck client's buffer never filled");
    dropped
}

#[test]
fn metrics_follow_connects_logins_pushes_refusals_and_slow_clients() {
    let daemon = Daemon::start_with(&["--max-buffered-packets", "64"]);
    let scrape = || Scrape::get(daemon.http, "/metrics");
    let start = scrape();
    assert_eq!(start.kind("msgpush_pushes_total"), Some("counter"));
    assert_eq!(start.kind("msgpush_sockets"), Some("gauge"));
    assert_eq!(start.kind("msgpush_push_duration_seconds"), Some("histogram"));
    assert_eq!(start.value("msgpush_sockets", &[("transport", "websocket"), ("protocol", "5")]), 0.0);
    assert_eq!(start.value("msgpush_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);

    // A 4.x websocket tab, a 2.x long-polling tab, and a page with a bad token.
    let mut alice = Browser::open_with(
        &daemon,
        BrowserOptions { transports: "websocket", ..BrowserOptions::new(ClientVersion::V4, "alice") },
    );
    let _bob = Browser::open_with(
        &daemon,
        BrowserOptions { transports: "polling", ..BrowserOptions::new(ClientVersion::V2, "bob") },
    );
    daemon.wait_online("alice", 1);
    daemon.wait_online("bob", 1);
    let mut mallory = Browser::open_with(
        &daemon,
        BrowserOptions { login: Some("not-a-token".into()), ..BrowserOptions::new(ClientVersion::V4, "mallory") },
    );
    mallory.expect(|l| l["event"] == "login_error");

    let now = scrape();
    assert_eq!(now.value("msgpush_sockets", &[("transport", "websocket"), ("protocol", "5")]), 2.0);
    assert_eq!(now.value("msgpush_sockets", &[("transport", "polling"), ("protocol", "4")]), 1.0);
    assert_eq!(now.value("msgpush_sockets", &[("transport", "polling"), ("protocol", "5")]), 0.0);
    assert_eq!(now.value("msgpush_logged_in_sockets", &[]), 2.0);
    assert_eq!(now.value("msgpush_users", &[]), 2.0);
    assert_eq!(now.value("msgpush_sockets_connected_total", &[]), 3.0);
    assert_eq!(now.value("msgpush_logins_accepted_total", &[]), 2.0);
    assert_eq!(now.value("msgpush_logins_refused_total", &[("reason", "malformed")]), 1.0);
    assert!(now.value("msgpush_http_connections", &[("listener", "socket_io")]) >= 3.0);
    assert!(now.value("msgpush_http_connections", &[("listener", "http_api")]) >= 1.0, "this scrape's own");
    assert!(now.value("process_resident_memory_bytes", &[]) > 1e6);
    assert!(now.value("process_open_fds", &[]) >= 10.0);
    // A websocket has a task reading it, one writing it and one for its heartbeat.
    assert!(now.value("msgpush_tasks", &[]) >= start.value("msgpush_tasks", &[]) + 6.0);

    // Pushes, by ingress and result, and the latency histogram with them.
    assert_eq!(http_post(daemon.http, "/", FORM, b"type=publish&to=alice&content=hi"), (200, "ok".into()));
    alice.expect_event("new_msg", &text("hi"));
    assert_eq!(http_post(daemon.http, "/", FORM, b"type=publish&to=nobody&content=hi"), (200, "offline".into()));
    let mut unix = daemon.unix();
    assert!(matches!(
        unix.publish(Target::Users(vec!["alice".into()]), "", Content::Text("x".into())),
        Reply::Error { .. }
    ));
    let after = scrape();
    let delta = |name: &str, labels: &[(&str, &str)]| after.count(name, labels) - now.count(name, labels);
    assert_eq!(delta("msgpush_pushes_total", &[("ingress", "http"), ("result", "delivered")]), 1.0);
    assert_eq!(delta("msgpush_pushes_total", &[("ingress", "http"), ("result", "offline")]), 1.0);
    assert_eq!(delta("msgpush_pushes_total", &[("ingress", "unix"), ("result", "invalid")]), 1.0);
    assert_eq!(delta("msgpush_push_duration_seconds_count", &[("ingress", "http")]), 2.0);
    assert_eq!(delta("msgpush_messages_emitted_total", &[]), 1.0);
    assert_eq!(
        after.value("msgpush_push_duration_seconds_bucket", &[("ingress", "http"), ("le", "+Inf")]),
        after.value("msgpush_push_duration_seconds_count", &[("ingress", "http")])
    );
    // The open Unix connection is counted while it stays open.
    assert!(wait_until(|| scrape().value("msgpush_unix_connections", &[]) == 1.0));

    // A client that stopped reading: the messages it misses are counted.
    let _slow = slow_reader(&daemon, "slow");
    // Once alice sees the count with "slow" in it, the stuck client was sent it too.
    alice.expect_event("update_online_count", &online_count(3, 3));
    let before = scrape().value("msgpush_messages_dropped_total", &[]);
    let dropped = fill_until_dropped(&daemon, "slow");
    assert_eq!(scrape().value("msgpush_messages_dropped_total", &[]) - before, dropped);

    // A tab closed by its page: its tasks end with it.
    let tasks = scrape().value("msgpush_tasks", &[]);
    alice.command(serde_json::json!({ "close": true }));
    assert!(wait_until(|| {
        let s = scrape();
        s.count("msgpush_sockets_disconnected_total", &[("reason", "client_disconnect")]) == 1.0
            && s.value("msgpush_users", &[]) == 2.0
            && s.value("msgpush_tasks", &[]) <= tasks - 3.0
    }));
}

#[test]
fn metrics_and_status_want_the_api_key_when_one_is_set_and_health_checks_do_not() {
    let daemon = Daemon::start_with(&["--http-api-key", "k3y"]);
    for path in ["/metrics", "/status"] {
        assert_eq!(http_get(daemon.http, path).0, 403, "{path} without the key");
        assert_eq!(http_get(daemon.http, &format!("{path}?key=wrong")).0, 403, "{path} with a wrong key");
        assert_eq!(http_get(daemon.http, &format!("{path}?key=k3y")).0, 200, "{path} with the key");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k3y\r\nConnection: close\r\n\r\n");
        assert_eq!(http_raw(daemon.http, request.as_bytes()).0, 200, "{path} with a bearer token");
    }
    assert_eq!(http_get(daemon.http, "/healthz").0, 200);
    assert_eq!(http_get(daemon.http, "/readyz").0, 200);
}

#[test]
fn the_status_page_renders_in_chromium_with_its_figures() {
    let daemon = Daemon::start_with(&["--max-buffered-packets", "64"]);
    let mut alice = Browser::open(&daemon, "alice");
    let _bob = Browser::open_with(
        &daemon,
        BrowserOptions { transports: "polling", ..BrowserOptions::new(ClientVersion::V2, "bob") },
    );
    daemon.wait_online("bob", 1);
    let _slow = slow_reader(&daemon, "slow");
    alice.expect_event("update_online_count", &online_count(3, 3));
    let dropped = fill_until_dropped(&daemon, "slow");
    for n in 0..20 {
        assert_eq!(http_post(daemon.http, "/", FORM, format!("type=publish&to=alice&content={n}").as_bytes()).1, "ok");
    }
    // The chart's figures are sampled every 5 s: wait for the sample with these pushes.
    let shown = |id: &str, page: &str| -> Option<u64> {
        let start = page.find(&format!("id=\"{id}\">"))? + id.len() + 6;
        page[start..].split('<').next()?.parse().ok()
    };
    assert!(wait_until(|| shown("pushes", &http_get(daemon.http, "/status").1).is_some_and(|n| n >= 20)));

    let output = repo_root().join("tests/output/status");
    let _ = std::fs::remove_dir_all(&output);
    std::fs::create_dir_all(&output).unwrap();
    let screenshot = output.join("status.png");
    let run = Command::new("node")
        .arg(repo_root().join("tests/js/status_page.js"))
        .arg(format!("http://{}/status", daemon.http))
        .arg(&screenshot)
        .output()
        .expect("run node");
    assert!(run.status.success(), "status page failed:\n{}", String::from_utf8_lossy(&run.stderr));
    let page: Value = serde_json::from_str(String::from_utf8_lossy(&run.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(page["status"], 200);
    assert_eq!(page["title"], "msgpushd status");
    assert_eq!(page["sockets"], "3", "{page}");
    assert_eq!(page["users"], "3", "{page}");
    assert_eq!(page["dropped"], dropped.to_string(), "{page}");
    assert!(page["pushes"].as_str().unwrap().parse::<u64>().unwrap() >= 20, "{page}");
    assert!(page["memory"].as_str().unwrap().ends_with(" MiB"), "{page}");
    assert!(page["points"].as_u64().unwrap() >= 1, "the chart has its samples: {page}");
    assert_eq!(page["redis"], Value::Null, "no cluster section on a single daemon");
    let requests = page["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "one request, no external asset: {requests:?}");
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000, "a screenshot at {}", screenshot.display());
}

#[test]
fn settings_come_from_flags_then_environment_then_the_file_and_check_config_shows_them() {
    let dir = TempDir::new("settings");
    let file = dir.path().join("msgpushd.toml");
    let config = file.to_str().unwrap();
    std::fs::write(&file, "# limits\nmax_sessions = 7\nmax_pending_sessions = 3\nlog_format = \"json\"\n").unwrap();

    let defaults = effective_settings(&check_config(dir.path(), &[], &[]));
    assert_eq!(defaults["max_sessions"], "100000");
    assert_eq!(defaults["log_format"], "\"text\"");
    let from_file = effective_settings(&check_config(dir.path(), &[], &["--config", config]));
    assert_eq!((from_file["max_sessions"].as_str(), from_file["max_pending_sessions"].as_str()), ("7", "3"));
    assert_eq!(from_file["log_format"], "\"json\"");
    let env = [("MSGPUSHD_MAX_SESSIONS", "8")];
    let from_env = effective_settings(&check_config(dir.path(), &env, &["--config", config]));
    assert_eq!((from_env["max_sessions"].as_str(), from_env["max_pending_sessions"].as_str()), ("8", "3"));
    let from_flag = effective_settings(&check_config(dir.path(), &env, &["--config", config, "--max-sessions", "9"]));
    assert_eq!(from_flag["max_sessions"], "9");
    // The file may also be named by the environment.
    let named_by_env = effective_settings(&check_config(dir.path(), &[("MSGPUSHD_CONFIG", config)], &[]));
    assert_eq!(named_by_env["max_sessions"], "7");
    // Secrets are never printed.
    let secret = check_config(dir.path(), &[], &["--http-api-key", "s3cret"]);
    assert_eq!(effective_settings(&secret)["http_api_key"], "\"(hidden)\"");
    assert!(!String::from_utf8_lossy(&secret.stdout).contains("s3cret"));

    // Mistakes name the file and the line, and the exit status is 2.
    std::fs::write(&file, "max_sessions = 7\n\nmax_sesions = 8\n").unwrap();
    let unknown = check_config(dir.path(), &[], &["--config", config]);
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains(&format!("{config} line 3: unknown setting `max_sesions`")), "{stderr}");
    std::fs::write(&file, "max_sessions = \"many\"\n").unwrap();
    let bad = check_config(dir.path(), &[], &["--config", config]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("line 1: max_sessions: invalid value 'many'"));
    // Files the settings name are checked too.
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    let tls = check_config(dir.path(), &[], &["--tls-cert", missing, "--tls-key", missing]);
    assert_eq!(tls.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&tls.stderr).contains(&format!("cannot read {missing}")));
    // And a daemon refuses to start on a bad file.
    let start = msgpushd_command(dir.path()).args(["--config", config]).output().unwrap();
    assert_eq!(start.status.code(), Some(2));
}

#[test]
fn sighup_applies_the_log_level_and_template_and_names_what_needs_a_restart() {
    let daemon = Daemon::start_with_config("log_level = \"warn\"\nonline_count_template = \"first {uids}\"\n", &[]);
    let mut alice = Browser::open(&daemon, "alice");
    alice.expect_event("update_online_count", &text("first 1"));
    assert!(!daemon.log().contains("socket logged in"), "info lines are off at warn:\n{}", daemon.log());

    let settings = "log_level = \"debug\"\nonline_count_template = \"second {uids}\"\ndedup_window_secs = 30\n";
    std::fs::write(daemon.config_file(), settings).unwrap();
    daemon.reload();
    assert!(wait_until(|| daemon.log().contains("settings reloaded")), "{}", daemon.log());
    let log = daemon.log();
    assert!(log.contains("applied=log_level, online_count_template"), "{log}");
    assert!(log.contains("changed settings need a restart to apply settings=dedup_window_secs"), "{log}");
    alice.expect_event("update_online_count", &text("second 1"));
    let _bob = Browser::open(&daemon, "bob");
    daemon.wait_online("bob", 1);
    assert!(wait_until(|| daemon.log().contains("socket connected")), "debug lines are on now");

    // A broken file changes nothing, and the daemon serves on.
    std::fs::write(daemon.config_file(), "max_sessions = \"many\"\n").unwrap();
    daemon.reload();
    assert!(wait_until(|| daemon.log().contains("settings unchanged")), "{}", daemon.log());
    assert!(daemon.log().contains("line 1: max_sessions"), "{}", daemon.log());
    daemon.assert_serving();
}

#[test]
fn browsers_connect_over_wss_and_a_renewed_certificate_is_served_after_sighup() {
    let dir = TempDir::new("tls");
    let ca = TestCa::new(dir.path());
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let first = ca.server_certificate(&cert_file, &key_file);
    let daemon =
        Daemon::start_with(&["--tls-cert", cert_file.to_str().unwrap(), "--tls-key", key_file.to_str().unwrap()]);
    assert!(daemon.url().starts_with("https://"));
    assert_eq!(ca.presented_certificate(daemon.web), first.der);

    // socket.io 4.x over wss, and 2.x over https long-polling, trusting the test CA.
    let trusting = |options: BrowserOptions| BrowserOptions { ca_file: Some(ca.cert_file.clone()), ..options };
    let mut v4 = Browser::open_with(
        &daemon,
        trusting(BrowserOptions { transports: "websocket", ..BrowserOptions::new(ClientVersion::V4, "tls4") }),
    );
    let mut v2 = Browser::open_with(
        &daemon,
        trusting(BrowserOptions { transports: "polling", ..BrowserOptions::new(ClientVersion::V2, "tls2") }),
    );
    daemon.wait_online("tls4", 1);
    daemon.wait_online("tls2", 1);
    assert_eq!(daemon.unix().push_text("tls4", "over wss"), 1);
    assert_eq!(daemon.unix().push_text("tls2", "over https"), 1);
    v4.expect_event("new_msg", &text("over wss"));
    v2.expect_event("new_msg", &text("over https"));
    // A client that does not trust the certificate is refused.
    let mut untrusting = Browser::start(
        &daemon,
        BrowserOptions { transports: "websocket", ..BrowserOptions::new(ClientVersion::V4, "nobody") },
    );
    untrusting.expect(|l| l["type"] == "connect_error");

    // A renewed certificate: served to new connections after SIGHUP.
    let renewed = ca.server_certificate(&cert_file, &key_file);
    assert_ne!(renewed.der, first.der);
    daemon.reload();
    assert!(wait_until(|| daemon.log().contains("TLS certificate re-read")), "{}", daemon.log());
    assert_eq!(ca.presented_certificate(daemon.web), renewed.der);
    assert_eq!(daemon.unix().push_text("tls4", "still here"), 1, "open connections carry on");
    v4.expect_event("new_msg", &text("still here"));

    // A broken renewal keeps the certificate in use.
    std::fs::write(&key_file, "not a key").unwrap();
    daemon.reload();
    assert!(wait_until(|| daemon.log().contains("TLS certificate unchanged")), "{}", daemon.log());
    assert_eq!(ca.presented_certificate(daemon.web), renewed.der);
}

#[test]
fn systemd_is_told_when_the_daemon_is_ready_reloading_and_stopping() {
    let dir = TempDir::new("notify");
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(PATIENCE)).unwrap();
    let socket = dir.path().join("msgpushd.sock");
    let mut daemon = ChildGuard::kill_on_drop(
        msgpushd_command(dir.path())
            .arg("--socket")
            .arg(&socket)
            .env("NOTIFY_SOCKET", &notify_path)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let next = || {
        let mut message = [0u8; 256];
        let n = notify.recv(&mut message).expect("a message to systemd");
        String::from_utf8_lossy(&message[..n]).trim_end().to_owned()
    };
    assert_eq!(next(), "READY=1");
    assert!(std::os::unix::net::UnixStream::connect(&socket).is_ok(), "ready means serving");
    daemon.hang_up();
    assert!(next().starts_with("RELOADING=1"));
    assert_eq!(next(), "READY=1");
    let status = std::thread::scope(|s| {
        let stopped = s.spawn(next);
        let status = daemon.terminate();
        assert_eq!(stopped.join().unwrap(), "STOPPING=1");
        status
    });
    assert!(status.is_some_and(|s| s.success()));
}
