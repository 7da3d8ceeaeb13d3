//! The messages carried in frames: a [`Request`] from PHP, a [`Response`]
//! from the daemon. Both are JSON objects; enums are externally tagged so new
//! commands and replies can be added without breaking older peers' parsing of
//! the ones they know.

use serde::{Deserialize, Serialize};

/// One request. `id` is chosen by the client and echoed in the matching
/// [`Response`], so requests can be pipelined on one connection; responses
/// come back in request order. Clients should use ids from 1: id 0 marks a
/// reply to a request whose id could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Client-chosen identifier echoed in the reply.
    pub id: u64,
    /// What to do.
    pub cmd: Command,
}

/// The commands the daemon understands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Emit an event to some users', some groups' or every socket; answered
    /// with [`Reply::Delivered`].
    Publish(Publish),
    /// Check that the daemon is alive; answered with [`Reply::Pong`].
    Ping,
    /// Mint a login token for a uid, signed with the daemon's secret;
    /// answered with [`Reply::Token`]. Whoever may write to the socket may
    /// mint tokens: the socket's permissions are the trust boundary.
    Token(TokenRequest),
    /// Disconnect every socket logged in as any of these uids; answered with
    /// [`Reply::Disconnected`].
    Disconnect(Disconnect),
    /// Make users members of groups: their tabs open now and those they open
    /// later; answered with [`Reply::Joined`].
    GroupJoin(Membership),
    /// End users' memberships of groups; answered with [`Reply::Left`].
    GroupLeave(Membership),
    /// Ask who is online; answered with [`Reply::Presence`].
    Presence(PresenceQuery),
    /// How many kept messages wait for a user; answered with [`Reply::Inbox`].
    InboxCount(InboxUser),
    /// Forget the kept messages waiting for a user; answered with [`Reply::Cleared`].
    InboxClear(InboxUser),
    /// Who acknowledged (and read) a message sent with receipts; answered
    /// with [`Reply::Receipts`].
    Receipts(ReceiptQuery),
    /// Check that a request to the application's webhook route came from
    /// msgpushd, unaltered and recent; answered with [`Reply::Webhook`] (its
    /// events), or [`ErrorCode::Forged`].
    WebhookCheck(WebhookCheck),
}

impl Command {
    /// The name of every command (its tag on the wire), so that a daemon can
    /// tell a command it does not know from a malformed one.
    pub const NAMES: &'static [&'static str] = &[
        "publish",
        "ping",
        "token",
        "disconnect",
        "group_join",
        "group_leave",
        "presence",
        "inbox_count",
        "inbox_clear",
        "receipts",
        "webhook_check",
    ];

    /// The name of a command that failed to parse, when it is one this
    /// version does not know (a newer caller): a bare string, or the one key
    /// of an object, that is not in [`Command::NAMES`].
    pub fn unknown_name(cmd: &serde_json::Value) -> Option<&str> {
        let name = match cmd {
            serde_json::Value::String(name) => name.as_str(),
            serde_json::Value::Object(fields) if fields.len() == 1 => fields.keys().next()?.as_str(),
            _ => return None,
        };
        (!Command::NAMES.contains(&name)).then_some(name)
    }
}

/// What a [`Command::Token`] asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRequest {
    /// The user the token logs a browser in as.
    pub uid: String,
    /// Seconds until it expires.
    pub ttl: u64,
    /// Groups the tab that logs in with it is in, for its life.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// Users and groups of a [`Command::GroupJoin`] or [`Command::GroupLeave`]:
/// each of the users joins (or leaves) each of the groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    /// The groups.
    pub groups: Vec<String>,
    /// The users.
    pub uids: Vec<String>,
}

/// A question about who is online, across the cluster in a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceQuery {
    /// How many tabs a user has open; answered with [`PresenceAnswer::Tabs`].
    Tabs {
        /// The user.
        uid: String,
    },
    /// Which of these users have a tab open; answered with [`PresenceAnswer::Online`].
    Online {
        /// The users asked about.
        uids: Vec<String>,
    },
    /// Users and tabs online; answered with [`PresenceAnswer::Count`].
    Count,
    /// A page of the uids online, in order; answered with [`PresenceAnswer::Users`].
    Users {
        /// Where the previous page ended (none: from the start).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
        /// Most uids on the page.
        limit: u64,
    },
    /// A page of the users with a tab in a group, in order; answered with
    /// [`PresenceAnswer::Users`].
    Members {
        /// The group.
        group: String,
        /// Where the previous page ended (none: from the start).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
        /// Most uids on the page.
        limit: u64,
    },
    /// Users and tabs in a group; answered with [`PresenceAnswer::Count`].
    GroupCount {
        /// The group.
        group: String,
    },
}

