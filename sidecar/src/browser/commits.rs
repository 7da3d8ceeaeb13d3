//! A single daemon's writes to its store, grouped: the pushes,
//! acknowledgements and receipts waiting one after the other in the fanout
//! task's queue are written in one transaction, so that a commit (which
//! writes the store's pages) is shared by up to [`MOST_PER_COMMIT`] of them
//! instead of paid by each. The pushes are emitted once it committed, in
//! their order, so that no page sees a position the store does not hold;
//! their answers follow.

use std::sync::Arc;

use msgpush_protocol::MsgId;
use redb::Error as StoreError;
use tokio::sync::oneshot;

use crate::browser::deliver::Prepared;
use crate::browser::fanout::{Applied, Applier, Job};
use crate::cluster::bus::Order;
use crate::store::embedded::{Batch, Store};
use crate::store::receipts::Recorded;
use crate::telemetry::metrics::METRICS;

/// Most jobs written in one transaction.
pub(super) const MOST_PER_COMMIT: usize = 256;

impl Job {
    /// Whether the job writes a single daemon's store in a way [`Applier::write`]
    /// groups.
    pub(super) fn writes_store(&self) -> bool {
        matches!(self, Job::Order { order: Order::Deliver(_), .. } | Job::Acknowledged { .. } | Job::Receipt { .. })
    }
}

/// What a job wrote, counted once the transaction committed.
enum Written {
    Delivery(Prepared, Option<oneshot::Sender<Applied>>),
    /// Whether the message was kept for the user.
    Acknowledged(bool),
    /// What the receipt did, whether it was a read, whose and of which message.
    Receipt(Recorded, bool, Arc<str>, MsgId),
}

impl Applier {
    /// Writes `run` (jobs that [`Job::writes_store`]) in one transaction of
    /// the store, then emits its pushes and answers them. A store that
    /// fails leaves the pushes live only (counted), and the
    /// acknowledgements and receipts unwritten (logged).
    pub(super) async fn write(&self, run: Vec<Job>) {
        let Some(store) = &self.0.store else { return };
        let mut txn = Txn { store, batch: None, broken: false };
        let mut written = Vec::with_capacity(run.len());
        for job in run {
            written.push(match job {
                Job::Order { order: Order::Deliver(delivery), reached } => {
                    let mut prepared = Prepared::of(delivery);
                    if prepared.keeps() {
                        txn.step(|batch| self.keep_prepared(batch, &mut prepared));
                    }
                    Written::Delivery(prepared, reached)
                }
                Job::Acknowledged { uid, id } => {
                    Written::Acknowledged(txn.step(|batch| batch.acknowledge(&uid, id)).unwrap_or(false))
                }
                Job::Receipt { uid, id, read, time_ms } => {
                    let recorded = txn.step(|batch| batch.receipt(id, &uid, time_ms, read));
                    Written::Receipt(recorded.unwrap_or(Recorded::Full), read, uid, id)
                }
                other => {
                    debug_assert!(false, "not a store write: {other:?}");
                    continue;
                }
            });
        }
        let committed = txn.commit();
        for step in written {
            match step {
                Written::Delivery(mut prepared, reached) => {
                    if !committed {
                        prepared.unstored();
                    }
                    let applied = self.emit_prepared(prepared).await;
                    if let Some(reached) = reached {
                        let _ = reached.send(applied);
                    }
                }
                Written::Acknowledged(true) if committed => METRICS.acknowledged(),
                Written::Acknowledged(_) => {}
                Written::Receipt(recorded, read, uid, id) => {
                    self.0.acks.recorded(if committed { recorded } else { Recorded::Full }, read, &uid, id)
                }
            }
        }
    }
}

/// The run's transaction, begun by its first write: a run of pushes kept
/// nowhere (`setHistory(false)`) writes, and commits, nothing.
struct Txn<'a> {
    store: &'a Store,
    batch: Option<Batch<'a>>,
    /// A write failed: the transaction is aborted, nothing of the run is written.
    broken: bool,
}

impl<'a> Txn<'a> {
    /// Runs `write` in the transaction (begun now, if this is the first).
    fn step<T>(&mut self, write: impl FnOnce(&mut Batch<'a>) -> Result<T, StoreError>) -> Option<T> {
        if self.broken {
            return None;
        }
        if self.batch.is_none() {
            self.batch = self.store.batch().inspect_err(failed).ok();
        }
        let written = self.batch.as_mut().map(write);
        match written {
            Some(Ok(value)) => Some(value),
            Some(Err(e)) => {
                failed(&e);
                self.abort();
                None
            }
            None => {
                self.abort();
                None
            }
        }
    }

    fn abort(&mut self) {
        self.broken = true;
        self.batch = None;
    }

    /// Commits what the run wrote; whether all of it is written (nothing
    /// to write counts as written).
    fn commit(self) -> bool {
        match (self.broken, self.batch) {
            (true, _) => false,
            (false, None) => true,
            (false, Some(batch)) => batch.commit().inspect_err(failed).is_ok(),
        }
    }
}

fn failed(e: &StoreError) {
    tracing::warn!(cause = %e, "the store failed: these pushes go out live only, and acknowledgements are not kept");
}
