//! Socket.IO clients in node processes (`tests/js/client.js`, npm
//! `socket.io-client` 4.x and 2.x), driven by JSON lines on stdin and
//! reporting what they receive as JSON lines on stdout.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Instant;

use serde_json::{json, Value};

use crate::daemon::Daemon;
use crate::paths::repo_root;
use crate::process::ChildGuard;
use crate::wait::PATIENCE;

/// A JSON string, for comparing with what clients received.
pub fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

/// Which socket.io client generation a [`Browser`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientVersion {
    /// socket.io-client 4.x (Engine.IO 4).
    V4,
    /// socket.io-client 2.x (Engine.IO 3), as web-msg-sender pages use.
    V2,
}

/// A node process running socket.io clients (`tests/js/client.js`).
#[derive(Debug)]
pub struct Browser {
    _child: ChildGuard,
    stdin: ChildStdin,
    lines: Receiver<Value>,
    /// Every line seen so far, for negative checks.
    pub seen: Vec<Value>,
}

/// How a [`Browser`]'s tabs present their login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// web-msg-sender's `socket.emit('login', value)` after each connect.
    Event,
    /// In the handshake: `auth: {token}` for 4.x, `query: {token}` for 2.x.
    Handshake,
}

/// Options of [`Browser::open`].
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// Client generation.
    pub version: ClientVersion,
    /// Uid to log in as on each connect, if any: with a token the daemon
    /// mints, or the uid itself when the daemon runs with `--auth none`.
    pub uid: Option<String>,
    /// Sent as the login instead of what `uid` gives: a forged token, a raw uid.
    pub login: Option<String>,
    /// How the login is presented.
    pub via: Via,
    /// Sockets to open.
    pub tabs: usize,
    /// socket.io transports, in order.
    pub transports: &'static str,
    /// A CA certificate (PEM) to trust besides the system's, for `https://`.
    pub ca_file: Option<PathBuf>,
    /// Each tab keeps the positions it saw and presents them at login.
    pub recover: bool,
    /// Each tab acknowledges the messages that ask for it.
    pub ack: bool,
}

impl BrowserOptions {
    /// One tab of client `version` logging in as `uid`.
    pub fn new(version: ClientVersion, uid: &str) -> Self {
        BrowserOptions {
            version,
            uid: Some(uid.into()),
            login: None,
            via: Via::Event,
            tabs: 1,
            transports: "websocket,polling",
            ca_file: None,
            recover: false,
            ack: false,
        }
    }

    /// One tab of client `version` that connects without logging in.
    pub fn anonymous(version: ClientVersion) -> Self {
        BrowserOptions { uid: None, ..BrowserOptions::new(version, "") }
    }
}

impl Browser {
    /// One tab, socket.io-client 4.x, logged in as `uid`.
    pub fn open(daemon: &Daemon, uid: &str) -> Browser {
        Browser::open_with(daemon, BrowserOptions::new(ClientVersion::V4, uid))
    }

    /// One tab of client `version` logged in as `uid` with a token (in the
    /// handshake) that puts it in `groups`; returns once it logged in.
    pub fn open_in_groups(daemon: &Daemon, version: ClientVersion, uid: &str, groups: &[&str]) -> Browser {
        let token = daemon.unix().token_in_groups(uid, 3600, groups);
        let options = BrowserOptions { login: Some(token), via: Via::Handshake, ..BrowserOptions::new(version, uid) };
        let mut browser = Browser::open_with(daemon, options);
        browser.logged_in(1);
        browser
    }

    /// Waits until the first `tabs` tabs logged in (each got the online
    /// count the daemon sends after a login).
    pub fn logged_in(&mut self, tabs: usize) {
        for tab in 0..tabs {
            self.expect(|l| l["tab"] == tab && l["event"] == "update_online_count");
        }
    }

    /// Clients as described by `options`; returns once every tab connected.
    pub fn open_with(daemon: &Daemon, options: BrowserOptions) -> Browser {
        let tabs = options.tabs;
        let mut browser = Browser::start(daemon, options);
        for tab in 0..tabs {
            browser.expect(|l| l["type"] == "connected" && l["tab"] == tab);
        }
        browser
    }