/// The answer to a [`PresenceQuery`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceAnswer {
    /// The tabs of the user asked about.
    Tabs {
        /// Tabs open.
        tabs: u64,
    },
    /// The users asked about that have a tab open, in the order asked.
    Online {
        /// Their uids.
        uids: Vec<String>,
    },
    /// Users and tabs.
    Count {
        /// Distinct users.
        users: u64,
        /// Tabs (sockets).
        tabs: u64,
    },
    /// A page of uids online (in a group, for [`PresenceQuery::Members`]).
    Users {
        /// The uids, in byte order.
        uids: Vec<String>,
        /// Where the next page starts; null once every uid was listed.
        #[serde(default)]
        cursor: Option<String>,
    },
}

/// The user of a [`Command::InboxCount`] or [`Command::InboxClear`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxUser {
    /// The user.
    pub uid: String,
}

/// A webhook request as the application received it, for a
/// [`Command::WebhookCheck`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookCheck {
    /// The request's body, as sent.
    pub body: String,
    /// Its `X-MsgPush-Timestamp` header.
    pub timestamp: String,
    /// Its `X-MsgPush-Signature` header.
    pub signature: String,
}

/// The message a [`Command::Receipts`] asks about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptQuery {
    /// Its id.
    pub msg_id: MsgId,
}

/// One user's receipt of a message: when a tab of theirs first
/// acknowledged it, and when one reported it read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The user.
    pub uid: String,
    /// When the first acknowledgement came (ms since the Unix epoch).
    pub acked_ms: u64,
    /// When the message was first reported read, if it was.
    #[serde(default)]
    pub read_ms: Option<u64>,
}

/// The acknowledgements a push waited for ([`Publish::ack_timeout_ms`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acked {
    /// Tabs that acknowledged within the wait.
    pub tabs: u64,
    /// Their users, each once, in byte order.
    pub uids: Vec<String>,
}

/// The users a [`Command::Disconnect`] logs out everywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disconnect {
    /// Their uids.
    pub uids: Vec<String>,
}

/// A message to emit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Publish {
    /// Who receives it.
    pub to: Target,
    /// Users whose tabs it leaves out (the sender's own, typically), whoever
    /// the target is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
    /// The socket.io event name, `new_msg` for web-msg-sender pages.
    pub event: String,
    /// The payload, delivered as given (no HTML escaping on this path).
    pub content: Content,
    /// The message's own id (32 hex digits, random), the same each time the
    /// same message is sent again: the daemon delivers a message once per id
    /// within its window and answers the copies as it answered the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<MsgId>,
    /// Whether the message is kept in its streams' history, for tabs that
    /// reconnect (false: live only, such as a typing indicator).
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub history: bool,
    /// Keep the message for each of its users until one of their tabs
    /// acknowledged it, for at most this many seconds (the offline inbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_secs: Option<u64>,
    /// Ask each tab to acknowledge the message, and record who did, for
    /// [`Command::Receipts`] (and reads the tabs report).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub receipts: bool,
    /// Wait this long for the tabs reached to acknowledge the message before
    /// answering, and say who did ([`Reply::Delivered`]'s `acked`); implies
    /// `receipts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_timeout_ms: Option<u64>,
}

impl Publish {
    /// A message of `event` with `content` to `to`: no one left out, no id
    /// yet, kept in history, not kept in inboxes, no receipts.
    pub fn new(to: Target, event: impl Into<String>, content: Content) -> Publish {
        Publish {
            to,
            except: Vec::new(),
            event: event.into(),
            content,
            msg_id: None,
            history: true,
            keep_secs: None,
            receipts: false,
            ack_timeout_ms: None,
        }
    }

    /// Whether tabs are asked to acknowledge the message.
    pub fn wants_receipts(&self) -> bool {
        self.receipts || self.ack_timeout_ms.is_some()
    }
}

fn yes() -> bool {
    true
}

fn is_yes(value: &bool) -> bool {
    *value
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// Where a message stands in one stream's history: its position (1, 2, ...
/// one more per message) and the stream's epoch, which changes when the
/// stream's history was lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The stream's epoch (16 hex digits).
    pub epoch: String,
    /// The message's place in it.
    pub position: u64,
}

/// A message id: 128 random bits, written as 32 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsgId(pub u128);

impl Serialize for MsgId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{:032x}", self.0))
    }
}

