//! The one task that changes this node's sockets: it emits messages (and,
//! on a single daemon, keeps them in history and inboxes as it emits them,
//! so that positions follow the order of emission), puts tabs in groups and
//! takes them out, disconnects users, announces arrivals and departures,
//! writes acknowledgements and receipts, and attaches a tab that logged in to its rooms after giving it what it
//! missed. On a single daemon the hub hands it its work; in a cluster the
//! bus does, in the order Redis delivered it, so that every node applies
//! the same orders in the same order. Being one task, nothing here races: a
//! login's recovery and rooms, and the messages around it, are applied one
//! after the other.
//!
//! The queue is bounded (`--max-pending-orders`): a local push waits for
//! room, an order from the bus that finds it full is dropped and counted.

use std::sync::Arc;
use std::time::Duration;

use msgpush_protocol::defaults::events;
use msgpush_protocol::{MsgId, Position};
use serde::Serialize;
use socketioxide::extract::SocketRef;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::browser::acks::Acks;
use crate::browser::commits::MOST_PER_COMMIT;
use crate::browser::emit::{Browsers, Rooms};
use crate::browser::recover::Presented;
use crate::browser::rooms;
use crate::cluster::bus::{Order, Recovery};
use crate::cluster::memberships::Memberships;
use crate::state::memberships::{Read, Saved};
use crate::state::presence::Presence;
use crate::state::turn::Turn;
use crate::store::embedded::Store;
use crate::store::entry::{now_ms, PageNames};
use crate::telemetry::metrics::METRICS;

/// How often a single daemon's store drops what its retention no longer
/// keeps, and makes its commits durable.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// What the task is asked to do.
#[derive(Debug)]
pub enum Job {
    /// Apply an order; send what it did to `reached`.
    Order { order: Order, reached: Option<oneshot::Sender<Applied>> },
    /// Give a tab that logged in what it missed, then put it in its rooms.
    Attach(Box<AttachRequest>),
    /// A tab of `uid` acknowledged kept message `id` (a single daemon's).
    Acknowledged { uid: Arc<str>, id: MsgId },
    /// A tab of `uid` acknowledged message `id`, sent with receipts, or
    /// reported it `read` (a single daemon's).
    Receipt { uid: Arc<str>, id: MsgId, read: bool, time_ms: u64 },
    /// Forget the messages kept for `uid` (a single daemon's); send how many.
    ClearInbox { uid: String, done: oneshot::Sender<u64> },
    /// Forget the stored memberships of users the retention forgot.
    ForgetMembers(Vec<String>),
}

/// A tab that logged in, to attach.
#[derive(Debug)]
pub struct AttachRequest {
    /// The tab.
    pub socket: SocketRef,
    /// Its user.
    pub uid: Arc<str>,
    /// The groups its login token names.
    pub token_groups: Vec<Arc<str>>,
    /// Its user's memberships, as read.
    pub members: Read,
    /// The positions it presented.
    pub presented: Presented,
    /// In a cluster, what Redis read of its streams and inbox at this
    /// login's place among the orders (a single daemon reads its store here).
    pub recovery: Option<Recovery>,
    /// Where the outcome goes.
    pub done: oneshot::Sender<Attached>,
}

/// How an attach ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// The tab is in its rooms.
    Done,
    /// The memberships read are older than a change already applied here:
    /// read them again.
    Stale,
    /// The tab closed meanwhile; it is in no room.
    Closed,
}

/// What applying an order did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Applied {
    /// The sockets it reached (or disconnected, or put in a group).
    pub sockets: u64,
    /// A message's positions, by stream (`user:UID`, `group:NAME`, `all`).
    pub positions: Vec<(String, Position)>,
    /// The users a message was kept for.
    pub kept: u64,
}

impl Applied {
    /// Sockets reached, and nothing else.
    pub fn sockets(sockets: u64) -> Applied {
        Applied { sockets, ..Applied::default() }
    }
}

/// The handle that gives the task its work.
#[derive(Debug, Clone)]
pub struct Fanout {
    jobs: mpsc::Sender<Job>,
}

/// The other end: the task's queue.
#[derive(Debug)]
pub struct Queue(mpsc::Receiver<Job>);

/// A new queue of `capacity` jobs.
pub fn queue(capacity: usize) -> (Fanout, Queue) {
    let (jobs, queue) = mpsc::channel(capacity.max(1));
    (Fanout { jobs }, Queue(queue))
}

/// What an arrival or a departure announcement carries.
#[derive(Debug, Serialize)]
struct Announcement<'a> {
    group: &'a str,
    uid: &'a str,
}

