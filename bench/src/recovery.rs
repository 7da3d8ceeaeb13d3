//! History and the inbox: 10,000 tabs reconnecting at once after a daemon
//! was killed and restarted, each recovering the 10 messages it missed; and
//! what a kept message costs the daemon, in memory and in its store's file.

use std::sync::Arc;
use std::time::Duration;

use msgpush_protocol::{defaults, Command, Content, Publish, Reply, Target};
use msgpush_testkit::{Daemon, UnixClient};
use serde_json::json;

use crate::client::Target as SocketIo;
use crate::fleet::{Fleet, Recorder};
use crate::pusher::{self, Pace};
use crate::report::Section;
use crate::scenarios::sources;
use crate::stats::{rss_kib, Spread};
use crate::Options;

/// Tabs, and messages each missed.
const CLIENTS: usize = 10_000;
const MISSED: usize = 10;

/// Kept messages in the memory measurement: per user, and users.
const KEPT_PER_USER: usize = 10;
const KEPT_USERS: usize = 10_000;

/// One run: the tabs' logins, the messages pushed while they are away, the
/// daemon killed and restarted, every tab back at once. Returns the time
/// until the last of them had all its messages (ms), and the daemon's
/// growth meanwhile (MiB).
async fn reconnect_storm(options: &Options) -> (f64, f64) {
    let mut daemon = Daemon::start();
    let mut unix = UnixClient::connect(&daemon.socket);
    // Each tab saw nothing of its stream yet: it presents the empty position.
    let logins: Vec<String> = (0..CLIENTS)
        .map(|i| {
            let token = unix.token(&format!("r{i}"), defaults::TOKEN_TTL_SECS);
            json!({ "token": token, "positions": { "user": { "epoch": "", "position": 0 } } }).to_string()
        })
        .collect();
    drop(unix);
    let total = (CLIENTS * MISSED) as u64;
    let pace =
        Pace { history: true, rate: None, duration: Duration::from_secs(120), in_flight: 256, limit: Some(total) };
    let choose: pusher::Chooser = Arc::new(|seq| Target::Users(vec![format!("r{}", seq % CLIENTS as u64)]));
    pusher::unix(&daemon.socket, choose, pace, Recorder::new()).await;
    // After the store's durable commit (at most a second), a kill.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    daemon.kill();
    daemon.start_again();
    let before = rss_kib(daemon.pid()) as f64;
    let recorder = Recorder::new();
    let start = recorder.now_ns();
    let target = SocketIo { addr: daemon.web, eio: options.eio };
    let fleet = Fleet::start(&target, &logins, CLIENTS, &sources(), recorder.clone());
    let mut receipts = Vec::new();
    for _ in 0..3000 {
        receipts.extend(recorder.take_receipts());
        if receipts.len() as u64 >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(receipts.len() as u64, total, "every tab recovered every message");
    let last = receipts.iter().map(|r| r.received_ns).max().unwrap_or(start);
    let after = rss_kib(daemon.pid()) as f64;
    drop(fleet);
    ((last - start) as f64 / 1e6, (after - before) / 1024.0)
}

/// What [`KEPT_USERS`] × [`KEPT_PER_USER`] kept messages (of 100 bytes of
/// content) add to a fresh daemon: bytes of memory and of store file per
/// message.
fn kept_message_cost() -> (f64, f64) {
    let daemon = Daemon::start();
    let file = daemon.state_dir().join("msgpush.redb");
    let settle = || std::thread::sleep(Duration::from_millis(1500));
    settle();
    let (rss_before, file_before) = (rss_kib(daemon.pid()) as f64, std::fs::metadata(&file).map_or(0, |m| m.len()));
    let mut unix = UnixClient::connect(&daemon.socket);
    for n in 0..KEPT_PER_USER * KEPT_USERS {
        let publish = Publish {
            history: false,
            keep_secs: Some(86_400),
            ..Publish::new(
                Target::Users(vec![format!("away{}", n % KEPT_USERS)]),
                defaults::events::NEW_MSG,
                Content::Text(format!("{n:>100}")),
            )
        };
        assert!(matches!(unix.request(Command::Publish(publish)), Reply::Delivered { kept: 1, .. }));
    }
    settle();
    let messages = (KEPT_PER_USER * KEPT_USERS) as f64;
    let rss = (rss_kib(daemon.pid()) as f64 - rss_before) * 1024.0 / messages;
    let disk = (std::fs::metadata(&file).map_or(0, |m| m.len()) as f64 - file_before as f64) / messages;
    (rss, disk)
}

/// The section.
pub async fn recovery(options: &Options) -> Section {
    let mut times = Vec::new();
    let mut growth = Vec::new();
    for _ in 0..options.runs {
        let (ms, mib) = reconnect_storm(options).await;
        times.push(ms);
        growth.push(mib);
    }
    let (rss, disk) = tokio::task::spawn_blocking(kept_message_cost).await.expect("the kept-message run");
    Section {
        title: "Recovery after a restart, and kept messages".into(),
        intro: format!(
            "{CLIENTS} users each missed {MISSED} messages (pushed while their tabs were away); the daemon is then \
             killed (SIGKILL) and started again, and all {CLIENTS} tabs connect at once, each presenting the \
             position it saw: time until the last tab had all its messages, from its store, and how much the \
             daemon's resident memory grew meanwhile."
        ),
        header: ["tabs", "messages recovered", "all recovered after ms", "memory growth MiB"]
            .map(String::from)
            .to_vec(),
        rows: vec![vec![
            CLIENTS.to_string(),
            (CLIENTS * MISSED).to_string(),
            Spread::of(&times).to_string(),
            Spread::of(&growth).to_string(),
        ]],
        notes: vec![format!(
            "A kept message (`keep()`, 100 bytes of content, {KEPT_PER_USER} for each of {KEPT_USERS} offline \
             users) costs the daemon {rss:.0} bytes of resident memory and {disk:.0} bytes of its store's file."
        )],
    }
}
