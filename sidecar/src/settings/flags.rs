//! Command-line flags; each one can also be set from an environment variable,
//! and from the settings file (`--config`, see `config_file`) under its
//! name with underscores (`http_listen` for `--http-listen`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use ipnet::IpNet;
use msgpush_protocol::defaults;
use serde::{Serialize, Serializer};

use crate::telemetry::logging::LogFormat;

/// web-msg-sender's message, kept as the default so existing pages show the
/// same text.
pub const DEFAULT_TEMPLATE: &str = "当前<b>{uids}</b>人在线，共打开<b>{sockets}</b>个页面";

/// Where the token secret lives unless configured: a state directory, so
/// that it survives restarts (systemd's `StateDirectory=msgpush`).
pub const DEFAULT_TOKEN_SECRET_FILE: &str = "/var/lib/msgpush/token-secret";

/// Where the webhook secret lives unless --webhook-secret-file says otherwise.
pub const DEFAULT_WEBHOOK_SECRET_FILE: &str = "/var/lib/msgpush/webhook-secret";

/// Where a single daemon's store lives unless told: beside the token secret.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/msgpush";

/// When the store's commits reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreSync {
    /// A durable commit at most a second after a change: a crash loses at
    /// most the last second.
    Second,
    /// Every commit is durable (a disk sync per batch of messages).
    Always,
}

/// The kinds of events sent to the application's webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum EventKind {
    /// A user's first tab across the cluster logged in.
    UserOnline,
    /// A user's last tab has been gone for --offline-grace-secs.
    UserOffline,
    /// A user's first tab in a group (by token or membership) arrived.
    GroupJoined,
    /// A user's last tab in a group has been gone for the grace.
    GroupLeft,
    /// A user's first acknowledgement of a message sent with receipts.
    MessageAcked,
    /// A user's first read report of such a message.
    MessageRead,
}

/// How browsers log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// A login token minted by `MsgPush\Auth::token()`: a page can log in
    /// only as the user its back end vouched for.
    Token,
    /// web-msg-sender's `login(uid)`, taken on the browser's word: any page
    /// can claim any uid. For migrating only.
    None,
}

/// msgpushd: real-time push for PHP applications over Socket.IO.
///
/// Serialized, a `Config` is the effective settings as a settings file
/// would state them (`--check-config` prints it; a reload compares two).
#[derive(Debug, Clone, Parser, Serialize)]
#[command(version, about, long_about = None)]
pub struct Config {
    /// Settings file (TOML: each flag's name with underscores, e.g.
    /// `http_listen = "127.0.0.1:2121"`). A flag or an environment variable
    /// overrides what it says. Re-read on SIGHUP.
    #[arg(long, env = "MSGPUSHD_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Check the settings (flags, environment, settings file, TLS files),
    /// print the effective ones and exit: 0 if they are good.
    #[arg(long)]
    #[serde(skip)]
    pub check_config: bool,

    /// Address of the Socket.IO server (browsers connect here; also serves the
    /// client script and, with --demo, the demo page).
    #[arg(long, env = "MSGPUSHD_LISTEN", default_value = "0.0.0.0:2120")]
    pub listen: SocketAddr,

    /// Address of the web-msg-sender-compatible HTTP push API. Loopback by
    /// default: anyone who reaches it can push.
    #[arg(long, env = "MSGPUSHD_HTTP_LISTEN", default_value = "127.0.0.1:2121")]
    pub http_listen: SocketAddr,

    /// If set, the HTTP push API requires this key, as the `key` parameter or
    /// an `Authorization: Bearer KEY` header.
    #[arg(long, env = "MSGPUSHD_HTTP_API_KEY", hide_env_values = true)]
    #[serde(serialize_with = "hidden")]
    pub http_api_key: Option<String>,

    /// Largest HTTP push request body, in bytes (larger bodies get 413).
    #[arg(long, env = "MSGPUSHD_MAX_BODY_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Path of the Unix socket the PHP extension connects to.
    #[arg(long, env = "MSGPUSHD_SOCKET", default_value = defaults::SOCKET_PATH)]
    pub socket: PathBuf,

    /// Permission bits of the Unix socket, in octal. Whoever may write to it
    /// can push to any user.
    #[arg(long, env = "MSGPUSHD_SOCKET_MODE", default_value = "660", value_parser = parse_octal_mode)]
    #[serde(serialize_with = "octal")]
    pub socket_mode: u32,

