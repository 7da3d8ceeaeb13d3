//! The offline inbox in the embedded store: a message kept for a user (by
//! `PushEvent->keep()`) until one of the user's tabs acknowledged it or it
//! expired. A user holds at most `--inbox-size` (the oldest is dropped for a
//! new one); all inboxes together at most `--inbox-max-bytes` (the soonest
//! to expire are dropped first).

use msgpush_protocol::MsgId;
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::store::embedded::{Batch, Store, StoreError, EXPIRIES, INBOX, INBOX_IDS, INBOX_USERS};
use crate::store::entry::Entry;
use crate::telemetry::metrics::METRICS;

/// Kept messages expired per sweep.
const SWEEP_MESSAGES: usize = 10_000;

/// A message kept for a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    /// The message.
    pub entry: Entry,
    /// When it is forgotten unless acknowledged first (ms since the Unix epoch).
    pub expires_ms: u64,
}

impl Batch<'_> {
    /// Keeps `entry` for `uid` until `expires_ms`; dropping the user's
    /// oldest over the bound. A copy already kept (the same id) is kept once.
    pub fn keep(&mut self, uid: &str, entry: &Entry, expires_ms: u64) -> Result<(), StoreError> {
        let limits = self.store.retention.get();
        if limits.inbox_size == 0 || self.txn.open_table(INBOX_IDS)?.get((uid, entry.id.0))?.is_some() {
            return Ok(());
        }
        let kept = Kept { entry: entry.clone(), expires_ms };
        let bytes = serde_json::to_vec(&kept).unwrap_or_default();
        let size = bytes.len() as u64;
        let arrival = self.counts.next_arrival;
        self.counts.next_arrival += 1;
        self.txn.open_table(INBOX)?.insert((uid, arrival), (expires_ms, bytes.as_slice()))?;
        self.txn.open_table(INBOX_IDS)?.insert((uid, entry.id.0), arrival)?;
        self.txn.open_table(EXPIRIES)?.insert((expires_ms, uid, arrival), size)?;
        let held = self.txn.open_table(INBOX_USERS)?.get(uid)?.map_or(0, |n| n.value()) + 1;
        self.txn.open_table(INBOX_USERS)?.insert(uid, held)?;
        self.counts.inbox_messages += 1;
        self.counts.inbox_bytes += size;
        if held > limits.inbox_size {
            let oldest = {
                let inbox = self.txn.open_table(INBOX)?;
                let first = inbox.range((uid, 0)..(uid, u64::MAX))?.next().transpose()?;
                first.map(|(key, value)| {
                    let ((_, arrival), (expires, bytes)) = (key.value(), value.value());
                    (arrival, expires, serde_json::from_slice::<Kept>(bytes).map(|kept| kept.entry.id.0).ok())
                })
            };
            if let Some((arrival, expires, id)) = oldest {
                self.forget(uid, arrival, expires, id, "size")?;
            }
        }
        while self.counts.inbox_bytes > limits.inbox_max_bytes {
            let Some((expires, owner, arrival)) = self.soonest()? else { break };
            let id = self.kept_id(&owner, arrival)?;
            self.forget(&owner, arrival, expires, id, "bytes")?;
        }
        Ok(())
    }

    /// Forgets `uid`'s kept message `id`, which a tab acknowledged; returns
    /// whether it was kept.
    pub fn acknowledge(&mut self, uid: &str, id: MsgId) -> Result<bool, StoreError> {
        let Some(arrival) = self.txn.open_table(INBOX_IDS)?.get((uid, id.0))?.map(|a| a.value()) else {
            return Ok(false);
        };
        let expires = self.txn.open_table(INBOX)?.get((uid, arrival))?.map_or(0, |v| v.value().0);
        self.forget(uid, arrival, expires, Some(id.0), "")?;
        Ok(true)
    }

    /// Forgets every message kept for `uid`; returns how many.
    pub fn clear(&mut self, uid: &str) -> Result<u64, StoreError> {
        let mut kept = Vec::new();
        for item in self.txn.open_table(INBOX)?.range((uid, 0)..(uid, u64::MAX))? {
            let (key, value) = item?;
            let ((_, arrival), (expires, bytes)) = (key.value(), value.value());
            kept.push((arrival, expires, serde_json::from_slice::<Kept>(bytes).map(|k| k.entry.id.0).ok()));
        }
        for (arrival, expires, id) in &kept {
            self.forget(uid, *arrival, *expires, *id, "")?;
        }
        Ok(kept.len() as u64)
    }

    /// Forgets the kept messages that expired by `now_ms`.
    pub fn expire_inbox(&mut self, now_ms: u64) -> Result<(), StoreError> {
        for _ in 0..SWEEP_MESSAGES {
            match self.soonest()? {
                Some((expires, uid, arrival)) if expires <= now_ms => {
                    let id = self.kept_id(&uid, arrival)?;
                    self.forget(&uid, arrival, expires, id, "expired")?;
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// The kept message that expires first.
    fn soonest(&self) -> Result<Option<(u64, String, u64)>, StoreError> {
        let expiries = self.txn.open_table(EXPIRIES)?;
        let first = expiries.first()?.map(|(key, _)| {
            let (expires, uid, arrival) = key.value();
            (expires, uid.to_owned(), arrival)
        });
        Ok(first)
    }

    fn kept_id(&self, uid: &str, arrival: u64) -> Result<Option<u128>, StoreError> {
        let inbox = self.txn.open_table(INBOX)?;
        let id = inbox.get((uid, arrival))?.and_then(|v| serde_json::from_slice::<Kept>(v.value().1).ok());
        Ok(id.map(|kept| kept.entry.id.0))
    }

    /// Removes one kept message everywhere; `why` labels a drop in the
    /// metrics ("" for an acknowledgement or a clear).
    fn forget(&mut self, uid: &str, arrival: u64, expires: u64, id: Option<u128>, why: &str) -> Result<(), StoreError> {
        self.txn.open_table(INBOX)?.remove((uid, arrival))?;
        if let Some(id) = id {
            self.txn.open_table(INBOX_IDS)?.remove((uid, id))?;
        }
        let size = self.txn.open_table(EXPIRIES)?.remove((expires, uid, arrival))?.map_or(0, |s| s.value());
        let held = self.txn.open_table(INBOX_USERS)?.get(uid)?.map_or(0, |n| n.value()).saturating_sub(1);
        match held {
            0 => self.txn.open_table(INBOX_USERS)?.remove(uid)?.map(|_| ()),
            _ => self.txn.open_table(INBOX_USERS)?.insert(uid, held)?.map(|_| ()),
        };
        self.counts.inbox_messages = self.counts.inbox_messages.saturating_sub(1);
        self.counts.inbox_bytes = self.counts.inbox_bytes.saturating_sub(size);
        if !why.is_empty() {
            METRICS.inbox_dropped(why);
        }
        Ok(())
    }
}

impl Store {
    /// The messages kept for `uid` that have not expired by `now_ms`, in
    /// the order they were kept, at most `most`.
    pub fn inbox(&self, uid: &str, now_ms: u64, most: usize) -> Result<Vec<Kept>, StoreError> {
        let txn = self.read()?;
        let mut kept = Vec::new();
        for item in txn.open_table(INBOX)?.range((uid, 0)..(uid, u64::MAX))? {
            let (_, value) = item?;
            let (expires, bytes) = value.value();
            if expires > now_ms {
                if let Ok(message) = serde_json::from_slice::<Kept>(bytes) {
                    kept.push(message);
                }
            }
            if kept.len() >= most {
                break;
            }
        }
        Ok(kept)
    }

    /// How many messages are kept for `uid`.
    pub fn inbox_count(&self, uid: &str) -> Result<u64, StoreError> {
        let txn = self.read()?;
        let count = txn.open_table(INBOX_USERS)?.get(uid)?.map_or(0, |n| n.value());
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use msgpush_protocol::Content;

    use super::*;
    use crate::store::embedded::scratch::{self, LIMITS};
    use crate::store::retention::Limits;

    fn entry(id: u128) -> Entry {
        Entry {
            id: MsgId(id),
            event: "new_msg".into(),
            content: Content::Text(format!("kept {id}")),
            except: vec![],
            receipts: false,
            time_ms: 1,
            placements: vec![],
            order: 0,
        }
    }

    fn keep(store: &Store, uid: &str, id: u128, expires_ms: u64) {
        let mut batch = store.batch().unwrap();
        batch.keep(uid, &entry(id), expires_ms).unwrap();
        batch.commit().unwrap();
    }

    fn ids(store: &Store, uid: &str, now_ms: u64) -> Vec<u128> {
        store.inbox(uid, now_ms, 100).unwrap().iter().map(|kept| kept.entry.id.0).collect()
    }

    #[test]
    fn a_kept_message_waits_until_acknowledged_expired_or_cleared() {
        let scratch = scratch::store(Limits { inbox_size: 10, ..LIMITS });
        let store = scratch.store();
        keep(store, "eve", 1, 1_000);
        keep(store, "eve", 2, 5_000);
        keep(store, "eve", 2, 5_000);
        keep(store, "fay", 3, 5_000);
        assert_eq!(ids(store, "eve", 0), [1, 2], "in order, a copy kept once");
        assert_eq!(store.inbox_count("eve").unwrap(), 2);

        let mut batch = store.batch().unwrap();
        assert!(batch.acknowledge("eve", MsgId(2)).unwrap());
        assert!(!batch.acknowledge("eve", MsgId(2)).unwrap(), "acknowledged once");
        assert!(!batch.acknowledge("fay", MsgId(1)).unwrap(), "another user's acknowledgement changes nothing");
        batch.commit().unwrap();
        assert_eq!(ids(store, "eve", 0), [1]);
        assert_eq!(ids(store, "eve", 1_000), Vec::<u128>::new(), "expired messages are not given");

        let mut batch = store.batch().unwrap();
        batch.expire_inbox(1_000).unwrap();
        batch.commit().unwrap();
        assert_eq!(store.inbox_count("eve").unwrap(), 0);
        let mut batch = store.batch().unwrap();
        assert_eq!(batch.clear("fay").unwrap(), 1);
        batch.commit().unwrap();
        assert_eq!(store.totals.inbox(), (0, 0));
    }

    #[test]
    fn an_inbox_holds_its_newest_and_all_of_them_stay_under_the_bytes() {
        let scratch = scratch::store(LIMITS);
        let store = scratch.store();
        for id in 1..=5 {
            keep(store, "gus", id, 10_000 + id as u64);
        }
        assert_eq!(ids(store, "gus", 0), [4, 5], "inbox size 2: the newest two");
        assert_eq!(store.inbox_count("gus").unwrap(), 2);

        let small = scratch::store(Limits { inbox_size: 1000, inbox_max_bytes: 2048, ..LIMITS });
        for id in 1..=100 {
            keep(small.store(), &format!("u{id}"), id, 10_000 + id as u64);
        }
        let (messages, bytes) = small.store().totals.inbox();
        assert!(bytes <= 2048 && messages > 0 && messages < 100, "{messages} kept, {bytes} bytes");
        assert_eq!(small.store().inbox_count("u100").unwrap(), 1, "the latest to expire is kept");
        assert_eq!(small.store().inbox_count("u1").unwrap(), 0, "the soonest to expire went first");
    }
}
