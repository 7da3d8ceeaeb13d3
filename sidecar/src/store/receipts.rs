//! A single daemon's receipts in the embedded store: for each message sent
//! with receipts, which users acknowledged it (the first tab's time) and
//! read it, for `--receipt-ttl-secs` from its first acknowledgement and for
//! at most `--max-receipts-per-message` users.

use msgpush_protocol::{MsgId, Receipt};
use redb::ReadableTable;

use crate::store::embedded::{Batch, Store, StoreError, RECEIPTED, RECEIPTS, RECEIPT_EXPIRIES};

/// Messages whose receipts expire per sweep.
const SWEEP_MESSAGES: usize = 1_000;

/// What recording one receipt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A new receipt (the user's first acknowledgement, or first read).
    New,
    /// Nothing new: the user had acknowledged (or read) it already, or a
    /// read came for a message the user never acknowledged.
    Nothing,
    /// The message has receipts of as many users as it may: dropped.
    Full,
}

impl Batch<'_> {
    /// Records that a tab of `uid` acknowledged message `id` (or, `read`,
    /// reported it read) at `now_ms`. A read counts only for a message the
    /// user acknowledged: a tab cannot report what it was never sent.
    pub fn receipt(&mut self, id: MsgId, uid: &str, now_ms: u64, read: bool) -> Result<Recorded, StoreError> {
        let limits = self.store.retention.get();
        let mut receipts = self.txn.open_table(RECEIPTS)?;
        let old = receipts.get((id.0, uid))?.map(|v| v.value());
        if read {
            return match old {
                Some((acked, 0)) => {
                    receipts.insert((id.0, uid), (acked, now_ms.max(1)))?;
                    Ok(Recorded::New)
                }
                _ => Ok(Recorded::Nothing),
            };
        }
        if old.is_some() {
            return Ok(Recorded::Nothing);
        }
        let mut receipted = self.txn.open_table(RECEIPTED)?;
        let (users, expires) = match receipted.get(id.0)?.map(|v| v.value()) {
            Some((users, _)) if users >= limits.receipts_per_message => return Ok(Recorded::Full),
            Some(known) => known,
            None => {
                let ttl = u64::try_from(limits.receipt_ttl.as_millis()).unwrap_or(u64::MAX);
                let expires = now_ms.saturating_add(ttl);
                self.txn.open_table(RECEIPT_EXPIRIES)?.insert((expires, id.0), ())?;
                (0, expires)
            }
        };
        receipted.insert(id.0, (users + 1, expires))?;
        receipts.insert((id.0, uid), (now_ms, 0))?;
        Ok(Recorded::New)
    }

    /// Forgets the receipts whose time ran out by `now_ms` (a bounded
    /// number per call).
    pub fn expire_receipts(&mut self, now_ms: u64) -> Result<(), StoreError> {
        let due: Vec<(u64, u128)> = {
            let expiries = self.txn.open_table(RECEIPT_EXPIRIES)?;
            let range = expiries.range((0, 0)..=(now_ms, u128::MAX))?;
            range.take(SWEEP_MESSAGES).map(|item| item.map(|(key, _)| key.value())).collect::<Result<_, _>>()?
        };
        let mut expiries = self.txn.open_table(RECEIPT_EXPIRIES)?;
        let mut receipted = self.txn.open_table(RECEIPTED)?;
        let mut receipts = self.txn.open_table(RECEIPTS)?;
        for (expires, id) in due {
            expiries.remove((expires, id))?;
            receipted.remove(id)?;
            let mut uids = Vec::new();
            for item in receipts.range((id, "")..)? {
                let (key, _) = item?;
                let (of, uid) = key.value();
                if of != id {
                    break;
                }
                uids.push(uid.to_owned());
            }
            for uid in uids {
                receipts.remove((id, uid.as_str()))?;
            }
        }
        Ok(())
    }
}

impl Store {
    /// The receipts of message `id`, first acknowledged first.
    pub fn receipts(&self, id: MsgId) -> Result<Vec<Receipt>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(RECEIPTS)?;
        let mut receipts = Vec::new();
        for item in table.range((id.0, "")..)? {
            let (key, value) = item?;
            let ((of, uid), (acked_ms, read_ms)) = (key.value(), value.value());
            if of != id.0 {
                break;
            }
            receipts.push(Receipt { uid: uid.to_owned(), acked_ms, read_ms: (read_ms != 0).then_some(read_ms) });
        }
        in_order(&mut receipts);
        Ok(receipts)
    }
}

/// Puts `receipts` in the order `Receipt::of()` gives them: first
/// acknowledged first.
pub fn in_order(receipts: &mut [Receipt]) {
    receipts.sort_by(|a, b| (a.acked_ms, &a.uid).cmp(&(b.acked_ms, &b.uid)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::scratch::{self, LIMITS};

    fn record(store: &Store, id: u128, uid: &str, now: u64, read: bool) -> Recorded {
        let mut batch = store.batch().unwrap();
        let recorded = batch.receipt(MsgId(id), uid, now, read).unwrap();
        batch.commit().unwrap();
        recorded
    }

    #[test]
    fn each_user_counts_once_reads_follow_acknowledgements_and_a_message_holds_its_bound() {
        let mut scratch = scratch::store(LIMITS);
        let store = scratch.store();
        assert_eq!(record(store, 7, "b", 10, true), Recorded::Nothing, "a read of a message never acknowledged");
        assert_eq!(record(store, 7, "b", 10, false), Recorded::New);
        assert_eq!(record(store, 7, "b", 11, false), Recorded::Nothing, "a second tab of the same user");
        assert_eq!(record(store, 7, "a", 12, false), Recorded::New);
        assert_eq!(record(store, 7, "c", 13, false), Recorded::Full, "LIMITS keep 2 users per message");
        assert_eq!(record(store, 7, "a", 20, true), Recorded::New);
        assert_eq!(record(store, 7, "a", 21, true), Recorded::Nothing, "read once");
        assert_eq!(record(store, 8, "a", 12, false), Recorded::New, "another message");
        scratch.reopen();
        let receipts = scratch.store().receipts(MsgId(7)).unwrap();
        assert_eq!(
            receipts,
            [
                Receipt { uid: "b".into(), acked_ms: 10, read_ms: None },
                Receipt { uid: "a".into(), acked_ms: 12, read_ms: Some(20) }
            ],
            "kept across a restart, first acknowledged first"
        );
    }

    #[test]
    fn receipts_expire_with_their_message() {
        let scratch = scratch::store(LIMITS);
        let store = scratch.store();
        record(store, 1, "a", 1_000, false);
        record(store, u128::MAX, "a", 1_000, false);
        record(store, 2, "a", 30_000, false);
        let mut batch = store.batch().unwrap();
        batch.expire_receipts(61_000).unwrap();
        batch.commit().unwrap();
        assert!(store.receipts(MsgId(1)).unwrap().is_empty());
        assert!(store.receipts(MsgId(u128::MAX)).unwrap().is_empty());
        assert_eq!(store.receipts(MsgId(2)).unwrap().len(), 1, "60 s from its first acknowledgement");
        assert_eq!(record(store, 1, "b", 62_000, false), Recorded::New, "an expired message starts again");
    }
}