    /// Group to give the Unix socket (for example `www-data`, the group
    /// php-fpm runs as), so group members can connect with mode 660.
    #[arg(long, env = "MSGPUSHD_SOCKET_GROUP")]
    pub socket_group: Option<String>,

    /// Largest frame, in bytes, accepted on the Unix socket; a connection
    /// sending a larger one gets an error reply and is closed.
    #[arg(long, env = "MSGPUSHD_MAX_FRAME_BYTES", default_value_t = defaults::MAX_FRAME_BYTES)]
    pub max_frame_bytes: usize,

    /// Seconds an HTTP client (browser or push API) has to send a request's
    /// head; a keep-alive connection idle this long is closed too, and so is
    /// one whose peer takes nothing of what is written to it for this long.
    #[arg(long, env = "MSGPUSHD_HTTP_HEADER_TIMEOUT_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub http_header_timeout_secs: u64,

    /// Seconds an HTTP client has to send a request's body.
    #[arg(long, env = "MSGPUSHD_HTTP_BODY_TIMEOUT_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub http_body_timeout_secs: u64,

    /// Most TCP connections (browsers and the HTTP push API together);
    /// beyond it new ones are closed at once. Default: the descriptor limit
    /// less a reserve, so that PHP's Unix socket stays reachable.
    #[arg(long, env = "MSGPUSHD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Seconds a Unix-socket connection may stay silent before it is closed
    /// (the extension reconnects by itself on its next push).
    #[arg(long, env = "MSGPUSHD_UNIX_IDLE_TIMEOUT_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub unix_idle_timeout_secs: u64,

    /// Seconds a frame may take to arrive whole once it started, and a
    /// Unix-socket peer to take its replies; past it the connection is closed.
    #[arg(long, env = "MSGPUSHD_UNIX_IO_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub unix_io_timeout_secs: u64,

    /// Origins allowed to connect from a browser (repeat or separate with
    /// commas): a polling handshake or websocket upgrade from another origin
    /// is refused (403). When unset, any origin is allowed, as with
    /// web-msg-sender.
    #[arg(long, env = "MSGPUSHD_CORS_ORIGIN", value_delimiter = ',')]
    pub cors_origin: Vec<String>,

    /// Seconds a message id is remembered: a copy of a message (a resend
    /// after a lost answer, a retry after a timeout) arriving within it is
    /// not delivered again.
    #[arg(long, env = "MSGPUSHD_DEDUP_WINDOW_SECS", default_value_t = 60)]
    pub dedup_window_secs: u64,

    /// Most message ids remembered (about 100 bytes each); beyond it the
    /// oldest are forgotten before their window ends.
    #[arg(long, env = "MSGPUSHD_DEDUP_MAX_IDS", default_value_t = 200_000)]
    pub dedup_max_ids: usize,

    /// The `update_online_count` message; `{uids}` and `{sockets}` are
    /// replaced by the figures.
    #[arg(long, env = "MSGPUSHD_ONLINE_COUNT_TEMPLATE", default_value = DEFAULT_TEMPLATE)]
    pub online_count_template: String,

    /// Seconds between the pings a browser must answer; one that has not
    /// answered within --ping-timeout-secs more (a closed tab, a client that
    /// stopped reading) is disconnected.
    #[arg(long, env = "MSGPUSHD_PING_INTERVAL_SECS", default_value_t = 25,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ping_interval_secs: u64,

    /// Seconds a new session has to join (socket.io 3/4) or to make its
    /// first request after the handshake (socket.io 2.x); one opened and
    /// abandoned is closed after it, so handshakes alone cannot pile up.
    #[arg(long, env = "MSGPUSHD_CONNECT_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub connect_timeout_secs: u64,

    /// Seconds a browser has to answer a ping.
    #[arg(long, env = "MSGPUSHD_PING_TIMEOUT_SECS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ping_timeout_secs: u64,

    /// Most Socket.IO sessions (open browser connections, websocket or
    /// long-polling) in total; beyond it handshakes are refused (503).
    #[arg(long, env = "MSGPUSHD_MAX_SESSIONS", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_sessions: u64,

    /// Most sessions from one client address (many users may share one
    /// behind a NAT); beyond it handshakes from it are refused (429).
    #[arg(long, env = "MSGPUSHD_MAX_SESSIONS_PER_ADDRESS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_sessions_per_address: u64,

    /// Most pending sessions (opened by a handshake and not used since) in
    /// total. An honest client uses its session within a round trip.
    #[arg(long, env = "MSGPUSHD_MAX_PENDING_SESSIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pending_sessions: u64,

