//! The state every ingress shares, and the one place that ties its parts
//! together: the Socket.IO handle, who is online (here, and in a cluster
//! the census), the online-count message and the login tokens. Every
//! request from PHP (or the HTTP API) is one of the methods here.
//!
//! In a cluster a push is emitted to every node and counted from the
//! census; while Redis is unreachable each node emits to, and counts, its
//! own sockets only, so a push is never held up by the outage.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use msgpush_protocol::defaults::events;
use msgpush_protocol::limits::{check_ttl, check_uid, check_uids};
use msgpush_protocol::{Content, Disconnect, ErrorCode, Publish, Target, TokenRequest};
use socketioxide::BroadcastError;
use tokio_util::sync::CancellationToken;

use crate::census::Census;
use crate::emit::{Browsers, Reach};
use crate::online_count::OnlineCount;
use crate::presence::{OnlineCounts, Presence};
use crate::recent::{Claim, Recent};
use crate::tokens::Tokens;

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

    /// How many sockets `uids` (distinct) have, and where to emit to reach
    /// them: the cluster's figure, or this node's while Redis is unreachable.
    async fn reach(&self, uids: &[String]) -> (usize, Reach) {
        if let Some(census) = &self.census {
            if let Ok(sockets) = census.sockets_of_all(uids).await {
                return (sockets, Reach::Cluster);
            }
        }
        (self.presence.sockets_of_all(uids), Reach::Node)
    }

    /// Sockets connected anywhere, logged in or not, and where to emit to reach them.
    async fn reach_everyone(&self) -> (usize, Reach) {
        if let Some(census) = &self.census {
            if let Ok(sockets) = census.connected().await {
                return (sockets, Reach::Cluster);
            }
        }
        (self.browsers.sockets(), Reach::Node)
    }

    /// Emits to `rooms` (everyone: `None`) within `reach`; if a cluster-wide
    /// emit fails (Redis lost meanwhile), emits to this node's sockets and
    /// says how many it reached. Returns the sockets reached.
    async fn emit(
        &self,
        (sockets, reach): (usize, Reach),
        rooms: Option<Vec<String>>,
        event: &str,
        content: &Content,
    ) -> Result<usize, BroadcastError> {
        match self.browsers.emit(reach, rooms.clone(), event, content).await {
            Ok(missed) => Ok(sockets.saturating_sub(missed)),
            Err(BroadcastError::Adapter(e)) if reach == Reach::Cluster => {
                if let Some(census) = &self.census {
                    census.unreachable(&e);
                }
                let local = match &rooms {
                    Some(uids) => self.presence.sockets_of_all(uids),
                    None => self.browsers.sockets(),
                };
                let missed = self.browsers.emit(Reach::Node, rooms, event, content).await?;
                Ok(local.saturating_sub(missed))
            }
            Err(e) => Err(e),
        }
    }

    /// Emits `publish` and returns how many sockets it reached (0: every
    /// target user is offline, nothing was emitted). Sockets whose send
    /// buffer is full (a client that stopped reading) miss the message and
    /// are not counted. A copy of a message already published (same
    /// `msg_id`, within the window) is not emitted again: it gets the first
    /// copy's answer.
    pub async fn publish(&self, publish: Publish) -> Result<u64, RequestError> {
        publish.validate().map_err(RequestError::Invalid)?;
        let Some(id) = publish.msg_id else {
            return self.deliver(publish).await;
        };
        match self.recent.claim(id) {
            Claim::New(ticket) => {
                let sockets = self.deliver(publish).await?;
                ticket.finish(sockets);
                Ok(sockets)
            }
            Claim::Copy(sockets) => {
                tracing::debug!(sockets, "a copy of a message already delivered: not delivered again");
                Ok(sockets)
            }
            Claim::InFlight(mut outcome) => match outcome.wait_for(Option::is_some).await.map(|o| *o) {
                Ok(Some(sockets)) => Ok(sockets),
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
                let reach = self.reach_everyone().await;
                self.emit(reach, None, &event, &content).await.map_err(emit_error)?
            }
            Target::Users(mut uids) => {
                uids.sort_unstable();
                uids.dedup();
                let reach = self.reach(&uids).await;
                if reach.0 == 0 {
                    return Ok(0);
                }
                self.emit(reach, Some(uids), &event, &content).await.map_err(emit_error)?
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
        let mut uids = disconnect.uids;
        check_uids(&uids).map_err(RequestError::Invalid)?;
        uids.sort_unstable();
        uids.dedup();
        let (sockets, reach) = self.reach(&uids).await;
        if sockets == 0 {
            return Ok(0);
        }
        let missed = self
            .browsers
            .disconnect(reach, uids)
            .await
            .map_err(|e| RequestError::Internal(format!("cannot disconnect: {e}")))?;
        Ok(sockets.saturating_sub(missed) as u64)
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
                if let Err(e) = self.browsers.emit(Reach::Node, None, events::ONLINE_COUNT, &message).await {
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

    /// Disconnects every browser (at shutdown).
    pub async fn close(&self) {
        self.browsers.close().await;
    }
}
