//! The benchmark scenarios. Each returns a report section; every figure is
//! the median of several runs with the lowest and highest in brackets.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use msgpush_protocol::{defaults, Target};
use msgpush_testkit::{artifact, fd_limit, php_command, repo_root, Daemon, UnixClient};

use crate::client;
use crate::fleet::{Fleet, Recorder};
use crate::floor;
use crate::pusher::{self, Chooser, Outcome, Pace};
use crate::report::Section;
use crate::stats::{cpu_ns, percentile, rss_kib, CpuMeter, Spread};
use crate::Options;

/// Loopback sources for client sockets: one address has ~28k ephemeral ports.
pub fn sources() -> Vec<IpAddr> {
    (1..=8).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i))).collect()
}

/// The server under test: a fresh msgpushd, or one given on the command line.
pub struct Server {
    daemon: Option<Daemon>,
    /// Socket.IO address.
    pub web: SocketAddr,
    /// HTTP push API address.
    pub http: SocketAddr,
    /// Unix socket, when the server is msgpushd.
    pub socket: Option<PathBuf>,
    /// Its process id, when known.
    pub pid: Option<u32>,
}

impl Server {
    /// Starts a fresh msgpushd, or describes the external server.
    pub fn start(options: &Options) -> Server {
        if let Some(web) = options.server {
            let http = options.http.expect("--http goes with --server");
            return Server { daemon: None, web, http, socket: options.socket.clone(), pid: options.pid };
        }
        let daemon = Daemon::start();
        Server {
            web: daemon.web,
            http: daemon.http,
            socket: Some(daemon.socket.clone()),
            pid: Some(daemon.pid()),
            daemon: Some(daemon),
        }
    }

    /// What clients logging in as `uids` send: login tokens minted by
    /// msgpushd (as a site's pages would have them), or the uids themselves
    /// for a server of web-msg-sender's protocol.
    pub fn logins(&self, uids: Vec<String>) -> Vec<String> {
        match &self.socket {
            Some(socket) => {
                let mut unix = UnixClient::connect(socket);
                uids.iter().map(|uid| unix.token(uid, defaults::TOKEN_TTL_SECS)).collect()
            }
            None => uids,
        }
    }

    pub fn target(&self, options: &Options) -> client::Target {
        client::Target { addr: self.web, eio: options.eio }
    }

    /// Pushes with `pace` through the Unix socket if there is one, else HTTP.
    async fn push(&self, via_unix: bool, choose: Chooser, pace: Pace, recorder: Arc<Recorder>) -> Outcome {
        match (&self.socket, via_unix) {
            (Some(socket), true) => pusher::unix(socket, choose, pace, recorder).await,
            _ => pusher::http(self.http, choose, pace, recorder).await,
        }
    }

    /// msgpushd's version, for the report.
    pub fn describe(&self) -> String {
        match &self.daemon {
            Some(_) => {
                let out = Command::new(artifact("msgpushd")).arg("--version").output().expect("msgpushd --version");
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            }
            None => format!("external server at {} (HTTP API {})", self.web, self.http),
        }
    }
}