impl<'de> Deserialize<'de> for MsgId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hex = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        if hex.len() != 32 {
            return Err(serde::de::Error::custom("a msg_id is 32 hex digits"));
        }
        u128::from_str_radix(&hex, 16).map(MsgId).map_err(|_| serde::de::Error::custom("a msg_id is 32 hex digits"))
    }
}

/// The recipients of a [`Publish`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Every connected socket, logged in or not (web-msg-sender's empty `to`).
    Everyone,
    /// The sockets logged in as any of these uids. An empty list reaches no one.
    Users(Vec<String>),
    /// The sockets in any of these groups, each once. An empty list reaches no one.
    Groups(Vec<String>),
}

/// The payload of a [`Publish`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    /// A string, arriving in the browser as a string.
    Text(String),
    /// Any JSON value, arriving in the browser as the matching object.
    Json(serde_json::Value),
}

/// The daemon's answer to one [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The id of the request this answers (0 if it could not be read).
    pub id: u64,
    /// The outcome.
    pub reply: Reply,
}

/// The outcome of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// A publish was emitted; `sockets` is how many sockets (browser tabs) it
    /// was addressed to. 0 means every target user is offline.
    Delivered {
        /// Sockets reached.
        sockets: u64,
        /// The message's position in each stream it was kept in
        /// (`user:UID`, `group:NAME`, `all`); none for a message kept in no
        /// history, and for a copy of a message already delivered.
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        positions: std::collections::BTreeMap<String, Position>,
        /// Users it was kept for in their inbox (`keep_secs`).
        #[serde(default, skip_serializing_if = "is_zero")]
        kept: u64,
        /// Who acknowledged it within `ack_timeout_ms` (a push that waited).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        acked: Option<Acked>,
    },
    /// Answer to [`Command::Ping`].
    Pong {
        /// The daemon's version.
        version: String,
    },
    /// Answer to [`Command::Token`].
    Token {
        /// The token (a JWT, HS256), to hand to the browser.
        token: String,
        /// When it expires, in seconds since the Unix epoch.
        expires: u64,
    },
    /// Answer to [`Command::Disconnect`].
    Disconnected {
        /// How many sockets were disconnected.
        sockets: u64,
    },
    /// Answer to [`Command::GroupJoin`].
    Joined {
        /// The users' tabs open now, which are in the groups now.
        sockets: u64,
    },
    /// Answer to [`Command::GroupLeave`].
    Left {
        /// The users' tabs open now that left a group (a tab stays in a group
        /// its login token names).
        sockets: u64,
    },
    /// Answer to [`Command::Presence`].
    Presence(PresenceAnswer),
    /// Answer to [`Command::InboxCount`].
    Inbox {
        /// Kept messages waiting for the user.
        messages: u64,
    },
    /// Answer to [`Command::InboxClear`].
    Cleared {
        /// Kept messages forgotten.
        messages: u64,
    },
    /// Answer to [`Command::Receipts`]: the users that acknowledged the
    /// message within the receipts' window, first acknowledged first.
    Receipts {
        /// Their receipts.
        receipts: Vec<Receipt>,
    },
    /// Answer to [`Command::WebhookCheck`]: the request is msgpushd's; its
    /// events, as sent.
    Webhook {
        /// The events of the body.
        events: Vec<serde_json::Value>,
    },
    /// The request failed; nothing was emitted.
    Error {
        /// A machine-readable cause.
        code: ErrorCode,
        /// A sentence a user can act on.
        message: String,
    },
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame's protocol version is not one the daemon speaks.
    UnsupportedVersion,
    /// The frame's body is not a request (bad JSON, invalid UTF-8, bad fields).
    Malformed,
    /// The command is not one this daemon knows: the caller is newer.
    UnsupportedCommand,
    /// The frame is larger than the daemon's limit; the connection is closed.
    FrameTooLarge,
    /// The request is well-formed but its values break a rule (empty event,
    /// uid too long, ...).
    InvalidInput,
    /// The daemon failed while handling a valid request.
    Internal,
    /// The daemon is at a bound of its own for this kind of request (pushes
    /// waiting for acknowledgements, `--max-waiting-pushes`): try later.
    Busy,
    /// A webhook request whose signature does not hold: forged, altered,
    /// signed with another secret, or too old.
    Forged,
    /// A code this peer does not know (sent by a newer daemon).
    #[serde(other)]
    Unknown,
}

impl Response {
    /// An error reply to request `id`.
    pub fn error(id: u64, code: ErrorCode, message: impl Into<String>) -> Self {
        Response { id, reply: Reply::Error { code, message: message.into() } }
    }
}
