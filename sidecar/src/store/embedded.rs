//! The embedded store of a single daemon: history, the inbox, receipts and
//! group memberships in one redb file (`STATE_DIR/msgpush.redb`), so that both survive a restart with no
//! server to install. redb is pure Rust, crash-safe (copy-on-write B-trees
//! with checksummed commit slots) and keeps one writer: this node's fanout
//! task, which writes each batch of messages in one transaction. Those
//! commits do not wait for the disk; a durable commit follows within a
//! second (`--store-sync second`), or every commit is durable (`always`).
//! A file found corrupt is moved aside and a new one started: its streams
//! get new epochs, so pages learn their history was lost.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, StorageError, TableDefinition,
    WriteTransaction,
};

use crate::settings::flags::StoreSync;
use crate::store::positions::{Line, Lines, LOG, QUIET};
use crate::store::retention::Retention;
use crate::telemetry::metrics::METRICS;

/// History's tables in its earlier layout (a row per stream and position):
/// dropped when the store opens; their streams start new epochs.
const FORMER_HISTORY: [&str; 3] = ["streams", "entries", "ages"];
/// Each kept message of an inbox: (uid, arrival) → (expiry ms, kept JSON).
pub(super) const INBOX: TableDefinition<(&str, u64), (u64, &[u8])> = TableDefinition::new("inbox");
/// Where a user's kept message is, by its id: (uid, id) → arrival.
pub(super) const INBOX_IDS: TableDefinition<(&str, u128), u64> = TableDefinition::new("inbox_ids");
/// Kept messages by expiry: (expiry ms, uid, arrival) → size.
pub(super) const EXPIRIES: TableDefinition<(u64, &str, u64), u64> = TableDefinition::new("expiries");
/// Kept messages per user.
pub(super) const INBOX_USERS: TableDefinition<&str, u64> = TableDefinition::new("inbox_users");
/// Each user's group memberships: uid → (last seen ms, groups JSON).
pub(super) const MEMBERS: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("members");
/// Each user's receipt of a message: (id, uid) → (first acknowledged ms,
/// read ms or 0).
pub(super) const RECEIPTS: TableDefinition<(u128, &str), (u64, u64)> = TableDefinition::new("receipts");
/// Each message with receipts: id → (users, expiry ms).
pub(super) const RECEIPTED: TableDefinition<u128, (u64, u64)> = TableDefinition::new("receipted");
/// Messages with receipts by expiry: (expiry ms, id) → ().
pub(super) const RECEIPT_EXPIRIES: TableDefinition<(u64, u128), ()> = TableDefinition::new("receipt_expiries");
/// The totals below, and the next arrival number.
pub(super) const TOTALS: TableDefinition<&str, u64> = TableDefinition::new("totals");

/// What the store holds, for the metrics.
#[derive(Debug, Default)]
pub struct Totals {
    pub(super) history_messages: AtomicU64,
    pub(super) history_bytes: AtomicU64,
    pub(super) inbox_messages: AtomicU64,
    pub(super) inbox_bytes: AtomicU64,
    pub(super) next_arrival: AtomicU64,
    pub(super) last_order: AtomicU64,
}

impl Totals {
    /// Messages and bytes in history.
    pub fn history(&self) -> (u64, u64) {
        (self.history_messages.load(Ordering::Relaxed), self.history_bytes.load(Ordering::Relaxed))
    }

    /// Messages and bytes kept in inboxes.
    pub fn inbox(&self) -> (u64, u64) {
        (self.inbox_messages.load(Ordering::Relaxed), self.inbox_bytes.load(Ordering::Relaxed))
    }
}

const TOTAL_NAMES: [&str; 6] =
    ["history_messages", "history_bytes", "inbox_messages", "inbox_bytes", "next_arrival", "last_order"];

impl Totals {
    fn all(&self) -> [&AtomicU64; 6] {
        [
            &self.history_messages,
            &self.history_bytes,
            &self.inbox_messages,
            &self.inbox_bytes,
            &self.next_arrival,
            &self.last_order,
        ]
    }

    fn snapshot(&self) -> Counts {
        let [history_messages, history_bytes, inbox_messages, inbox_bytes, next_arrival, last_order] =
            self.all().map(|total| total.load(Ordering::Relaxed));
        Counts { history_messages, history_bytes, inbox_messages, inbox_bytes, next_arrival, last_order }
    }

    fn set(&self, counts: &Counts) {
        for (total, value) in self.all().into_iter().zip(counts.values()) {
            total.store(value, Ordering::Relaxed);
        }
    }
}

/// The totals as one batch changes them (applied when it commits).
#[derive(Debug, Clone, Copy)]
pub(super) struct Counts {
    pub history_messages: u64,
    pub history_bytes: u64,
    pub inbox_messages: u64,
    pub inbox_bytes: u64,
    pub next_arrival: u64,
    pub last_order: u64,
}

impl Counts {
    fn values(&self) -> [u64; 6] {
        [
            self.history_messages,
            self.history_bytes,
            self.inbox_messages,
            self.inbox_bytes,
            self.next_arrival,
            self.last_order,
        ]
    }
}

/// Why the store failed.
pub type StoreError = redb::Error;

