//! What faces the browser: the Socket.IO server and its handlers (connect,
//! `login`, disconnect), the caps on sessions, which origins may connect,
//! a client's address through trusted proxies, how many messages a browser
//! may send, emitting to sockets (on this node or every node), and the
//! browser port's routes. Imports `cluster`, `state`, `auth` and the layers
//! below them; never the hub, which is built on top of it.

pub mod client_addr;
pub mod emit;
pub mod kept_request;
pub mod message_rate;
pub mod origin;
pub mod router;
pub mod server;
pub mod sessions;
