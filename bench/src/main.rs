//! `msgpush-bench`: starts msgpushd (or points at another server speaking the
//! web-msg-sender protocol: Socket.IO `login` plus HTTP `type=publish`),
//! holds many Socket.IO websocket clients, pushes, measures, and writes a
//! Markdown report.
//!
//! # Layout
//! - [`client`]: a minimal Socket.IO websocket client (Engine.IO 3 and 4),
//!   on a [`stamped`] TCP stream that keeps the kernel's receive times.
//! - [`fleet`]: many logged-in clients recording receipts.
//! - [`pusher`]: pushing through the Unix socket or the HTTP API, paced.
//! - [`floor`]: a minimal Unix-socket round trip between two processes (`--echo`).
//! - [`scenarios`]: the single-daemon measurements; [`churn`]: connections
//!   coming and going.
//! - [`groups`]: group fan-out, presence calls from PHP, memory per membership.
//! - [`recovery`]: tabs recovering what they missed after a restart; kept messages.
//! - [`receipts`]: pushes waiting for their tabs' acknowledgements.
//! - [`webhooks`]: events to a php-fpm route, and pages' messages through it.
//! - [`generators`]: clients held by child processes (`--hold`).
//! - [`cluster`]: several daemons on one Redis.
//! - [`stats`] / [`report`]: figures and the Markdown report.
//! - [`heap_owners`]: memory per connection by owner, from heap profiles.

mod churn;
mod client;
mod cluster;
mod fleet;
mod floor;
mod generators;
mod groups;
mod heap_owners;
mod pusher;
mod receipts;
mod recovery;
mod report;
mod scenarios;
mod stamped;
mod stats;
mod webhooks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use clap::Parser;

/// Load generator and benchmark report for msgpushd.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Options {
    /// Runs per figure; the report gives the median, min and max.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Client counts for the targeted, broadcast, memory and storm scenarios.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    pub clients: Vec<usize>,
    /// The largest idle client count for the memory scenario; 0: as many as
    /// the open-file limit allows (each client takes a descriptor on both sides).
    #[arg(long, default_value_t = 0)]
    pub max_clients: usize,
    /// Seconds each push run lasts.
    #[arg(long, default_value_t = 3)]
    pub duration_secs: u64,
    /// Offered rate of the fixed-rate targeted run, pushes per second.
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// Scenarios to run (php, targeted, memory, storm, churn, groups,
    /// recovery, receipts, webhooks, cluster, scale; targeted and cluster include
    /// broadcast).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "php,targeted,memory,storm,churn,groups,recovery,receipts,webhooks,cluster,scale"
    )]
    pub scenarios: Vec<String>,
    /// Connect/login/disconnect cycles of the churn scenario.
    #[arg(long, default_value_t = 200_000)]
    pub churn_cycles: usize,
    /// Clients of the scale scenario, over several nodes and generator processes.
    #[arg(long, default_value_t = 100_000)]
    pub cluster_clients: usize,
    /// Run as a generator process: hold clients on this Socket.IO server
    /// (used by the scale scenario).
    #[arg(long, hide = true, requires = "hold_logins")]
    pub hold: Option<SocketAddr>,
    /// The generator's logins, one per line.
    #[arg(long, hide = true)]
    pub hold_logins: Option<PathBuf>,
    /// Run as the other end of the Unix round-trip floor, on this socket.
    #[arg(long, hide = true)]
    pub echo: Option<PathBuf>,
    /// Benchmark another server's Socket.IO address instead of starting msgpushd.
    #[arg(long)]
    pub server: Option<SocketAddr>,
    /// That server's HTTP push API address.
    #[arg(long)]
    pub http: Option<SocketAddr>,
    /// That server's Unix socket, if it is a msgpushd.
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// That server's process id, for CPU and memory figures.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Engine.IO protocol of the clients: 4 (socket.io 3/4) or 3 (socket.io 2, web-msg-sender).
    #[arg(long, default_value_t = 4)]
    pub eio: u8,
    /// Print bytes per client by owner from heap profiles (`TITLE=STACKS`,
    /// as `bench/heap-profile.sh` writes them) of `--clients` clients, and exit.
    #[arg(long, value_delimiter = ',')]
    pub heap_owners: Vec<String>,
    /// Where to write the report.
    #[arg(long, default_value = "docs/BENCHMARKS.md")]
    pub report: PathBuf,
}

fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().trim().to_owned())
        .unwrap_or_else(|_| "not found".into())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']))
        .unwrap_or("?");
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let os = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let os = os.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).unwrap_or("?").trim_matches('"').to_owned();
    format!(
        "{} cores ({model}), {:.0} GiB memory, {os}, Linux {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        mem_kib as f64 / 1024.0 / 1024.0,
        first_line("uname", &["-r"])
    )
}

