//! The cluster scenarios: msgpushd nodes on one private redis-server (the
//! Debian package), with clients spread over them; and the scale one
//! process cannot reach on this machine: 100,000 clients over several nodes
//! and generator processes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use msgpush_protocol::{defaults, Target};
use msgpush_testkit::{Daemon, RedisServer, TempDir, UnixClient};

use crate::client;
use crate::fleet::{Fleet, Recorder};
use crate::generators::Generators;
use crate::pusher::{self, Chooser, Pace};
use crate::report::Section;
use crate::scenarios::{broadcast_receipts, push_header, push_row, scramble, sources, Pids};
use crate::stats::rss_kib;
use crate::Options;

/// Clients one daemon or one generator process is given in the scale
/// scenario: below the open-file limit of 20,000, with room to spare.
const CLIENTS_PER_PROCESS: usize = 17_000;

/// msgpushd nodes on one private Redis, sharing a token secret.
struct Cluster {
    nodes: Vec<Daemon>,
    redis: RedisServer,
    _shared: TempDir,
}

impl Cluster {
    fn start(n: usize) -> Cluster {
        let redis = RedisServer::start();
        let shared = TempDir::new("cluster");
        let secret = shared.path().join("token-secret");
        let url = redis.url();
        let args = ["--redis-url", &url, "--token-secret-file", secret.to_str().expect("utf-8 path")];
        let nodes = (0..n).map(|_| Daemon::start_with(&args)).collect();
        Cluster { nodes, redis, _shared: shared }
    }

    /// Login tokens for `uids`, minted by the first node (all share the secret).
    fn logins(&self, uids: impl Iterator<Item = String>) -> Vec<String> {
        let mut unix = UnixClient::connect(&self.nodes[0].socket);
        uids.map(|uid| unix.token(&uid, defaults::TOKEN_TTL_SECS)).collect()
    }

    fn server_pids(&self) -> Vec<u32> {
        self.nodes.iter().map(Daemon::pid).chain([self.redis.pid()]).collect()
    }

    /// Resident memory of the nodes together, in KiB.
    fn nodes_rss_kib(&self) -> u64 {
        self.nodes.iter().map(|node| rss_kib(node.pid())).sum()
    }
}

/// Push `seq`'s target: a random uid among `clients` (`{prefix}{i}`) whose
/// client is on a node other than the first (`i % nodes != 0`), so that
/// every push from the first node crosses Redis.
fn cross_node_uid(prefix: &'static str, clients: usize, nodes: usize) -> Chooser {
    let per_node = (clients / nodes).max(1) as u64;
    Arc::new(move |seq| {
        let x = scramble(seq);
        let node = 1 + (x % (nodes as u64 - 1));
        Target::Users(vec![format!("{prefix}{}", (x / 7 % per_node) * nodes as u64 + node)])
    })
}

fn target(node: &Daemon, options: &Options) -> client::Target {
    client::Target { addr: node.web, eio: options.eio }
}

/// Three nodes, `clients` clients spread over them (client `i` on node
/// `i % 3`), pushes through the first node's Unix socket to clients on the
/// other two. Returns the targeted section and a broadcast row.
pub async fn cross_node(options: &Options, clients: usize) -> (Section, Vec<String>) {
    const NODES: usize = 3;
    let clients = clients / NODES * NODES;
    let cluster = Cluster::start(NODES);
    let recorder = Recorder::new();
    let logins = cluster.logins((0..clients).map(|i| format!("c{i}")));
    let fleets: Vec<Fleet> = cluster
        .nodes
        .iter()
        .enumerate()
        .map(|(n, node)| {
            let share: Vec<String> = logins.iter().skip(n).step_by(NODES).cloned().collect();
            Fleet::start(&target(node, options), &share, 500, &sources(), recorder.clone())
        })
        .collect();
    for fleet in &fleets {
        fleet.wait_logged_in(Duration::from_secs(120)).await;
    }
    assert_eq!(recorder.failed(), 0, "clients failed to log in");
    // The census copies logins to Redis just after answering them.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let duration = Duration::from_secs(options.duration_secs);
    let socket = cluster.nodes[0].socket.clone();
    let pids = Pids { server: cluster.server_pids(), generator: vec![std::process::id()] };
    let modes = [
        (format!("offered {} pushes/s, node 1 → nodes 2, 3", options.rate), Some(options.rate), true),
        ("saturation, 256 pipelined, node 1 → nodes 2, 3".to_owned(), None, true),
        ("saturation, 256 pipelined, node 1 → nodes 2, 3, history off".to_owned(), None, false),
    ];
    let mut rows = Vec::new();
    for (label, rate, history) in modes {
        let pace = Pace { history, rate, duration, in_flight: 256, limit: None };
        let choose = cross_node_uid("c", clients, NODES);
        rows.push(
            push_row(&label, options.runs, &pids, &recorder, || {
                pusher::unix(&socket, choose.clone(), pace, recorder.clone())
            })
            .await,
        );
    }
    let once = Pace { history: true, rate: None, duration: Duration::from_secs(60), in_flight: 1, limit: Some(1) };
    let fanout = broadcast_receipts(options.runs, clients, &recorder, &pids.server, || {
        pusher::unix(&socket, pusher::everyone(), once, recorder.clone())
    })
    .await;
    assert_eq!(fanout.fewest, clients, "a broadcast reached every client");
    let section = Section {
        title: format!("Cluster: pushes across nodes, {clients} clients"),
        intro: format!(
            "Three msgpushd nodes on one redis-server ({}), all on this machine; {clients} websocket clients logged \
             in as distinct uids, spread evenly over the nodes. Pushes go through node 1's Unix socket to random \
             uids whose client is on node 2 or 3, so every one crosses Redis ({} s per run; saturating, in batches as in the single-daemon table). Server CPU: the three \
             nodes and Redis together, % of one core. Compare with the single-daemon table above.",
            redis_version(),
            options.duration_secs
        ),
        header: push_header(),
        rows,
        notes: vec![],
    };
    drop(fleets);
    (section, fanout.row(format!("{clients}, three nodes")))
}

