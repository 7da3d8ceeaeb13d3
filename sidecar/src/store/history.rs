//! History in the embedded store: each stream's messages by position, the
//! oldest dropped first when a stream holds `--history-size`, when a message
//! is older than `--history-ttl-secs`, or when the log passes
//! `--history-max-bytes`. A stream emptied by age or bytes keeps its epoch
//! and last position until it has been idle a day, so that a tab away from
//! a quiet stream is told its recovery is complete. The layout (one log in
//! the order of publication, each stream's line in memory) is in
//! [`crate::store::positions`].

use std::collections::hash_map::Entry as Slot;
use std::collections::HashMap;

use msgpush_protocol::Position;
use redb::{ReadableTable, Table, WriteTransaction};

use crate::store::embedded::{Batch, Counts, Store, StoreError};
use crate::store::entry::{epoch_text, new_epoch, Entry, Stream};
use crate::store::positions::{placements, Line, Lines, LOG, QUIET};
use crate::telemetry::metrics::{HistoryDrop, METRICS};

/// How long an empty stream is remembered after its last message (ms).
const FORGET_EMPTY_AFTER_MS: u64 = 24 * 3600 * 1000;

/// Streams looked at per sweep for empty ones to forget.
const SWEEP_STREAMS: usize = 1000;

/// Messages dropped per sweep for age.
const SWEEP_MESSAGES: usize = 10_000;

/// What a tab missed in one stream.
#[derive(Debug, Default, PartialEq)]
pub struct Missed {
    /// The messages after the position presented, oldest first.
    pub entries: Vec<Entry>,
    /// False when some were not kept (dropped by the retention, or the
    /// stream's history was lost: another epoch).
    pub complete: bool,
}

impl Batch<'_> {
    /// Keeps `entry` in each of `streams` (its placements are set here);
    /// returns its position in each. Nothing is kept while the history size
    /// is 0.
    pub fn append(&mut self, streams: &[Stream], mut entry: Entry) -> Result<Vec<(String, Position)>, StoreError> {
        let limits = self.store.retention.get();
        if limits.history_size == 0 || streams.is_empty() {
            return Ok(vec![]);
        }
        let mut placed = Vec::with_capacity(streams.len());
        for stream in streams {
            let key = stream.key();
            let line = self.line(&key)?;
            let position = pos(line.epoch, line.last + 1);
            placed.push((key, position));
        }
        entry.placements = placed.clone();
        // Microseconds, but never less than one more than the last: the
        // order stays after a restart, whatever the clock's resolution.
        entry.order = (self.counts.last_order + 1).max(entry.time_ms.saturating_mul(1000));
        self.counts.last_order = entry.order;
        let bytes = serde_json::to_vec(&entry).unwrap_or_default();
        let mut sweep = Sweep::of(self)?;
        sweep.log.insert(entry.order, (entry.time_ms, bytes.as_slice()))?;
        sweep.counts.history_bytes += bytes.len() as u64;
        for (key, position) in &placed {
            let line = sweep.lines.get_mut(key).expect("placed above");
            line.kept.push_back(entry.order);
            (line.last, line.time_ms) = (position.position, entry.time_ms);
            sweep.counts.history_messages += 1;
            // The oldest beyond the stream's size leave its line now, and
            // the log when they are the oldest there.
            while line.kept.len() as u64 > limits.history_size {
                line.kept.pop_front();
                sweep.counts.history_messages -= 1;
                METRICS.history_dropped(HistoryDrop::Size);
            }
        }
        while sweep.counts.history_bytes > limits.history_max_bytes && sweep.drop_oldest(HistoryDrop::Bytes)? {}
        Ok(placed)
    }

    /// Drops the messages older than the retention's age, and forgets some
    /// streams empty for a day (a sweep, once a second, starting after the
    /// stream `cursor`; returns where the next sweep starts).
    pub fn expire(&mut self, now_ms: u64, cursor: Option<String>) -> Result<Option<String>, StoreError> {
        let ttl_ms = self.store.retention.get().history_ttl.as_millis().try_into().unwrap_or(u64::MAX);
        let before = now_ms.saturating_sub(ttl_ms);
        {
            let mut sweep = Sweep::of(self)?;
            for _ in 0..SWEEP_MESSAGES {
                let old = match sweep.log.first()? {
                    Some((_, value)) => value.value().0 < before,
                    None => false,
                };
                if !old || !sweep.drop_oldest(HistoryDrop::Age)? {
                    break;
                }
            }
        }
        let mut quiet = self.txn.open_table(QUIET)?;
        let (mut forget, mut visited, mut last_key) = (Vec::new(), 0, String::new());
        for item in quiet.range::<&str>(cursor.as_deref().unwrap_or("")..)?.take(SWEEP_STREAMS) {
            let (key, meta) = item?;
            let (_, _, time) = meta.value();
            last_key = key.value().to_owned();
            if time < now_ms.saturating_sub(FORGET_EMPTY_AFTER_MS) {
                forget.push(last_key.clone());
            }
            visited += 1;
        }
        // A stream that keeps messages again has its line: its row is of no use.
        for key in &forget {
            quiet.remove(key.as_str())?;
        }
        // The next sweep starts just after the last stream seen, or, past
        // the last one, from the beginning.
        Ok((visited == SWEEP_STREAMS).then(|| format!("{last_key}\0")))
    }

    /// `key`'s line as this transaction sees it: a stream new to history
    /// gets a new epoch, one that went quiet keeps its own.
    fn line(&mut self, key: &str) -> Result<&mut Line, StoreError> {
        let line = match self.lines.entry(key.to_owned()) {
            Slot::Occupied(line) => line.into_mut(),
            Slot::Vacant(slot) => {
                let line = match self.store.lines.copy(key) {
                    Some(line) => line,
                    None => match self.txn.open_table(QUIET)?.get(key)?.map(|quiet| quiet.value()) {
                        Some((epoch, last, time_ms)) => Line::quiet(epoch, last, time_ms),
                        None => Line::quiet(new_epoch(), 0, 0),
                    },
                };
                slot.insert(line)
            }
        };
        Ok(line)
    }
}