fn uids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// A deterministic pseudo-random number for push `seq` (xorshift), to spread targets.
pub fn scramble(seq: u64) -> u64 {
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// A deterministic spread of targets among `clients` uids.
fn random_uid(prefix: &'static str, clients: usize) -> Chooser {
    Arc::new(move |seq| Target::Users(vec![format!("{prefix}{}", scramble(seq) % clients as u64)]))
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Starts `clients` logged-in clients and waits for them.
async fn fleet(
    server: &Server,
    options: &Options,
    prefix: &str,
    clients: usize,
    concurrency: usize,
) -> (Fleet, Arc<Recorder>) {
    let recorder = Recorder::new();
    let fleet = Fleet::start(
        &server.target(options),
        &server.logins(uids(prefix, clients)),
        concurrency,
        &sources(),
        recorder.clone(),
    );
    let logged_in = fleet.wait_logged_in(Duration::from_secs(120)).await;
    assert_eq!(logged_in, clients, "only {logged_in} of {clients} clients logged in ({} failed)", recorder.failed());
    (fleet, recorder)
}

/// Scenario 1: the cost of one push from PHP, four ways.
pub async fn php_cost(options: &Options) -> Section {
    let server = Server::start(options);
    let (_fleet, _) = fleet(&server, options, "php", 1, 1).await;
    let url = format!("http://{}/", server.http);
    let script = repo_root().join("bench/php/push_cost.php");
    let modes: &[(&str, &str, usize)] = &[
        ("push", "`PushEvent->push()` (Unix socket, waits for the answer)", 20_000),
        ("queue", "`PushEvent->queue()` then one `flush()` (fire and forget)", 50_000),
        ("queue_call", "`PushEvent->queue()` alone (the call's own cost; flushed after the clock stops)", 50_000),
        ("curl_new", "PHP curl to the HTTP API, a new handle per push (the article's code)", 5_000),
        ("curl_reuse", "PHP curl to the HTTP API, one reused keep-alive handle", 10_000),
        ("token", "`Auth::token()` (a login token for a page, minted by msgpushd)", 20_000),
    ];
    let mut rows = Vec::new();
    let mut push_median = 0.0;
    for &(mode, label, n) in modes {
        if server.socket.is_none() && !mode.starts_with("curl") {
            continue;
        }
        let runs: Vec<f64> = (0..options.runs)
            .map(|_| {
                let mut php = match &server.socket {
                    Some(socket) => php_command(socket, &["extension=curl", "msgpush.queue_size=100000"]),
                    None => {
                        let mut php = Command::new("php");
                        php.args(["-n", "-d", "extension=curl"]);
                        php
                    }
                };
                let out = php.arg(&script).args([mode, &n.to_string(), &url, "php0"]).output().expect("run php");
                assert!(out.status.success(), "php {mode}: {}", String::from_utf8_lossy(&out.stderr));
                String::from_utf8_lossy(&out.stdout).trim().parse().expect("µs per push")
            })
            .collect();
        let spread = Spread::of(&runs);
        if mode == "push" {
            push_median = spread.median;
        }
        let ratio = if push_median > 0.0 { format!("{:.1}×", spread.median / push_median) } else { "–".into() };
        rows.push(vec![
            label.to_owned(),
            n.to_string(),
            spread.to_string(),
            format!("{:.0}", 1e6 / spread.median),
            ratio,
        ]);
    }
    let floor = Spread::of(&(0..options.runs).map(|_| floor::round_trip_us(20_000)).collect::<Vec<_>>());
    rows.push(vec![
        "floor: a minimal request and answer over a Unix socket between two processes (no PHP, no msgpushd)".into(),
        "20000".into(),
        floor.to_string(),
        format!("{:.0}", 1e6 / floor.median),
        format!("{:.2}×", floor.median / push_median),
    ]);
    Section {
        title: "Cost of one push (and of one login token) from PHP".into(),
        intro: "A PHP CLI loop of N pushes to one online user (a logged-in Socket.IO client), or of N login \
                tokens, timed inside PHP with `hrtime()`. Ratio: time per call relative to `push()`. The floor \
                is the same round trip with nothing on either side: `push()` over the floor is what the \
                extension, the protocol and msgpushd add."
            .into(),
        header: vec!["way".into(), "N".into(), "µs per call".into(), "calls/s".into(), "vs push()".into()],
        rows,
        notes: vec![format!(
            "`push()` costs {:.1}× the floor: the floor is two processes' system calls and wake-ups, the rest \
             is PHP's objects, the frame's encoding and msgpushd's work (docs/performance-limits.md).",
            push_median / floor.median
        )],
    }
}

/// Scenarios 2 and 3: targeted pushes (offered rate and saturation) and
/// broadcast fan-out, with `clients` clients logged in as distinct uids.
/// Returns the targeted section and a broadcast row.
pub async fn targeted_and_broadcast(options: &Options, clients: usize) -> (Section, Vec<String>) {
    let server = Server::start(options);
    let (fleet, recorder) = fleet(&server, options, "u", clients, 500).await;
    let duration = Duration::from_secs(options.duration_secs);
    let has_unix = server.socket.is_some();
    let mut modes: Vec<(String, bool, Pace)> = Vec::new();
    let offered = Pace {
        history: true,
        rate: Some(options.rate),
        duration,
        in_flight: if has_unix { 256 } else { 16 },
        limit: None,
    };
    modes.push((
        format!("offered {} pushes/s ({})", options.rate, if has_unix { "Unix socket" } else { "HTTP" }),
        true,
        offered,
    ));
    if has_unix {
        modes.push((
            "saturation, Unix socket, 256 pipelined".into(),
            true,
            Pace { history: true, rate: None, duration, in_flight: 256, limit: None },
        ));
        modes.push((
            "saturation, Unix socket, 256 pipelined, history off".into(),
            true,
            Pace { history: false, rate: None, duration, in_flight: 256, limit: None },
        ));
    }
    for in_flight in [1, 4, 12] {
        modes.push((
            format!("saturation, HTTP, {in_flight} in flight"),
            false,
            Pace { history: true, rate: None, duration, in_flight, limit: None },
        ));
    }

    let pids = Pids { server: server.pid.into_iter().collect(), generator: vec![std::process::id()] };
    let mut rows = Vec::new();
    for (label, via_unix, pace) in &modes {
        let choose = random_uid("u", clients);
        rows.push(
            push_row(label, options.runs, &pids, &recorder, || {
                server.push(*via_unix, choose.clone(), *pace, recorder.clone())
            })
            .await,
        );
    }
    let targeted = Section {
        title: format!("Targeted pushes, {clients} clients"),
        intro: format!(
            "{clients} websocket clients, each logged in as its own uid; pushes go to random uids for {} s per run. \
             Latency is from the push being sent to the client receiving it, both measured in the generator. \
             Saturating the Unix socket, the generator writes the pushes in batches, as many as are allowed in flight \
             (as the extension's `queue()` and `flush()` do); each push's clock starts when it is queued. Lost: \
             pushes answered as delivered that never reached their client (all runs). CPU: % of one core, server \
             (the daemon) and generator.",
            options.duration_secs
        ),
        header: push_header(),
        rows,
        notes: vec![],
    };

    let once = Pace { history: true, rate: None, duration: Duration::from_secs(60), in_flight: 1, limit: Some(1) };
    let fanout = broadcast_receipts(options.runs, clients, &recorder, &pids.server, || {
        server.push(true, pusher::everyone(), once, recorder.clone())
    })
    .await;
    assert_eq!(fanout.fewest, clients, "a broadcast reached every client");
    drop(fleet);
    (targeted, fanout.row(clients.to_string()))
}

/// A broadcast fan-out table: rows of clients, first and last receipt.
pub fn broadcast_section(title: &str, intro: &str, rows: Vec<Vec<String>>) -> Section {
    Section {
        title: title.into(),
        intro: format!(
            "{intro} Time from sending one push to everyone until the first and until the last client read it; \
             until the kernel received the last client's frame (the server's last write, stamped by the kernel with \
             `SO_TIMESTAMPNS` as it passed through loopback, so whenever the generator, which shares the cores, got \
             to read it); and the CPU time the server used for the broadcast."
        ),
        header: ["clients", "first receipt ms", "last receipt ms", "last frame in the kernel ms", "server CPU ms"]
            .map(String::from)
            .to_vec(),
        rows,
        notes: vec!["Over loopback a server's write to a socket also runs the client's side of TCP (delivery, \
                     waking the reader) in the server's system call: the server's CPU here includes work that a \
                     network card and the clients' machines do in production, and a broadcast costs one write per \
                     socket."
            .into()],
    }
}

/// The processes whose CPU a run reports: the server's (msgpushd nodes,
/// Redis), and the generator's.
#[derive(Debug, Clone, Default)]
pub struct Pids {
    /// The server's processes, if known.
    pub server: Vec<u32>,
    /// The load generator's processes.
    pub generator: Vec<u32>,
}

/// The columns of [`push_row`]'s rows.
pub fn push_header() -> Vec<String> {
    ["mode", "pushes/s", "p50 ms", "p99 ms", "p99.9 ms", "lost", "server CPU %", "generator CPU %"]
        .map(String::from)
        .to_vec()
}

/// Runs `push` `runs` times and measures each run: a row of pushes/s,
/// latency percentiles, lost pushes and CPU.
pub async fn push_row<F, Fut>(
    label: &str,
    runs: usize,
    pids: &Pids,
    recorder: &Arc<Recorder>,
    mut push: F,
) -> Vec<String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Outcome>,
{
    let (mut rates, mut p50, mut p99, mut p999, mut lost, mut cpu_server, mut cpu_generator) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        recorder.take_receipts();
        let server = CpuMeter::start(&pids.server);
        let generator = CpuMeter::start(&pids.generator);
        let outcome = push().await;
        let (server, generator) = (server.percent(), generator.percent());
        // Let the last messages land before counting.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut receipts = recorder.take_receipts();
        while (receipts.len() as u64) < outcome.reached && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            receipts.extend(recorder.take_receipts());
        }
        let mut latencies: Vec<u64> = receipts.iter().map(|r| r.received_ns.saturating_sub(r.sent_ns)).collect();
        latencies.sort_unstable();
        rates.push(outcome.sent as f64 / outcome.elapsed.as_secs_f64());
        p50.push(ms(percentile(&latencies, 50.0)));
        p99.push(ms(percentile(&latencies, 99.0)));
        p999.push(ms(percentile(&latencies, 99.9)));
        lost.push((outcome.reached as f64 - receipts.len() as f64).max(0.0));
        if !server.is_empty() {
            cpu_server.push(server.iter().sum());
        }
        cpu_generator.push(generator.iter().sum());
    }
    let cpu = |v: &[f64]| if v.is_empty() { "–".to_owned() } else { format!("{:.0}", Spread::of(v).median) };
    vec![
        label.to_owned(),
        Spread::of(&rates).to_string(),
        Spread::of(&p50).to_string(),
        Spread::of(&p99).to_string(),
        Spread::of(&p999).to_string(),
        format!("{:.0}", lost.iter().sum::<f64>()),
        cpu(&cpu_server),
        cpu(&cpu_generator),
    ]
}

