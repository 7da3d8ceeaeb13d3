//! The defaults and names that the daemon, the extension, the tests and the
//! benchmarks must agree on, defined once. `php-ext/msgpush.ini`,
//! `deploy/msgpushd.service` and the README repeat some of them for people;
//! the tests check that those copies still match.

/// Where `msgpushd` listens and the extension connects when neither is
/// configured, so a default install needs no settings on either side.
pub const SOCKET_PATH: &str = "/run/msgpush/msgpushd.sock";

/// Largest frame, in bytes, the daemon accepts and the extension sends by
/// default: 1 MiB is far above any notification and well below a memory risk.
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// How long the extension's `push()` waits to connect and for the answer, in
/// milliseconds: the daemon answers in well under one, so a second means it
/// is stuck, and a PHP request should not hang on it longer.
pub const TIMEOUT_MS: u64 = 1000;

/// Messages the extension's fire-and-forget queue holds per PHP process:
/// enough for a bulk job to run ahead of the daemon for a while.
pub const QUEUE_SIZE: usize = 10_000;

/// How long the end of a PHP request waits for queued messages, in milliseconds.
pub const FLUSH_TIMEOUT_MS: u64 = 1000;

/// Lifetime of a login token when PHP names none, in seconds (a day): a
/// page rendered with it may stay open that long and still log in again
/// after a daemon restart.
pub const TOKEN_TTL_SECS: u64 = 24 * 3600;

/// The Socket.IO events of web-msg-sender's pages, which msgpushd keeps.
pub mod events {
    /// Sent by a page to say which user it belongs to.
    pub const LOGIN: &str = "login";
    /// The event a push is emitted as unless another is named.
    pub const NEW_MSG: &str = "new_msg";
    /// Broadcast with the online figures when they change.
    pub const ONLINE_COUNT: &str = "update_online_count";
    /// Sent to a socket whose `login` was refused, with the reason.
    pub const LOGIN_ERROR: &str = "login_error";
    /// Asked by a page, with a group it is in and an acknowledgement: who
    /// is in the group (`{group, uids}`, or `{error}`).
    pub const MEMBERS: &str = "msgpush:members";
    /// Sent to the tabs in a group when a user arrives in it: `{group, uid}`.
    pub const JOINED: &str = "msgpush:joined";
    /// Sent to the tabs in a group when a user has left it: `{group, uid}`.
    pub const LEFT: &str = "msgpush:left";
    /// Sent to a tab that presented positions at login, after what it
    /// missed: `{complete, incomplete: [stream names]}`.
    pub const RECOVERED: &str = "msgpush:recovered";
    /// Sent by a page when its user has read a message it acknowledged:
    /// the message's id (`meta.id`), recorded in the message's receipts.
    pub const READ: &str = "msgpush:read";
    /// Sent by a page with `{name, data}` and an acknowledgement: a message
    /// to the application (`page_message` on its webhook), answered with
    /// `{answer}` (the application's JSON answer) or `{error}`.
    pub const SEND: &str = "msgpush:send";
}
