//! A private `redis-server` (Debian's) on a free loopback port, with nothing
//! saved to disk: never the system's instance.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::daemon::Daemon;
use crate::ports::free_port;
use crate::process::ChildGuard;
use crate::scratch::TempDir;
use crate::wait::wait_until;

/// A running redis-server, killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<ChildGuard>,
    dir: TempDir,
    /// Its address.
    pub addr: SocketAddr,
}

impl RedisServer {
    /// Starts one on a free port.
    pub fn start() -> RedisServer {
        RedisServer::start_on(free_port())
    }

    /// Starts one on loopback port `port`.
    pub fn start_on(port: u16) -> RedisServer {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut redis = RedisServer { child: None, dir: TempDir::new("redis"), addr };
        redis.spawn();
        redis
    }

    /// `n` msgpushd nodes on this Redis sharing one token secret (in the
    /// directory returned), each with `extra` flags.
    pub fn nodes(&self, n: usize, extra: &[&str]) -> (TempDir, Vec<Daemon>) {
        let shared = TempDir::new("cluster");
        let secret = shared.path().join("token-secret");
        let secret = secret.to_str().expect("a UTF-8 path");
        let url = self.url();
        let mut args = vec!["--redis-url", &url, "--token-secret-file", secret];
        args.extend_from_slice(extra);
        let daemons = (0..n).map(|_| Daemon::start_with(&args)).collect();
        (shared, daemons)
    }

    /// The URL to give msgpushd's `--redis-url`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Kills it (SIGKILL): everything it held is lost.
    pub fn kill(&mut self) {
        self.child = None;
        assert!(wait_until(|| TcpStream::connect(self.addr).is_err()), "redis-server still answers");
    }

    /// Starts it again, empty, on the same port.
    pub fn start_again(&mut self) {
        self.spawn();
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.addr.port().to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server (the Debian package redis-server; `make test` installs it)");
        self.child = Some(ChildGuard::kill_on_drop(child));
        assert!(wait_until(|| self.ping()), "redis-server did not answer on {}", self.addr);
    }

    /// Makes it answer no other client for `ms` milliseconds (`CLIENT
    /// PAUSE`): a Redis that is slow, not down.
    pub fn pause(&self, ms: u64) {
        self.run(&format!("CLIENT PAUSE {ms} ALL"));
    }

    /// Makes it forget every script it was given (`SCRIPT FLUSH`), as a
    /// restart of a Redis that keeps its data does.
    pub fn forget_scripts(&self) {
        self.run("SCRIPT FLUSH");
    }

    /// Runs an inline `command` that answers `+OK`.
    fn run(&self, command: &str) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        stream.write_all(format!("{command}\r\n").as_bytes()).unwrap();
        let mut answer = [0u8; 5];
        stream.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"+OK\r\n", "{command}");
    }

    fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(self.addr) else {
            return false;
        };
        stream.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut answer = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
    }
}
