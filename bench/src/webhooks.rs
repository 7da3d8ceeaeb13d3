//! Events to the application: msgpushd posting to the example site's
//! webhook route (`php-examples/site`, `/msgpush/events`, behind nginx and
//! one php-fpm worker, each event checked by `Webhook::events()` and logged
//! once): how many events a second it delivers, how long after a tab's
//! close `user_offline` arrives, and a page's message's round trip through
//! PHP.

use std::time::{Duration, Instant};

use msgpush_testkit::site::{site_address, ExampleSite};
use msgpush_testkit::{Daemon, Scrape, UnixClient};
use serde_json::json;

use crate::client::{self, Client};
use crate::fleet::{Fleet, Recorder};
use crate::report::Section;
use crate::scenarios::sources;
use crate::stats::{percentile, Spread};
use crate::Options;

/// Users logging in at once for the events-per-second figure.
const LOGINS: usize = 5_000;

/// Pages' messages per run.
const MESSAGES: u64 = 1_000;

/// The grace of the offline figure.
const GRACE_SECS: u64 = 1;

struct Site {
    daemon: Daemon,
    _site: ExampleSite,
}

impl Site {
    fn start() -> Site {
        let (addr, url) = site_address();
        let grace = GRACE_SECS.to_string();
        let daemon = Daemon::start_with(&[
            "--socket-group",
            "www-data",
            "--webhook-url",
            &url,
            "--offline-grace-secs",
            &grace,
            "--page-messages",
            "echo",
            "--max-client-messages-per-sec",
            "100000",
        ]);
        let site = ExampleSite::start(addr, &daemon);
        Site { daemon, _site: site }
    }

    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        Scrape::get(self.daemon.http, "/metrics").value(name, labels)
    }

    fn delivered(&self) -> f64 {
        self.metric("msgpush_webhook_delivered_total", &[])
    }

    /// Waits until the application took `n` events in all.
    async fn wait_delivered(&self, n: f64) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.delivered() < n {
            assert!(Instant::now() < deadline, "the application never took {n} events");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Instant::now()
    }
}

/// The section.
pub async fn webhooks(options: &Options) -> Section {
    let site = Site::start();
    let target = client::Target { addr: site.daemon.web, eio: options.eio };
    let mut unix = UnixClient::connect(&site.daemon.socket);

    // A burst of logins: each a user_online, from the first queued to the last taken.
    let mut rates = Vec::new();
    for run in 0..options.runs {
        let logins: Vec<String> = (0..LOGINS).map(|i| unix.token(&format!("e{run}-{i}"), 3600)).collect();
        let before = site.delivered();
        let queued = site.metric("msgpush_webhook_events_total", &[("type", "user_online")]);
        let fleet = Fleet::start(&target, &logins, 500, &sources(), Recorder::new());
        while site.metric("msgpush_webhook_events_total", &[("type", "user_online")]) == queued {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let first = Instant::now();
        let last = site.wait_delivered(before + LOGINS as f64).await;
        rates.push(LOGINS as f64 / (last - first).as_secs_f64());
        drop(fleet);
        // Their user_offline events, before the next run.
        site.wait_delivered(before + 2.0 * LOGINS as f64).await;
    }

    // A tab closes: its user_offline taken by the application.
    let mut delays = Vec::new();
    for run in 0..options.runs {
        let token = unix.token(&format!("o{run}"), 3600);
        let before = site.delivered();
        let client = Client::connect(&target, None, &token).await.expect("a client");
        site.wait_delivered(before + 1.0).await;
        let closed = Instant::now();
        drop(client);
        let taken = site.wait_delivered(before + 2.0).await;
        delays.push((taken - closed).as_secs_f64() * 1000.0);
    }

    // A page's message, answered by the route, one after the other.
    let token = unix.token("talker", 3600);
    let mut client = Client::connect(&target, None, &token).await.expect("a client");
    let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
    for run in 0..options.runs as u64 {
        let mut times = Vec::new();
        for n in 0..MESSAGES {
            let started = Instant::now();
            let answer =
                client.ask(run * MESSAGES + n, "msgpush:send", &json!({ "name": "echo", "data": { "n": n } })).await;
            let answer = answer.expect("an answer");
            assert!(answer.get("answer").is_some(), "answered by the application: {answer}");
            times.push(started.elapsed().as_micros() as u64);
        }
        times.sort_unstable();
        p50s.push(percentile(&times, 50.0) as f64 / 1000.0);
        p99s.push(percentile(&times, 99.0) as f64 / 1000.0);
    }
    let answered = site.metric("msgpush_webhook_answer_seconds_count", &[]).max(1.0);
    let answer_ms = site.metric("msgpush_webhook_answer_seconds_sum", &[]) / answered * 1000.0;

    Section {
        title: "Events to the application".into(),
        intro: format!(
            "msgpushd with `--webhook-url` to the example site's route (`php-examples/site`, `/msgpush/events`) \
             behind nginx and one php-fpm worker: each request checked by `Webhook::events()` (a round trip to \
             the daemon), each event logged once by its id. Events per second: {LOGINS} users logging in at once \
             (batches of up to 100 events), from the first event queued to the last one the application took. \
             Offline: a user's only tab closes; the time until the application took `user_offline`, with \
             `--offline-grace-secs {GRACE_SECS}`. A page's message: {MESSAGES} `msgpush:send` one after the other, \
             each answered by the route (its answer to a name it does not take) through the acknowledgement."
        ),
        header: [
            "events/s to the route",
            "tab closed → user_offline taken, ms",
            "page message round trip p50 ms",
            "p99 ms",
            "the route's mean answer time ms",
        ]
        .map(String::from)
        .to_vec(),
        rows: vec![vec![
            Spread::of(&rates).to_string(),
            Spread::of(&delays).to_string(),
            Spread::of(&p50s).to_string(),
            Spread::of(&p99s).to_string(),
            format!("{answer_ms:.2}"),
        ]],
        notes: vec![],
    }
}
