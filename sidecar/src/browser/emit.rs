//! Emitting to this node's browser sockets, and turning Socket.IO's outcome
//! into the count of sockets that missed the message. (In a cluster every
//! node emits to its own sockets what the bus tells it.)

use std::collections::BTreeMap;

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use socketioxide::ack::AckStream;
use socketioxide::adapter::{Adapter, LocalAdapter};
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;
use socketioxide::{BroadcastError, ProtocolVersion, SocketError, SocketIo, TransportType};

use crate::browser::rooms;
use crate::telemetry::metrics::METRICS;

/// This node's Socket.IO server.
#[derive(Debug, Clone)]
pub struct Browsers(SocketIo);

/// The sockets an emit is for: every socket, or those in some rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum To {
    /// Every connected socket, logged in or not.
    Everyone,
    /// The sockets in any of these rooms.
    Rooms(Rooms),
}

/// Rooms to emit to: never none, since Socket.IO reads an empty list of
/// rooms as every socket. A target that names nobody is answered before it
/// can reach an emit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rooms(Vec<String>);

impl Rooms {
    /// `rooms`, unless there are none.
    pub fn new(rooms: Vec<String>) -> Option<Rooms> {
        (!rooms.is_empty()).then_some(Rooms(rooms))
    }
}

impl Browsers {
    /// This node's sockets, of `io`.
    pub fn new(io: SocketIo) -> Browsers {
        Browsers(io)
    }

    /// Emits `event` with `args` (a tuple: one Socket.IO argument per
    /// field) to the sockets `to`, but those of the users `except`. Returns
    /// how many could not take it.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        to: To,
        except: &[String],
        event: &str,
        args: &T,
    ) -> Result<usize, BroadcastError> {
        sockets_missed(self.operators(to, except).emit(event, args).await, event)
    }

    /// As [`Browsers::emit`], asking each socket to acknowledge within
    /// `timeout`: the stream yields each socket's answer.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        to: To,
        except: &[String],
        event: &str,
        args: &T,
        timeout: Duration,
    ) -> Result<AckStream<Value, LocalAdapter>, String> {
        let operators = self.operators(to, except).timeout(timeout);
        operators.emit_with_ack::<T, Value>(event, args).await.map_err(|e| e.to_string())
    }

    /// Disconnects the sockets in `rooms`; returns how many could not be
    /// told (send buffer full).
    pub async fn disconnect(&self, rooms: Rooms) -> Result<usize, BroadcastError> {
        match self.operators(To::Rooms(rooms), &[]).disconnect().await {
            Ok(()) => Ok(0),
            Err(BroadcastError::Socket(failures)) => {
                tracing::warn!(sockets = failures.len(), "sockets could not be disconnected (send buffer full)");
                Ok(failures.len())
            }
            Err(e) => Err(e),
        }
    }

    /// The socket `sid`, if it is connected to this node.
    pub fn socket(&self, sid: Sid) -> Option<SocketRef> {
        self.0.get_socket(sid)
    }

    /// Sockets connected to this node.
    pub fn sockets(&self) -> usize {
        self.0.sockets().len()
    }

    /// Rooms on this node with a socket in them.
    pub async fn rooms(&self) -> usize {
        self.0.rooms().await.map_or(0, |rooms| rooms.len())
    }

    /// Sockets connected to this node, by kind.
    pub fn sockets_by_kind(&self) -> BTreeMap<SocketKind, usize> {
        let mut counts = BTreeMap::new();
        for socket in self.0.sockets() {
            *counts.entry(SocketKind::of(&socket)).or_default() += 1;
        }
        counts
    }

    /// Disconnects this node's browsers (at shutdown).
    pub async fn close(&self) {
        self.0.close().await;
    }

    fn operators(&self, to: To, except: &[String]) -> BroadcastOperators<LocalAdapter> {
        let operators = match to {
            To::Rooms(Rooms(rooms)) => self.0.to(rooms),
            To::Everyone => self.0.broadcast(),
        };
        match except {
            [] => operators,
            uids => operators.except(rooms::of_users(uids)),
        }
    }
}

/// A socket's transport and Socket.IO protocol, as metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SocketKind {
    /// `websocket` or `polling`.
    pub transport: &'static str,
    /// `4` (socket.io 2.x clients) or `5` (3.x and 4.x).
    pub protocol: &'static str,
}

impl SocketKind {
    fn of<A: Adapter>(socket: &SocketRef<A>) -> SocketKind {
        let transport = match socket.transport_type() {
            TransportType::Websocket => "websocket",
            TransportType::Polling => "polling",
        };
        let protocol = match socket.protocol() {
            ProtocolVersion::V4 => "4",
            ProtocolVersion::V5 => "5",
        };
        SocketKind { transport, protocol }
    }
}

/// Turns a broadcast's result into the number of sockets that missed it:
/// sockets closing meanwhile, or with a full send buffer (logged: a client
/// that stopped reading). Other failures stay errors.
fn sockets_missed(sent: Result<(), BroadcastError>, event: &str) -> Result<usize, BroadcastError> {
    match sent {
        Ok(()) => Ok(0),
        Err(BroadcastError::Socket(failures)) => {
            let full = failures.iter().filter(|e| matches!(e, SocketError::InternalChannelFull)).count();
            if full > 0 {
                METRICS.dropped(full);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_no_room_is_no_target_rather_than_every_socket() {
        assert_eq!(Rooms::new(vec![]), None);
        assert_eq!(Rooms::new(vec!["u:7".into()]), Some(Rooms(vec!["u:7".into()])));
    }
}