impl Fanout {
    /// Applies `order` once the queue has room, passing `turn` once it is
    /// queued; returns what it did (nothing if the daemon is shutting down).
    pub async fn apply(&self, order: Order, turn: &mut Turn) -> Applied {
        let (reached, answer) = oneshot::channel();
        let queued = self.jobs.send(Job::Order { order, reached: Some(reached) }).await;
        turn.pass();
        if queued.is_err() {
            return Applied::default();
        }
        answer.await.unwrap_or_default()
    }

    /// Queues `order` if there is room (an order from the bus); else drops
    /// and counts it. `reached` gets what it did.
    pub fn offer(&self, order: Order, reached: Option<oneshot::Sender<Applied>>) {
        self.offer_job(Job::Order { order, reached });
    }

    /// Queues `job` if there is room; else drops and counts it.
    pub fn offer_job(&self, job: Job) {
        if self.jobs.try_send(job).is_err() {
            METRICS.order_dropped();
            tracing::warn!("orders arrive faster than this node applies them (--max-pending-orders): one dropped");
        }
    }

    /// Attaches a tab; waits for room in the queue.
    pub async fn attach(&self, request: AttachRequest) -> Option<()> {
        self.jobs.send(Job::Attach(Box::new(request))).await.ok()
    }

    /// Forgets the messages kept for `uid`; returns how many.
    pub async fn clear_inbox(&self, uid: String) -> u64 {
        let (done, answer) = oneshot::channel();
        if self.jobs.send(Job::ClearInbox { uid, done }).await.is_err() {
            return 0;
        }
        answer.await.unwrap_or(0)
    }

    /// Jobs waiting, for the metrics.
    pub fn waiting(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }
}

/// What the task works with.
#[derive(Debug)]
pub struct Parts {
    /// This node's sockets.
    pub browsers: Browsers,
    /// Who is logged in here, and in which groups.
    pub presence: Arc<Presence>,
    /// Who is a member of which group.
    pub memberships: Arc<Memberships>,
    /// A single daemon's store.
    pub store: Option<Arc<Store>>,
    /// Where acknowledgements go.
    pub acks: Acks,
    /// What pages call streams.
    pub names: PageNames,
    /// How long a tab has to acknowledge a kept message.
    pub ack_timeout: Duration,
    /// Most messages one tab is given at login (its recovery, its inbox).
    pub most_at_login: usize,
}

