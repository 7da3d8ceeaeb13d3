//! The state every part of the daemon shares: the Socket.IO server handle,
//! the online map and the online-count message.

use socketioxide::SocketIo;

use crate::online_count::OnlineCount;
use crate::presence::Presence;

/// Shared daemon state, held in an `Arc`.
#[derive(Debug)]
pub struct Hub {
    /// Emits to browser sockets.
    pub io: SocketIo,
    /// Who is online.
    pub presence: Presence,
    /// The `update_online_count` message.
    pub online: OnlineCount,
}