    /// Most pending sessions from one client address.
    #[arg(long, env = "MSGPUSHD_MAX_PENDING_SESSIONS_PER_ADDRESS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pending_sessions_per_address: u64,

    /// Reverse proxies (addresses or CIDR networks; repeat or separate with
    /// commas) whose X-Forwarded-For header names the client, for the
    /// per-address limits. From anyone else the header is ignored.
    #[arg(long, env = "MSGPUSHD_TRUSTED_PROXY", value_delimiter = ',', default_value = "127.0.0.1,::1",
          value_parser = parse_net)]
    pub trusted_proxy: Vec<IpNet>,

    /// Packets buffered per browser socket before further messages to a
    /// client that does not read are dropped. The buffer grows only as used.
    #[arg(long, env = "MSGPUSHD_MAX_BUFFERED_PACKETS", default_value_t = 1024)]
    pub max_buffered_packets: usize,

    /// Messages a browser may send per second (a page sends a `login` and
    /// little else); more are dropped, and five times more disconnect it.
    #[arg(long, env = "MSGPUSHD_MAX_CLIENT_MESSAGES_PER_SEC", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_client_messages_per_sec: u32,

    /// Largest message, in bytes, a browser may send (polling request or
    /// websocket message); a larger one closes its connection.
    #[arg(long, env = "MSGPUSHD_MAX_CLIENT_PAYLOAD_BYTES", default_value_t = 100_000)]
    pub max_client_payload_bytes: u64,

    /// How browsers log in: `token` (a login token from PHP's
    /// `MsgPush\Auth::token()`) or `none` (web-msg-sender's plain uid, which
    /// lets any page read any user's messages; for migrating).
    #[arg(long, env = "MSGPUSHD_AUTH", value_enum, default_value_t = AuthMode::Token)]
    pub auth: AuthMode,

    /// File holding the secret that signs login tokens; created (random,
    /// mode 600) if missing. Daemons sharing the file accept each other's tokens.
    #[arg(long, env = "MSGPUSHD_TOKEN_SECRET_FILE", default_value = DEFAULT_TOKEN_SECRET_FILE)]
    pub token_secret_file: PathBuf,

    /// Seconds a login token is still accepted past its expiry, for clocks
    /// that disagree between hosts (0 to 10).
    #[arg(long, env = "MSGPUSHD_TOKEN_LEEWAY_SECS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=10))]
    pub token_leeway_secs: u64,

    /// With --cors-origin: also refuse Socket.IO requests that carry no
    /// Origin header. Browsers send one with cross-origin requests and every
    /// websocket; same-origin polling requests and non-browser clients may not.
    #[arg(long, env = "MSGPUSHD_REFUSE_MISSING_ORIGIN")]
    pub refuse_missing_origin: bool,

    /// Redis to form a cluster with the other daemons given the same URL
    /// (`redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`, standalone Redis 6 or later):
    /// pushes, broadcasts and `Auth::disconnect` then reach every node's
    /// browsers, and counts are the cluster's. Unset: one daemon, in memory.
    #[arg(long, env = "MSGPUSHD_REDIS_URL", hide_env_values = true)]
    #[serde(serialize_with = "hidden")]
    pub redis_url: Option<String>,

    /// Prefix of msgpush's keys and channels in Redis, so that several
    /// clusters (one per site) can share one Redis.
    #[arg(long, env = "MSGPUSHD_REDIS_PREFIX", default_value = "msgpush")]
    pub redis_prefix: String,

    /// Seconds a cluster node may stay silent (killed, cut off from Redis)
    /// before the others stop counting its sockets; it proves itself alive
    /// five times per period.
    #[arg(long, env = "MSGPUSHD_CLUSTER_NODE_TTL_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub cluster_node_ttl_secs: u64,

    /// Most groups a login token may name (`Auth::token($uid, $ttl, $groups)`).
    #[arg(long, env = "MSGPUSHD_MAX_TOKEN_GROUPS", default_value_t = 32,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1000))]
    pub max_token_groups: usize,

    /// Most groups one request may name (a push to groups, `Group::join`,
    /// `Group::leave`).
    #[arg(long, env = "MSGPUSHD_MAX_GROUPS_PER_REQUEST", default_value_t = 100,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1000))]
    pub max_groups_per_request: usize,

    /// Most groups one user may be a member of (`Group::join`); a tab is in
    /// its user's groups and its token's.
    #[arg(long, env = "MSGPUSHD_MAX_GROUPS_PER_USER", default_value_t = 256,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub max_groups_per_user: usize,

    /// Most memberships a single daemon keeps, all users together (in a
    /// cluster, Redis keeps them).
    #[arg(long, env = "MSGPUSHD_MAX_MEMBERSHIPS", default_value_t = 1_000_000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_memberships: usize,

    /// Days a user's memberships are kept after their last login or
    /// `Group::join`; then they are forgotten.
    #[arg(long, env = "MSGPUSHD_GROUP_MEMBERSHIP_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub group_membership_days: u64,

    /// Seconds a user's last tab must have been gone before the user is
    /// announced gone (from a group): a page reload is not a departure.
    #[arg(long, env = "MSGPUSHD_OFFLINE_GRACE_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub offline_grace_secs: u64,

    /// Groups of at most this many users have their arrivals and departures
    /// announced to their pages (`msgpush:joined`, `msgpush:left`); each
    /// announcement goes to every tab in the group, so larger groups are
    /// not announced, and their pages ask who is there.
    #[arg(long, env = "MSGPUSHD_MAX_ANNOUNCED_GROUP_USERS", default_value_t = 1000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=100_000))]
    pub max_announced_group_users: usize,

    /// Orders (messages to emit, membership changes, announcements) waiting
    /// to be applied to this node's sockets, and in a cluster this node's
    /// orders waiting to be written to Redis; a push from PHP waits for room,
    /// an order from another node that finds no room is dropped and counted.
    #[arg(long, env = "MSGPUSHD_MAX_PENDING_ORDERS", default_value_t = 65_536,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_pending_orders: usize,

    /// Where a single daemon keeps what survives a restart: history and
    /// inboxes (`msgpush.redb`). A cluster keeps them in Redis.
    #[arg(long, env = "MSGPUSHD_STATE_DIR", default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,

    /// When the store's writes reach the disk: `second` (a durable commit at
    /// most a second after a change; a crash loses at most that second) or
    /// `always` (a disk sync for every batch of messages).
    #[arg(long, env = "MSGPUSHD_STORE_SYNC", value_enum, default_value_t = StoreSync::Second)]
    pub store_sync: StoreSync,

    /// Messages kept per stream (a user's, a group's, everyone's) for tabs
    /// that reconnect; 0 keeps none (applied on reload).
    #[arg(long, env = "MSGPUSHD_HISTORY_SIZE", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub history_size: u64,

    /// Seconds a message stays in history (applied on reload).
    #[arg(long, env = "MSGPUSHD_HISTORY_TTL_SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=30 * 24 * 3600))]
    pub history_ttl_secs: u64,

    /// Bytes of history kept in all, the oldest dropped first (applied on reload).
    #[arg(long, env = "MSGPUSHD_HISTORY_MAX_BYTES", default_value_t = 256 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..))]
    pub history_max_bytes: u64,

    /// Messages kept per user until a tab acknowledges them
    /// (`PushEvent->keep()`), the oldest dropped first (applied on reload).
    #[arg(long, env = "MSGPUSHD_INBOX_SIZE", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub inbox_size: u64,

    /// Bytes of kept messages in all, those expiring soonest dropped first
    /// (applied on reload).
    #[arg(long, env = "MSGPUSHD_INBOX_MAX_BYTES", default_value_t = 256 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..))]
    pub inbox_max_bytes: u64,

    /// Longest `PushEvent->keep()` accepted, in seconds.
    #[arg(long, env = "MSGPUSHD_INBOX_MAX_KEEP_SECS", default_value_t = 30 * 24 * 3600,
          value_parser = clap::value_parser!(u64).range(1..=30 * 24 * 3600))]
    pub inbox_max_keep_secs: u64,

    /// Seconds a tab has to acknowledge a kept message; a later
    /// acknowledgement does not count, and the message comes again at the
    /// next login.
    #[arg(long, env = "MSGPUSHD_INBOX_ACK_TIMEOUT_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub inbox_ack_timeout_secs: u64,

    /// Longest a push may wait for its tabs' acknowledgements
    /// (`PushEvent->setAckTimeout()`), in milliseconds.
    #[arg(long, env = "MSGPUSHD_MAX_ACK_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub max_ack_timeout_ms: u64,

    /// Pushes waiting for acknowledgements at once, in all; beyond it such a
    /// push is refused (`busy`).
    #[arg(long, env = "MSGPUSHD_MAX_WAITING_PUSHES", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_waiting_pushes: u64,

    /// Seconds a message's receipts are kept, from its first acknowledgement
    /// (`MsgPush\Receipt::of()`).
    #[arg(long, env = "MSGPUSHD_RECEIPT_TTL_SECS", default_value_t = 24 * 3600,
          value_parser = clap::value_parser!(u64).range(1..=30 * 24 * 3600))]
    pub receipt_ttl_secs: u64,

    /// Users' receipts kept per message; later ones are dropped and counted.
    #[arg(long, env = "MSGPUSHD_MAX_RECEIPTS_PER_MESSAGE", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_receipts_per_message: u64,

    /// The application's route that receives events (`http://` or
    /// `https://`, usually a route of the PHP application behind nginx):
    /// signed POSTs of batched events, and the pages' messages. Unset: no
    /// events are sent, and pages cannot send messages.
    #[arg(long, env = "MSGPUSHD_WEBHOOK_URL", value_parser = parse_webhook_url)]
    #[serde(serialize_with = "without_credentials")]
    pub webhook_url: Option<String>,

    /// File holding the secret that signs webhook requests; created (random,
    /// mode 600) if missing. `MsgPush\Webhook::events()` checks signatures
    /// through the daemon; other back ends read this file.
    #[arg(long, env = "MSGPUSHD_WEBHOOK_SECRET_FILE", default_value = DEFAULT_WEBHOOK_SECRET_FILE)]
    pub webhook_secret_file: PathBuf,

    /// The events sent to --webhook-url (comma-separated): `user_online`,
    /// `user_offline`, `group_joined`, `group_left`, `message_acked`,
    /// `message_read`.
    #[arg(
        long,
        env = "MSGPUSHD_WEBHOOK_EVENTS",
        value_delimiter = ',',
        value_enum,
        default_value = "user_online,user_offline,message_acked,message_read"
    )]
    pub webhook_events: Vec<EventKind>,

    /// Milliseconds an event waits for others to share its request.
    #[arg(long, env = "MSGPUSHD_WEBHOOK_BATCH_MS", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub webhook_batch_ms: u64,

    /// Most events in one request.
    #[arg(long, env = "MSGPUSHD_WEBHOOK_BATCH_SIZE", default_value_t = 100,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    pub webhook_batch_size: usize,

    /// Events waiting to be sent; beyond it new events are dropped and
    /// counted (`msgpush_webhook_dropped_total`).
    #[arg(long, env = "MSGPUSHD_WEBHOOK_QUEUE_SIZE", default_value_t = 10_000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000_000))]
    pub webhook_queue_size: usize,

    /// Seconds a request of events is retried (backing off from half a
    /// second to 30 s) while the application does not answer 2xx; then its
    /// events are dropped and counted.
    #[arg(long, env = "MSGPUSHD_WEBHOOK_RETRY_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub webhook_retry_secs: u64,

    /// Milliseconds the application has to accept a connection and answer
    /// a request (events or a page's message).
    #[arg(long, env = "MSGPUSHD_WEBHOOK_TIMEOUT_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub webhook_timeout_ms: u64,

    /// The names of the messages pages may send to the application
    /// (`msgpush:send`, comma-separated); none by default.
    #[arg(long, env = "MSGPUSHD_PAGE_MESSAGES", value_delimiter = ',', value_parser = parse_page_message_name)]
    pub page_messages: Vec<String>,

    /// Largest data of a page's message, in bytes of JSON.
    #[arg(long, env = "MSGPUSHD_MAX_PAGE_MESSAGE_BYTES", default_value_t = 16 * 1024,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024 * 1024))]
    pub max_page_message_bytes: usize,

    /// Pages' messages waiting for the application's answer at once; beyond
    /// it a page's message is answered `{error}` at once.
    #[arg(long, env = "MSGPUSHD_MAX_PENDING_PAGE_MESSAGES", default_value_t = 1_000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub max_pending_page_messages: usize,

    /// How log lines are written (to stderr): `text`, or `json` (one object
    /// per line with the event's fields, for log shippers).
    #[arg(long, env = "MSGPUSHD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// What is logged: `error`, `warn`, `info` (start, stop, logins and
    /// logouts, outages), `debug` (every connection, with socket ids: keep
    /// such logs private), or per module (`info,msgpushd::hub=debug`).
    #[arg(long, env = "MSGPUSHD_LOG", default_value = "info", value_parser = parse_log_level)]
    pub log_level: String,

    /// PEM certificate chain for TLS on --listen, so that `https://` pages
    /// connect with `wss://` directly (re-read on SIGHUP). Needs --tls-key.
    #[arg(long, env = "MSGPUSHD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "MSGPUSHD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve the demo page at `/`, with a form that pushes to any user.
    /// For trying msgpush out: it mints login tokens for any uid, so anyone
    /// who reaches --listen can read any user's messages; keep it on loopback.
    #[arg(long, env = "MSGPUSHD_DEMO")]
    pub demo: bool,
}

