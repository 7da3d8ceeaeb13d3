//! How many messages a browser may send. web-msg-sender pages send a `login`
//! and little else, so a socket that sends many is misbehaving: beyond the
//! rate its messages are dropped, and beyond a multiple of it the socket is
//! disconnected, so that it cannot keep the daemon busy for others.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Messages over the rate, as a multiple of it, that get a socket disconnected.
const DISCONNECT_FACTOR: u32 = 5;

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the rate: handle it.
    Allow,
    /// Over the rate: drop it.
    Drop,
    /// Far over the rate: disconnect the socket.
    Disconnect,
}

/// One socket's count of messages in the current second.
#[derive(Debug)]
pub struct MessageRate {
    per_sec: u32,
    window: Mutex<(Instant, u32)>,
}

impl MessageRate {
    /// A socket allowed `per_sec` messages a second.
    pub fn new(per_sec: u32) -> MessageRate {
        MessageRate { per_sec, window: Mutex::new((Instant::now(), 0)) }
    }

    /// Counts one message and says what to do with it.
    pub fn check(&self) -> Verdict {
        let mut window = self.lock();
        if window.0.elapsed() >= Duration::from_secs(1) {
            *window = (Instant::now(), 0);
        }
        window.1 = window.1.saturating_add(1);
        match window.1 {
            n if n <= self.per_sec => Verdict::Allow,
            n if n <= self.per_sec.saturating_mul(DISCONNECT_FACTOR) => Verdict::Drop,
            _ => Verdict::Disconnect,
        }
    }

    fn lock(&self) -> MutexGuard<'_, (Instant, u32)> {
        self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_rate_messages_are_dropped_then_the_socket_disconnected() {
        let rate = MessageRate::new(2);
        let verdicts: Vec<Verdict> = (0..12).map(|_| rate.check()).collect();
        assert_eq!(&verdicts[..2], [Verdict::Allow; 2]);
        assert_eq!(&verdicts[2..10], [Verdict::Drop; 8]);
        assert_eq!(&verdicts[10..], [Verdict::Disconnect; 2]);
    }
}
