//! The test harness: starts the real `msgpushd` binary on free loopback ports,
//! real socket.io clients (node, npm `socket.io-client` 4.x and 2.x), and the
//! real `php` with the built extension, and talks to the daemon's Unix socket
//! with the protocol crate.
//!
//! The binaries are found beside the test executable (`target/<profile>/`),
//! so `cargo build` of the workspace must run before `cargo test` (the
//! Makefile does this).

#![warn(missing_docs)]

pub mod fastcgi;
pub mod nginx;
pub mod php_fpm;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use msgpush_protocol::frame;
use msgpush_protocol::{Command as Cmd, Content, Publish, Reply, Request, Response, Target};
use serde_json::{json, Value};

/// How long any expected happening may take before a test fails. Generous:
/// tests assert on what happens, never on how fast.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

/// A file built into the same `target/<profile>/` as the running executable
/// (a test in `target/<profile>/deps/`, or a binary such as the benchmarks).
pub fn artifact(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    let dir = exe.parent().expect("executable directory");
    let profile_dir = if dir.ends_with("deps") { dir.parent().expect("target/<profile>") } else { dir };
    let path = profile_dir.join(name);
    assert!(path.exists(), "{} is missing: build the workspace first (make build)", path.display());
    path
}

/// A JSON string, for comparing with what clients received.
pub fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