/// Descriptors kept free of TCP connections by default: PHP's connections to
/// the Unix socket, the daemon's own files.
pub const DESCRIPTOR_RESERVE: usize = 200;

impl Config {
    /// `--max-connections`, or the default: the open-descriptor limit less
    /// [`DESCRIPTOR_RESERVE`].
    pub fn max_connections(&self) -> usize {
        self.max_connections.unwrap_or_else(|| {
            let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .map_or(1024, |(soft, _)| soft);
            usize::try_from(limit).unwrap_or(usize::MAX).saturating_sub(DESCRIPTOR_RESERVE).max(64)
        })
    }
}

/// Parses a `--trusted-proxy` entry: an address or a network in CIDR notation.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("'{s}' is neither an address nor a network such as 10.0.0.0/8"))
}

/// Parses `--webhook-url`: an absolute `http://` or `https://` URL.
fn parse_webhook_url(s: &str) -> Result<String, String> {
    let uri: http::Uri = s.parse().map_err(|e| format!("'{s}' is not a URL: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(s.to_owned()),
        _ => Err(format!("'{s}' is not an http:// or https:// URL with a host")),
    }
}

/// Parses a `--page-messages` name: 1 to 64 letters, digits, `_`, `-`, `.`, `:`.
fn parse_page_message_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    let valid = !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    match valid {
        true => Ok(s.to_owned()),
        false => Err(format!("'{s}' is not a message name (1 to 64 letters, digits, _ - . :)")),
    }
}

