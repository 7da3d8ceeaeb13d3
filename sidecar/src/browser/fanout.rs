//! The one task that changes this node's sockets: it emits messages, puts
//! tabs in groups and takes them out, disconnects users, announces arrivals
//! and departures, and attaches a tab that logged in to its rooms. On a
//! single daemon the hub hands it its work; in a cluster the bus does, in
//! the order Redis delivered it, so that every node applies the same orders
//! in the same order. Being one task, nothing here races: a login's rooms
//! and a membership change, or two messages, are applied one after the other.
//!
//! The queue is bounded (`--max-pending-orders`): a local push waits for
//! room, an order from the bus that finds it full is dropped and counted.

use std::sync::Arc;

use msgpush_protocol::defaults::events;
use serde::Serialize;
use socketioxide::extract::SocketRef;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::browser::emit::{Browsers, Rooms, To};
use crate::browser::rooms;
use crate::browser::rooms::join_unless_closed;
use crate::cluster::bus::{Audience, Delivery, Order};
use crate::state::memberships::Read;
use crate::state::presence::Presence;
use crate::telemetry::metrics::METRICS;

/// What the task is asked to do.
#[derive(Debug)]
pub enum Job {
    /// Apply an order; send the sockets it reached (or disconnected, or
    /// put in a group) to `reached`.
    Order { order: Order, reached: Option<oneshot::Sender<u64>> },
    /// Put a tab that logged in in its rooms: its user's, its token's
    /// groups, its user's groups as `members` read them.
    Attach {
        socket: SocketRef,
        uid: Arc<str>,
        token_groups: Vec<Arc<str>>,
        members: Read,
        done: oneshot::Sender<Attached>,
    },
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
    /// Applies `order` once the queue has room; returns the sockets it
    /// reached (0 if the daemon is shutting down).
    pub async fn apply(&self, order: Order) -> u64 {
        let (reached, answer) = oneshot::channel();
        if self.jobs.send(Job::Order { order, reached: Some(reached) }).await.is_err() {
            return 0;
        }
        answer.await.unwrap_or(0)
    }

    /// Queues `order` if there is room (an order from the bus); else drops
    /// and counts it. `reached` gets the sockets it reached.
    pub fn offer(&self, order: Order, reached: Option<oneshot::Sender<u64>>) {
        if self.jobs.try_send(Job::Order { order, reached }).is_err() {
            METRICS.order_dropped();
            tracing::warn!("orders arrive faster than this node applies them (--max-pending-orders): one dropped");
        }
    }

    /// Attaches `socket` (logged in as `uid`) to its rooms.
    pub async fn attach(
        &self,
        socket: SocketRef,
        uid: Arc<str>,
        token_groups: Vec<Arc<str>>,
        members: Read,
    ) -> Attached {
        let (done, answer) = oneshot::channel();
        let job = Job::Attach { socket, uid, token_groups, members, done };
        if self.jobs.send(job).await.is_err() {
            return Attached::Closed;
        }
        answer.await.unwrap_or(Attached::Closed)
    }

    /// Jobs waiting, for the metrics.
    pub fn waiting(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }
}

impl Queue {
    /// Applies the jobs, one after the other, until shutdown.
    pub async fn run(mut self, browsers: Browsers, presence: Arc<Presence>, shutdown: CancellationToken) {
        let fanout = Applier { browsers, presence };
        loop {
            let job = tokio::select! {
                job = self.0.recv() => job,
                _ = shutdown.cancelled() => return,
            };
            match job {
                None => return,
                Some(Job::Order { order, reached }) => {
                    let sockets = fanout.order(order).await;
                    if let Some(reached) = reached {
                        let _ = reached.send(sockets);
                    }
                }
                Some(Job::Attach { socket, uid, token_groups, members, done }) => {
                    let _ = done.send(fanout.attach(&socket, &uid, token_groups, members));
                }
            }
        }
    }
}

/// What applies the jobs.
struct Applier {
    browsers: Browsers,
    presence: Arc<Presence>,
}