    /// Clients as described by `options`, without waiting for them to
    /// connect (for connections the daemon refuses).
    pub fn start(daemon: &Daemon, options: BrowserOptions) -> Browser {
        let generation = match options.version {
            ClientVersion::V4 => "4",
            ClientVersion::V2 => "2",
        };
        let via = match options.via {
            Via::Event => "event",
            Via::Handshake => "handshake",
        };
        let mut command = Command::new("node");
        command
            .arg(repo_root().join("tests/js/client.js"))
            .args(["--url", &daemon.url(), "--client", generation, "--via", via])
            .args(["--tabs", &options.tabs.to_string(), "--transports", options.transports]);
        for (wanted, flag) in [(options.recover, "--recover"), (options.ack, "--ack")] {
            if wanted {
                command.arg(flag);
            }
        }
        if let Some(ca) = &options.ca_file {
            command.env("NODE_EXTRA_CA_CERTS", ca);
        }
        if let Some(login) = options.login.or_else(|| options.uid.map(|uid| daemon.login_value(&uid))) {
            command.args(["--login", &login]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run node (installed by make test)");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value: Value = serde_json::from_str(&line).unwrap_or(json!({ "raw": line }));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Browser { _child: ChildGuard::kill_on_drop(child), stdin, lines, seen: Vec::new() }
    }

    /// Waits until `n` lines (earlier ones included) match `matches`.
    pub fn expect_count(&mut self, n: usize, matches: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while self.seen.iter().filter(|l| matches(l)).count() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => panic!("expected lines never came; saw: {:#?}", self.seen),
                Err(RecvTimeoutError::Disconnected) => panic!("client exited; saw: {:#?}", self.seen),
            }
        }
    }

    /// Waits for a line matching `matches` (earlier lines included) and returns it.
    pub fn expect(&mut self, matches: impl Fn(&Value) -> bool) -> Value {
        self.expect_count(1, &matches);
        self.seen.iter().find(|l| matches(l)).expect("counted above").clone()
    }

    /// Waits for `event` carrying `data` and returns the tab that got it.
    pub fn expect_event(&mut self, event: &str, data: &Value) -> u64 {
        let line = self.expect(|l| l["type"] == "event" && l["event"] == event && &l["data"] == data);
        line["tab"].as_u64().unwrap()
    }

    /// The string arguments of every `event` received so far, in order.
    pub fn received(&self, event: &str) -> Vec<String> {
        let lines = self.seen.iter().filter(|l| l["type"] == "event" && l["event"] == event);
        lines.map(|l| l["data"].as_str().unwrap_or_default().to_owned()).collect()
    }

    /// The data of every acknowledgement received so far (answers to `ask`
    /// commands), in order.
    pub fn acks(&self) -> Vec<Value> {
        self.seen.iter().filter(|l| l["type"] == "ack").map(|l| l["data"].clone()).collect()
    }

    /// Count of `event` lines carrying `data` seen so far.
    pub fn count_event(&self, event: &str, data: &Value) -> usize {
        self.seen.iter().filter(|l| l["type"] == "event" && l["event"] == event && &l["data"] == data).count()
    }

    /// Sends a command to the client script.
    pub fn command(&mut self, command: Value) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }
}

/// A websocket client logged in as `uid` that has stopped reading
/// (`tests/js/slow_reader.js`), once the daemon counts it online; killed
/// when dropped.
pub fn slow_reader(daemon: &Daemon, uid: &str) -> ChildGuard {
    let mut slow = ChildGuard::kill_on_drop(
        Command::new("node")
            .arg(repo_root().join("tests/js/slow_reader.js"))
            .arg(format!("ws://{}", daemon.web))
            .arg(daemon.token(uid))
            .stdout(Stdio::piped())
            .spawn()
            .expect("run node (installed by make test)"),
    );
    let mut paused = String::new();
    BufReader::new(slow.child().stdout.as_mut().unwrap()).read_line(&mut paused).unwrap();
    assert_eq!(paused.trim(), "paused");
    daemon.wait_online(uid, 1);
    slow
}
