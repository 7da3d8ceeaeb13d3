//! Churn: clients connecting, logging in and leaving, over and over, in
//! waves that fit the descriptor limit. What it shows is whether the daemon
//! gives back what each connection took: memory, tasks, descriptors.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use msgpush_testkit::metrics::Scrape;

use crate::fleet::{Fleet, Recorder};
use crate::report::Section;
use crate::scenarios::{sources, Server};
use crate::stats::{rss_kib, Spread};
use crate::Options;

/// Memory has settled when it has not fallen for this long: msgpushd's
/// jemalloc purges pages unused for a second (`.cargo/config.toml`), but
/// its background thread sometimes gets to them seconds later.
const SETTLE: Duration = Duration::from_secs(3);
/// How long to wait for memory to settle at most.
const SETTLE_AT_MOST: Duration = Duration::from_secs(30);

/// The daemon's state between waves.
struct State {
    rss_mib: f64,
    tasks: f64,
    fds: f64,
}

/// Waits until the daemon has no socket left and its memory has stopped
/// falling; then its state.
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
    let (started, mut since) = (Instant::now(), Instant::now());
    let mut rss = rss_kib(pid);
    let mut lowest = rss;
    while since.elapsed() < SETTLE && started.elapsed() < SETTLE_AT_MOST {
        tokio::time::sleep(Duration::from_millis(250)).await;
        rss = rss_kib(pid);
        if rss < lowest {
            (lowest, since) = (rss, Instant::now());
        }
    }
    let metrics = tokio::task::spawn_blocking(scrape).await.expect("scrape");
    State {
        rss_mib: rss as f64 / 1024.0,
        tasks: metrics.value("msgpush_tasks", &[]),
        fds: metrics.value("process_open_fds", &[]),
    }
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
    let change = (last.rss_mib / first.rss_mib - 1.0) * 100.0;
    // A row: one figure of the state before, after the first and the last
    // wave, and its median and range over every wave, with `digits` decimals.
    let row = |name: &str, figure: fn(&State) -> f64, digits: usize| {
        let show = |v: f64| format!("{v:.digits$}");
        let each = Spread::of(&after_each.iter().map(figure).collect::<Vec<_>>());
        vec![
            name.to_owned(),
            show(figure(&idle)),
            show(figure(first)),
            show(figure(last)),
            format!("{} ({}–{})", show(each.median), show(each.min), show(each.max)),
        ]
    };
    Section {
        title: title.into(),
        intro: format!(
            "{} clients connect over websocket, log in and disconnect, {waves} waves of {wave} (the same uids each \
             wave, with login tokens), on one daemon. Its state with no client connected, once its resident memory \
             has not fallen for {} s: before the first wave, after it, after the last, and the median and range \
             over every wave.",
            waves * wave,
            SETTLE.as_secs()
        ),
        header: [
            "",
            "before",
            "after the first wave",
            "after the last wave",
            "after each wave, median (lowest–highest)",
        ]
        .map(String::from)
        .to_vec(),
        rows: vec![
            row("resident memory MiB", |s| s.rss_mib, 1),
            row("runtime tasks", |s| s.tasks, 0),
            row("open descriptors", |s| s.fds, 0),
        ],
        notes: vec![format!(
            "Memory after the last wave: {change:+.1}% of its level after the first. {} cycles in {elapsed:.0} s \
             ({:.0} per second, disconnections not waited for); clients that failed to connect or log in: {failed}.",
            waves * wave,
            (waves * wave) as f64 / elapsed
        )],
    }
}
