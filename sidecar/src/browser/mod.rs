//! What faces the browser: the Socket.IO server and its handlers (connect,
//! `login`, a page's questions, disconnect), the rooms a tab is in, the one
//! task that changes this node's sockets (emits, groups, disconnects), a
//! message delivered with its meta, a single daemon's store writes grouped
//! in one commit, what a tab's acknowledgements do, what a tab logging in missed (and the
//! cluster's logins waiting for it), the caps on sessions, which origins may
//! connect, a client's address through trusted proxies, how many messages a
//! browser may send, and the browser port's routes. Imports `cluster`,
//! `store`, `state`, `auth` and the layers below them; never the hub, which
//! is built on top of it.

pub mod acks;
pub mod client_addr;
mod commits;
pub mod deliver;
pub mod emit;
pub mod fanout;
pub mod kept_request;
pub mod message_rate;
pub mod origin;
pub mod recover;
pub mod recovering;
pub mod rooms;
pub mod router;
pub mod server;
pub mod sessions;