impl Queue {
    /// Applies the jobs, one after the other, until shutdown.
    pub async fn run(mut self, parts: Parts, shutdown: CancellationToken) {
        let applier = Applier(parts);
        let mut upkeep = tokio::time::interval(UPKEEP_INTERVAL);
        upkeep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut cursor = None;
        // A job taken from the queue after a run of store writes, not yet applied.
        let mut held = None;
        loop {
            let job = match held.take() {
                Some(job) => job,
                None => tokio::select! {
                    job = self.0.recv() => match job {
                        Some(job) => job,
                        None => break,
                    },
                    _ = upkeep.tick(), if applier.0.store.is_some() => {
                        cursor = applier.upkeep(cursor.take());
                        continue;
                    }
                    _ = shutdown.cancelled() => break,
                },
            };
            if applier.0.store.is_some() && job.writes_store() {
                let mut run = vec![job];
                while run.len() < MOST_PER_COMMIT {
                    match self.0.try_recv() {
                        Ok(next) if next.writes_store() => run.push(next),
                        Ok(next) => {
                            held = Some(next);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                applier.write(run).await;
                continue;
            }
            match job {
                Job::Order { order, reached } => {
                    let applied = applier.order(order).await;
                    if let Some(reached) = reached {
                        let _ = reached.send(applied);
                    }
                }
                Job::Attach(request) => {
                    let AttachRequest { socket, uid, token_groups, members, presented, recovery, done } = *request;
                    let attached = applier.attach(&socket, &uid, token_groups, members, presented, recovery);
                    let _ = done.send(attached);
                }
                // Written with the store's runs above; without a store, nothing to write.
                Job::Acknowledged { .. } | Job::Receipt { .. } => {}
                Job::ClearInbox { uid, done } => {
                    let _ = done.send(applier.clear_inbox(&uid));
                }
                Job::ForgetMembers(uids) => applier.save_members(uids.iter().map(|uid| Saved::forgotten(uid))),
            }
        }
        if let Some(store) = &applier.0.store {
            if let Err(e) = store.sync() {
                tracing::error!(cause = %e, "the store's last commits could not be made durable");
            }
        }
    }
}

/// What applies the jobs.
pub(super) struct Applier(pub(super) Parts);

impl Applier {
    async fn order(&self, order: Order) -> Applied {
        let Parts { browsers, presence, .. } = &self.0;
        match order {
            Order::Deliver(delivery) => self.deliver(delivery).await,
            Order::Join { uids, groups, version } => {
                let tabs = self.membership(&uids, &groups, version, true);
                self.save_memberships(&uids);
                Applied::sockets(tabs)
            }
            Order::Leave { uids, groups, version } => {
                let tabs = self.membership(&uids, &groups, version, false);
                self.save_memberships(&uids);
                Applied::sockets(tabs)
            }
            Order::Disconnect { uids } => {
                let tabs = presence.sockets_of_all(&uids);
                let Some(rooms) = Rooms::new(rooms::of_users(&uids)) else { return Applied::default() };
                match browsers.disconnect(rooms).await {
                    Ok(missed) => Applied::sockets(tabs.saturating_sub(missed) as u64),
                    Err(e) => {
                        tracing::warn!(cause = %e, "cannot disconnect");
                        Applied::default()
                    }
                }
            }
            Order::Announce { group, uid, arrived } => {
                let event = if arrived { events::JOINED } else { events::LEFT };
                let Some(rooms) = Rooms::new(rooms::of_groups(&[group.as_str()])) else { return Applied::default() };
                let announcement = Announcement { group: &group, uid: &uid };
                let to = crate::browser::emit::To::Rooms(rooms);
                if let Err(e) = browsers.emit(to, &[], event, &(announcement,)).await {
                    tracing::warn!(cause = %e, "cannot announce");
                }
                Applied::default()
            }
        }
    }

    /// Puts the tabs of `uids` in `groups` (`join`), or takes them out;
    /// returns how many tabs of theirs are in the groups now (`join`), or
    /// left one of them.
    fn membership(&self, uids: &[String], groups: &[String], version: u64, join: bool) -> u64 {
        let Parts { browsers, presence, .. } = &self.0;
        let names: Vec<Arc<str>> = groups.iter().map(|group| Arc::from(group.as_str())).collect();
        let member_rooms: Vec<String> = groups.iter().map(|group| rooms::of_member_group(group)).collect();
        let mut tabs = 0;
        for uid in uids {
            presence.note_version(uid, version);
            for sid in presence.sids_of(uid) {
                let Some(socket) = browsers.socket(sid) else { continue };
                if join {
                    socket.join(member_rooms.clone());
                    presence.join(sid, &names, false);
                    tabs += 1;
                } else {
                    socket.leave(member_rooms.clone());
                    let before = names.iter().filter(|group| presence.in_group(sid, group)).count();
                    presence.leave(sid, &names);
                    let after = names.iter().filter(|group| presence.in_group(sid, group)).count();
                    tabs += u64::from(after < before);
                }
            }
        }
        tabs
    }

    /// A single daemon's store: what the retention no longer keeps is
    /// dropped, and commits are made durable. Returns where the next sweep
    /// of empty streams starts.
    fn upkeep(&self, cursor: Option<String>) -> Option<String> {
        let store = self.0.store.as_ref()?;
        let now = now_ms();
        let next = store.batch().and_then(|mut batch| {
            let next = batch.expire(now, cursor)?;
            batch.expire_inbox(now)?;
            batch.expire_receipts(now)?;
            batch.commit()?;
            Ok(next)
        });
        if let Err(e) = store.sync() {
            tracing::error!(cause = %e, "the store's commits could not be made durable");
        }
        next.unwrap_or_else(|e| {
            tracing::error!(cause = %e, "the store's retention could not be applied");
            None
        })
    }

    /// Writes a single daemon's memberships of `uids`, as they are now, to
    /// its store.
    fn save_memberships(&self, uids: &[String]) {
        if let Memberships::Local(local) = &*self.0.memberships {
            self.save_members(uids.iter().map(|uid| local.saved(uid)));
        }
    }

    /// Writes `saved` to a single daemon's store.
    pub(super) fn save_members(&self, saved: impl Iterator<Item = Saved>) {
        let Some(store) = &self.0.store else { return };
        let written = store.batch().and_then(|mut batch| {
            for saved in saved {
                batch.save_member(&saved)?;
            }
            batch.commit()
        });
        if let Err(e) = written {
            tracing::warn!(cause = %e, "memberships could not be stored: a restart would lose them");
        }
    }

    fn clear_inbox(&self, uid: &str) -> u64 {
        let Some(store) = &self.0.store else { return 0 };
        let cleared = store.batch().and_then(|mut batch| {
            let cleared = batch.clear(uid)?;
            batch.commit()?;
            Ok(cleared)
        });
        cleared.unwrap_or_else(|e| {
            tracing::warn!(cause = %e, "an inbox could not be cleared");
            0
        })
    }
}
