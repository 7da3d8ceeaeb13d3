//! The state every ingress shares, and the one place that ties its parts
//! together: this node's sockets and the task that changes them, who is
//! online (here, and in a cluster the census), the memberships of groups,
//! the online-count message and the login tokens. Every request from PHP
//! (or the HTTP API) is one of the methods here.
//!
//! On a single daemon the hub hands its orders (emit, join, leave,
//! disconnect) to this node's fanout task and counts what they reached. In
//! a cluster it publishes the order on the bus for every node to apply, by
//! one command that also counts a message's sockets from the census (and
//! keeps it, if asked), queued with the others in the outbox so that many
//! pushes share a round trip to Redis; while Redis is unreachable each node
//! applies its orders to, and counts, its own sockets only, so a push is
//! never held up by the outage.
//!
//! - `commands`: each command of the protocol, answered.
//! - `publish`: pushes, to users, groups or everyone.
//! - `groups`: memberships, from PHP.
//! - `presence`: who is online, as PHP asks it; arrivals and departures.
//! - `inbox`: the messages kept for a user, as PHP asks about them.
//! - `receipts`: who acknowledged and read a message, as PHP asks it.
//! - `webhook`: checking a webhook request for the application.
//! - `cluster`: the bus's side of a node: its orders and answers.
//! - `to_cluster`: a node's orders, published through the outbox.

mod cluster;
mod commands;
mod groups;
mod inbox;
mod presence;
mod publish;
mod receipts;
mod to_cluster;
mod webhook;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use msgpush_protocol::defaults::events;
use msgpush_protocol::limits::{check_ttl, check_uid};
use msgpush_protocol::{ErrorCode, Position, TokenRequest};
use tokio_util::sync::CancellationToken;

use crate::auth::tokens::Tokens;
use crate::browser::emit::{Browsers, SocketKind, To};
use crate::browser::fanout::Fanout;
use crate::browser::recovering::Recoveries;
use crate::cluster::bus::{Bus, Order};
use crate::cluster::census::Census;
use crate::cluster::directory::Directory;
use crate::cluster::history::SharedStore;
use crate::cluster::memberships::Memberships;
use crate::cluster::outbox::Outbox;
use crate::cluster::receipts::SharedReceipts;
use crate::state::local_book::LocalBook;
use crate::state::online_count::OnlineCount;
use crate::state::presence::{OnlineCounts, Presence};
use crate::state::recent::Recent;
use crate::state::turn::Turn;
use crate::state::waits::Waits;
use crate::store::embedded::Store;
use crate::webhooks::sender::Webhooks;

pub use self::cluster::Gathers;

/// How often the online figures are compared with the last broadcast.
const ONLINE_COUNT_INTERVAL: Duration = Duration::from_secs(1);

/// Shared daemon state, held in an `Arc`.
#[derive(Debug)]
pub struct Hub {
    browsers: Browsers,
    presence: Arc<Presence>,
    directory: Directory,
    fanout: Fanout,
    memberships: Arc<Memberships>,
    online: Arc<OnlineCount>,
    tokens: Arc<Tokens>,
    recent: Recent,
    limits: Limits,
    /// The cluster, for a node of one.
    cluster: Option<Cluster>,
    /// A single daemon's store (a cluster's is in Redis).
    store: Option<Arc<Store>>,
    /// Who is present, on a single daemon (a cluster's census keeps it).
    book: LocalBook,
    /// The pushes waiting for acknowledgements.
    waits: Arc<Waits>,
    /// Events to the application.
    webhooks: Webhooks,
}

/// What a node of a cluster has besides.
#[derive(Debug)]
pub struct Cluster {
    /// Who is online on every node.
    pub census: Arc<Census>,
    /// The orders to every node.
    pub bus: Arc<Bus>,
    /// Counts asked of every node.
    pub gathers: Gathers,
    /// The orders on their way to Redis.
    pub outbox: Outbox,
    /// History and inboxes.
    pub store: Arc<SharedStore>,
    /// Receipts.
    pub receipts: Arc<SharedReceipts>,
    /// This node's logins waiting for their recovery.
    pub recoveries: Arc<Recoveries>,
}

/// The bounds of a request that are settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `--max-groups-per-request`.
    pub groups_per_request: usize,
    /// `--offline-grace-secs`.
    pub grace: Duration,
    /// `--max-announced-group-users`.
    pub announced_group_users: usize,
    /// `--inbox-max-keep-secs`.
    pub max_keep: Duration,
    /// `--max-ack-timeout-ms`.
    pub max_ack_wait: Duration,
}

