//! A single daemon's writes to its store, grouped: the pushes,
//! acknowledgements and receipts waiting one after the other in the fanout
//! task's queue are written in one transaction, so that a commit (which
//! writes the store's pages) is shared by up to [`MOST_PER_COMMIT`] of them
//! instead of paid by each. The pushes are emitted once it committed, in
//! their order, so that no page sees a position the store does not hold;
//! their answers follow.

use redb::Error as StoreError;
use tokio::sync::oneshot;

use crate::browser::acks;
use crate::browser::deliver::Prepared;
use crate::browser::fanout::{Applied, Applier, Job};
use crate::cluster::bus::Order;
use crate::store::embedded::Batch;
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
    /// What the receipt did, and whether it was a read.
    Receipt(Recorded, bool),
}

impl Applier {
    /// Writes `run` (jobs that [`Job::writes_store`]) in one transaction of
    /// the store, then emits its pushes and answers them. A store that
    /// fails leaves the pushes live only (counted), and the
    /// acknowledgements and receipts unwritten (logged).
    pub(super) async fn write(&self, run: Vec<Job>) {
        let Some(store) = &self.0.store else { return };
        let mut batch = store.batch().inspect_err(failed).ok();
        let mut written = Vec::with_capacity(run.len());
        for job in run {
            written.push(match job {
                Job::Order { order: Order::Deliver(delivery), reached } => {
                    let mut prepared = Prepared::of(delivery);
                    if prepared.keeps() {
                        step(&mut batch, |batch| self.keep_prepared(batch, &mut prepared));
                    }
                    Written::Delivery(prepared, reached)
                }
                Job::Acknowledged { uid, id } => {
                    Written::Acknowledged(step(&mut batch, |batch| batch.acknowledge(&uid, id)).unwrap_or(false))
                }
                Job::Receipt { uid, id, read, time_ms } => {
                    let recorded = step(&mut batch, |batch| batch.receipt(id, &uid, time_ms, read));
                    Written::Receipt(recorded.unwrap_or(Recorded::Full), read)
                }
                other => {
                    debug_assert!(false, "not a store write: {other:?}");
                    continue;
                }
            });
        }
        let committed = batch.is_some_and(|batch| batch.commit().inspect_err(failed).is_ok());
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
                Written::Receipt(recorded, read) => {
                    acks::count(if committed { recorded } else { Recorded::Full }, read)
                }
            }
        }
    }
}

/// Runs `write` in `batch`, if there is one; a failure drops the batch
/// (its transaction is aborted: nothing of this run is written).
fn step<T>(batch: &mut Option<Batch<'_>>, write: impl FnOnce(&mut Batch<'_>) -> Result<T, StoreError>) -> Option<T> {
    match write(batch.as_mut()?) {
        Ok(value) => Some(value),
        Err(e) => {
            failed(&e);
            *batch = None;
            None
        }
    }
}

fn failed(e: &StoreError) {
    tracing::warn!(cause = %e, "the store failed: these pushes go out live only, and acknowledgements are not kept");
}
