//! The state every ingress shares, and the one place that ties its parts
//! together: the Socket.IO handle, who is online (here, and in a cluster
//! the census), the online-count message and the login tokens. Every
//! request from PHP (or the HTTP API) is one of the methods here.
//!
//! In a cluster a push is emitted to every node and counted from the
//! census; while Redis is unreachable each node emits to, and counts, its
//! own sockets only, so a push is never held up by the outage. When Redis
//! is only slow to count, the push is still published to every node and
//! counts this node's sockets (a lower bound).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use msgpush_protocol::defaults::events;
use msgpush_protocol::limits::{check_ttl, check_uid, check_uids};
use msgpush_protocol::{Content, Disconnect, ErrorCode, Publish, Target, TokenRequest};
use socketioxide::BroadcastError;
use tokio_util::sync::CancellationToken;

use crate::auth::tokens::Tokens;
use crate::browser::emit::{Browsers, Reach, Rooms, SocketKind, To};
use crate::cluster::census::Census;
use crate::state::online_count::OnlineCount;
use crate::state::presence::{OnlineCounts, Presence};
use crate::state::recent::{Claim, Recent};
use crate::telemetry::metrics::{Ingress, PushResult, METRICS};

/// How often the online figures are compared with the last broadcast.
const ONLINE_COUNT_INTERVAL: Duration = Duration::from_secs(1);

/// Shared daemon state, held in an `Arc`.
#[derive(Debug)]
pub struct Hub {
    browsers: Browsers,
    presence: Arc<Presence>,
    census: Option<Arc<Census>>,
    online: Arc<OnlineCount>,
    tokens: Arc<Tokens>,
    recent: Recent,
}

/// Where a push goes and how many sockets it should reach there.
#[derive(Debug, Clone, Copy)]
struct Audience {
    sockets: usize,
    reach: Reach,
    /// False when Redis did not answer the count in time: `sockets` is
    /// this node's only.
    exact: bool,
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
}

/// Why a request was refused or failed.
#[derive(Debug)]
pub enum RequestError {
    /// The request breaks a rule (empty event, uid too long...).
    Invalid(String),
    /// The daemon could not carry it out (emit, sign).
    Internal(String),
}

