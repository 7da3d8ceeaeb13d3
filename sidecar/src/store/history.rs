//! History in the embedded store: each stream's messages by position, the
//! oldest dropped first when a stream holds `--history-size`, when a message
//! is older than `--history-ttl-secs`, or when all of them together pass
//! `--history-max-bytes`. A stream emptied by age or bytes keeps its epoch
//! and last position until it has been idle a day, so that a tab away from
//! a quiet stream is told its recovery is complete.

use msgpush_protocol::Position;
use redb::{ReadableTable, Table, WriteTransaction};

use crate::store::embedded::{Batch, Counts, Store, StoreError, AGES, ENTRIES, STREAMS};
use crate::store::entry::{epoch_text, new_epoch, Entry, Stream};
use crate::telemetry::metrics::METRICS;

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

/// Why a message left history, for the metrics.
#[derive(Debug, Clone, Copy)]
enum Dropped {
    Size,
    Age,
    Bytes,
}

impl Dropped {
    fn label(self) -> &'static str {
        match self {
            Dropped::Size => "size",
            Dropped::Age => "age",
            Dropped::Bytes => "bytes",
        }
    }
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
        let mut tables = Tables::open(&self.txn)?;
        let mut placed = Vec::with_capacity(streams.len());
        for stream in streams {
            let key = stream.key();
            let meta = match tables.streams.get(key.as_str())? {
                Some(meta) => meta.value(),
                None => (new_epoch(), 0, 1, 0),
            };
            placed.push((key, meta));
        }
        entry.placements =
            placed.iter().map(|(key, (epoch, last, _, _))| (key.clone(), pos(*epoch, last + 1))).collect();
        // Microseconds, but never less than one more than the last: the
        // order stays after a restart, whatever the clock's resolution.
        entry.order = (self.counts.last_order + 1).max(entry.time_ms.saturating_mul(1000));
        self.counts.last_order = entry.order;
        let bytes = serde_json::to_vec(&entry).unwrap_or_default();
        let size = bytes.len() as u64;
        for (key, (epoch, last, first, _)) in &placed {
            let position = last + 1;
            tables.entries.insert((key.as_str(), position), (entry.time_ms, bytes.as_slice()))?;
            tables.ages.insert((entry.time_ms, key.as_str(), position), size)?;
            self.counts.history_messages += 1;
            self.counts.history_bytes += size;
            // The oldest beyond the stream's size go in the same step.
            let mut first = *first;
            while position + 1 - first > limits.history_size {
                tables.forget(key, first, &mut self.counts, Dropped::Size)?;
                first += 1;
            }
            tables.streams.insert(key.as_str(), (*epoch, position, first, entry.time_ms))?;
        }
        while self.counts.history_bytes > limits.history_max_bytes {
            let Some((time, key, position)) = tables.oldest()? else { break };
            tables.drop_message(time, &key, position, &mut self.counts, Dropped::Bytes)?;
        }
        Ok(placed.into_iter().map(|(key, (epoch, last, _, _))| (key, pos(epoch, last + 1))).collect())
    }

    /// Drops the messages older than the retention's age, and forgets some
    /// streams empty for a day (a sweep, once a second, starting after the
    /// stream `cursor`; returns where the next sweep starts).
    pub fn expire(&mut self, now_ms: u64, cursor: Option<String>) -> Result<Option<String>, StoreError> {
        let ttl_ms = self.store.retention.get().history_ttl.as_millis().try_into().unwrap_or(u64::MAX);
        let before = now_ms.saturating_sub(ttl_ms);
        let mut tables = Tables::open(&self.txn)?;
        for _ in 0..SWEEP_MESSAGES {
            match tables.oldest()? {
                Some((time, key, position)) if time < before => {
                    tables.drop_message(time, &key, position, &mut self.counts, Dropped::Age)?
                }
                _ => break,
            }
        }
        let (mut forget, mut visited, mut last_key) = (Vec::new(), 0, String::new());
        for item in tables.streams.range::<&str>(cursor.as_deref().unwrap_or("")..)?.take(SWEEP_STREAMS) {
            let (key, meta) = item?;
            let (_, last, first, time) = meta.value();
            last_key = key.value().to_owned();
            if first > last && time < now_ms.saturating_sub(FORGET_EMPTY_AFTER_MS) {
                forget.push(last_key.clone());
            }
            visited += 1;
        }
        for key in &forget {
            tables.streams.remove(key.as_str())?;
        }
        // The next sweep starts just after the last stream seen, or, past
        // the last one, from the beginning.
        Ok((visited == SWEEP_STREAMS).then(|| format!("{last_key}\0")))
    }
}

