//! Pushing as fast as allowed, or at an offered rate, through msgpushd's Unix
//! socket (the extension's path) or the web-msg-sender HTTP API.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use msgpush_protocol::{frame, Command, Content, Publish, Reply, Request, Response, Target};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::Semaphore;

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

/// Picks push `seq`'s target uid.
pub type Chooser = Arc<dyn Fn(u64) -> Option<String> + Send + Sync>;

/// Sleeps until push `seq`'s slot when a rate is offered.
async fn wait_slot(pace: Pace, start: Instant, seq: u64) {
    if let Some(rate) = pace.rate {
        tokio::time::sleep_until((start + Duration::from_secs_f64(seq as f64 / rate)).into()).await;
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
    let (reader, mut writer) = stream.into_split();
    let window = Arc::new(Semaphore::new(pace.in_flight));
    let start = Instant::now();
    let replies = {
        let window = window.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(reader);
            let (mut answered, mut reached) = (0u64, 0u64);
            let mut prefix = [0u8; 4];
            let mut payload = Vec::new();
            while reader.read_exact(&mut prefix).await.is_ok() {
                payload.resize(u32::from_be_bytes(prefix) as usize, 0);
                if reader.read_exact(&mut payload).await.is_err() {
                    break;
                }
                if let Ok(Response { reply: Reply::Delivered { sockets }, .. }) = frame::decode_payload(&payload) {
                    reached += sockets;
                }
                answered += 1;
                window.add_permits(1);
            }
            (answered, reached)
        })
    };
    let mut out = Vec::with_capacity(256);
    let mut seq = 0u64;
    while !pace.done(start, seq) {
        wait_slot(pace, start, seq).await;
        window.acquire().await.expect("open").forget();
        let to = match choose(seq) {
            Some(uid) => Target::Users(vec![uid]),
            None => Target::Everyone,
        };
        let publish = Publish { to, event: "new_msg".into(), content: Content::Text(content(seq, &recorder)) };
        out.clear();
        frame::encode(&Request { id: seq + 1, cmd: Command::Publish(publish) }, &mut out);
        if writer.write_all(&out).await.is_err() {
            break;
        }
        seq += 1;
    }
    // Every permit back means every reply is in.
    let _ = window.acquire_many(pace.in_flight as u32).await;
    let elapsed = start.elapsed();
    drop(writer);
    let (answered, reached) = replies.await.unwrap_or_default();
    Outcome { sent: answered, reached, elapsed }
}

/// Pushes through the HTTP API on `pace.in_flight` keep-alive connections.
pub async fn http(addr: SocketAddr, choose: Chooser, pace: Pace, recorder: Arc<Recorder>) -> Outcome {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..pace.in_flight)
        .map(|_| {
            let (next, choose, recorder) = (next.clone(), choose.clone(), recorder.clone());
            tokio::spawn(async move {
                let mut conn = BufReader::new(TcpStream::connect(addr).await.expect("connect to the HTTP API"));
                let (mut sent, mut reached) = (0u64, 0u64);
                loop {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    wait_slot(pace, start, seq).await;
                    if pace.done(start, seq) {
                        break;
                    }
                    let to = choose(seq).unwrap_or_default();
                    let body = format!("type=publish&to={to}&content={}", content(seq, &recorder).replace(' ', "+"));
                    let request = format!(
                        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    conn.get_mut().write_all(request.as_bytes()).await.expect("send");
                    let reply = read_response(&mut conn).await;
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

/// Reads one HTTP/1.1 response with a Content-Length; returns its body.
async fn read_response(conn: &mut BufReader<TcpStream>) -> String {
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        conn.read_line(&mut line).await.expect("response");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).await.expect("body");
    String::from_utf8_lossy(&body).into_owned()
}
