//! Emitting to browser sockets, on this node or (in a cluster) on every
//! node, and turning Socket.IO's outcome into the count of sockets that
//! missed the message.

use std::collections::BTreeMap;

use msgpush_protocol::Content;
use socketioxide::adapter::{Adapter, Emitter, LocalAdapter};
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;
use socketioxide::{BroadcastError, ProtocolVersion, SocketError, SocketIo, TransportType};
use socketioxide_redis::CustomRedisAdapter;

use crate::cluster::driver::ManagedDriver;
use crate::telemetry::metrics::METRICS;

/// The adapter of a cluster node: socketioxide's Redis adapter.
pub type ClusterAdapter = CustomRedisAdapter<Emitter, ManagedDriver>;

/// The Socket.IO server, alone or as a cluster node.
#[derive(Debug, Clone)]
pub enum Browsers {
    /// One daemon, in memory.
    Alone(SocketIo<LocalAdapter>),
    /// A node of a cluster on Redis.
    Clustered(SocketIo<ClusterAdapter>),
}

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

    /// The room names.
    pub fn names(&self) -> &[String] {
        &self.0
    }
}

/// Which sockets an emit goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Those of every node.
    Cluster,
    /// This node's only (Redis unreachable, or a message each node sends itself).
    Node,
}

impl Browsers {
    /// Emits `content` as `event` to the sockets `to` within `reach`.
    /// Returns how many could not take it.
    pub async fn emit(&self, reach: Reach, to: To, event: &str, content: &Content) -> Result<usize, BroadcastError> {
        match self {
            Browsers::Alone(io) => emit(operators(io, Reach::Node, to), event, content).await,
            Browsers::Clustered(io) => emit(operators(io, reach, to), event, content).await,
        }
    }

    /// Disconnects the sockets in `rooms` within `reach`; returns how many
    /// could not be told (send buffer full).
    pub async fn disconnect(&self, reach: Reach, rooms: Rooms) -> Result<usize, BroadcastError> {
        let done = match self {
            Browsers::Alone(io) => operators(io, Reach::Node, To::Rooms(rooms)).disconnect().await,
            Browsers::Clustered(io) => operators(io, reach, To::Rooms(rooms)).disconnect().await,
        };
        match done {
            Ok(()) => Ok(0),
            Err(BroadcastError::Socket(failures)) => {
                tracing::warn!(sockets = failures.len(), "sockets could not be disconnected (send buffer full)");
                Ok(failures.len())
            }
            Err(e) => Err(e),
        }
    }

    /// Sockets connected to this node.
    pub fn sockets(&self) -> usize {
        match self {
            Browsers::Alone(io) => io.sockets().len(),
            Browsers::Clustered(io) => io.sockets().len(),
        }
    }

    /// Rooms on this node with a socket in them (one per logged-in uid).
    pub async fn rooms(&self) -> usize {
        match self {
            Browsers::Alone(io) => io.local().rooms().await.map_or(0, |rooms| rooms.len()),
            Browsers::Clustered(io) => io.local().rooms().await.map_or(0, |rooms| rooms.len()),
        }
    }

    /// Sockets connected to this node, by kind.
    pub fn sockets_by_kind(&self) -> BTreeMap<SocketKind, usize> {
        let kinds: Vec<SocketKind> = match self {
            Browsers::Alone(io) => io.sockets().iter().map(SocketKind::of).collect(),
            Browsers::Clustered(io) => io.sockets().iter().map(SocketKind::of).collect(),
        };
        let mut counts = BTreeMap::new();
        for kind in kinds {
            *counts.entry(kind).or_default() += 1;
        }
        counts
    }

    /// Disconnects this node's browsers (at shutdown).
    pub async fn close(&self) {
        match self {
            Browsers::Alone(io) => io.close().await,
            Browsers::Clustered(io) => io.close().await,
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

fn operators<A: Adapter>(io: &SocketIo<A>, reach: Reach, to: To) -> BroadcastOperators<A> {
    let operators = match to {
        To::Rooms(Rooms(rooms)) => io.to(rooms),
        To::Everyone => io.broadcast(),
    };
    match reach {
        Reach::Cluster => operators,
        Reach::Node => operators.local(),
    }
}

/// Emits `content` as the event's single argument (a string, or the JSON
/// value) to the sockets `operators` address. Returns how many of them could
/// not take it.
async fn emit<A: Adapter>(
    operators: BroadcastOperators<A>,
    event: &str,
    content: &Content,
) -> Result<usize, BroadcastError> {
    let sent = match content {
        Content::Text(text) => operators.emit(event, text).await,
        Content::Json(value) => operators.emit(event, value).await,
    };
    sockets_missed(sent, event)
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
        assert_eq!(Rooms::new(vec!["7".into()]).unwrap().names(), ["7"]);
    }
}