/// `options.cluster_clients` clients over as many nodes and generator
/// processes as the open-file limit asks: memory per client, a push to one
/// chosen user among them, a broadcast to all.
pub async fn scale(options: &Options) -> Section {
    let total = options.cluster_clients;
    let nodes = total.div_ceil(CLIENTS_PER_PROCESS).max(2);
    let cluster = Cluster::start(nodes);
    let idle_kib = cluster.nodes_rss_kib();
    let logins = cluster.logins((0..total).map(|i| format!("s{i}")));
    let shares: Vec<_> = cluster
        .nodes
        .iter()
        .enumerate()
        .map(|(n, node)| (node.web, logins.iter().skip(n).step_by(nodes).cloned().collect()))
        .collect();
    let recorder = Recorder::new();
    let started = Instant::now();
    let generators = Generators::start(options.eio, &shares, &recorder);
    let (logged_in, failed) = generators.wait_ready();
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let nodes_kib = cluster.nodes_rss_kib();
    let generators_kib: u64 = generators.pids().into_iter().map(rss_kib).sum();
    let counted = cluster.nodes[nodes - 1].sockets_of(&format!("s{}", total / 2));

    let socket = cluster.nodes[0].socket.clone();
    let pids = Pids { server: cluster.server_pids(), generator: generators.pids() };
    let pace = Pace {
        history: true,
        rate: Some(100.0),
        duration: Duration::from_secs(options.duration_secs),
        in_flight: 16,
        limit: None,
    };
    let choose = cross_node_uid("s", total, nodes);
    let label = "one chosen user among them, 100 pushes/s through node 1";
    let row = push_row(label, options.runs, &pids, &recorder, || {
        pusher::unix(&socket, choose.clone(), pace, recorder.clone())
    })
    .await;
    let once = Pace { history: true, rate: None, duration: Duration::from_secs(60), in_flight: 1, limit: Some(1) };
    let fanout = broadcast_receipts(options.runs, logged_in, &recorder, &pids.server, || {
        pusher::unix(&socket, pusher::everyone(), once, recorder.clone())
    })
    .await;
    let per_client = |kib: u64| format!("{:.1}", kib as f64 / logged_in.max(1) as f64);
    let rows = vec![
        vec!["clients logged in (failed)".into(), format!("{logged_in} ({failed})")],
        vec!["nodes, generator processes".into(), format!("{nodes}, {nodes}")],
        vec!["all connected and logged in after".into(), format!("{connect_secs:.1} s")],
        vec![
            "daemons' memory, all nodes".into(),
            format!("{:.0} MiB, {} KiB per client", nodes_kib as f64 / 1024.0, per_client(nodes_kib - idle_kib)),
        ],
        vec!["Redis memory".into(), format!("{:.0} MiB", rss_kib(cluster.redis.pid()) as f64 / 1024.0)],
        vec!["generators' memory".into(), format!("{} KiB per client", per_client(generators_kib))],
        vec![format!("`s{}` counted by node {nodes}", total / 2), counted.to_string()],
        vec![format!("{label}: pushes/s, p50, p99, p99.9 ms, lost"), row[1..6].join(", ")],
        vec![
            "broadcast to all: first, last receipt ms; last frame in the kernel ms; fewest reached".into(),
            format!("{}, {}; {}; {} of {logged_in}", fanout.first, fanout.last, fanout.handed, fanout.fewest),
        ],
    ];
    drop(generators);
    Section {
        title: format!("Cluster at scale: {total} clients"),
        intro: format!(
            "One process here may hold 20,000 descriptors, so {total} websocket clients (each logged in as its \
             own uid with a token) are spread over {nodes} msgpushd nodes on one redis-server and {nodes} generator \
             processes, all on this machine's two cores. Daemons' memory per client: the nodes' resident memory with \
             the clients, less without, over the clients."
        ),
        header: vec!["what".into(), "figure".into()],
        rows,
        notes: vec![],
    }
}

fn redis_version() -> String {
    let out = std::process::Command::new("redis-server").arg("--version").output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    text.split_whitespace().find_map(|w| w.strip_prefix("v=")).map_or("redis-server".into(), |v| format!("Redis {v}"))
}