fn parse_log_level(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(s).map_err(|e| format!("not a log level such as info or debug: {e}"))?;
    Ok(s.to_owned())
}

/// Secrets are shown as set or not, never their value.
fn hidden<S: Serializer>(value: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_some("(hidden)"),
        None => serializer.serialize_none(),
    }
}

/// A URL is shown without the credentials it may carry (`user:password@`).
fn without_credentials<S: Serializer>(value: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(url) => serializer.serialize_some(&shown_url(url)),
        None => serializer.serialize_none(),
    }
}

fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://(hidden)@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

fn octal<S: Serializer>(mode: &u32, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format!("{mode:o}"))
}

fn parse_octal_mode(s: &str) -> Result<u32, String> {
    let mode = u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .map_err(|_| format!("'{s}' is not an octal mode such as 660"))?;
    if mode > 0o777 {
        return Err(format!("'{s}' is not a permission mode (at most 777)"));
    }
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_url_is_shown_without_its_credentials() {
        assert_eq!(
            shown_url("https://app:s3cret@example.com/msgpush/events"),
            "https://(hidden)@example.com/msgpush/events"
        );
        assert_eq!(shown_url("http://127.0.0.1/hooks?a=b@c"), "http://127.0.0.1/hooks?a=b@c");
    }

    #[test]
    fn socket_mode_is_octal() {
        assert_eq!(parse_octal_mode("660"), Ok(0o660));
        assert_eq!(parse_octal_mode("0o600"), Ok(0o600));
        assert!(parse_octal_mode("999").is_err());
        assert!(parse_octal_mode("7777").is_err());
    }

    #[test]
    fn leeway_is_at_most_ten_seconds() {
        assert!(Config::try_parse_from(["msgpushd", "--token-leeway-secs", "10"]).is_ok());
        assert!(Config::try_parse_from(["msgpushd", "--token-leeway-secs", "60"]).is_err());
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::parse_from(["msgpushd"]);
        assert_eq!(c.listen.to_string(), "0.0.0.0:2120");
        assert_eq!(c.http_listen.to_string(), "127.0.0.1:2121");
        assert_eq!(c.socket_mode, 0o660);
        assert_eq!(c.socket.to_str(), Some(defaults::SOCKET_PATH));
        assert!(!c.demo);
        assert_eq!(c.auth, AuthMode::Token, "signed logins by default");
        assert_eq!(c.token_leeway_secs, 0);
        let proxies: Vec<String> = c.trusted_proxy.iter().map(ToString::to_string).collect();
        assert_eq!(proxies, ["127.0.0.1/32", "::1/128"], "only a proxy on this host is trusted");
    }
}
