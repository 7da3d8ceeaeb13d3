//! A running `msgpushd`: the release binary, on free loopback ports and a
//! Unix socket in a scratch directory, logging to a file the test can read.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use msgpush_protocol::defaults;
use msgpush_protocol::{Command as Cmd, Content, Publish, Reply, Target};

use crate::http::http_post;
use crate::paths::artifact;
use crate::ports::free_port;
use crate::process::ChildGuard;
use crate::scratch::TempDir;
use crate::unix_client::UnixClient;
use crate::wait::wait_until;

/// `msgpushd` listening on `web` and `http`, with its token secret at
/// `secret` (and its webhook secret beside it) and its store in `state`.
fn command(web: SocketAddr, http: SocketAddr, secret: &Path, state: &Path) -> Command {
    let mut command = Command::new(artifact("msgpushd"));
    command.args(["--listen", &web.to_string(), "--http-listen", &http.to_string()]);
    command.arg("--token-secret-file").arg(secret);
    command.arg("--webhook-secret-file").arg(secret.with_file_name("webhook-secret"));
    command.arg("--state-dir").arg(state);
    command
}

/// A `msgpushd` command on free loopback ports with its token secret in
/// `dir`, and a state directory of its own there, for a test to add flags
/// to and run: start-ups that must fail. (So that no test touches the
/// default paths of an installed daemon.)
pub fn msgpushd_command(dir: &Path) -> Command {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let free = || SocketAddr::from(([127, 0, 0, 1], free_port()));
    let state = dir.join(format!("state-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    command(free(), free(), &dir.join("token-secret"), &state)
}

/// `msgpushd --check-config` with `args` and the environment `env`, with
/// its scratch files in `dir`.
pub fn check_config(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = msgpushd_command(dir);
    command.arg("--check-config").args(args).env_remove("MSGPUSHD_LOG");
    command.envs(env.iter().copied());
    command.output().expect("run msgpushd")
}

/// The effective settings a successful `--check-config` printed, by key
/// (values as TOML writes them: strings quoted).
pub fn effective_settings(output: &Output) -> BTreeMap<String, String> {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once(" = "))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// A running `msgpushd`.
#[derive(Debug)]
pub struct Daemon {
    child: Option<ChildGuard>,
    /// Where its socket and log live.
    pub dir: TempDir,
    /// The Unix socket path.
    pub socket: PathBuf,
    /// The Socket.IO address.
    pub web: SocketAddr,
    /// The HTTP push API address.
    pub http: SocketAddr,
    args: Vec<String>,
    /// Whether it runs with `--auth none` (browsers log in with a plain uid).
    pub auth_none: bool,
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

    /// Starts msgpushd with the settings file `settings` (its `config_file`,
    /// which the test may rewrite before a [`Daemon::reload`]) and extra flags.
    /// The file decides the log level.
    pub fn start_with_config(settings: &str, args: &[&str]) -> Daemon {
        let dir = TempDir::new("daemon");
        let file = dir.path().join("msgpushd.toml");
        std::fs::write(&file, settings).unwrap();
        let socket = dir.path().join("msgpushd.sock");
        let mut args: Vec<&str> = args.to_vec();
        let file = file.to_str().unwrap().to_owned();
        args.extend(["--config", &file]);
        Daemon::start_in(dir, socket, &args)
    }

    /// The settings file given with `--config`.
    pub fn config_file(&self) -> PathBuf {
        let i = self.args.iter().position(|a| a == "--config").expect("started with a settings file");
        PathBuf::from(&self.args[i + 1])
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
            auth_none: args.windows(2).any(|w| w == ["--auth", "none"]),
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
        let mut args = self.args.clone();
        for own in ["--token-secret-file", "--webhook-secret-file", "--state-dir"] {
            if let Some(i) = args.iter().position(|a| a == own) {
                args.drain(i..i + 2);
            }
        }
        let mut command = command(self.web, self.http, &self.secret_path(), &self.state_dir());
        command.arg("--socket").arg(&self.socket).args(&args);
        if args.iter().any(|a| a == "--config") {
            command.env_remove("MSGPUSHD_LOG");
        } else {
            // Tests read connection lines from the log; benchmarks ask for less.
            command.env("MSGPUSHD_LOG", std::env::var("MSGPUSHD_LOG").unwrap_or_else(|_| "debug".into()));
        }
        let child = command.stdout(Stdio::null()).stderr(log).spawn().expect("start msgpushd");
        let child = self.child.insert(ChildGuard::kill_on_drop(child));
        let mut exited = false;
        let ready = wait_until(|| {
            exited = child.has_exited();
            exited || (UnixStream::connect(&self.socket).is_ok() && TcpStream::connect(self.web).is_ok())
        });
        if exited {
            self.child = None;
        }
        ready && !exited
    }

    /// Path of its token secret (created by the daemon, kept across
    /// restarts): the one given with `--token-secret-file`, else one in its
    /// scratch directory.
    pub fn secret_path(&self) -> PathBuf {
        match self.args.iter().position(|a| a == "--token-secret-file") {
            Some(i) => PathBuf::from(&self.args[i + 1]),
            None => self.dir.path().join("token-secret"),
        }
    }

    /// Its state directory (the store): the one given with `--state-dir`,
    /// else one in its scratch directory, kept across restarts.
    pub fn state_dir(&self) -> PathBuf {
        match self.args.iter().position(|a| a == "--state-dir") {
            Some(i) => PathBuf::from(&self.args[i + 1]),
            None => self.dir.path().join("state"),
        }
    }

    /// A login token for `uid`, minted by the daemon.
    pub fn token(&self, uid: &str) -> String {
        self.unix().token(uid, defaults::TOKEN_TTL_SECS)
    }

    /// What a browser logging in as `uid` sends: a token, or with
    /// `--auth none` the uid itself.
    pub fn login_value(&self, uid: &str) -> String {
        if self.auth_none {
            uid.to_owned()
        } else {
            self.token(uid)
        }
    }

    /// Path of the daemon's log (stderr).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("msgpushd.log")
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The Socket.IO URL (https with `--tls-cert`).
    pub fn url(&self) -> String {
        let scheme = if self.args.iter().any(|a| a == "--tls-cert") { "https" } else { "http" };
        format!("{scheme}://{}", self.web)
    }

    /// Sends SIGHUP: the daemon reloads its settings.
    pub fn reload(&self) {
        self.child.as_ref().expect("running").hang_up();
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        child.terminate().unwrap_or_else(|| panic!("msgpushd ignored SIGTERM; log:\n{}", self.log()))
    }

    /// Kills it (SIGKILL): no shutdown, as in a crash.
    pub fn kill(&mut self) {
        self.child = None;
    }

    /// Starts it again after [`Daemon::kill`], on the same ports and socket.
    pub fn start_again(&mut self) {
        assert!(self.spawn(), "msgpushd did not start again; log:\n{}", self.log());
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
    /// listens to (kept in no history).
    pub fn sockets_of(&self, uid: &str) -> u64 {
        let probe = Publish {
            history: false,
            ..Publish::new(Target::Users(vec![uid.into()]), "probe", Content::Text(String::new()))
        };
        match self.unix().request(Cmd::Publish(probe)) {
            Reply::Delivered { sockets, .. } => sockets,
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
        assert!(self.child.is_some(), "not running");
        let mut unix = self.unix();
        assert!(matches!(unix.request(Cmd::Ping), Reply::Pong { .. }));
        let (status, body) =
            http_post(self.http, "/", "application/x-www-form-urlencoded", b"type=publish&to=nobody&content=x");
        assert_eq!((status, body.as_str()), (200, "offline"));
    }
}
