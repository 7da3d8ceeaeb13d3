//! Routing a push to its sockets: the one path shared by the Unix-socket and
//! the HTTP ingress.

use msgpush_protocol::{Content, ErrorCode, Publish, Target};

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
    /// Emits `publish` and returns how many sockets it was addressed to
    /// (0: every target user is offline, nothing was emitted).
    pub async fn publish(&self, publish: Publish) -> Result<u64, PublishError> {
        publish.validate().map_err(PublishError::Invalid)?;
        let Publish { to, event, content } = publish;
        let sockets = match to {
            Target::Everyone => {
                emit(self.io.broadcast(), &event, &content).await?;
                self.presence.connected_sockets()
            }
            Target::Users(mut uids) => {
                uids.sort_unstable();
                uids.dedup();
                let sockets = self.presence.sockets_of_all(&uids);
                if sockets > 0 {
                    emit(self.io.to(uids), &event, &content).await?;
                }
                sockets
            }
        };
        Ok(sockets as u64)
    }
}

/// Emits `content` as the event's single argument: a string, or the JSON value.
async fn emit(
    operators: socketioxide::operators::BroadcastOperators,
    event: &str,
    content: &Content,
) -> Result<(), PublishError> {
    let sent = match content {
        Content::Text(text) => operators.emit(event, text).await,
        Content::Json(value) => operators.emit(event, value).await,
    };
    sent.map_err(|e| PublishError::Emit(e.to_string()))
}
