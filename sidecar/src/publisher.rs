//! Routing a push to its sockets: the one path shared by the Unix-socket and
//! the HTTP ingress.

use msgpush_protocol::{Content, ErrorCode, Publish, Target};
use socketioxide::operators::BroadcastOperators;
use socketioxide::{BroadcastError, SocketError};

use crate::hub::Hub;

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

    /// What went wrong, for the reply and the log.
    pub fn message(&self) -> &str {
        match self {
            PublishError::Invalid(m) | PublishError::Emit(m) => m,
        }
    }
}

impl Hub {
    /// Emits `publish` and returns how many sockets it reached (0: every
    /// target user is offline, nothing was emitted). Sockets whose send
    /// buffer is full (a client that stopped reading) miss the message and
    /// are not counted.
    pub async fn publish(&self, publish: Publish) -> Result<u64, PublishError> {
        publish.validate().map_err(PublishError::Invalid)?;
        let Publish { to, event, content } = publish;
        let sockets = match to {
            Target::Everyone => {
                let missed = emit(self.io.broadcast(), &event, &content).await?;
                self.io.sockets().len().saturating_sub(missed)
            }
            Target::Users(mut uids) => {
                uids.sort_unstable();
                uids.dedup();
                let sockets = self.presence.sockets_of_all(&uids);
                if sockets == 0 {
                    return Ok(0);
                }
                let missed = emit(self.io.to(uids), &event, &content).await?;
                sockets.saturating_sub(missed)
            }
        };
        Ok(sockets as u64)
    }
}

/// Emits `content` as the event's single argument: a string, or the JSON
/// value. Returns how many of the addressed sockets could not take it.
async fn emit(operators: BroadcastOperators, event: &str, content: &Content) -> Result<usize, PublishError> {
    let sent = match content {
        Content::Text(text) => operators.emit(event, text).await,
        Content::Json(value) => operators.emit(event, value).await,
    };
    sockets_missed(sent, event).map_err(|e| PublishError::Emit(e.to_string()))
}

/// Turns a broadcast's result into the number of sockets that missed it:
/// sockets closing meanwhile, or with a full send buffer (logged: a client
/// that stopped reading). Other failures stay errors.
pub fn sockets_missed(sent: Result<(), BroadcastError>, event: &str) -> Result<usize, BroadcastError> {
    match sent {
        Ok(()) => Ok(0),
        Err(BroadcastError::Socket(failures)) => {
            let full = failures.iter().filter(|e| matches!(e, SocketError::InternalChannelFull)).count();
            if full > 0 {
                tracing::warn!(
                    "{full} socket(s) missed a '{event}': their send buffer is full \
                     (client not reading; see --max-buffered-packets)"
                );
            }
            Ok(failures.len())
        }
        Err(e) => Err(e),
    }
}
