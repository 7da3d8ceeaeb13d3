//! The logins of a cluster node whose recovery Redis reads: a login takes a
//! ticket and asks Redis to read what its tab missed; Redis publishes the
//! reading on this node's own channel, where it arrives between the orders
//! Redis published before and after it, and the bus hands it, with the
//! login, to the fanout at that very place. A reading that does not come
//! (Redis lost meanwhile) is given up after a while: the tab is attached
//! without it and told its recovery is incomplete.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::browser::fanout::{AttachRequest, Fanout, Job};
use crate::cluster::bus::Recovery;
use crate::cluster::census::Census;
use crate::cluster::history::SharedStore;
use crate::store::entry::PageNames;

/// How long a login waits for its reading before it is attached without.
const PATIENCE: Duration = Duration::from_secs(5);

/// The logins waiting for their reading.
#[derive(Debug)]
pub struct Recoveries {
    next: AtomicU64,
    waiting: Arc<Mutex<HashMap<u64, AttachRequest>>>,
    store: Arc<SharedStore>,
    census: Arc<Census>,
    channel: String,
    fanout: Fanout,
    names: PageNames,
    most: usize,
}

impl Recoveries {
    /// Logins of this node, whose readings Redis publishes on `channel`.
    pub fn new(
        store: Arc<SharedStore>,
        census: Arc<Census>,
        channel: String,
        fanout: Fanout,
        names: PageNames,
        most: usize,
    ) -> Recoveries {
        Recoveries { next: AtomicU64::new(1), waiting: Arc::default(), store, census, channel, fanout, names, most }
    }

    /// Has `request`'s tab attached once Redis read what it missed; during
    /// an outage, at once, without.
    pub async fn attach(&self, request: AttachRequest) {
        if !self.census.reachable() {
            self.fanout.attach(request).await;
            return;
        }
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        let mut groups = request.token_groups.clone();
        groups.extend(request.members.groups.iter().cloned());
        let wanted = request.presented.streams(&request.uid, &groups, &self.names);
        let uid = request.uid.clone();
        lock(&self.waiting).insert(ticket, request);
        if let Err(e) = self.store.recover(&self.channel, ticket, &uid, &wanted, self.most).await {
            tracing::debug!(cause = %e, "a recovery could not be read: attached without");
            self.give_up(ticket).await;
            return;
        }
        let (waiting, fanout) = (self.waiting.clone(), self.fanout.clone());
        tokio::spawn(async move {
            tokio::time::sleep(PATIENCE).await;
            let late = lock(&waiting).remove(&ticket);
            if let Some(request) = late {
                tracing::warn!("a recovery did not arrive from Redis: the tab is attached without it");
                fanout.attach(request).await;
            }
        });
    }

    async fn give_up(&self, ticket: u64) {
        let request = lock(&self.waiting).remove(&ticket);
        if let Some(request) = request {
            self.fanout.attach(request).await;
        }
    }

    /// The attach of the login `recovery` answers, to queue where it came.
    pub fn arrived(&self, recovery: Recovery) -> Option<Job> {
        let mut request = lock(&self.waiting).remove(&recovery.ticket)?;
        request.recovery = Some(recovery);
        Some(Job::Attach(Box::new(request)))
    }
}

fn lock(waiting: &Mutex<HashMap<u64, AttachRequest>>) -> MutexGuard<'_, HashMap<u64, AttachRequest>> {
    waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