/// The parts of a batch that dropping from the log's old end changes.
struct Sweep<'b> {
    txn: &'b WriteTransaction,
    log: Table<'b, u64, (u64, &'static [u8])>,
    lines: &'b mut HashMap<String, Line>,
    shared: &'b Lines,
    counts: &'b mut Counts,
}

impl<'b> Sweep<'b> {
    fn of(batch: &'b mut Batch<'_>) -> Result<Sweep<'b>, StoreError> {
        Ok(Sweep {
            txn: &batch.txn,
            log: batch.txn.open_table(LOG)?,
            lines: &mut batch.lines,
            shared: &batch.store.lines,
            counts: &mut batch.counts,
        })
    }

    /// Drops the log's oldest message, from the lines that still keep it;
    /// a line left empty is remembered in [`QUIET`]. False if the log is empty.
    fn drop_oldest(&mut self, why: HistoryDrop) -> Result<bool, StoreError> {
        let Some((order, value)) = self.log.pop_first()? else { return Ok(false) };
        let (order, (_, json)) = (order.value(), value.value());
        self.counts.history_bytes = self.counts.history_bytes.saturating_sub(json.len() as u64);
        for (key, _) in placements(json) {
            let line = match self.lines.entry(key.clone()) {
                Slot::Occupied(line) => line.into_mut(),
                Slot::Vacant(slot) => match self.shared.copy(slot.key()) {
                    Some(line) => slot.insert(line),
                    None => continue,
                },
            };
            if line.kept.front() != Some(&order) {
                // Already left the line: beyond the stream's size.
                continue;
            }
            line.kept.pop_front();
            self.counts.history_messages = self.counts.history_messages.saturating_sub(1);
            METRICS.history_dropped(why);
            if line.kept.is_empty() {
                let quiet = (line.epoch, line.last, line.time_ms);
                self.txn.open_table(QUIET)?.insert(key.as_str(), quiet)?;
            }
        }
        Ok(true)
    }
}

impl Store {
    /// Streams that keep messages, for the metrics.
    pub fn history_streams(&self) -> usize {
        self.lines.len()
    }