/// The parts a hub ties together.
#[derive(Debug)]
pub struct Parts {
    /// This node's sockets.
    pub browsers: Browsers,
    /// Who is logged in on this node.
    pub presence: Arc<Presence>,
    /// The task that changes this node's sockets.
    pub fanout: Fanout,
    /// Who is a member of which group.
    pub memberships: Arc<Memberships>,
    /// The `update_online_count` message.
    pub online: Arc<OnlineCount>,
    /// Login tokens.
    pub tokens: Arc<Tokens>,
    /// Messages published recently, by id.
    pub recent: Recent,
    /// The bounds.
    pub limits: Limits,
    /// The cluster, for a node of one.
    pub cluster: Option<Cluster>,
    /// A single daemon's store.
    pub store: Option<Arc<Store>>,
    /// The pushes waiting for acknowledgements.
    pub waits: Arc<Waits>,
    /// Events to the application.
    pub webhooks: Webhooks,
}

/// What a node holds at one moment.
#[derive(Debug)]
pub struct Figures {
    /// This node's sockets, by kind.
    pub sockets: BTreeMap<SocketKind, usize>,
    /// Users and sockets logged in on this node.
    pub logged_in: OnlineCounts,
    /// Rooms on this node with a socket in them.
    pub rooms: usize,
    /// The cluster's figures, in a cluster.
    pub cluster: Option<ClusterFigures>,
}

/// A cluster's figures, as this node sees them.
#[derive(Debug)]
pub struct ClusterFigures {
    /// This node's id.
    pub node: String,
    /// Whether Redis answers this node.
    pub reachable: bool,
    /// Users and sockets logged in across the cluster (None: Redis did not say).
    pub counts: Option<OnlineCounts>,
    /// Each node's id and connected sockets (empty: Redis did not say).
    pub nodes: Vec<(String, usize)>,
    /// This node's orders waiting to be written to Redis.
    pub outbox_waiting: usize,
}

/// What applying an order did.
#[derive(Debug)]
struct Published {
    /// The sockets it reached, when counted here or gathered.
    reached: Option<u64>,
    /// A message's positions in its streams.
    positions: Vec<(String, Position)>,
    /// The users a message was kept for.
    kept: u64,
}

/// Why a request was refused or failed.
#[derive(Debug)]
pub enum RequestError {
    /// The request breaks a rule (empty event, uid too long...).
    Invalid(String),
    /// The daemon could not carry it out (emit, sign).
    Internal(String),
    /// The daemon is at one of its bounds for this kind of request.
    Busy(String),
    /// A webhook request the daemon did not sign (or signed too long ago).
    Forged(String),
}