fn main() {
    let mut options = Options::parse();
    if let Some(path) = &options.echo {
        floor::serve(path);
        return;
    }
    if !options.heap_owners.is_empty() {
        let profiles: Vec<(String, &std::path::Path)> = options
            .heap_owners
            .iter()
            .map(|p| p.split_once('=').expect("TITLE=STACKS"))
            .map(|(title, path)| (title.to_owned(), std::path::Path::new(path)))
            .collect();
        print!("{}", heap_owners::table(&profiles, options.clients[0]));
        return;
    }
    // The daemons started here log warnings only: a line per login would
    // measure the logger.
    std::env::set_var("MSGPUSHD_LOG", "warn");
    // This process and the daemons it starts hold a descriptor per client.
    let limit = msgpush_testkit::fd_limit::raise();
    if options.max_clients == 0 {
        // msgpushd keeps 200 descriptors of the same limit free of TCP connections (--max-connections).
        options.max_clients = (limit as usize).saturating_sub(300).min(50_000);
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    if let (Some(server), Some(logins)) = (options.hold, &options.hold_logins) {
        runtime.block_on(generators::hold(&client::Target { addr: server, eio: options.eio }, logins));
        return;
    }
    let started = std::time::Instant::now();
    let wants = |name: &str| options.scenarios.iter().any(|s| s == name);

    let mut sections = Vec::new();
    runtime.block_on(async {
        let server = scenarios::Server::start(&options);
        let server_version = server.describe();
        drop(server);
        if wants("php") {
            eprintln!("bench: php cost");
            sections.push(scenarios::php_cost(&options).await);
        }
        if wants("targeted") {
            let mut broadcasts = Vec::new();
            for &clients in &options.clients {
                eprintln!("bench: targeted and broadcast, {clients} clients");
                let (targeted, broadcast) = scenarios::targeted_and_broadcast(&options, clients).await;
                sections.push(targeted);
                broadcasts.push(broadcast);
            }
            sections.push(scenarios::broadcast_section("Broadcast fan-out", "One daemon.", broadcasts));
        }
        if wants("memory") {
            eprintln!("bench: memory");
            sections.push(scenarios::memory(&options).await);
            sections.extend(heap_owners::section(std::path::Path::new("docs/memory-per-connection.md")));
        }
        if wants("storm") {
            eprintln!("bench: storm");
            sections.push(scenarios::storm(&options).await);
        }
        // After the storm: churn leaves many connections in TIME-WAIT behind.
        if wants("churn") {
            eprintln!("bench: churn, {} cycles", options.churn_cycles);
            sections.push(churn::churn(&options).await);
        }
        if wants("groups") {
            eprintln!("bench: groups and presence");
            sections.push(groups::groups(&options).await);
        }
        if wants("recovery") {
            eprintln!("bench: recovery and kept messages");
            sections.push(recovery::recovery(&options).await);
        }
        if wants("receipts") {
            eprintln!("bench: receipts");
            sections.push(receipts::receipts(&options).await);
        }
        if wants("webhooks") {
            eprintln!("bench: events to the application");
            sections.push(webhooks::webhooks(&options).await);
        }
        if wants("cluster") {
            let mut broadcasts = Vec::new();
            for &clients in &options.clients {
                eprintln!("bench: cluster, {clients} clients");
                let (section, row) = cluster::cross_node(&options, clients).await;
                sections.push(section);
                broadcasts.push(row);
            }
            let intro = "Three nodes, clients spread over them, the push sent through node 1.";
            sections.push(scenarios::broadcast_section("Cluster: broadcast fan-out", intro, broadcasts));
        }
        if wants("scale") {
            eprintln!("bench: cluster at scale, {} clients", options.cluster_clients);
            sections.push(cluster::scale(&options).await);
        }
        let command: Vec<String> = std::env::args().collect();
        let preamble = format!(
            "# Benchmarks\n\n\
             Generated by `make bench` (`{}`) in {:.0} s. Every figure is the median of the runs, with the lowest and \
             highest in brackets.\n\n\
             - Machine: {}\n\
             - Server: {server_version}\n\
             - Generator: msgpush-bench {}, {}; PHP: {}; open-file limit {limit}\n\
             - Generator and server share the same cores, over loopback: the CPU columns show which side was busy.\n\
             - What limits the figures on this machine, profiled: [performance-limits.md](performance-limits.md).\n\n",
            command.join(" "),
            started.elapsed().as_secs_f64(),
            machine(),
            env!("CARGO_PKG_VERSION"),
            first_line("rustc", &["--version"]),
            first_line("php", &["-n", "-v"]),
        );
        let text = report::render(&preamble, &sections);
        std::fs::write(&options.report, text).expect("write the report");
        eprintln!("bench: wrote {} in {:.0} s", options.report.display(), started.elapsed().as_secs_f64());
    });
}
