//! The wire protocol spoken over the Unix socket between the msgpush PHP
//! extension and the `msgpushd` daemon. `docs/protocol.md` is its
//! specification; this crate is the one implementation both sides share.
//!
//! # Layout
//! - [`message`]: the requests, replies and error codes, as serde types.
//! - [`frame`]: the length-prefixed, versioned frame that carries one message,
//!   with blocking encode/decode helpers (used by the extension).
//! - [`limits`]: the size limits both sides enforce, and input validation.
//! - [`defaults`]: the socket path, sizes, timeouts and event names every
//!   side (daemon, extension, tests, benchmarks) takes its defaults from.
//! - `codec` (feature `codec`): the tokio codec the daemon reads requests with.

#![warn(missing_docs)]

pub mod defaults;
pub mod frame;
pub mod limits;
pub mod message;

#[cfg(feature = "codec")]
pub mod codec;

#[cfg(test)]
mod properties;

pub use frame::{FrameError, PROTOCOL_VERSION};
pub use message::{
    Acked, Command, Content, Disconnect, ErrorCode, InboxUser, Membership, MsgId, Position, PresenceAnswer,
    PresenceQuery, Publish, Receipt, ReceiptQuery, Reply, Request, Response, Target, TokenRequest, WebhookCheck,
};