    /// Where `stream` stands: its line, if it keeps messages or went quiet
    /// less than a day ago.
    fn line_of(&self, key: &str) -> Result<Option<Line>, StoreError> {
        if let Some(line) = self.lines.copy(key) {
            return Ok(Some(line));
        }
        let quiet = self.read()?.open_table(QUIET)?.get(key)?.map(|quiet| quiet.value());
        Ok(quiet.map(|(epoch, last, time_ms)| Line::quiet(epoch, last, time_ms)))
    }

    /// The messages of `stream` after `presented`, at most `most` (the
    /// newest; fewer makes the answer incomplete).
    pub fn missed(&self, stream: &Stream, presented: &Position, most: usize) -> Result<Missed, StoreError> {
        let key = stream.key();
        // The line first, then the log: a message the line keeps is in the
        // log unless the log dropped it since (the answer is then incomplete).
        let Some(line) = self.line_of(&key)? else {
            // Never had a message, or forgotten: nothing to give; complete
            // only if the tab saw nothing either.
            return Ok(Missed { entries: vec![], complete: presented.position == 0 });
        };
        let (last, first) = (line.last, line.first());
        // A tab that saw nothing of a stream yet (its epoch unknown) missed all of it.
        let fresh = presented.epoch.is_empty() && presented.position == 0;
        let same_epoch = presented.epoch == epoch_text(line.epoch) && presented.position <= last;
        let from = if same_epoch {
            presented.position + 1
        } else if fresh {
            1
        } else {
            first
        };
        let mut complete = (same_epoch || fresh) && from >= first;
        let from = from.max(first);
        let mut entries = Vec::new();
        if from <= last {
            let skip = (last + 1 - from).saturating_sub(most as u64);
            if skip > 0 {
                complete = false;
            }
            let log = self.read()?.open_table(LOG)?;
            for position in from + skip..=last {
                let row = match line.order_of(position) {
                    Some(order) => log.get(order)?,
                    None => None,
                };
                match row.and_then(|row| serde_json::from_slice::<Entry>(row.value().1).ok()) {
                    Some(entry) => entries.push(entry),
                    None => complete = false,
                }
            }
        }
        Ok(Missed { entries, complete })
    }

    /// Where `stream` stands: its epoch and last position (an empty epoch
    /// and 0 for a stream with no message yet).
    pub fn head(&self, stream: &Stream) -> Result<Position, StoreError> {
        Ok(match self.line_of(&stream.key())? {
            Some(line) => pos(line.epoch, line.last),
            None => Position { epoch: String::new(), position: 0 },
        })
    }
}

