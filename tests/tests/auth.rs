//! Signed logins: a browser is logged in only as the user its token names,
//! presented in any of the three ways pages can; every bad token is refused
//! with a reason, and the daemon goes on serving everyone else.

use std::os::unix::fs::PermissionsExt;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use msgpush_testkit::*;
use serde_json::{json, Value};

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A token signed with `secret` with these claims, as any JWT library makes one.
fn signed(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// The daemon's secret, as a back end reading the file would use it.
fn secret_of(daemon: &Daemon) -> Vec<u8> {
    std::fs::read_to_string(daemon.secret_path()).unwrap().trim_end().as_bytes().to_vec()
}

#[test]
fn a_token_logs_in_over_each_of_the_three_ways() {
    let daemon = Daemon::start();
    let ways = [
        ("v4-auth", ClientVersion::V4, Via::Handshake, "websocket,polling"),
        ("v4-event", ClientVersion::V4, Via::Event, "websocket,polling"),
        ("v2-query-polling", ClientVersion::V2, Via::Handshake, "polling"),
        ("v2-query-websocket", ClientVersion::V2, Via::Handshake, "websocket"),
        ("v2-event", ClientVersion::V2, Via::Event, "polling,websocket"),
    ];
    for (uid, version, via, transports) in ways {
        let mut browser =
            Browser::open_with(&daemon, BrowserOptions { via, transports, ..BrowserOptions::new(version, uid) });
        daemon.wait_online(uid, 1);
        assert_eq!(daemon.unix().push_text(uid, &format!("hello {uid}")), 1);
        browser.expect_event("new_msg", &text(&format!("hello {uid}")));
        browser.expect(|l| l["event"] == "update_online_count");
    }
}

#[test]
fn a_token_minted_by_another_back_end_with_the_secret_file_logs_in() {
    let daemon = Daemon::start();
    let secret = std::fs::metadata(daemon.secret_path()).unwrap();
    assert_eq!(secret.permissions().mode() & 0o777, 0o600, "the created secret is private");
    let token = signed(&json!({ "sub": "42", "exp": now() + 60 }), &secret_of(&daemon));
    let options = BrowserOptions { login: Some(token), ..BrowserOptions::new(ClientVersion::V4, "42") };
    let mut browser = Browser::open_with(&daemon, options);
    daemon.wait_online("42", 1);
    assert_eq!(daemon.unix().push_text("42", "from php"), 1);
    browser.expect_event("new_msg", &text("from php"));
}

#[test]
fn a_plain_uid_is_refused_in_token_mode_and_accepted_with_auth_none() {
    let daemon = Daemon::start();
    let options = BrowserOptions { login: Some("123".into()), ..BrowserOptions::new(ClientVersion::V4, "123") };
    let mut browser = Browser::open_with(&daemon, options);
    browser.expect_event("login_error", &text("invalid token: not a login token"));
    assert_eq!(daemon.sockets_of("123"), 0, "the refused login logged nothing in");
    browser.command(json!({ "emit": "login", "args": [123] }));
    browser.expect_count(2, |l| l["event"] == "login_error");
    assert_eq!(daemon.sockets_of("123"), 0);

    let legacy = Daemon::start_with(&["--auth", "none"]);
    assert!(legacy.log().contains("--auth none"), "the migration mode warns at startup");
    let mut old_page = Browser::open(&legacy, "123");
    legacy.wait_online("123", 1);
    assert_eq!(legacy.unix().push_text("123", "as before"), 1);
    old_page.expect_event("new_msg", &text("as before"));
    // Pages can move to tokens before the daemon does.
    let tokens = BrowserOptions { login: Some(legacy.token("7")), ..BrowserOptions::new(ClientVersion::V2, "7") };
    let _new_page = Browser::open_with(&legacy, tokens);
    legacy.wait_online("7", 1);
    assert_eq!(legacy.sockets_of(&legacy.token("7")), 0, "a token logs in as its uid, not as itself");
}

/// Bad logins, each with the reason the daemon gives.
fn bad_tokens(daemon: &Daemon) -> Vec<(&'static str, String, &'static str)> {
    let secret = secret_of(daemon);
    let alice = daemon.token("alice");
    let (header, payload) = {
        let mut parts = alice.split('.');
        (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned())
    };
    // Alice's signature on a payload claiming bob.
    let bobs_payload = signed(&json!({ "sub": "bob", "exp": now() + 60 }), b"any key; only the payload is taken");
    let bobs_payload = bobs_payload.split('.').nth(1).unwrap();
    let alices_signature = alice.split('.').nth(2).unwrap();
    vec![
        (
            "another secret",
            signed(&json!({ "sub": "bob", "exp": now() + 60 }), b"not the daemon's secret, 32+ bytes"),
            "bad signature",
        ),
        ("expired", signed(&json!({ "sub": "bob", "exp": now() - 2, "iat": now() - 100 }), &secret), "expired"),
        ("malformed", "not.a.token".into(), "not a login token"),
        ("alg none", format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}."), "invalid token"),
        ("claims bob with alice's signature", format!("{header}.{bobs_payload}.{alices_signature}"), "bad signature"),
        ("oversized", format!("{alice}{}", "A".repeat(9000)), "at most 8192 bytes"),
    ]
}

#[test]
fn bad_tokens_are_refused_at_login_and_the_daemon_keeps_serving() {
    let daemon = Daemon::start();
    let mut good = Browser::open(&daemon, "good");
    daemon.wait_online("good", 1);
    let mut page = Browser::open_with(&daemon, BrowserOptions::anonymous(ClientVersion::V4));
    let cases = bad_tokens(&daemon);
    for (i, (case, token, reason)) in cases.iter().enumerate() {
        page.command(json!({ "emit": "login", "args": [token] }));
        page.expect_count(i + 1, |l| l["event"] == "login_error");
        let got = &page.received("login_error")[i];
        assert!(got.contains(reason), "{case}: {got}");
    }
    for uid in ["alice", "bob"] {
        assert_eq!(daemon.sockets_of(uid), 0, "no bad token logged anyone in as {uid}");
    }
    assert_eq!(daemon.unix().push_text("good", "unharmed"), 1);
    good.expect_event("new_msg", &text("unharmed"));
    daemon.assert_serving();
}

#[test]
fn bad_tokens_in_the_handshake_refuse_the_connection() {
    let daemon = Daemon::start();
    for (case, token, reason) in bad_tokens(&daemon) {
        for version in [ClientVersion::V4, ClientVersion::V2] {
            let options = BrowserOptions {
                login: Some(token.clone()),
                via: Via::Handshake,
                transports: "polling,websocket",
                ..BrowserOptions::new(version, "alice")
            };
            let mut page = Browser::start(&daemon, options);
            let refused = page.expect(|l| l["type"] == "connect_error");
            let message = refused["message"].as_str().unwrap_or_default();
            assert!(message.contains(reason), "{case} ({version:?}): {message}");
            assert!(page.seen.iter().all(|l| l["type"] != "connected"), "{case} ({version:?}) never connected");
        }
    }
    assert_eq!(daemon.sockets_of("alice"), 0);
    assert_eq!(daemon.sockets_of("bob"), 0);
    daemon.assert_serving();
}

#[test]
fn the_first_login_wins_and_another_users_token_changes_nothing() {
    let daemon = Daemon::start();
    let options = BrowserOptions { via: Via::Handshake, ..BrowserOptions::new(ClientVersion::V4, "alice") };
    let mut page = Browser::open_with(&daemon, options);
    daemon.wait_online("alice", 1);
    page.command(json!({ "emit": "login", "args": [daemon.token("bob")] }));
    page.command(json!({ "emit": "login", "args": ["bob"] }));
    page.expect_event("login_error", &text("invalid token: not a login token"));
    assert_eq!(daemon.sockets_of("bob"), 0, "still alice");
    assert_eq!(daemon.sockets_of("alice"), 1);
}

#[test]
fn tokens_and_the_secret_survive_a_daemon_restart() {
    let mut daemon = Daemon::start();
    let secret = std::fs::read(daemon.secret_path()).unwrap();
    let token = daemon.token("5");
    daemon.restart();
    assert_eq!(std::fs::read(daemon.secret_path()).unwrap(), secret, "the secret file is reused");
    let options = BrowserOptions { login: Some(token), ..BrowserOptions::new(ClientVersion::V4, "5") };
    let mut page = Browser::open_with(&daemon, options);
    daemon.wait_online("5", 1);
    assert_eq!(daemon.unix().push_text("5", "still valid"), 1);
    page.expect_event("new_msg", &text("still valid"));
}

#[test]
fn daemons_sharing_the_secret_file_accept_each_others_tokens() {
    let first = Daemon::start();
    let secret = first.secret_path();
    let second = Daemon::start_with(&["--token-secret-file", secret.to_str().unwrap()]);
    let stranger = Daemon::start();
    let token = first.token("shared");
    let on = |daemon: &Daemon| {
        let options = BrowserOptions { login: Some(token.clone()), ..BrowserOptions::new(ClientVersion::V4, "shared") };
        Browser::open_with(daemon, options)
    };
    let _page = on(&second);
    second.wait_online("shared", 1);
    let mut refused = on(&stranger);
    refused.expect_event("login_error", &text("invalid token: bad signature"));
    assert_eq!(stranger.sockets_of("shared"), 0, "a daemon with its own secret refuses it");
}

#[test]
fn a_short_secret_file_stops_the_daemon_with_a_clear_error() {
    let dir = TempDir::new("short-secret");
    // msgpushd_command puts the secret there.
    std::fs::write(dir.path().join("token-secret"), "short\n").unwrap();
    let out = msgpushd_command(dir.path()).arg("--socket").arg(dir.path().join("s.sock")).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least 32 are needed"), "{stderr}");
}

#[test]
fn daemons_started_at_the_same_moment_share_one_new_secret() {
    let dir = TempDir::new("secret-race");
    // msgpushd_command puts the secret in the directory it is given.
    let state = dir.path().join("state");
    let secret = state.join("token-secret");
    let starts: Vec<ChildGuard> = (0..30)
        .map(|i| {
            let mut command = msgpushd_command(&state);
            command.arg("--socket").arg(dir.path().join(format!("{i}.sock")));
            let child = command.stderr(std::process::Stdio::piped()).spawn().expect("start msgpushd");
            ChildGuard::kill_on_drop(child)
        })
        .collect();
    let sockets: Vec<_> = (0..30).map(|i| dir.path().join(format!("{i}.sock"))).collect();
    let mut starts = starts;
    let up =
        wait_until(|| sockets.iter().zip(&mut starts).all(|(socket, child)| socket.exists() || child.has_exited()));
    assert!(up, "every daemon either started or stopped");
    for (i, child) in starts.iter_mut().enumerate() {
        if child.has_exited() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.child().stderr.as_mut().unwrap(), &mut stderr).unwrap();
            panic!("daemon {i} did not start: {stderr}");
        }
    }
    let content = std::fs::read_to_string(&secret).unwrap();
    assert_eq!(content.trim_end().len(), 64, "one whole secret: {content:?}");
    let files = std::fs::read_dir(secret.parent().unwrap()).unwrap().map(|e| e.unwrap().path());
    let left: Vec<_> = files.filter(|path| path.is_file()).map(|path| path.file_name().unwrap().to_owned()).collect();
    assert_eq!(left, ["token-secret"], "no temporary file left behind");
}

