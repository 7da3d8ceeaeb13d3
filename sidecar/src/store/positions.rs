//! History's layout: one log of every message kept, keyed by its global
//! order, so that a push appends at one end and the age and byte bounds drop
//! from the other (a few pages written per transaction, instead of a page
//! per stream touched); and, in memory, each stream's epoch, last position
//! and the orders of the messages it still keeps, rebuilt from the log when
//! the store opens. A stream's oldest beyond `--history-size` leaves its
//! line at once and the log when it is the oldest there.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use msgpush_protocol::Position;
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::Deserialize;

/// Every message kept in history: its order → (time ms, entry JSON).
pub(super) const LOG: TableDefinition<u64, (u64, &[u8])> = TableDefinition::new("history_log");
/// Streams whose messages all left the log (by age or bytes), remembered
/// for a day so that their next message keeps the epoch and counts on:
/// key → (epoch, last position, time of the last message ms).
pub(super) const QUIET: TableDefinition<&str, (u64, u64, u64)> = TableDefinition::new("history_quiet");

/// Where one stream stands.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Line {
    pub epoch: u64,
    /// The last position given.
    pub last: u64,
    /// When its last message was kept (ms).
    pub time_ms: u64,
    /// The log orders of its messages still kept, oldest first: positions
    /// `first()..=last`.
    pub kept: VecDeque<u64>,
}

impl Line {
    /// A stream with no message kept.
    pub fn quiet(epoch: u64, last: u64, time_ms: u64) -> Line {
        Line { epoch, last, time_ms, kept: VecDeque::new() }
    }

    /// The first position kept (`last + 1` when none is).
    pub fn first(&self) -> u64 {
        self.last + 1 - self.kept.len() as u64
    }

    /// The log order of `position`, if kept.
    pub fn order_of(&self, position: u64) -> Option<u64> {
        let at = position.checked_sub(self.first())?;
        self.kept.get(usize::try_from(at).ok()?).copied()
    }
}

/// The lines of the streams that keep messages. Only the fanout task
/// changes them, after its transaction committed; readers see what is
/// committed.
#[derive(Debug, Default)]
pub(super) struct Lines(Mutex<HashMap<String, Line>>);

impl Lines {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Line>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What `read` makes of `key`'s line, if the stream keeps messages.
    pub fn with<T>(&self, key: &str, read: impl FnOnce(&Line) -> T) -> Option<T> {
        self.lock().get(key).map(read)
    }

    /// A copy of `key`'s line, for a transaction to change.
    pub fn copy(&self, key: &str) -> Option<Line> {
        self.with(key, Line::clone)
    }

    /// Applies a committed transaction's lines: those that keep nothing
    /// now leave memory (the log's sweep wrote them to [`QUIET`]).
    pub fn apply(&self, changed: HashMap<String, Line>) {
        let mut lines = self.lock();
        for (key, line) in changed {
            if line.kept.is_empty() {
                lines.remove(&key);
            } else {
                lines.insert(key, line);
            }
        }
    }

    /// Streams that keep messages (in memory: bounded by the log's messages).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Rebuilds the lines from the log in `txn`, each trimmed to `size`;
    /// returns the messages they keep and the log's bytes.
    pub fn rebuild(&self, txn: &WriteTransaction, size: u64) -> Result<(u64, u64), redb::Error> {
        let mut lines: HashMap<String, Line> = HashMap::new();
        let mut bytes = 0;
        for row in txn.open_table(LOG)?.iter()? {
            let (order, value) = row?;
            let (time_ms, json) = value.value();
            bytes += json.len() as u64;
            for (key, position) in placements(json) {
                let epoch = u64::from_str_radix(&position.epoch, 16).unwrap_or_default();
                let line = lines.entry(key).or_insert_with(|| Line::quiet(epoch, 0, time_ms));
                if line.epoch != epoch {
                    *line = Line::quiet(epoch, 0, time_ms);
                }
                line.kept.push_back(order.value());
                (line.last, line.time_ms) = (position.position, time_ms);
                while line.kept.len() as u64 > size {
                    line.kept.pop_front();
                }
            }
        }
        lines.retain(|_, line| !line.kept.is_empty());
        let messages = lines.values().map(|line| line.kept.len() as u64).sum();
        *self.lock() = lines;
        Ok((messages, bytes))
    }
}

/// The streams and positions of a log's entry (JSON), without its content.
pub(super) fn placements(json: &[u8]) -> Vec<(String, Position)> {
    #[derive(Deserialize)]
    struct Placed {
        placements: Vec<(String, Position)>,
    }
    serde_json::from_slice::<Placed>(json).map(|placed| placed.placements).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_finds_each_kept_position_in_the_log() {
        let mut line = Line::quiet(7, 4, 0);
        assert_eq!((line.first(), line.order_of(4)), (5, None), "nothing kept");
        line.kept.extend([100, 130, 170]);
        line.last = 7;
        assert_eq!(line.first(), 5);
        assert_eq!([4, 5, 6, 7, 8].map(|p| line.order_of(p)), [None, Some(100), Some(130), Some(170), None]);
    }
}