fn pos(epoch: u64, position: u64) -> Position {
    Position { epoch: epoch_text(epoch), position }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use msgpush_protocol::{Content, MsgId};

    use super::*;
    use crate::store::embedded::scratch::{self, LIMITS};
    use crate::store::retention::Limits;

    fn entry(id: u128, time_ms: u64) -> Entry {
        Entry {
            id: MsgId(id),
            event: "new_msg".into(),
            content: Content::Text(format!("m{id}")),
            except: vec![],
            receipts: false,
            time_ms,
            placements: vec![],
            order: 0,
        }
    }

    fn append(store: &Store, streams: &[Stream], id: u128, time_ms: u64) -> Vec<(String, Position)> {
        let mut batch = store.batch().unwrap();
        let placed = batch.append(streams, entry(id, time_ms)).unwrap();
        batch.commit().unwrap();
        placed
    }

    fn ids(missed: &Missed) -> Vec<u128> {
        missed.entries.iter().map(|e| e.id.0).collect()
    }

    #[test]
    fn positions_count_up_per_stream_and_a_tab_gets_what_followed_its_own() {
        let scratch = scratch::store(LIMITS);
        let (alice, team) = (Stream::User("alice".into()), Stream::Group("team".into()));
        let first = append(scratch.store(), std::slice::from_ref(&alice), 1, 10);
        assert_eq!(first[0].0, "user:alice");
        assert_eq!(first[0].1.position, 1);
        let both = append(scratch.store(), &[team.clone(), Stream::All], 2, 11);
        assert_eq!(
            both.iter().map(|(k, p)| (k.as_str(), p.position)).collect::<Vec<_>>(),
            [("group:team", 1), ("all", 1)]
        );
        let second = append(scratch.store(), std::slice::from_ref(&alice), 3, 12);
        assert_eq!((second[0].1.position, &second[0].1.epoch), (2, &first[0].1.epoch), "the same epoch");

        let missed = scratch.store().missed(&alice, &first[0].1, 10).unwrap();
        assert_eq!((ids(&missed), missed.complete), (vec![3], true));
        let kept = scratch.store().missed(&team, &Position { position: 0, ..both[0].1.clone() }, 10).unwrap();
        assert_eq!(kept.entries[0].placements, both, "an entry knows all its places");
        let nothing = scratch.store().missed(&alice, &second[0].1, 10).unwrap();
        assert_eq!((ids(&nothing), nothing.complete), (vec![], true));
    }

    #[test]
    fn what_the_retention_dropped_or_another_epoch_makes_a_recovery_incomplete() {
        let scratch = scratch::store(LIMITS);
        let bob = Stream::User("bob".into());
        let first = append(scratch.store(), std::slice::from_ref(&bob), 1, 10);
        for id in 2..=6 {
            append(scratch.store(), std::slice::from_ref(&bob), id, 10 + id as u64);
        }
        // Size 3: 4, 5, 6 kept.
        let missed = scratch.store().missed(&bob, &first[0].1, 10).unwrap();
        assert_eq!((ids(&missed), missed.complete), (vec![4, 5, 6], false));
        let at_three = Position { position: 3, ..first[0].1.clone() };
        let missed = scratch.store().missed(&bob, &at_three, 10).unwrap();
        assert_eq!((ids(&missed), missed.complete), (vec![4, 5, 6], true), "nothing dropped after 3");
        let other_epoch = Position { epoch: "0000000000000000".into(), position: 5 };
        let missed = scratch.store().missed(&bob, &other_epoch, 10).unwrap();
        assert_eq!((ids(&missed), missed.complete), (vec![4, 5, 6], false), "everything kept, but incomplete");
        let missed = scratch.store().missed(&bob, &at_three, 2).unwrap();
        assert_eq!((ids(&missed), missed.complete), (vec![5, 6], false), "the newest of too many");
        let unknown = scratch.store().missed(&Stream::User("nobody".into()), &at_three, 10).unwrap();
        assert!(!unknown.complete);
        let fresh = Position { epoch: String::new(), position: 0 };
        let missed = scratch.store().missed(&bob, &fresh, 10).unwrap();
        assert_eq!((ids(&missed), missed.complete), (vec![4, 5, 6], false), "1 to 3 were dropped");
        let young = Stream::User("young".into());
        append(scratch.store(), std::slice::from_ref(&young), 9, 20);
        let missed = scratch.store().missed(&young, &fresh, 10).unwrap();
        assert_eq!((ids(&missed), missed.complete), (vec![9], true), "a stream born while the tab was away");
        assert_eq!(scratch.store().head(&young).unwrap().position, 1);
        assert_eq!(scratch.store().head(&Stream::User("nobody".into())).unwrap(), fresh);
        assert_eq!(scratch.store().totals.history().0, 4, "bob's 3 and young's 1");
    }

    #[test]
    fn age_and_bytes_drop_the_oldest_and_an_empty_stream_keeps_its_place() {
        let limits = Limits { history_size: 100, history_ttl: Duration::from_millis(1000), ..LIMITS };
        let scratch = scratch::store(limits);
        let carol = Stream::User("carol".into());
        let first = append(scratch.store(), std::slice::from_ref(&carol), 1, 1_000);
        append(scratch.store(), std::slice::from_ref(&carol), 2, 5_000);
        let mut batch = scratch.store().batch().unwrap();
        batch.expire(5_500, None).unwrap();
        batch.commit().unwrap();
        let missed = scratch.store().missed(&carol, &first[0].1, 10).unwrap();
        assert_eq!((ids(&missed), missed.complete), (vec![2], true), "1 expired, 2 not");
        let mut batch = scratch.store().batch().unwrap();
        batch.expire(10_000, None).unwrap();
        batch.commit().unwrap();
        assert_eq!(scratch.store().totals.history(), (0, 0));
        let at_two = Position { position: 2, ..first[0].1.clone() };
        let missed = scratch.store().missed(&carol, &at_two, 10).unwrap();
        assert_eq!((ids(&missed), missed.complete), (vec![], true), "a quiet stream's tab missed nothing");
        assert_eq!(append(scratch.store(), std::slice::from_ref(&carol), 3, 11_000)[0].1.position, 3);

        let small = scratch::store(Limits { history_size: 100, history_max_bytes: 1024, ..LIMITS });
        for id in 0..100 {
            append(small.store(), &[Stream::All], id, 1_000 + id as u64);
        }
        let (messages, bytes) = small.store().totals.history();
        assert!(bytes <= 1024 && messages > 0 && messages < 100, "{messages} messages, {bytes} bytes");
    }

    #[test]
    fn history_survives_reopening_the_store() {
        let mut scratch = scratch::store(LIMITS);
        let (dan, eva) = (Stream::User("dan".into()), Stream::User("eva".into()));
        let first = append(scratch.store(), std::slice::from_ref(&dan), 1, 10);
        append(scratch.store(), std::slice::from_ref(&dan), 2, 11);
        scratch.reopen();
        let missed = scratch.store().missed(&dan, &first[0].1, 10).unwrap();
        assert_eq!((ids(&missed), missed.complete), (vec![2], true));
        assert_eq!(scratch.store().totals.history().0, 2);

        // Beyond the size (3), in one stream and in a message to two.
        for id in 3..=5 {
            append(scratch.store(), &[dan.clone(), eva.clone()], id, 10 + id as u64);
        }
        let before = scratch.store().totals.history();
        scratch.reopen();
        assert_eq!(scratch.store().totals.history(), before, "the same messages and bytes");
        assert_eq!(before.0, 6, "dan's 3, 4, 5 and eva's");
        let missed = scratch.store().missed(&dan, &first[0].1, 10).unwrap();
        assert_eq!((ids(&missed), missed.complete), (vec![3, 4, 5], false));
        assert_eq!(scratch.store().head(&eva).unwrap().position, 3);
        assert_eq!(append(scratch.store(), std::slice::from_ref(&eva), 6, 20)[0].1.position, 4);
        assert_eq!(scratch.store().history_streams(), 2);
    }

    #[test]
    fn a_stream_emptied_by_age_keeps_its_epoch_across_a_restart_for_a_day() {
        let mut scratch = scratch::store(LIMITS);
        let fay = Stream::User("fay".into());
        let first = append(scratch.store(), std::slice::from_ref(&fay), 1, 1_000);
        let mut batch = scratch.store().batch().unwrap();
        batch.expire(100_000, None).unwrap();
        batch.commit().unwrap();
        assert_eq!((scratch.store().totals.history(), scratch.store().history_streams()), ((0, 0), 0));
        scratch.reopen();
        assert_eq!(scratch.store().head(&fay).unwrap(), first[0].1, "quiet, not forgotten");
        let missed = scratch.store().missed(&fay, &first[0].1, 10).unwrap();
        assert_eq!((ids(&missed), missed.complete), (vec![], true));
        let second = append(scratch.store(), std::slice::from_ref(&fay), 2, 200_000);
        assert_eq!(second[0].1, Position { position: 2, ..first[0].1.clone() });

        // Quiet again, then a day idle: forgotten, and the next message starts a new epoch.
        let day = FORGET_EMPTY_AFTER_MS;
        let mut batch = scratch.store().batch().unwrap();
        batch.expire(300_000, None).unwrap();
        batch.expire(200_001 + day, None).unwrap();
        batch.commit().unwrap();
        assert_eq!(scratch.store().head(&fay).unwrap().position, 0);
        let third = append(scratch.store(), std::slice::from_ref(&fay), 3, 300_000 + day);
        assert_eq!(third[0].1.position, 1);
        assert_ne!(third[0].1.epoch, first[0].1.epoch);
    }
}