/// The embedded store.
pub struct Store {
    db: Database,
    path: PathBuf,
    /// The bounds now.
    pub retention: Arc<Retention>,
    sync: StoreSync,
    /// A commit since the last durable one.
    undurable: AtomicBool,
    /// What it holds.
    pub totals: Totals,
    /// Each stream's place in history.
    pub(super) lines: Lines,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

/// The file's name in the state directory.
const FILE: &str = "msgpush.redb";

impl Store {
    /// Opens (or creates) the store in `dir`, bounded by `retention`.
    pub fn open(dir: &Path, retention: Arc<Retention>, sync: StoreSync) -> Result<Store, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the state directory {}: {e}", dir.display()))?;
        let path = dir.join(FILE);
        let db = match Database::create(&path) {
            Ok(db) => db,
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(format!(
                    "the store {} is in use by another msgpushd (each daemon needs its own --state-dir)",
                    path.display()
                ))
            }
            Err(e @ DatabaseError::Storage(StorageError::Corrupted(_))) => {
                let aside = dir.join(format!("{FILE}.unreadable-{}", crate::store::entry::now_ms()));
                tracing::error!(
                    cause = %e,
                    moved_to = %aside.display(),
                    "the store cannot be opened: moved aside, starting a new one (history and inboxes are lost)"
                );
                std::fs::rename(&path, &aside).map_err(|e| format!("cannot move {} aside: {e}", path.display()))?;
                Database::create(&path).map_err(|e| format!("cannot create the store {}: {e}", path.display()))?
            }
            Err(e) => return Err(format!("cannot open the store {}: {e}", path.display())),
        };
        let store = Store {
            db,
            path,
            retention,
            sync,
            undurable: AtomicBool::new(false),
            totals: Totals::default(),
            lines: Lines::default(),
        };
        store.load_totals().map_err(|e| format!("cannot read the store {}: {e}", store.path.display()))?;
        Ok(store)
    }

    fn load_totals(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            // Created here, so that every read finds its tables.
            for former in FORMER_HISTORY {
                txn.delete_table(TableDefinition::<u64, u64>::new(former))?;
            }
            txn.open_table(LOG)?;
            txn.open_table(QUIET)?;
            txn.open_table(INBOX)?;
            txn.open_table(INBOX_IDS)?;
            txn.open_table(EXPIRIES)?;
            txn.open_table(INBOX_USERS)?;
            txn.open_table(MEMBERS)?;
            txn.open_table(RECEIPTS)?;
            txn.open_table(RECEIPTED)?;
            txn.open_table(RECEIPT_EXPIRIES)?;
            let totals = txn.open_table(TOTALS)?;
            for (name, total) in TOTAL_NAMES.iter().zip(self.totals.all()) {
                total.store(totals.get(*name)?.map_or(0, |v| v.value()), Ordering::Relaxed);
            }
            let (messages, bytes) = self.lines.rebuild(&txn, self.retention.get().history_size)?;
            self.totals.history_messages.store(messages, Ordering::Relaxed);
            self.totals.history_bytes.store(bytes, Ordering::Relaxed);
        }
        txn.commit()?;
        Ok(())
    }

    /// A write transaction; only this node's fanout task writes.
    pub fn batch(&self) -> Result<Batch<'_>, StoreError> {
        let mut txn = self.db.begin_write()?;
        if self.sync == StoreSync::Second {
            txn.set_durability(Durability::None).map_err(redb::Error::from)?;
        }
        Ok(Batch { txn, store: self, counts: self.totals.snapshot(), lines: HashMap::new() })
    }

    /// Makes the commits since the last durable one durable (once a second).
    pub fn sync(&self) -> Result<(), StoreError> {
        if !self.undurable.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        txn.commit()?;
        Ok(())
    }

    /// A read transaction.
    pub(super) fn read(&self) -> Result<redb::ReadTransaction, StoreError> {
        Ok(self.db.begin_read()?)
    }
}

/// One write transaction of the fanout task.
pub struct Batch<'a> {
    pub(super) txn: WriteTransaction,
    pub(super) store: &'a Store,
    pub(super) counts: Counts,
    /// The history lines this batch changed, applied once it committed.
    pub(super) lines: HashMap<String, Line>,
}

impl Batch<'_> {
    /// Commits what the batch wrote, with the totals.
    pub fn commit(self) -> Result<(), StoreError> {
        {
            let mut totals = self.txn.open_table(TOTALS)?;
            for (name, value) in TOTAL_NAMES.iter().zip(self.counts.values()) {
                totals.insert(*name, value)?;
            }
        }
        self.txn.commit()?;
        METRICS.store_committed();
        self.store.lines.apply(self.lines);
        self.store.totals.set(&self.counts);
        if self.store.sync == StoreSync::Second {
            self.store.undurable.store(true, Ordering::Release);
        }
        Ok(())
    }
}

/// A store in a scratch directory of its own, removed when dropped.
#[cfg(test)]
pub(super) mod scratch {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::Store;
    use crate::settings::flags::StoreSync;
    use crate::store::retention::{Limits, Retention};

    /// Bounds small enough to reach in a test.
    pub const LIMITS: Limits = Limits {
        history_size: 3,
        history_ttl: Duration::from_secs(60),
        history_max_bytes: 1 << 20,
        inbox_size: 2,
        inbox_max_bytes: 1 << 20,
        receipt_ttl: Duration::from_secs(60),
        receipts_per_message: 2,
    };

    /// A store and its directory.
    pub struct Scratch {
        store: Option<Store>,
        dir: PathBuf,
    }

    impl Scratch {
        /// The store.
        pub fn store(&self) -> &Store {
            self.store.as_ref().expect("open")
        }

        /// Closes the store and opens its file again, as a restart does.
        pub fn reopen(&mut self) {
            let retention = self.store().retention.clone();
            self.store = None;
            self.store = Some(Store::open(&self.dir, retention, StoreSync::Second).unwrap());
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            self.store = None;
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// A new store bounded by `limits`.
    pub fn store(limits: Limits) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("msgpushd-store-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir, Arc::new(Retention::new(limits)), StoreSync::Second).unwrap();
        Scratch { store: Some(store), dir }
    }
}
