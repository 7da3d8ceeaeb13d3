//! `push()`'s request/reply exchange over this process's persistent
//! connection: opened lazily (never at module startup, since php-fpm forks
//! its workers after that), reused across requests, replaced after a fork or
//! when the daemon has restarted.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use msgpush_protocol::frame::{self, FrameError};
use msgpush_protocol::{Command, ErrorCode, Reply, Request};

use crate::connection::Connection;
use crate::error::PushError;
use crate::settings::Settings;

/// Request ids of this process, shared by `push()` and the queue.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// This process's connection for `push()`.
static CONNECTION: Mutex<Option<Connection>> = Mutex::new(None);

/// A request encoded as a frame, ready to send.
#[derive(Debug)]
pub struct EncodedRequest {
    /// The id the reply will carry.
    pub id: u64,
    /// The frame bytes.
    pub frame: Vec<u8>,
}

/// Encodes `cmd` with a fresh id, refusing frames over `max_bytes`.
pub fn encode(cmd: Command, max_bytes: usize) -> Result<EncodedRequest, PushError> {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut frame = Vec::with_capacity(128);
    frame::encode(&Request { id, cmd }, &mut frame);
    let size = frame.len() - frame::LENGTH_LEN;
    if size > max_bytes {
        return Err(PushError::Invalid(format!(
            "the message is {size} bytes encoded, more than msgpush.max_message_bytes ({max_bytes})"
        )));
    }
    Ok(EncodedRequest { id, frame })
}

/// Sends `cmd` over this process's connection and returns the daemon's
/// answer; an error answer, saying `what` was refused, is
/// [`PushError::Invalid`] when the input broke one of the daemon's rules (a
/// bound that is a setting of its own), [`PushError::Busy`] when the daemon
/// is at a bound of its own, else [`PushError::Refused`].
pub fn call(cmd: Command, what: &str) -> Result<Reply, PushError> {
    call_waiting(cmd, what, Duration::ZERO)
}

/// [`call`] for a request the daemon answers only after `waited` (a push
/// waiting for acknowledgements): its deadline is `msgpush.timeout_ms`
/// plus `waited`.
pub fn call_waiting(cmd: Command, what: &str, waited: Duration) -> Result<Reply, PushError> {
    let settings = Settings::current()?;
    let request = encode(cmd, settings.max_message_bytes)?;
    match exchange(&request, &settings, waited)? {
        Reply::Error { code: ErrorCode::InvalidInput, message } => {
            Err(PushError::Invalid(format!("msgpushd refused {what}: {message}")))
        }
        Reply::Error { code: ErrorCode::Busy, message } => {
            Err(PushError::Busy(format!("msgpushd refused {what}: {message}")))
        }
        Reply::Error { message, .. } => Err(PushError::Refused(format!("msgpushd refused {what}: {message}"))),
        reply => Ok(reply),
    }
}

/// A count from the daemon, as a PHP int.
pub fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The error for an answer of the wrong kind.
pub fn unexpected(reply: Reply) -> PushError {
    PushError::ConnectionLost(format!("unexpected reply from msgpushd: {reply:?}"))
}

/// Sends `request` and waits for its reply, all within `settings.timeout`
/// (and `waited` more, for a reply the daemon gives only after waiting). A
/// reused connection that fails on send is replaced once and the send
/// retried: nothing was delivered through it.
fn exchange(request: &EncodedRequest, settings: &Settings, waited: Duration) -> Result<Reply, PushError> {
    let deadline = Instant::now() + settings.timeout + waited;
    let mut slot = lock();
    let reused = slot.as_ref().is_some_and(|c| c.is_usable_for(&settings.socket));
    if !reused {
        *slot = Some(Connection::open(&settings.socket, deadline)?);
    }
    let mut sent = slot.as_ref().expect("connected above").send(&request.frame, deadline);
    if reused && sent.as_ref().is_err_and(|e| e.kind() != io::ErrorKind::TimedOut) {
        *slot = Some(Connection::open(&settings.socket, deadline)?);
        sent = slot.as_ref().expect("connected above").send(&request.frame, deadline);
    }
    let conn = slot.as_mut().expect("connected above");
    let outcome = sent
        .map_err(FrameError::Io)
        .and_then(|()| conn.receive(deadline))
        .map_err(|e| failure(e, conn, settings, waited));
    let response = match outcome {
        Ok(response) => response,
        Err(e) => {
            // After a timeout a late reply may still arrive: never reuse this one.
            *slot = None;
            return Err(e);
        }
    };
    if response.id != request.id {
        *slot = None;
        return Err(PushError::ConnectionLost(format!(
            "msgpushd answered request {} while request {} was expected",
            response.id, request.id
        )));
    }
    Ok(response.reply)
}

fn failure(e: FrameError, conn: &Connection, settings: &Settings, waited: Duration) -> PushError {
    match e {
        FrameError::Io(e) if e.kind() == io::ErrorKind::TimedOut => {
            PushError::timeout(conn.path(), settings.timeout, waited)
        }
        FrameError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => PushError::ConnectionLost(format!(
            "msgpushd at {} closed the connection before answering",
            conn.path().display()
        )),
        FrameError::Io(e) => {
            PushError::ConnectionLost(format!("connection to msgpushd at {} failed: {e}", conn.path().display()))
        }
        other => PushError::ConnectionLost(format!(
            "unreadable reply from msgpushd (is it newer than this extension, {}?): {other}",
            env!("CARGO_PKG_VERSION")
        )),
    }
}

/// A line for `php --ri msgpush`: the daemon's version, from a ping over
/// this process's connection, or why it could not be asked.
pub fn daemon_version() -> String {
    match call(Command::Ping, "a ping") {
        Ok(Reply::Pong { version }) => match Settings::current() {
            Ok(settings) => format!("{version} at {}", settings.socket.display()),
            Err(_) => version,
        },
        Ok(other) => unexpected(other).to_string(),
        Err(e) => format!("not reachable: {e}"),
    }
}

/// A line for `php --ri msgpush`: whether this process holds a connection.
pub fn describe() -> String {
    match lock().as_ref() {
        Some(c) if c.is_usable_for(c.path()) => format!("connected to {}", c.path().display()),
        _ => "not connected".to_owned(),
    }
}

fn lock() -> MutexGuard<'static, Option<Connection>> {
    // A panic caught mid-exchange leaves the connection in an unknown state:
    // drop it and start clean.
    CONNECTION.lock().unwrap_or_else(|poisoned| {
        CONNECTION.clear_poison();
        let mut slot = poisoned.into_inner();
        *slot = None;
        slot
    })
}