/// History's tables, opened once for all the steps of a write (opening a
/// table costs as much as a write to it).
struct Tables<'t> {
    streams: Table<'t, &'static str, (u64, u64, u64, u64)>,
    entries: Table<'t, (&'static str, u64), (u64, &'static [u8])>,
    ages: Table<'t, (u64, &'static str, u64), u64>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Tables<'t>, StoreError> {
        Ok(Tables { streams: txn.open_table(STREAMS)?, entries: txn.open_table(ENTRIES)?, ages: txn.open_table(AGES)? })
    }

    /// The oldest message kept: its time, stream and position.
    fn oldest(&self) -> Result<Option<(u64, String, u64)>, StoreError> {
        Ok(self.ages.first()?.map(|(key, _)| {
            let (time, stream, position) = key.value();
            (time, stream.to_owned(), position)
        }))
    }

    /// Forgets message `position` of stream `key`, whatever its time (the
    /// caller moves the stream's first kept position past it); whether it
    /// was kept.
    fn forget(&mut self, key: &str, position: u64, counts: &mut Counts, why: Dropped) -> Result<bool, StoreError> {
        let Some(removed) = self.entries.remove((key, position))? else { return Ok(false) };
        let (time, bytes) = removed.value();
        let size = bytes.len() as u64;
        self.ages.remove((time, key, position))?;
        counts.history_messages = counts.history_messages.saturating_sub(1);
        counts.history_bytes = counts.history_bytes.saturating_sub(size);
        METRICS.history_dropped(why.label());
        Ok(true)
    }

    /// Forgets one message, and moves its stream's first kept position past it.
    fn drop_message(
        &mut self,
        time: u64,
        key: &str,
        position: u64,
        counts: &mut Counts,
        why: Dropped,
    ) -> Result<(), StoreError> {
        if !self.forget(key, position, counts, why)? {
            self.ages.remove((time, key, position))?;
        }
        let meta = self.streams.get(key)?.map(|meta| meta.value());
        if let Some((epoch, last, first, time)) = meta {
            if position >= first {
                self.streams.insert(key, (epoch, last, position + 1, time))?;
            }
        }
        Ok(())
    }
}

impl Store {
    /// The messages of `stream` after `presented`, at most `most` (the
    /// newest; fewer makes the answer incomplete).
    pub fn missed(&self, stream: &Stream, presented: &Position, most: usize) -> Result<Missed, StoreError> {
        let txn = self.read()?;
        let key = stream.key();
        let Some(meta) = txn.open_table(STREAMS)?.get(key.as_str())?.map(|meta| meta.value()) else {
            // Never had a message, or forgotten: nothing to give; complete
            // only if the tab saw nothing either.
            return Ok(Missed { entries: vec![], complete: presented.position == 0 });
        };
        let (epoch, last, first, _) = meta;
        // A tab that saw nothing of a stream yet (its epoch unknown) missed all of it.
        let fresh = presented.epoch.is_empty() && presented.position == 0;
        let same_epoch = presented.epoch == epoch_text(epoch) && presented.position <= last;
        let from = if same_epoch {
            presented.position + 1
        } else if fresh {
            1
        } else {
            first
        };
        let mut complete = (same_epoch || fresh) && from >= first;
        let from = from.max(first);
        let entries_table = txn.open_table(ENTRIES)?;
        let mut entries = Vec::new();
        if from <= last {
            let skip = (last + 1 - from).saturating_sub(most as u64);
            if skip > 0 {
                complete = false;
            }
            for item in entries_table.range((key.as_str(), from + skip)..=(key.as_str(), last))? {
                let (_, value) = item?;
                if let Ok(entry) = serde_json::from_slice::<Entry>(value.value().1) {
                    entries.push(entry);
                }
            }
        }
        Ok(Missed { entries, complete })
    }
}

impl Store {
    /// Where `stream` stands: its epoch and last position (an empty epoch
    /// and 0 for a stream with no message yet).
    pub fn head(&self, stream: &Stream) -> Result<Position, StoreError> {
        let txn = self.read()?;
        let meta = txn.open_table(STREAMS)?.get(stream.key().as_str())?.map(|meta| meta.value());
        Ok(match meta {
            Some((epoch, last, _, _)) => pos(epoch, last),
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
        let scratch = scratch::store(LIMITS);
        let dan = Stream::User("dan".into());
        let first = append(scratch.store(), std::slice::from_ref(&dan), 1, 10);
        append(scratch.store(), std::slice::from_ref(&dan), 2, 11);
        let mut scratch = scratch;
        scratch.reopen();
        let missed = scratch.store().missed(&dan, &first[0].1, 10).unwrap();
        assert_eq!((ids(&missed), missed.complete), (vec![2], true));
        assert_eq!(scratch.store().totals.history().0, 2);
    }
}