/// A free TCP port on loopback (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A scratch directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory under the system temp dir.
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("msgpush-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `check` until it holds or `PATIENCE` runs out.
pub fn wait_until(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A running `msgpushd`.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    /// Where its socket and log live.
    pub dir: TempDir,
    /// The Unix socket path.
    pub socket: PathBuf,
    /// The Socket.IO address.
    pub web: SocketAddr,
    /// The HTTP push API address.
    pub http: SocketAddr,
    args: Vec<String>,
}

impl Daemon {
    /// Starts msgpushd with default options on free ports.
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    /// Starts msgpushd with extra flags. Ports are picked free just before;
    /// should another process take one meanwhile, it retries on new ones.
    pub fn start_with(args: &[&str]) -> Daemon {
        let dir = TempDir::new("daemon");
        let socket = dir.path().join("msgpushd.sock");
        Daemon::start_in(dir, socket, args)
    }

    /// Starts msgpushd with its Unix socket at `socket` (a path the test
    /// chose, for example where a stale socket file lies).
    pub fn start_at(socket: &Path) -> Daemon {
        Daemon::start_in(TempDir::new("daemon"), socket.to_owned(), &[])
    }

    fn start_in(dir: TempDir, socket: PathBuf, args: &[&str]) -> Daemon {
        let mut daemon = Daemon {
            child: None,
            dir,
            socket,
            web: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        for _ in 0..5 {
            daemon.web = SocketAddr::from(([127, 0, 0, 1], free_port()));
            daemon.http = SocketAddr::from(([127, 0, 0, 1], free_port()));
            if daemon.spawn() {
                return daemon;
            }
        }
        panic!("msgpushd did not start; log:\n{}", daemon.log());
    }

    /// Starts the process; false if it exited instead of serving.
    fn spawn(&mut self) -> bool {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let child = Command::new(artifact("msgpushd"))
            .arg("--socket")
            .arg(&self.socket)
            .args(["--listen", &self.web.to_string(), "--http-listen", &self.http.to_string()])
            .args(&self.args)
            // Tests read connection lines from the log; benchmarks ask for less.
            .env("MSGPUSHD_LOG", std::env::var("MSGPUSHD_LOG").unwrap_or_else(|_| "debug".into()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start msgpushd");
        let child = self.child.insert(child);
        let mut exited = false;
        let ready = wait_until(|| {
            exited = matches!(child.try_wait(), Ok(Some(_)));
            exited || (UnixStream::connect(&self.socket).is_ok() && TcpStream::connect(self.web).is_ok())
        });
        if exited {
            self.child = None;
        }
        ready && !exited
    }

    /// Path of the daemon's log (stderr).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("msgpushd.log")
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The Socket.IO URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.web)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "msgpushd ignored SIGTERM; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it and starts a new one on the same ports and socket.
    pub fn restart(&mut self) {
        let status = self.stop();
        assert!(status.success(), "msgpushd exited with {status}");
        assert!(self.spawn(), "msgpushd did not restart; log:\n{}", self.log());
    }

    /// A fresh connection to its Unix socket.
    pub fn unix(&self) -> UnixClient {
        UnixClient::connect(&self.socket)
    }

    /// Sockets logged in as `uid`, found with a publish of an event no client
    /// listens to.
    pub fn sockets_of(&self, uid: &str) -> u64 {
        match self.unix().publish(Target::Users(vec![uid.into()]), "probe", Content::Text(String::new())) {
            Reply::Delivered { sockets } => sockets,
            other => panic!("probe failed: {other:?}"),
        }
    }

    /// Waits until `uid` has exactly `n` logged-in sockets.
    pub fn wait_online(&self, uid: &str, n: u64) {
        let mut last = 0;
        let reached = wait_until(|| {
            last = self.sockets_of(uid);
            last == n
        });
        assert!(reached, "uid {uid} never had {n} sockets online (last seen: {last})");
    }

    /// Asserts the daemon still answers and still delivers.
    pub fn assert_serving(&self) {
        assert!(self.child.as_ref().is_some(), "not running");
        let mut unix = self.unix();
        assert!(matches!(unix.request(Cmd::Ping), Reply::Pong { .. }));
        let (status, body) =
            http_post(self.http, "/", "application/x-www-form-urlencoded", b"type=publish&to=nobody&content=x");
        assert_eq!((status, body.as_str()), (200, "offline"));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A blocking client of the daemon's Unix socket.
#[derive(Debug)]
pub struct UnixClient {
    stream: UnixStream,
    next_id: u64,
    buf: Vec<u8>,
}

impl UnixClient {
    /// Connects to `path`.
    pub fn connect(path: &Path) -> UnixClient {
        let stream = UnixStream::connect(path).unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        UnixClient { stream, next_id: 1, buf: Vec::new() }
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads one response frame.
    pub fn read_response(&mut self) -> Response {
        frame::read(&mut self.stream, &mut self.buf, 1 << 20).expect("a response frame")
    }

    /// Whether the daemon closed the connection (reads EOF).
    pub fn is_closed_by_peer(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Ok(0) | Err(_))
    }

    /// Sends one request and returns its reply.
    pub fn request(&mut self, cmd: Cmd) -> Reply {
        let id = self.next_id;
        self.next_id += 1;
        let mut out = Vec::new();
        frame::encode(&Request { id, cmd }, &mut out);
        self.send_raw(&out);
        let response = self.read_response();
        assert_eq!(response.id, id);
        response.reply
    }

    /// Publishes and returns the reply.
    pub fn publish(&mut self, to: Target, event: &str, content: Content) -> Reply {
        self.request(Cmd::Publish(Publish { to, event: event.into(), content }))
    }

    /// Publishes `text` as `new_msg` to `uid`; returns the sockets reached.
    pub fn push_text(&mut self, uid: &str, text: &str) -> u64 {
        match self.publish(Target::Users(vec![uid.into()]), "new_msg", Content::Text(text.into())) {
            Reply::Delivered { sockets } => sockets,
            other => panic!("push failed: {other:?}"),
        }
    }
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
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Value>,
    /// Every line seen so far, for negative checks.
    pub seen: Vec<Value>,
}

/// Options of [`Browser::open`].
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// Client generation.
    pub version: ClientVersion,
    /// Uid to log in with on each connect, if any.
    pub uid: Option<String>,
    /// Sockets to open.
    pub tabs: usize,
    /// socket.io transports, in order.
    pub transports: &'static str,
}

impl BrowserOptions {
    /// One tab of client `version` logging in as `uid`.
    pub fn new(version: ClientVersion, uid: &str) -> Self {
        BrowserOptions { version, uid: Some(uid.into()), tabs: 1, transports: "websocket,polling" }
    }
}

impl Browser {
    /// One tab, socket.io-client 4.x, logged in as `uid`.
    pub fn open(daemon: &Daemon, uid: &str) -> Browser {
        Browser::open_with(daemon, BrowserOptions::new(ClientVersion::V4, uid))
    }

    /// Clients as described by `options`; returns once every tab connected.
    pub fn open_with(daemon: &Daemon, options: BrowserOptions) -> Browser {
        let generation = match options.version {
            ClientVersion::V4 => "4",
            ClientVersion::V2 => "2",
        };
        let mut command = Command::new("node");
        command
            .arg(repo_root().join("tests/js/client.js"))
            .args(["--url", &daemon.url(), "--client", generation])
            .args(["--tabs", &options.tabs.to_string(), "--transports", options.transports]);
        if let Some(uid) = &options.uid {
            command.args(["--uid", uid]);
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
        let mut browser = Browser { child, stdin, lines, seen: Vec::new() };
        for tab in 0..options.tabs {
            browser.expect(|l| l["type"] == "connected" && l["tab"] == tab);
        }
        browser
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

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request over a fresh connection; returns status and body.
pub fn http_raw(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// A POST with `Connection: close`; returns status and body.
pub fn http_post(addr: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let (status, _, body) = http_raw(addr, &request);
    (status, body)
}

/// The `php` command with the built extension loaded (and no php.ini), with
/// `msgpush.socket` set to `socket` and extra `-d` settings.
pub fn php_command(socket: &Path, settings: &[&str]) -> Command {
    let mut command = Command::new("php");
    command
        .arg("-n")
        .arg("-d")
        .arg(format!("extension={}", artifact("libmsgpush.so").display()))
        .arg("-d")
        .arg(format!("msgpush.socket={}", socket.display()));
    for setting in settings {
        command.args(["-d", setting]);
    }
    command
}

/// Runs `tests/php/SCRIPT` with `args`; returns stdout, failing the test with
/// stderr if php failed.
pub fn php_ok(socket: &Path, script: &str, args: &[&str], settings: &[&str]) -> String {
    let output = php_command(socket, settings)
        .arg(repo_root().join("tests/php").join(script))
        .args(args)
        .output()
        .expect("run php (installed by make test)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "php {script} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs a PHP script and parses its last stdout line as JSON.
pub fn php_json(socket: &Path, script: &str, args: &[&str], settings: &[&str]) -> Value {
    let out = php_ok(socket, script, args, settings);
    let last = out.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("php {script} printed no JSON ({e}):\n{out}"))
}

/// A long-lived `php tests/php/interactive.php` process, driven line by line.
#[derive(Debug)]
pub struct PhpSession {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl PhpSession {
    /// Starts the session against `socket`.
    pub fn start(socket: &Path, settings: &[&str]) -> PhpSession {
        let mut child = php_command(socket, settings)
            .arg(repo_root().join("tests/php/interactive.php"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run php");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        PhpSession { child, stdin, stdout }
    }

    /// Sends one command and returns the line it printed.
    pub fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "php exited while answering '{command}'");
        line.trim_end().to_owned()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes stdin and waits for a clean exit (module shutdown runs).
    pub fn finish(mut self) -> ExitStatus {
        drop(self.stdin);
        self.child.wait().unwrap()
    }
}

/// A stand-in for msgpushd on a Unix socket that misbehaves on purpose: it
/// never answers, or answers every request with an error.
#[derive(Debug)]
pub struct FakeDaemon {
    /// Its socket path.
    pub socket: PathBuf,
    _dir: TempDir,
}

impl FakeDaemon {
    /// Accepts connections, reads, never answers.
    pub fn silent() -> FakeDaemon {
        FakeDaemon::spawn(false)
    }

    /// Answers every request with an `internal` error.
    pub fn refusing() -> FakeDaemon {
        FakeDaemon::spawn(true)
    }

    fn spawn(answer: bool) -> FakeDaemon {
        let dir = TempDir::new("fake");
        let socket = dir.path().join("fake.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut buf = Vec::new();
                    while let Ok(request) = frame::read::<Request, _>(&mut stream, &mut buf, 1 << 20) {
                        if answer {
                            let mut out = Vec::new();
                            let response = Response::error(
                                request.id,
                                msgpush_protocol::ErrorCode::Internal,
                                "the fake daemon refuses",
                            );
                            frame::encode(&response, &mut out);
                            if stream.write_all(&out).is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        FakeDaemon { socket, _dir: dir }
    }
}
