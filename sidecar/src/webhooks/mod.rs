//! Events to the application: users coming online and going offline,
//! groups joined and left, receipts, and the pages' own messages, POSTed
//! to `--webhook-url` as signed JSON (see `docs/protocol.md`, "Events to
//! the application").
//!
//! - `event`: an event and the body of a request of them.
//! - `signature`: signing a request, and checking a signature
//!   (`MsgPush\Webhook::events()` asks the daemon to).
//! - `poster`: the HTTP client: deadlines, kept-alive connections, TLS.
//! - `sender`: the bounded queue, its batches and retries, and a page's
//!   message waiting for the application's answer.

pub mod event;
pub mod poster;
pub mod sender;
pub mod signature;
