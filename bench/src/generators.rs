//! Clients held by generator processes: the open-file limit (20,000 per
//! process here) caps one process's clients, so large counts are spread over
//! several `msgpush-bench --hold` children. A child connects its clients,
//! says `ready LOGGED_IN FAILED`, then reports every receipt as
//! `r SENT_NS RECEIVED_NS KERNEL_NS`, which the parent adds to its recorder.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use msgpush_testkit::{ChildGuard, TempDir};

use crate::client::Target;
use crate::fleet::{Fleet, Receipt, Recorder};
use crate::scenarios::sources;

/// Logins in progress at once in one child: the children share the cores
/// with the nodes, and a login storm from all of them would starve both.
const LOGINS_AT_ONCE: usize = 200;

/// How often a child hands its receipts over.
const REPORT_INTERVAL: Duration = Duration::from_millis(50);

/// The child's side: holds a client per line of `logins` on `target` until
/// its stdin closes, reporting on stdout.
pub async fn hold(target: &Target, logins: &Path) {
    let logins: Vec<String> = std::fs::read_to_string(logins).expect("read logins").lines().map(String::from).collect();
    let recorder = Recorder::new();
    let fleet = Fleet::start(target, &logins, LOGINS_AT_ONCE, &sources(), recorder.clone());
    let logged_in = fleet.wait_logged_in(Duration::from_secs(600)).await;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {logged_in} {}", recorder.failed()).expect("stdout");
    out.flush().expect("stdout");
    drop(out);
    let stdin_closed = tokio::task::spawn_blocking(|| std::io::stdin().lines().count());
    tokio::pin!(stdin_closed);
    loop {
        tokio::select! {
            _ = &mut stdin_closed => return,
            _ = tokio::time::sleep(REPORT_INTERVAL) => {}
        }
        let mut out = std::io::stdout().lock();
        for r in recorder.take_receipts() {
            writeln!(out, "r {} {} {}", r.sent_ns, r.received_ns, r.kernel_ns).expect("stdout");
        }
        out.flush().expect("stdout");
    }
}

/// Generator processes, each holding clients on one server; stopped when dropped.
pub struct Generators {
    children: Vec<ChildGuard>,
    _dir: TempDir,
    ready: mpsc::Receiver<(usize, usize)>,
}

impl Generators {
    /// Starts one child per `(server, logins)`, reporting receipts to `recorder`.
    pub fn start(eio: u8, shares: &[(SocketAddr, Vec<String>)], recorder: &Arc<Recorder>) -> Generators {
        let dir = TempDir::new("generators");
        let (tx, ready) = mpsc::channel();
        let children = shares
            .iter()
            .enumerate()
            .map(|(i, (server, logins))| {
                let file = dir.path().join(format!("logins-{i}"));
                std::fs::write(&file, logins.join("\n")).expect("write logins");
                let mut child = Command::new(std::env::current_exe().expect("own path"))
                    .args(["--hold", &server.to_string(), "--eio", &eio.to_string(), "--hold-logins"])
                    .arg(&file)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("start a generator");
                let stdout = child.stdout.take().expect("piped");
                let (tx, recorder) = (tx.clone(), recorder.clone());
                std::thread::spawn(move || read_reports(BufReader::new(stdout), &tx, &recorder));
                ChildGuard::kill_on_drop(child)
            })
            .collect();
        Generators { children, _dir: dir, ready }
    }

    /// Waits until every child is ready; returns the clients logged in and failed.
    pub fn wait_ready(&self) -> (usize, usize) {
        let (mut logged_in, mut failed) = (0, 0);
        for _ in &self.children {
            let (ok, bad) = self.ready.recv_timeout(Duration::from_secs(900)).expect("a generator never got ready");
            logged_in += ok;
            failed += bad;
        }
        (logged_in, failed)
    }

    /// The children's process ids.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(ChildGuard::id).collect()
    }
}

fn read_reports(stdout: impl BufRead, ready: &mpsc::Sender<(usize, usize)>, recorder: &Recorder) {
    for line in stdout.lines().map_while(Result::ok) {
        let mut words = line.split(' ');
        let kind = words.next();
        let numbers: Vec<u64> = words.filter_map(|w| w.parse().ok()).collect();
        match (kind, &numbers[..]) {
            (Some("ready"), &[logged_in, failed]) => {
                let _ = ready.send((logged_in as usize, failed as usize));
            }
            (Some("r"), &[sent_ns, received_ns, kernel_ns]) => {
                recorder.add_receipts([Receipt { sent_ns, received_ns, kernel_ns }])
            }
            _ => {}
        }
    }
}