impl Applier {
    async fn order(&self, order: Order) -> u64 {
        match order {
            Order::Deliver(delivery) => self.deliver(delivery).await,
            Order::Join { uids, groups, version } => self.membership(&uids, &groups, version, true),
            Order::Leave { uids, groups, version } => self.membership(&uids, &groups, version, false),
            Order::Disconnect { uids } => {
                let tabs = self.presence.sockets_of_all(&uids);
                let Some(rooms) = Rooms::new(rooms::of_users(&uids)) else { return 0 };
                match self.browsers.disconnect(rooms).await {
                    Ok(missed) => tabs.saturating_sub(missed) as u64,
                    Err(e) => {
                        tracing::warn!(cause = %e, "cannot disconnect");
                        0
                    }
                }
            }
            Order::Announce { group, uid, arrived } => {
                let event = if arrived { events::JOINED } else { events::LEFT };
                let Some(rooms) = Rooms::new(rooms::of_groups(&[group.as_str()])) else { return 0 };
                let announcement = Announcement { group: &group, uid: &uid };
                if let Err(e) = self.browsers.emit_value(rooms, event, &announcement).await {
                    tracing::warn!(cause = %e, "cannot announce");
                }
                0
            }
        }
    }

    /// Emits `delivery` to this node's sockets; returns how many it reached.
    async fn deliver(&self, delivery: Delivery) -> u64 {
        let Delivery { to, except, event, content, .. } = delivery;
        let (target, addressed) = match to {
            Audience::Everyone => {
                let excepted = self.presence.sockets_of_all(&except);
                (Some(To::Everyone), self.browsers.sockets().saturating_sub(excepted))
            }
            Audience::Users(uids) => {
                (Rooms::new(rooms::of_users(&uids)).map(To::Rooms), self.presence.sockets_of_all(&uids))
            }
            Audience::Groups(groups) => {
                let addressed = self.presence.sockets_in_groups(&groups, &except);
                (Rooms::new(rooms::of_groups(&groups)).map(To::Rooms), addressed)
            }
        };
        // Nobody named is nobody, never every socket.
        let Some(target) = target else { return 0 };
        if addressed == 0 {
            return 0;
        }
        match self.browsers.emit(target, &except, &event, &content).await {
            Ok(missed) => addressed.saturating_sub(missed) as u64,
            Err(e) => {
                tracing::warn!(cause = %e, "cannot emit");
                0
            }
        }
    }

    /// Puts the tabs of `uids` in `groups` (`join`), or takes them out;
    /// returns how many tabs of theirs are in the groups now (`join`), or
    /// left one of them.
    fn membership(&self, uids: &[String], groups: &[String], version: u64, join: bool) -> u64 {
        let names: Vec<Arc<str>> = groups.iter().map(|group| Arc::from(group.as_str())).collect();
        let member_rooms: Vec<String> = groups.iter().map(|group| rooms::of_member_group(group)).collect();
        let mut tabs = 0;
        for uid in uids {
            self.presence.note_version(uid, version);
            for sid in self.presence.sids_of(uid) {
                let Some(socket) = self.browsers.socket(sid) else { continue };
                if join {
                    socket.join(member_rooms.clone());
                    self.presence.join(sid, &names, false);
                    tabs += 1;
                } else {
                    socket.leave(member_rooms.clone());
                    let before = names.iter().filter(|group| self.presence.in_group(sid, group)).count();
                    self.presence.leave(sid, &names);
                    let after = names.iter().filter(|group| self.presence.in_group(sid, group)).count();
                    tabs += u64::from(after < before);
                }
            }
        }
        tabs
    }

    /// Puts `socket` in its rooms, unless the memberships read are stale or
    /// it closed meanwhile.
    fn attach(&self, socket: &SocketRef, uid: &Arc<str>, token_groups: Vec<Arc<str>>, members: Read) -> Attached {
        if self.presence.version_of(uid) > members.version {
            return Attached::Stale;
        }
        let mut names = vec![rooms::of_user(uid)];
        names.extend(token_groups.iter().map(|group| rooms::of_token_group(group)));
        names.extend(members.groups.iter().map(|group| rooms::of_member_group(group)));
        if !join_unless_closed(socket, names) {
            return Attached::Closed;
        }
        self.presence.join(socket.id, &token_groups, true);
        self.presence.join(socket.id, &members.groups, false);
        self.presence.note_version(uid, members.version);
        Attached::Done
    }
}
