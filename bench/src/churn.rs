//! Churn: clients connecting, logging in and leaving, over and over, in
//! waves that fit the descriptor limit. What it shows is whether the daemon
//! gives back what each connection took: memory, tasks, descriptors.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use msgpush_testkit::metrics::Scrape;

use crate::fleet::{Fleet, Recorder};
use crate::report::Section;
use crate::scenarios::{sources, Server};
use crate::stats::rss_kib;
use crate::Options;

/// How long freed memory may take to go back to the system: msgpushd's
/// jemalloc purges pages unused for a second (`.cargo/config.toml`).
const SETTLE: Duration = Duration::from_secs(3);

/// The daemon's state between waves.
struct State {
    rss_kib: u64,
    tasks: f64,
    fds: f64,
}

/// Waits until the daemon has no socket left and memory has settled; then its state.
async fn settled(pid: u32, http: SocketAddr) -> State {
    let scrape = move || Scrape::get(http, "/metrics");
    let sockets = |s: &Scrape| -> f64 {
        let kinds = ["websocket", "polling"].into_iter().flat_map(|t| ["4", "5"].map(|p| (t, p)));
        kinds
            .map(|(transport, protocol)| {
                s.value("msgpush_sockets", &[("transport", transport), ("protocol", protocol)])
            })
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while sockets(&tokio::task::spawn_blocking(scrape).await.expect("scrape")) > 0.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(SETTLE).await;
    let metrics = tokio::task::spawn_blocking(scrape).await.expect("scrape");
    State {
        rss_kib: rss_kib(pid),
        tasks: metrics.value("msgpush_tasks", &[]),
        fds: metrics.value("process_open_fds", &[]),
    }
}

/// `lowest–highest` of `values`.
fn range(values: impl Iterator<Item = f64> + Clone) -> String {
    let lowest = values.clone().fold(f64::INFINITY, f64::min);
    let highest = values.fold(f64::NEG_INFINITY, f64::max);
    format!("{lowest}–{highest}")
}

/// `options.churn_cycles` connect/login/disconnect cycles, in waves of up to
/// 10,000 clients (the same uids each wave, like users coming back).
pub async fn churn(options: &Options) -> Section {
    let title = "Churn";
    let server = Server::start(options);
    let Some(pid) = server.pid else {
        return Section::skipped(title, "needs the server's process id (--pid)");
    };
    let wave = options.max_clients.min(10_000);
    let waves = options.churn_cycles.div_ceil(wave);
    let logins = server.logins((0..wave).map(|i| format!("ch{i}")).collect());
    let idle = settled(pid, server.http).await;
    let (mut after_each, mut failed, mut busy) = (Vec::new(), 0, Duration::ZERO);
    for _ in 0..waves {
        let started = Instant::now();
        let recorder = Recorder::new();
        let fleet = Fleet::start(&server.target(options), &logins, 500, &sources(), recorder.clone());
        fleet.wait_logged_in(Duration::from_secs(120)).await;
        failed += recorder.failed();
        drop(fleet);
        busy += started.elapsed();
        after_each.push(settled(pid, server.http).await);
    }
    let elapsed = busy.as_secs_f64();
    let (first, last) = (&after_each[0], &after_each[after_each.len() - 1]);
    let rss: Vec<u64> = after_each.iter().map(|s| s.rss_kib).collect();
    let (lowest, highest) = (rss.iter().min().copied().unwrap_or(0), rss.iter().max().copied().unwrap_or(0));
    let mib = |kib: u64| format!("{:.1}", kib as f64 / 1024.0);
    let change = (last.rss_kib as f64 / first.rss_kib as f64 - 1.0) * 100.0;
    Section {
        title: title.into(),
        intro: format!(
            "{} clients connect over websocket, log in and disconnect, {waves} waves of {wave} (the same uids each \
             wave, with login tokens), on one daemon. Its state with no client connected, {} s after the last \
             socket closed: before the first wave, after it, after the last, and the range over every wave.",
            waves * wave,
            SETTLE.as_secs()
        ),
        header: ["", "before", "after the first wave", "after the last wave", "after each wave, lowest–highest"]
            .map(String::from)
            .to_vec(),
        rows: vec![
            vec![
                "resident memory MiB".into(),
                mib(idle.rss_kib),
                mib(first.rss_kib),
                mib(last.rss_kib),
                format!("{}–{}", mib(lowest), mib(highest)),
            ],
            vec![
                "runtime tasks".into(),
                idle.tasks.to_string(),
                first.tasks.to_string(),
                last.tasks.to_string(),
                range(after_each.iter().map(|s| s.tasks)),
            ],
            vec![
                "open descriptors".into(),
                idle.fds.to_string(),
                first.fds.to_string(),
                last.fds.to_string(),
                range(after_each.iter().map(|s| s.fds)),
            ],
        ],
        notes: vec![format!(
            "Memory after the last wave: {change:+.1}% of its level after the first. {} cycles in {elapsed:.0} s \
             ({:.0} per second, disconnections not waited for); clients that failed to connect or log in: {failed}.",
            waves * wave,
            (waves * wave) as f64 / elapsed
        )],
    }
}
