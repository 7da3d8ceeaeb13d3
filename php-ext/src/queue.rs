//! The fire-and-forget mode: `queue()` hands an encoded frame to a bounded
//! channel and returns at once; one writer thread per process pipelines the
//! frames to msgpushd over its own connection and reads the replies.
//!
//! - Queue full: `queue()` waits up to `msgpush.queue_wait_ms` for room (by
//!   default 5 s under the CLI, never under a web server), then returns false
//!   and the message is counted as dropped. A wait that ran out is not tried
//!   again until the writer has made progress, so a loop against a daemon
//!   that is down is not slowed by every call.
//! - Daemon down: the writer keeps the messages and retries (backing off up to
//!   a second) until it is back; meanwhile the queue fills up.
//! - Connection lost mid-batch: the unanswered frames are sent again; each
//!   carries its message id, so msgpushd delivers it once (within its window).
//! - End of request and of process: wait up to `msgpush.flush_timeout_ms` for
//!   every queued message to be answered; what is left stays queued (the
//!   process goes on to the next request) or, at process exit, is lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use msgpush_protocol::Reply;

use crate::connection::Connection;
use crate::error::PushError;
use crate::process::{self, Generation};
use crate::settings::{self, Settings};

/// Most frames written in one batch.
const MAX_BATCH: usize = 512;

/// Longest pause between reconnection attempts while the daemon is down.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// This process's queue, created on the first `queue()`.
static QUEUE: Mutex<Option<Queue>> = Mutex::new(None);

#[derive(Debug)]
struct Queue {
    sender: Sender<Vec<u8>>,
    progress: Arc<Progress>,
    /// Messages queued and not yet answered, at most: those in the channel
    /// plus the batch the writer holds.
    capacity: u64,
    /// The writer thread exists only in the process that created it.
    created_in: Generation,
    /// The messages answered when a wait for room last ran out: no further
    /// wait until more are.
    stalled_at: Option<u64>,
}

/// What the writer has done, shared with the PHP thread.
#[derive(Debug, Default)]
struct Progress {
    queued: AtomicU64,
    answered: Mutex<u64>,
    answered_changed: Condvar,
    failed: AtomicU64,
    dropped: AtomicU64,
    waited: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// Figures for `php --ri msgpush`.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Messages accepted by `queue()`.
    pub queued: u64,
    /// Messages the daemon answered (delivered or refused).
    pub answered: u64,
    /// Messages the daemon refused.
    pub failed: u64,
    /// Messages refused by `queue()` because the queue was full.
    pub dropped: u64,
    /// Calls of `queue()` that waited for room.
    pub waited: u64,
    /// The last failure the writer saw.
    pub last_error: Option<String>,
}

impl Progress {
    fn answered(&self) -> MutexGuard<'_, u64> {
        self.answered.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record_error(&self, message: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
    }
}

/// Queues an encoded frame, waiting up to `msgpush.queue_wait_ms` for room.
/// Returns false if the queue stayed full. The settings are read only to
/// start the writer and to wait: not on every call of a bulk job.
pub fn enqueue(frame: Vec<u8>) -> Result<bool, PushError> {
    let mut slot = lock();
    let generation = process::current();
    if slot.as_ref().is_some_and(|q| q.created_in != generation) {
        // Forked: the parent's writer thread does not exist here, and its
        // channel may be mid-operation; leave it untouched.
        std::mem::forget(slot.take());
    }
    if slot.is_none() {
        // A bad wait is reported by the first call, not when the queue fills.
        settings::queue_wait()?;
        *slot = Some(start(&Settings::current()?)?);
    }
    let queue = slot.as_mut().expect("started above");
    let (room, stalled_at) = queue.room(settings::queue_wait)?;
    queue.stalled_at = stalled_at;
    let progress = &queue.progress;
    if room && queue.sender.try_send(frame).is_ok() {
        progress.queued.fetch_add(1, Ordering::Relaxed);
        return Ok(true);
    }
    progress.dropped.fetch_add(1, Ordering::Relaxed);
    Ok(false)
}

impl Queue {
    /// Whether there is room for one more message, after waiting up to
    /// `wait()` for the writer to make some; and where a wait that ran out
    /// left the writer.
    fn room(&self, wait: impl FnOnce() -> Result<Duration, PushError>) -> Result<(bool, Option<u64>), PushError> {
        let progress = &self.progress;
        let queued = progress.queued.load(Ordering::Relaxed);
        let full = |answered: u64| queued - answered >= self.capacity;
        let mut answered = progress.answered();
        if !full(*answered) {
            return Ok((true, None));
        }
        if self.stalled_at == Some(*answered) {
            return Ok((false, self.stalled_at));
        }
        let wait = wait()?;
        if wait.is_zero() {
            return Ok((false, self.stalled_at));
        }
        progress.waited.fetch_add(1, Ordering::Relaxed);
        let deadline = Instant::now() + wait;
        while full(*answered) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok((false, Some(*answered)));
            }
            answered = progress.answered_changed.wait_timeout(answered, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        Ok((true, None))
    }
}