impl RequestError {
    /// The protocol error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            RequestError::Invalid(_) => ErrorCode::InvalidInput,
            RequestError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Invalid(why) | RequestError::Internal(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for RequestError {}

impl Hub {
    /// Ties the Socket.IO handle to the state its handlers were given;
    /// `census` in a cluster.
    pub fn new(
        browsers: Browsers,
        presence: Arc<Presence>,
        census: Option<Arc<Census>>,
        online: Arc<OnlineCount>,
        tokens: Arc<Tokens>,
        recent: Recent,
    ) -> Hub {
        Hub { browsers, presence, census, online, tokens, recent }
    }

    /// Where to emit to reach the users whose rooms are `uids` (distinct),
    /// and how many sockets they have there (exact, or this node's as a
    /// lower bound).
    async fn reach(&self, uids: &Rooms) -> Audience {
        let to = To::Rooms(uids.clone());
        self.audience(&to, |census| census.sockets_of_all(uids.names())).await
    }

    /// Where to emit to reach every socket, logged in or not, and how many.
    async fn reach_everyone(&self) -> Audience {
        self.audience(&To::Everyone, |census| census.connected()).await
    }

    /// Sockets of this node that `to` names.
    fn local_sockets(&self, to: &To) -> usize {
        match to {
            To::Rooms(uids) => self.presence.sockets_of_all(uids.names()),
            To::Everyone => self.browsers.sockets(),
        }
    }

    /// The cluster and its count; while Redis is known to be down, this node
    /// and its own count; when Redis is merely slow to count, the cluster
    /// still (the push is published) with this node's count as a lower bound.
    async fn audience<'a, F>(&'a self, to: &To, cluster: impl FnOnce(&'a Census) -> F) -> Audience
    where
        F: Future<Output = redis::RedisResult<usize>>,
    {
        match &self.census {
            Some(census) if census.reachable() => match cluster(census).await {
                Ok(sockets) => Audience { sockets, reach: Reach::Cluster, exact: true },
                Err(_) => Audience { sockets: self.local_sockets(to), reach: Reach::Cluster, exact: false },
            },
            _ => Audience { sockets: self.local_sockets(to), reach: Reach::Node, exact: true },
        }
    }

    /// Emits to the sockets `to` names, reaching `audience`; if a
    /// cluster-wide emit fails (Redis lost meanwhile), emits to this node's
    /// sockets and counts those. Returns the sockets reached.
    async fn emit(&self, audience: Audience, to: To, event: &str, content: &Content) -> Result<usize, BroadcastError> {
        // Kept for the fallback, which only a cluster-wide emit can need.
        let fallback = (audience.reach == Reach::Cluster).then(|| to.clone());
        match (self.browsers.emit(audience.reach, to, event, content).await, fallback) {
            (Ok(missed), _) => Ok(audience.sockets.saturating_sub(missed)),
            (Err(BroadcastError::Adapter(e)), Some(to)) => {
                tracing::debug!(cause = %e, "publishing to the cluster failed: emitting to this node's sockets");
                let local = self.local_sockets(&to);
                let missed = self.browsers.emit(Reach::Node, to, event, content).await?;
                Ok(local.saturating_sub(missed))
            }
            (Err(e), _) => Err(e),
        }
    }

    /// Emits `publish` and returns how many sockets it reached (0: every
    /// target user is offline, nothing was emitted). Sockets whose send
    /// buffer is full (a client that stopped reading) miss the message and
    /// are not counted. A copy of a message already published (same
    /// `msg_id`, within the window) is not emitted again: it gets the first
    /// copy's answer. Counted in the metrics under `ingress`.
    pub async fn publish(&self, publish: Publish, ingress: Ingress) -> Result<u64, RequestError> {
        let started = Instant::now();
        let outcome = self.publish_once(publish).await;
        let result = match &outcome {
            Ok((_, true)) => PushResult::Duplicate,
            Ok((0, false)) => PushResult::Offline,
            Ok((_, false)) => PushResult::Delivered,
            Err(RequestError::Invalid(_)) => PushResult::Invalid,
            Err(RequestError::Internal(_)) => PushResult::Failed,
        };
        let sockets = outcome.as_ref().map_or(0, |&(sockets, _)| sockets);
        METRICS.pushed(ingress, result, started.elapsed(), sockets);
        outcome.map(|(sockets, _)| sockets)
    }

    /// [`Hub::publish`]; also says whether the message was a copy.
    async fn publish_once(&self, publish: Publish) -> Result<(u64, bool), RequestError> {
        publish.validate().map_err(RequestError::Invalid)?;
        let Some(id) = publish.msg_id else {
            return Ok((self.deliver(publish).await?, false));
        };
        match self.recent.claim(id) {
            Claim::New(ticket) => {
                let sockets = self.deliver(publish).await?;
                ticket.finish(sockets);
                Ok((sockets, false))
            }
            Claim::Copy(sockets) => {
                tracing::debug!(sockets, "a copy of a message already delivered: not delivered again");
                Ok((sockets, true))
            }
            Claim::InFlight(mut outcome) => match outcome.wait_for(Option::is_some).await.map(|o| *o) {
                Ok(Some(sockets)) => Ok((sockets, true)),
                _ => Err(RequestError::Internal("the first copy of this message failed; send it again".into())),
            },
        }
    }

    /// Emits `publish` to its sockets; returns how many it reached.
    async fn deliver(&self, publish: Publish) -> Result<u64, RequestError> {
        let Publish { to, event, content, .. } = publish;
        let emit_error = |e: BroadcastError| RequestError::Internal(format!("cannot emit: {e}"));
        let sockets = match to {
            Target::Everyone => {
                let audience = self.reach_everyone().await;
                self.emit(audience, To::Everyone, &event, &content).await.map_err(emit_error)?
            }
            Target::Users(uids) => {
                // Nobody named: answered before anything else, whatever the cluster's state.
                let Some(uids) = distinct(uids) else {
                    return Ok(0);
                };
                let audience = self.reach(&uids).await;
                if audience.exact && audience.sockets == 0 {
                    return Ok(0);
                }
                self.emit(audience, To::Rooms(uids), &event, &content).await.map_err(emit_error)?
            }
        };
        Ok(sockets as u64)
    }

    /// A login token for `request.uid`; returns it and its expiry.
    pub fn mint_token(&self, request: &TokenRequest) -> Result<(String, u64), RequestError> {
        check_uid(&request.uid).map_err(RequestError::Invalid)?;
        check_ttl(request.ttl).map_err(RequestError::Invalid)?;
        self.tokens.mint(&request.uid, request.ttl).map_err(|e| RequestError::Internal(format!("cannot sign: {e}")))
    }

    /// Disconnects every socket logged in as any of the uids; returns how
    /// many. A socket whose send buffer is full cannot be told and stays
    /// connected: it is not counted.
    pub async fn disconnect(&self, disconnect: Disconnect) -> Result<u64, RequestError> {
        check_uids(&disconnect.uids).map_err(RequestError::Invalid)?;
        let Some(uids) = distinct(disconnect.uids) else {
            return Ok(0);
        };
        let audience = self.reach(&uids).await;
        if audience.exact && audience.sockets == 0 {
            return Ok(0);
        }
        let missed = self
            .browsers
            .disconnect(audience.reach, uids)
            .await
            .map_err(|e| RequestError::Internal(format!("cannot disconnect: {e}")))?;
        Ok(audience.sockets.saturating_sub(missed) as u64)
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
            if let Some(message) = self.online.update(self.counts().await) {
                let message = Content::Text(message.to_string());
                if let Err(e) = self.browsers.emit(Reach::Node, To::Everyone, events::ONLINE_COUNT, &message).await {
                    tracing::warn!(cause = %e, "online count broadcast failed");
                }
            }
        }
    }

    /// The online figures: the cluster's, or this node's while Redis is unreachable.
    async fn counts(&self) -> OnlineCounts {
        if let Some(census) = &self.census {
            if let Ok(counts) = census.counts().await {
                return counts;
            }
        }
        self.presence.counts()
    }

    /// What this node (and its cluster) holds now, for monitoring.
    pub async fn figures(&self) -> Figures {
        let cluster = match &self.census {
            None => None,
            Some(census) => {
                let (counts, nodes) = tokio::join!(census.counts(), census.nodes());
                Some(ClusterFigures {
                    node: census.node().to_owned(),
                    reachable: census.reachable(),
                    counts: counts.ok(),
                    nodes: nodes.unwrap_or_default(),
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
        match &self.census {
            Some(census) if !census.reachable() => Some("redis unreachable"),
            _ => None,
        }
    }

    /// Disconnects every browser (at shutdown).
    pub async fn close(&self) {
        self.browsers.close().await;
    }
}

/// The rooms of `uids`, each once; None if there are none.
fn distinct(mut uids: Vec<String>) -> Option<Rooms> {
    uids.sort_unstable();
    uids.dedup();
    Rooms::new(uids)
}
