//! How much history, how many kept messages and receipts a store holds:
//! settings a reload changes while the daemon runs.

use std::sync::Mutex;
use std::time::Duration;

use crate::settings::flags::Config;

/// The bounds, as the settings give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Messages kept per stream (`--history-size`); 0 keeps no history.
    pub history_size: u64,
    /// How long a message is kept in history (`--history-ttl-secs`).
    pub history_ttl: Duration,
    /// Bytes of history kept in all (`--history-max-bytes`).
    pub history_max_bytes: u64,
    /// Messages kept per user's inbox (`--inbox-size`).
    pub inbox_size: u64,
    /// Bytes of kept messages in all (`--inbox-max-bytes`).
    pub inbox_max_bytes: u64,
    /// How long a message's receipts are kept (`--receipt-ttl-secs`).
    pub receipt_ttl: Duration,
    /// Users' receipts kept per message (`--max-receipts-per-message`).
    pub receipts_per_message: u64,
}

impl Limits {
    /// The bounds `config` sets.
    pub fn of(config: &Config) -> Limits {
        Limits {
            history_size: config.history_size,
            history_ttl: Duration::from_secs(config.history_ttl_secs),
            history_max_bytes: config.history_max_bytes,
            inbox_size: config.inbox_size,
            inbox_max_bytes: config.inbox_max_bytes,
            receipt_ttl: Duration::from_secs(config.receipt_ttl_secs),
            receipts_per_message: config.max_receipts_per_message,
        }
    }
}

/// The current bounds, shared by the store and the reloader.
#[derive(Debug)]
pub struct Retention(Mutex<Limits>);

impl Retention {
    /// Bounds `limits` until [`Retention::set`] changes them.
    pub fn new(limits: Limits) -> Retention {
        Retention(Mutex::new(limits))
    }

    /// The bounds now.
    pub fn get(&self) -> Limits {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// New bounds, from a reload; the stores trim to them as they go.
    pub fn set(&self, limits: Limits) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = limits;
    }
}