/// Waits up to `timeout` until every message queued so far is answered.
/// Returns true if they all were (or nothing was queued).
pub fn flush(timeout: Duration) -> bool {
    let Some(progress) = current_progress() else {
        return true;
    };
    let target = progress.queued.load(Ordering::Relaxed);
    let deadline = Instant::now() + timeout;
    let mut answered = progress.answered();
    while *answered < target {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        answered = progress.answered_changed.wait_timeout(answered, left).unwrap_or_else(|p| p.into_inner()).0;
    }
    true
}

/// Whether this process has queued messages not yet answered.
pub fn has_pending() -> bool {
    current_progress().is_some_and(|p| *p.answered() < p.queued.load(Ordering::Relaxed))
}

/// This process's figures, if it ever queued.
pub fn stats() -> Option<Stats> {
    let p = current_progress()?;
    let answered = *p.answered();
    let last_error = p.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Some(Stats {
        queued: p.queued.load(Ordering::Relaxed),
        answered,
        failed: p.failed.load(Ordering::Relaxed),
        dropped: p.dropped.load(Ordering::Relaxed),
        waited: p.waited.load(Ordering::Relaxed),
        last_error,
    })
}

fn current_progress() -> Option<Arc<Progress>> {
    let slot = lock();
    let queue = slot.as_ref().filter(|q| q.created_in == process::current())?;
    Some(queue.progress.clone())
}

fn lock() -> MutexGuard<'static, Option<Queue>> {
    QUEUE.lock().unwrap_or_else(|p| p.into_inner())
}

fn start(settings: &Settings) -> Result<Queue, PushError> {
    let (sender, receiver) = crossbeam_channel::bounded(settings.queue_size);
    let progress = Arc::new(Progress::default());
    let writer = Writer { receiver, progress: progress.clone(), settings: settings.clone(), conn: None };
    std::thread::Builder::new()
        .name("msgpush-writer".into())
        .spawn(move || writer.run())
        .map_err(|e| PushError::Internal(format!("cannot start the msgpush writer thread: {e}")))?;
    Ok(Queue {
        sender,
        progress,
        capacity: settings.queue_size as u64,
        created_in: process::current(),
        stalled_at: None,
    })
}

/// The writer thread's state.
struct Writer {
    receiver: Receiver<Vec<u8>>,
    progress: Arc<Progress>,
    settings: Settings,
    conn: Option<Connection>,
}

impl Writer {
    fn run(mut self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Ok(first) = self.receiver.recv() {
            batch.push(first);
            batch.extend(self.receiver.try_iter().take(MAX_BATCH - 1));
            self.deliver(&batch);
            *self.progress.answered() += batch.len() as u64;
            self.progress.answered_changed.notify_all();
            batch.clear();
        }
    }

    /// Sends `batch` and reads one reply per frame, reconnecting and resending
    /// the unanswered rest until every frame is answered.
    fn deliver(&mut self, batch: &[Vec<u8>]) {
        let mut answered = 0;
        let mut backoff = Duration::from_millis(50);
        while answered < batch.len() {
            match self.try_deliver(&batch[answered..]) {
                Ok(()) => return,
                Err((done, e)) => {
                    answered += done;
                    self.progress.record_error(e.to_string());
                    self.conn = None;
                    if done == 0 {
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        }
    }

    /// One attempt; on failure, how many frames were answered before it.
    fn try_deliver(&mut self, frames: &[Vec<u8>]) -> Result<(), (usize, PushError)> {
        let deadline = Instant::now() + self.settings.timeout;
        let path = &self.settings.socket;
        if !self.conn.as_ref().is_some_and(|c| c.is_usable_for(path)) {
            self.conn = Some(Connection::open(path, deadline).map_err(|e| (0, e))?);
        }
        let conn = self.conn.as_mut().expect("connected above");
        let lost = |e: &dyn std::fmt::Display| PushError::ConnectionLost(format!("msgpushd queue writer: {e}"));
        conn.send(&frames.concat(), deadline).map_err(|e| (0, lost(&e)))?;
        for done in 0..frames.len() {
            let response = conn.receive(deadline).map_err(|e| (done, lost(&e)))?;
            if let Reply::Error { message, .. } = response.reply {
                self.progress.failed.fetch_add(1, Ordering::Relaxed);
                self.progress.record_error(format!("msgpushd refused a queued message: {message}"));
            }
        }
        Ok(())
    }
}
