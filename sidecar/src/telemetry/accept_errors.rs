//! Accept failures (out of descriptors, mostly) and connections turned away:
//! one log line per interval saying how many there were, instead of a line
//! per attempt, and after a failed accept a short pause so the loop does not spin.

use std::io;
use std::time::{Duration, Instant};

/// Pause after a failed accept.
const PAUSE: Duration = Duration::from_millis(50);

/// Shortest time between two log lines about one listener's failures.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// One listener's accept failures since its last log line.
#[derive(Debug)]
pub struct AcceptErrors {
    listener: &'static str,
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl AcceptErrors {
    /// For the listener named `listener` in the log.
    pub fn new(listener: &'static str) -> AcceptErrors {
        AcceptErrors { listener, unlogged: 0, logged_at: None }
    }

    /// Counts a failed accept, logs if the interval has passed, and pauses.
    pub async fn failed(&mut self, error: io::Error) {
        self.note(&error);
        tokio::time::sleep(PAUSE).await;
    }

    /// Counts a connection turned away, and logs if the interval has passed.
    pub fn note(&mut self, cause: &dyn std::fmt::Display) {
        self.unlogged += 1;
        if self.logged_at.is_none_or(|at| at.elapsed() >= LOG_INTERVAL) {
            tracing::warn!(listener = self.listener, failures = self.unlogged, %cause, "accepting connections fails");
            self.unlogged = 0;
            self.logged_at = Some(Instant::now());
        }
    }
}