impl RequestError {
    /// The protocol error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            RequestError::Invalid(_) => ErrorCode::InvalidInput,
            RequestError::Internal(_) => ErrorCode::Internal,
            RequestError::Busy(_) => ErrorCode::Busy,
            RequestError::Forged(_) => ErrorCode::Forged,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Invalid(why)
            | RequestError::Internal(why)
            | RequestError::Busy(why)
            | RequestError::Forged(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for RequestError {}

impl Hub {
    /// Ties `parts` together.
    pub fn new(parts: Parts) -> Hub {
        let Parts {
            browsers,
            presence,
            fanout,
            memberships,
            online,
            tokens,
            recent,
            limits,
            cluster,
            store,
            waits,
            webhooks,
        } = parts;
        let directory = Directory::new(presence.clone(), cluster.as_ref().map(|c| c.census.clone()));
        let book = LocalBook::new(limits.grace);
        Hub {
            browsers,
            presence,
            directory,
            fanout,
            memberships,
            online,
            tokens,
            recent,
            limits,
            cluster,
            store,
            book,
            waits,
            webhooks,
        }
    }

    /// The census, while Redis answers this node.
    fn reachable_census(&self) -> Option<&Census> {
        self.cluster.as_ref().map(|c| &*c.census).filter(|census| census.reachable())
    }

    /// Applies `order` on every node, or on this node only: alone, during
    /// an outage, or if publishing it fails (Redis lost meanwhile). With
    /// `gather`, in a cluster, every node says how many sockets it reached,
    /// and the answer sums them; else, applied here, it is what this node's
    /// fanout reached, and published, None.
    ///
    /// A message to keep (in history, or in inboxes) is kept as it is
    /// published: in a cluster by Redis, in the same step; alone by this
    /// node's fanout, as it emits. One that cannot be kept (Redis lost) is
    /// still delivered live, and counted. `turn` is passed once the order is
    /// placed: published, or queued for this node's fanout.
    async fn apply(&self, order: Order, gather: bool, turn: &mut Turn) -> Result<Published, RequestError> {
        if let Some(cluster) = self.cluster.as_ref().filter(|c| c.census.reachable()) {
            return self.publish_to_cluster(cluster, order, gather, turn).await;
        }
        let applied = self.fanout.apply(order, turn).await;
        Ok(Published { reached: Some(applied.sockets), positions: applied.positions, kept: applied.kept })
    }

    /// A login token for `request.uid`; returns it and its expiry.
    pub fn mint_token(&self, request: &TokenRequest) -> Result<(String, u64), RequestError> {
        check_uid(&request.uid).map_err(RequestError::Invalid)?;
        check_ttl(request.ttl).map_err(RequestError::Invalid)?;
        self.tokens.check_groups(&request.groups).map_err(RequestError::Invalid)?;
        let groups = distinct(request.groups.clone());
        self.tokens
            .mint(&request.uid, &groups, request.ttl)
            .map_err(|e| RequestError::Internal(format!("cannot sign: {e}")))
    }

    /// Broadcasts the online figures (the cluster's, in a cluster) to this
    /// node's sockets whenever they changed, checking once a second, until
    /// shutdown.
    pub async fn broadcast_online_count(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(ONLINE_COUNT_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            if let Some(message) = self.online.update(self.directory.counts().await) {
                if let Err(e) = self.browsers.emit(To::Everyone, &[], events::ONLINE_COUNT, &(&*message,)).await {
                    tracing::warn!(cause = %e, "online count broadcast failed");
                }
            }
        }
    }

    /// What this node (and its cluster) holds now, for monitoring.
    pub async fn figures(&self) -> Figures {
        let cluster = match &self.cluster {
            None => None,
            Some(Cluster { census, outbox, .. }) => {
                let (counts, nodes) = tokio::join!(census.counts(), census.nodes());
                Some(ClusterFigures {
                    node: census.node().to_owned(),
                    reachable: census.reachable(),
                    counts: counts.ok(),
                    nodes: nodes.unwrap_or_default(),
                    outbox_waiting: outbox.waiting(),
                })
            }
        };
        Figures {
            sockets: self.browsers.sockets_by_kind(),
            logged_in: self.presence.counts(),
            rooms: self.browsers.rooms().await,
            cluster,
        }
    }

    /// Why this node cannot serve as it should, if it cannot: in a cluster,
    /// Redis unreachable (it then serves its own browsers only).
    pub fn unready_because(&self) -> Option<&'static str> {
        match &self.cluster {
            Some(cluster) if !cluster.census.reachable() => Some("redis unreachable"),
            _ => None,
        }
    }

    /// Disconnects every browser (at shutdown).
    pub async fn close(&self) {
        self.browsers.close().await;
    }

    /// Pushes waiting for acknowledgements, for the metrics.
    pub fn waiting_pushes(&self) -> usize {
        self.waits.len()
    }

    /// Events waiting for the webhook, for the metrics.
    pub fn waiting_events(&self) -> usize {
        self.webhooks.waiting()
    }

    /// Orders waiting for this node's fanout task, for the metrics.
    pub fn pending_orders(&self) -> usize {
        self.fanout.waiting()
    }

    /// What a single daemon's store holds (None in a cluster: Redis holds it).
    pub fn stored(&self) -> Option<Stored> {
        let store = self.store.as_ref()?;
        let (history_messages, history_bytes) = store.totals.history();
        let (inbox_messages, inbox_bytes) = store.totals.inbox();
        let history_streams = store.history_streams();
        Some(Stored { history_messages, history_bytes, history_streams, inbox_messages, inbox_bytes })
    }

    /// Memberships this daemon holds (None in a cluster: Redis holds them).
    pub fn memberships(&self) -> Option<usize> {
        match &*self.memberships {
            Memberships::Local(local) => Some(local.total()),
            Memberships::Shared(_) => None,
        }
    }
}

/// `names`, each once, sorted.
fn distinct(mut names: Vec<String>) -> Vec<String> {
    names.sort_unstable();
    names.dedup();
    names
}

/// What a single daemon's store holds, for the metrics.
#[derive(Debug, Clone, Copy)]
pub struct Stored {
    /// Messages kept in history, once per stream.
    pub history_messages: u64,
    /// Bytes of history's log.
    pub history_bytes: u64,
    /// Streams keeping messages.
    pub history_streams: usize,
    /// Messages kept in inboxes.
    pub inbox_messages: u64,
    /// Their bytes.
    pub inbox_bytes: u64,
}