/// What the broadcasts of [`broadcast_receipts`] did.
#[derive(Debug, Clone, Copy)]
pub struct Fanout {
    /// First receipt, ms after sending.
    pub first: Spread,
    /// Last receipt, ms after sending.
    pub last: Spread,
    /// The last client's kernel receiving its frame (the server's last
    /// write), ms after sending: what the server took, whenever the
    /// generator got to read.
    pub handed: Spread,
    /// CPU the server's processes used per broadcast, ms.
    pub server_cpu: Spread,
    /// Clients reached by the broadcast that reached the fewest.
    pub fewest: usize,
}

/// Sends one broadcast with `push_once`, at least five times, and waits each
/// time (up to 20 s) for all `clients` to have it.
pub async fn broadcast_receipts<F, Fut>(
    runs: usize,
    clients: usize,
    recorder: &Arc<Recorder>,
    server_pids: &[u32],
    mut push_once: F,
) -> Fanout
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Outcome>,
{
    let (mut first, mut last, mut handed, mut server_cpu, mut fewest) = (vec![], vec![], vec![], vec![], clients);
    let server_cpu_ns = || server_pids.iter().map(|&pid| cpu_ns(pid)).sum::<u64>();
    for _ in 0..runs.max(5) {
        recorder.take_receipts();
        // Late receipts of earlier pushes may still come in: only this one's count.
        let sent_after = recorder.now_ns();
        let cpu_before = server_cpu_ns();
        push_once().await;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut receipts = Vec::new();
        while receipts.len() < clients && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            receipts.extend(recorder.take_receipts().into_iter().filter(|r| r.sent_ns >= sent_after));
        }
        server_cpu.push(ms(server_cpu_ns().saturating_sub(cpu_before)));
        fewest = fewest.min(receipts.len());
        let delays: Vec<u64> = receipts.iter().map(|r| r.received_ns.saturating_sub(r.sent_ns)).collect();
        first.push(ms(delays.iter().min().copied().unwrap_or(0)));
        last.push(ms(delays.iter().max().copied().unwrap_or(0)));
        handed.push(ms(receipts.iter().map(|r| r.kernel_ns.saturating_sub(r.sent_ns)).max().unwrap_or(0)));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Fanout {
        first: Spread::of(&first),
        last: Spread::of(&last),
        handed: Spread::of(&handed),
        server_cpu: Spread::of(&server_cpu),
        fewest,
    }
}

