//! The state every ingress shares, and the one place that ties its parts
//! together: the Socket.IO handle, who is online, and the online-count
//! message. A push from either ingress goes through [`Hub::publish`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use msgpush_protocol::defaults::events;
use msgpush_protocol::{ErrorCode, Publish, Target};
use socketioxide::SocketIo;
use tokio_util::sync::CancellationToken;

use crate::emit::{emit, sockets_missed};
use crate::online_count::OnlineCount;
use crate::presence::Presence;

/// How often the online figures are compared with the last broadcast.
const ONLINE_COUNT_INTERVAL: Duration = Duration::from_secs(1);

/// Shared daemon state, held in an `Arc`.
#[derive(Debug)]
pub struct Hub {
    io: SocketIo,
    presence: Arc<Presence>,
    online: Arc<OnlineCount>,
}

/// Why a publish was refused or failed.
#[derive(Debug)]
pub enum PublishError {
    /// The request breaks a rule (empty event, uid too long...).
    Invalid(String),
    /// Socket.IO could not emit it.
    Emit(String),
}

impl PublishError {
    /// The protocol error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            PublishError::Invalid(_) => ErrorCode::InvalidInput,
            PublishError::Emit(_) => ErrorCode::Internal,
        }
    }
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Invalid(why) => f.write_str(why),
            PublishError::Emit(why) => write!(f, "cannot emit: {why}"),
        }
    }
}

impl std::error::Error for PublishError {}

impl Hub {
    /// Ties the Socket.IO handle to the state its handlers were given.
    pub fn new(io: SocketIo, presence: Arc<Presence>, online: Arc<OnlineCount>) -> Hub {
        Hub { io, presence, online }
    }

    /// Emits `publish` and returns how many sockets it reached (0: every
    /// target user is offline, nothing was emitted). Sockets whose send
    /// buffer is full (a client that stopped reading) miss the message and
    /// are not counted.
    pub async fn publish(&self, publish: Publish) -> Result<u64, PublishError> {
        publish.validate().map_err(PublishError::Invalid)?;
        let Publish { to, event, content } = publish;
        let emit_error = |e: socketioxide::BroadcastError| PublishError::Emit(e.to_string());
        let sockets = match to {
            Target::Everyone => {
                let missed = emit(self.io.broadcast(), &event, &content).await.map_err(emit_error)?;
                self.io.sockets().len().saturating_sub(missed)
            }
            Target::Users(mut uids) => {
                uids.sort_unstable();
                uids.dedup();
                let sockets = self.presence.sockets_of_all(&uids);
                if sockets == 0 {
                    return Ok(0);
                }
                let missed = emit(self.io.to(uids), &event, &content).await.map_err(emit_error)?;
                sockets.saturating_sub(missed)
            }
        };
        Ok(sockets as u64)
    }

    /// Broadcasts the online figures to every socket whenever they changed,
    /// checking once a second, until shutdown.
    pub async fn broadcast_online_count(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(ONLINE_COUNT_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            if let Some(message) = self.online.update(self.presence.counts()) {
                let sent = self.io.emit(events::ONLINE_COUNT, &*message).await;
                if let Err(e) = sockets_missed(sent, events::ONLINE_COUNT) {
                    tracing::warn!(cause = %e, "online count broadcast failed");
                }
            }
        }
    }

    /// Disconnects every browser (at shutdown).
    pub async fn close(&self) {
        self.io.clone().close().await;
    }
}
