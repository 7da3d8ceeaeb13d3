//! Groups and presence: a push to a group of 1,000 tabs among 10,000 (by
//! token, by membership, and beside the same 1,000 uids named in one push),
//! what PHP's presence calls and `Group::join` cost, on one daemon and on
//! three nodes, and the memory a membership takes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use msgpush_protocol::{defaults, Command, Membership, PresenceAnswer, PresenceQuery, Reply, Target};
use msgpush_testkit::{php_command, repo_root, Daemon, RedisServer, TempDir, UnixClient};

use crate::client;
use crate::fleet::{Fleet, Recorder};
use crate::pusher::{self, Pace};
use crate::report::Section;
use crate::scenarios::{broadcast_receipts, sources};
use crate::stats::{rss_kib, Spread};
use crate::Options;

/// Tabs in the group, and tabs in all.
const GROUP: usize = 1_000;
const CLIENTS: usize = 10_000;

/// Groups each user joins in the memory measurement.
const GROUPS_PER_USER: usize = 10;

/// The PHP calls measured: mode of `bench/php/presence_cost.php`, label, calls per run.
const CALLS: [(&str, &str, usize); 6] = [
    ("is_online", "`Presence::isOnline($uid)`", 20_000),
    ("online_100", "`Presence::online()` of 100 uids (50 online)", 10_000),
    ("count", "`Presence::count()`", 20_000),
    ("group_count", "`Group::count($group)`", 20_000),
    ("users_1000", "`Presence::users(null, 1000)`: a page of 1,000", 1_000),
    ("join_leave", "`Group::join()` / `Group::leave()` of a user with one tab", 5_000),
];

/// msgpushd, alone or as three nodes on one Redis, with 10,000 logged-in
/// clients: `g0`..`g999` in group `g` by their token, `g1000`..`g1999` in
/// group `m` by `Group::join`.
pub(crate) struct Setup {
    nodes: Vec<Daemon>,
    _redis: Option<RedisServer>,
    _shared: TempDir,
    _fleets: Vec<Fleet>,
    recorder: Arc<Recorder>,
}

impl Setup {
    pub(crate) async fn start(options: &Options, nodes: usize) -> Setup {
        let shared = TempDir::new("groups");
        let secret = shared.path().join("token-secret");
        let redis = (nodes > 1).then(RedisServer::start);
        let url = redis.as_ref().map(RedisServer::url);
        let mut args = vec!["--token-secret-file", secret.to_str().expect("utf-8 path")];
        if let Some(url) = &url {
            args.extend(["--redis-url", url]);
        }
        let nodes: Vec<Daemon> = (0..nodes).map(|_| Daemon::start_with(&args)).collect();
        let mut unix = UnixClient::connect(&nodes[0].socket);
        let logins: Vec<String> = (0..CLIENTS)
            .map(|i| {
                let groups: &[&str] = if i < GROUP { &["g"] } else { &[] };
                unix.token_in_groups(&format!("g{i}"), defaults::TOKEN_TTL_SECS, groups)
            })
            .collect();
        let recorder = Recorder::new();
        let fleets: Vec<Fleet> = nodes
            .iter()
            .enumerate()
            .map(|(n, node)| {
                let share: Vec<String> = logins.iter().skip(n).step_by(nodes.len()).cloned().collect();
                let target = client::Target { addr: node.web, eio: options.eio };
                Fleet::start(&target, &share, 500, &sources(), recorder.clone())
            })
            .collect();
        for fleet in &fleets {
            fleet.wait_logged_in(Duration::from_secs(120)).await;
        }
        assert_eq!(recorder.failed(), 0, "clients failed to log in");
        // A client counts itself in at the first online count it gets, which
        // may be the broadcast every socket gets, before its login is done:
        // the daemon's own count says when all are.
        let everyone = PresenceQuery::Count;
        let counted = |reply: Reply| matches!(reply, Reply::Presence(PresenceAnswer::Count { users, .. }) if users == CLIENTS as u64);
        let started = std::time::Instant::now();
        while !counted(unix.request(Command::Presence(everyone.clone()))) {
            assert!(started.elapsed() < Duration::from_secs(60), "the daemon never counted every client");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let members: Vec<String> = (GROUP..2 * GROUP).map(|i| format!("g{i}")).collect();
        let joined = unix.request(Command::GroupJoin(Membership { groups: vec!["m".into()], uids: members }));
        assert_eq!(joined, Reply::Joined { sockets: GROUP as u64 });
        // The census copies logins to Redis just after answering them.
        tokio::time::sleep(Duration::from_secs(1)).await;
        Setup { nodes, _redis: redis, _shared: shared, _fleets: fleets, recorder }
    }

    /// The servers' processes: the nodes, and Redis.
    pub(crate) fn server_pids(&self) -> Vec<u32> {
        let redis = self._redis.as_ref().map(RedisServer::pid);
        self.nodes.iter().map(Daemon::pid).chain(redis).collect()
    }

    /// Rows of the fan-out table: a push to `g`, to `m`, and to their
    /// 1,000 uids named, each through the first node.
    async fn fanouts(&self, options: &Options, what: &str) -> Vec<Vec<String>> {
        let socket = self.nodes[0].socket.clone();
        let once = Pace { history: true, rate: None, duration: Duration::from_secs(60), in_flight: 1, limit: Some(1) };
        let named: Vec<String> = (0..GROUP).map(|i| format!("g{i}")).collect();
        let targets = [
            ("a group by login token (`setGroup`)", Target::Groups(vec!["g".into()])),
            ("a group by `Group::join`", Target::Groups(vec!["m".into()])),
            ("the same 1,000 uids named (`setUser`)", Target::Users(named)),
        ];
        let mut rows = Vec::new();
        for (label, target) in targets {
            let choose: pusher::Chooser = Arc::new(move |_| target.clone());
            let pids = self.server_pids();
            let fanout = broadcast_receipts(options.runs, GROUP, &self.recorder, &pids, || {
                pusher::unix(&socket, choose.clone(), once, self.recorder.clone())
            })
            .await;
            assert_eq!(fanout.fewest, GROUP, "{label}: every tab in it got the push");
            rows.push(fanout.row(format!("{what}: {label}")));
        }
        rows
    }

    /// µs per call of each of [`CALLS`] from PHP, through the first node.
    fn php_calls(&self, options: &Options) -> Vec<Spread> {
        CALLS.iter().map(|&(mode, _, n)| self.php_cost(options, "presence_cost.php", mode, n)).collect()
    }

    /// µs per call of `mode` of `bench/php/SCRIPT`, `n` calls a run, from
    /// PHP through the first node, about a user whose tab is on the last.
    pub(crate) fn php_cost(&self, options: &Options, script: &str, mode: &str, n: usize) -> Spread {
        let script = repo_root().join("bench/php").join(script);
        let runs: Vec<f64> = (0..options.runs)
            .map(|_| {
                // g1's tab is on the second node, if there is one.
                let uid = if self.nodes.len() > 1 { "g1" } else { "g0" };
                let out = php_command(&self.nodes[0].socket, &[])
                    .arg(&script)
                    .args([mode, &n.to_string(), uid])
                    .output()
                    .expect("run php");
                assert!(out.status.success(), "php {mode}: {}", String::from_utf8_lossy(&out.stderr));
                String::from_utf8_lossy(&out.stdout).trim().parse().expect("µs per call")
            })
            .collect();
        Spread::of(&runs)
    }
}

/// Resident memory of `pid` in KiB, the median of three samples.
async fn settled_rss(pid: u32) -> f64 {
    let mut samples = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        samples.push(rss_kib(pid) as f64);
    }
    Spread::of(&samples).median
}