impl Fanout {
    /// A row of [`broadcast_section`]'s table.
    pub fn row(&self, clients: String) -> Vec<String> {
        vec![
            clients,
            self.first.to_string(),
            self.last.to_string(),
            self.handed.to_string(),
            self.server_cpu.to_string(),
        ]
    }
}

/// Scenario 4: memory with idle logged-in clients, and CPU while idle.
pub async fn memory(options: &Options) -> Section {
    let server = Server::start(options);
    let Some(pid) = server.pid else {
        return Section::skipped("Connections and memory", "needs the server's process id (--pid)");
    };
    let sample = |pid| async move {
        let mut samples = Vec::new();
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            samples.push(rss_kib(pid) as f64);
        }
        Spread::of(&samples).median
    };
    let idle = sample(pid).await;
    let mut rows = vec![vec!["0".into(), format!("{:.1}", idle / 1024.0), "–".into(), "–".into()]];
    let mut sizes = options.clients.clone();
    sizes.push(options.max_clients);
    for clients in sizes {
        let (fleet, _) = fleet(&server, options, "m", clients, 1000).await;
        let rss = sample(pid).await;
        let meter = CpuMeter::start(&[pid]);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let cpu = meter.percent()[0];
        rows.push(vec![
            clients.to_string(),
            format!("{:.1}", rss / 1024.0),
            format!("{:.1}", (rss - idle) / clients as f64),
            format!("{cpu:.1}"),
        ]);
        drop(fleet);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Section {
        title: "Connections and memory".into(),
        intro: "Daemon resident memory (median of 3 samples) with idle clients logged in as distinct uids, the memory \
                each connection adds, and the daemon's CPU over 5 idle seconds."
            .into(),
        header: ["clients", "RSS MiB", "KiB per client", "idle CPU %"].map(String::from).to_vec(),
        rows,
        notes: vec![format!(
            "The largest count is what this machine allows: each client holds a descriptor in the generator and \
             one in the daemon, and the open-file limit per process is {} here.",
            fd_limit::raise()
        )],
    }
}

