//! Emitting to browser sockets, and turning Socket.IO's outcome into the
//! count of sockets that missed the message.

use msgpush_protocol::Content;
use socketioxide::operators::BroadcastOperators;
use socketioxide::{BroadcastError, SocketError};

/// Emits `content` as the event's single argument (a string, or the JSON
/// value) to the sockets `operators` address. Returns how many of them could
/// not take it.
pub async fn emit(operators: BroadcastOperators, event: &str, content: &Content) -> Result<usize, BroadcastError> {
    let sent = match content {
        Content::Text(text) => operators.emit(event, text).await,
        Content::Json(value) => operators.emit(event, value).await,
    };
    sockets_missed(sent, event)
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
                    sockets = full,
                    event,
                    "sockets missed a message: their send buffer is full \
                     (client not reading; see --max-buffered-packets)"
                );
            }
            Ok(failures.len())
        }
        Err(e) => Err(e),
    }
}
