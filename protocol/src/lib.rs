//! The wire protocol spoken over the Unix socket between the msgpush PHP
//! extension and the `msgpushd` daemon. `docs/protocol.md` is its
//! specification; this crate is the one implementation both sides share.
//!
//! # Layout
//! - [`message`]: the requests, replies and error codes, as serde types.
//! - [`frame`]: the length-prefixed, versioned frame that carries one message,
//!   with blocking encode/decode helpers (used by the extension).
//! - [`limits`]: the size limits both sides enforce, and input validation.
//! - `codec` (feature `codec`): the tokio codec the daemon reads requests with.

#![warn(missing_docs)]

pub mod frame;
pub mod limits;
pub mod message;

#[cfg(feature = "codec")]
pub mod codec;

pub use frame::{FrameError, PROTOCOL_VERSION};
pub use message::{Command, Content, ErrorCode, Publish, Reply, Request, Response, Target};

/// Where `msgpushd` listens and the extension connects when neither is
/// configured, so a default install needs no settings on either side.
pub const DEFAULT_SOCKET_PATH: &str = "/run/msgpush/msgpushd.sock";

/// The socket.io event a push is emitted as unless another is named:
/// web-msg-sender pages listen for `new_msg`.
pub const DEFAULT_EVENT: &str = "new_msg";