/// Scenario 5: `clients` clients connect and log in at once.
pub async fn storm(options: &Options) -> Section {
    let mut rows = Vec::new();
    for &clients in &options.clients {
        let (mut times, mut failures) = (vec![], vec![]);
        for _ in 0..options.runs {
            let server = Server::start(options);
            let logins = server.logins(uids("s", clients));
            let recorder = Recorder::new();
            let start = recorder.now_ns();
            let fleet = Fleet::start(&server.target(options), &logins, clients, &sources(), recorder.clone());
            fleet.wait_logged_in(Duration::from_secs(120)).await;
            let acks = recorder.login_acks_ns();
            times.push(ms(acks.iter().max().copied().unwrap_or(start) - start));
            failures.push((clients - acks.len()) as f64);
            drop(fleet);
        }
        rows.push(vec![
            clients.to_string(),
            Spread::of(&times).to_string(),
            format!("{:.0}", failures.iter().sum::<f64>()),
        ]);
    }
    Section {
        title: "Connection storm".into(),
        intro: "All clients open a websocket and log in at the same moment (a fresh daemon per run; msgpushd \
                checks each client's login token); time until the last login was answered, and clients that failed \
                (all runs)."
            .into(),
        header: ["clients", "all logged in after ms", "failures"].map(String::from).to_vec(),
        rows,
        notes: vec![],
    }
}