#[test]
fn a_secret_someone_else_could_have_put_there_is_refused() {
    let dir = TempDir::new("planted-secret");
    // Whether msgpushd refused to start, and why.
    let start = |dir: &TempDir| {
        let mut command = msgpushd_command(dir.path());
        command.arg("--socket").arg(dir.path().join("s.sock"));
        let mut child = ChildGuard::kill_on_drop(command.stderr(std::process::Stdio::piped()).spawn().unwrap());
        assert!(wait_until(|| child.has_exited() || dir.path().join("s.sock").exists()));
        let exited = child.has_exited();
        let mut stderr = String::new();
        if exited {
            std::io::Read::read_to_string(child.child().stderr.as_mut().unwrap(), &mut stderr).unwrap();
        }
        (exited, stderr)
    };
    // A directory anyone may write to: anyone could have replaced the secret.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let (refused, why) = start(&dir);
    assert!(refused, "started with a secret in a world-writable directory");
    assert!(why.contains("may be written by other users"), "{why}");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // A secret owned by another user (only root can make one here).
    if !nix_is_root() {
        skip("a secret owned by another user", "giving a file away needs root");
        return;
    }
    std::fs::write(dir.path().join("token-secret"), format!("{}\n", "ab".repeat(32))).unwrap();
    std::os::unix::fs::chown(dir.path().join("token-secret"), Some(65534), None).unwrap();
    let (refused, why) = start(&dir);
    assert!(refused, "started with a planted secret");
    assert!(why.contains("is owned by uid 65534"), "{why}");
}

fn nix_is_root() -> bool {
    std::process::Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}