/// Makes each of `uids` a member of [`GROUPS_PER_USER`] groups named
/// `{prefix}0`..; returns the daemon's growth in bytes per membership.
async fn bytes_per_membership(socket: &Path, pid: u32, uids: &[String], prefix: &str) -> f64 {
    let before = settled_rss(pid).await;
    let mut unix = UnixClient::connect(socket);
    let groups: Vec<String> = (0..GROUPS_PER_USER).map(|g| format!("{prefix}{g}")).collect();
    for chunk in uids.chunks(1000) {
        let join = Membership { groups: groups.clone(), uids: chunk.to_vec() };
        assert!(matches!(unix.request(Command::GroupJoin(join)), Reply::Joined { .. }));
    }
    let after = settled_rss(pid).await;
    (after - before) * 1024.0 / (uids.len() * GROUPS_PER_USER) as f64
}

/// The section.
pub async fn groups(options: &Options) -> Section {
    let single = Setup::start(options, 1).await;
    let mut rows = single.fanouts(options, "one daemon").await;
    let single_calls = single.php_calls(options);
    let online: Vec<String> = (0..CLIENTS).map(|i| format!("g{i}")).collect();
    let with_tabs = bytes_per_membership(&single.nodes[0].socket, single.nodes[0].pid(), &online, "o").await;
    drop(single);

    let fresh = Daemon::start();
    let offline: Vec<String> = (0..CLIENTS).map(|i| format!("away{i}")).collect();
    let without_tabs = bytes_per_membership(&fresh.socket, fresh.pid(), &offline, "t").await;
    drop(fresh);

    let cluster = Setup::start(options, 3).await;
    rows.extend(cluster.fanouts(options, "three nodes").await);
    let cluster_calls = cluster.php_calls(options);
    drop(cluster);

    let mut notes = vec![format!(
        "From PHP, µs per call (one PHP CLI loop, timed with `hrtime()`; through the first node; in the cluster the \
         user asked about has its tab on another node):\n\n| call | one daemon | three nodes on Redis |\n| --- | --- \
         | --- |"
    )];
    let calls: Vec<String> = CALLS
        .iter()
        .zip(single_calls.iter().zip(&cluster_calls))
        .map(|((_, label, _), (single, cluster))| format!("| {label} | {single} | {cluster} |"))
        .collect();
    notes[0].push('\n');
    notes[0].push_str(&calls.join("\n"));
    notes.push(format!(
        "Memory per membership (`Group::join` of {CLIENTS} users into {GROUPS_PER_USER} groups each, the daemon's \
         resident memory before and after): {without_tabs:.0} bytes for users with no tab open (what the daemon \
         keeps of the membership), {with_tabs:.0} bytes for users with a tab open (the membership, the tab's \
         place in the group and its rooms)."
    ));
    Section {
        title: "Groups and presence".into(),
        intro: format!(
            "{CLIENTS} websocket clients logged in as distinct uids; {GROUP} of them in group `g` by their login \
             token, {GROUP} others in group `m` by `Group::join`. One push to the group through the Unix socket, \
             at least five times: time until the first and the last of its {GROUP} tabs read it, until the kernel \
             received the last one's frame, and the server's CPU (nodes and Redis) per push. In the cluster the \
             clients are spread over three nodes."
        ),
        header: ["push", "first receipt ms", "last receipt ms", "last frame in the kernel ms", "server CPU ms"]
            .map(String::from)
            .to_vec(),
        rows,
        notes,
    }
}
