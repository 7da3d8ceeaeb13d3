//! Pushing as fast as allowed, or at an offered rate, through msgpushd's Unix
//! socket (the extension's path) or the web-msg-sender HTTP API.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use msgpush_protocol::codec::ClientCodec;
use msgpush_protocol::defaults::events;
use msgpush_protocol::{Command, Content, Publish, Reply, Request, Response, Target};
use msgpush_testkit::HttpConnection;
use tokio::net::UnixStream;
use tokio::sync::Semaphore;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::fleet::Recorder;

/// How pushes are paced.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Pushes per second offered, or None for as fast as replies allow.
    pub rate: Option<f64>,
    /// How long to push.
    pub duration: Duration,
    /// Pushes in flight at most (Unix: pipelined frames; HTTP: connections).
    pub in_flight: usize,
    /// Stop after this many pushes, if set.
    pub limit: Option<u64>,
    /// Whether the pushes are kept in history (msgpushd's default), for
    /// tabs that reconnect.
    pub history: bool,
}

impl Pace {
    fn done(&self, start: Instant, seq: u64) -> bool {
        start.elapsed() >= self.duration || self.limit.is_some_and(|limit| seq >= limit)
    }
}

/// What a push run did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    /// Pushes sent and answered.
    pub sent: u64,
    /// Sockets the server said they reached.
    pub reached: u64,
    /// From the first send to the last answer.
    pub elapsed: Duration,
}

/// Picks push `seq`'s target.
pub type Chooser = Arc<dyn Fn(u64) -> Target + Send + Sync>;

/// Every push to everyone.
pub fn everyone() -> Chooser {
    Arc::new(|_| Target::Everyone)
}

impl Pace {
    /// When push `seq` is due, if a rate is offered.
    fn slot(&self, start: Instant, seq: u64) -> Option<Instant> {
        self.rate.map(|rate| start + Duration::from_secs_f64(seq as f64 / rate))
    }
}

/// Sleeps until push `seq`'s slot when a rate is offered.
async fn wait_slot(pace: Pace, start: Instant, seq: u64) {
    if let Some(slot) = pace.slot(start, seq) {
        tokio::time::sleep_until(slot.into()).await;
    }
}

/// The content every push carries: its number and send time, read back by
/// the receiving client to measure latency.
fn content(seq: u64, recorder: &Recorder) -> String {
    format!("{seq} {}", recorder.now_ns())
}

/// Pushes through the Unix socket, pipelining up to `pace.in_flight` frames.
pub async fn unix(socket: &Path, choose: Chooser, pace: Pace, recorder: Arc<Recorder>) -> Outcome {
    let stream = UnixStream::connect(socket).await.expect("connect to the daemon's socket");
    let (reader, writer) = stream.into_split();
    let mut writer = FramedWrite::new(writer, ClientCodec::default());
    let window = Arc::new(Semaphore::new(pace.in_flight));
    let start = Instant::now();
    let replies = {
        let window = window.clone();
        tokio::spawn(async move {
            let mut reader = FramedRead::new(reader, ClientCodec::default());
            let (mut answered, mut reached) = (0u64, 0u64);
            while let Some(Ok(response)) = reader.next().await {
                if let Response { reply: Reply::Delivered { sockets, .. }, .. } = response {
                    reached += sockets;
                }
                answered += 1;
                window.add_permits(1);
            }
            (answered, reached)
        })
    };
    let mut seq = 0u64;
    while !pace.done(start, seq) {
        wait_slot(pace, start, seq).await;
        if let Ok(permit) = window.try_acquire() {
            permit.forget();
        } else {
            // The window is full: what was queued goes out before waiting.
            if writer.flush().await.is_err() {
                break;
            }
            window.acquire().await.expect("open").forget();
        }
        let publish = Publish {
            history: pace.history,
            ..Publish::new(choose(seq), events::NEW_MSG, Content::Text(content(seq, &recorder)))
        };
        let request = Request { id: seq + 1, cmd: Command::Publish(publish) };
        // At an offered rate each push is sent at its slot, so that the
        // receipt's clock starts with the push. Saturated, pushes are queued
        // while the window allows and written together (as the extension's
        // `queue()` and `flush()` do): a write per push would spend the
        // generator's share of the cores on system calls. Their clocks then
        // start before the write: latency is counted high, never low.
        let written = match pace.rate {
            Some(_) => writer.send(request).await,
            None => writer.feed(request).await,
        };
        if written.is_err() {
            break;
        }
        seq += 1;
    }
    let _ = writer.flush().await;
    // Every permit back means every reply is in.
    let _ = window.acquire_many(pace.in_flight as u32).await;
    let elapsed = start.elapsed();
    drop(writer);
    let (answered, reached) = replies.await.unwrap_or_default();
    Outcome { sent: answered, reached, elapsed }
}

/// Pushes through the HTTP API on `pace.in_flight` keep-alive connections,
/// each driven by a blocking thread.
pub async fn http(addr: SocketAddr, choose: Chooser, pace: Pace, recorder: Arc<Recorder>) -> Outcome {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..pace.in_flight)
        .map(|_| {
            let (next, choose, recorder) = (next.clone(), choose.clone(), recorder.clone());
            tokio::task::spawn_blocking(move || {
                let mut conn = HttpConnection::open(addr);
                let (mut sent, mut reached) = (0u64, 0u64);
                loop {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    if let Some(slot) = pace.slot(start, seq) {
                        std::thread::sleep(slot.saturating_duration_since(Instant::now()));
                    }
                    if pace.done(start, seq) {
                        break;
                    }
                    let to = match choose(seq) {
                        Target::Everyone => String::new(),
                        Target::Users(uids) if uids.len() == 1 => uids[0].clone(),
                        other => panic!("web-msg-sender's HTTP API pushes to one uid or everyone, not {other:?}"),
                    };
                    let body = format!("type=publish&to={to}&content={}", content(seq, &recorder).replace(' ', "+"));
                    let (_, reply) = conn.post("/", "application/x-www-form-urlencoded", body.as_bytes());
                    sent += 1;
                    reached += u64::from(reply == "ok");
                }
                (sent, reached)
            })
        })
        .collect();
    let mut outcome = Outcome::default();
    for worker in workers {
        let (sent, reached) = worker.await.unwrap_or_default();
        outcome.sent += sent;
        outcome.reached += reached;
    }
    outcome.elapsed = start.elapsed();
    outcome
}
