//! The browser side: the Socket.IO server (its limits) and its handlers for
//! connect, `login`, a page's question of who is in its group, its report
//! that its user read a message, and disconnect, with web-msg-sender's event
//! semantics.
//!
//! A socket logs in once, in one of three ways: a login token in the
//! handshake (socket.io 4.x `auth: {token}`, or a `token` query parameter as
//! socket.io 2.x sends it), or web-msg-sender's `login` event. A bad
//! handshake token refuses the connection (`connect_error`); a bad `login`
//! gets a `login_error` event and leaves the socket connected, logged out.
//! A tab that logs in is in its user's room and in its groups: those its
//! token names, and its user's memberships (read at login; the fanout task
//! applies later changes). A tab never joins a group on its own word. The
//! handlers reach their state through socketioxide's `State` extractor.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::response::IntoResponse;
use msgpush_protocol::defaults::events;
use msgpush_protocol::limits::{check_group, check_uid};
use msgpush_protocol::MsgId;
use serde_json::{json, Value};
use socketioxide::extract::{AckSender, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;
use tokio::sync::oneshot;
use tower::Service;

use crate::auth::tokens::{Login, TokenError, Tokens};
use crate::browser::acks::Acks;
use crate::browser::fanout::{AttachRequest, Attached, Fanout};
use crate::browser::message_rate::{MessageRate, Verdict};
use crate::browser::recover::Presented;
use crate::browser::recovering::Recoveries;
use crate::cluster::directory::Directory;
use crate::cluster::memberships::Memberships;
use crate::settings::flags::{AuthMode, Config};
use crate::state::memberships::Read;
use crate::state::online_count::OnlineCount;
use crate::state::presence::Presence;
use crate::telemetry::metrics::METRICS;
use crate::webhooks::sender::{Unanswered, Webhooks};

/// Initial read buffer of each browser websocket, and the most it reads at
/// once. Browsers send little (a `login`, pings), and the buffer grows to
/// hold a larger message: a small one saves 3.75 KiB per connection over
/// socketioxide's default of 4 KiB.
const WS_READ_BUFFER_BYTES: usize = 256;

/// Most members a page is told of when it asks who is in its group (the
/// first, in uid order).
pub const MEMBERS_FOR_A_PAGE: usize = 1000;

/// Times a login reads its user's memberships again when a change overtook
/// the first reading.
const MEMBERSHIP_READS: usize = 3;

/// What a handshake token vouched for, and the positions presented beside
/// it, kept on the socket until the connect handler logs it in.
#[derive(Debug, Clone)]
struct HandshakeLogin(Login, Presented);

/// The state the handlers share with the rest of the daemon.
#[derive(Debug)]
pub struct Context {
    /// Who is logged in on this node.
    pub presence: Arc<Presence>,
    /// The `update_online_count` message.
    pub online: Arc<OnlineCount>,
    /// Login tokens.
    pub tokens: Arc<Tokens>,
    /// How browsers log in.
    pub auth: AuthMode,
    /// `--max-client-messages-per-sec`, for sockets connecting from now on
    /// (changed by a reload).
    pub messages_per_sec: Arc<AtomicU32>,
    /// Who is a member of which group.
    pub memberships: Arc<Memberships>,
    /// The task that puts tabs in their rooms.
    pub fanout: Fanout,
    /// Who is online, for a page asking who is in its group.
    pub directory: Directory,
    /// In a cluster, the logins whose recovery Redis reads.
    pub recoveries: Option<Arc<Recoveries>>,
    /// Where a tab's read reports go.
    pub acks: Acks,
    /// Where a page's messages to the application go.
    pub webhooks: Webhooks,
}

/// Builds the Socket.IO server with its handlers; returns its handle and
/// the service that answers requests under `/socket.io/`.
pub fn socket_io(
    config: &Config,
    context: Arc<Context>,
) -> (
    SocketIo,
    impl Service<Request<Body>, Response: IntoResponse, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static,
) {
    let (service, io) = SocketIo::builder()
        .ping_interval(Duration::from_secs(config.ping_interval_secs))
        .ping_timeout(Duration::from_secs(config.ping_timeout_secs))
        .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
        .max_buffer_size(config.max_buffered_packets)
        .ack_timeout(Duration::from_secs(config.inbox_ack_timeout_secs))
        .max_payload(config.max_client_payload_bytes)
        .ws_max_message_size(config.max_client_payload_bytes as usize)
        .ws_max_frame_size(config.max_client_payload_bytes as usize)
        .ws_read_buffer_size(WS_READ_BUFFER_BYTES)
        .with_state(context)
        .build_svc();
    io.ns("/", on_connect.with(authenticate));
    (io, service)
}

/// Runs before the client is told it is connected: checks a handshake token
/// and attaches the event handlers. (The connect handler itself runs in a
/// spawned task, and a client that emits `login` as soon as it is connected,
/// as web-msg-sender pages do, could otherwise beat it.)
async fn authenticate(
    socket: SocketRef,
    TryData(auth): TryData<Value>,
    State(context): State<Arc<Context>>,
) -> Result<(), TokenError> {
    let auth = auth.ok();
    if let Some(token) = handshake_token(&socket, auth.as_ref()) {
        let login = context.tokens.verify(&token).inspect_err(|e| {
            tracing::debug!(sid = %socket.id, cause = %e, "connection refused");
            METRICS.login_refused(e.reason());
        })?;
        socket.extensions.insert(HandshakeLogin(login, handshake_positions(&socket, auth.as_ref())));
    }
    socket.extensions.insert(Arc::new(MessageRate::new(context.messages_per_sec.load(Ordering::Relaxed))));
    socket.on(events::LOGIN, on_login);
    socket.on(events::MEMBERS, on_members);
    socket.on(events::READ, on_read);
    socket.on(events::SEND, on_send);
    socket.on_fallback(on_other_message);
    socket.on_disconnect(on_disconnect);
    Ok(())
}

/// Whether a message from `socket` may be handled: within its rate. A socket
/// far over it is disconnected.
fn admit(socket: &SocketRef) -> bool {
    let Some(rate) = socket.extensions.get::<Arc<MessageRate>>() else {
        return true;
    };
    match rate.check() {
        Verdict::Allow => true,
        Verdict::Drop => false,
        Verdict::Disconnect => {
            tracing::debug!(sid = %socket.id, "disconnecting a socket that sends too many messages");
            socket.clone().disconnect().ok();
            false
        }
    }
}

/// Events msgpushd does not handle: counted against the rate, then ignored.
async fn on_other_message(socket: SocketRef) {
    admit(&socket);
}

/// The token of `auth: {token}` (socket.io 3/4), else of the handshake's
/// query string (`query: {token}`, socket.io 2.x).
fn handshake_token(socket: &SocketRef, auth: Option<&Value>) -> Option<String> {
    if let Some(Value::String(token)) = auth.and_then(|auth| auth.get("token")) {
        return Some(token.clone());
    }
    query_param(socket, "token")
}

/// The positions of `auth: {positions}`, else of the query's `positions`
/// (their JSON, as socket.io 2.x pages send them).
fn handshake_positions(socket: &SocketRef, auth: Option<&Value>) -> Presented {
    if let Some(positions) = auth.and_then(|auth| auth.get("positions")) {
        return Presented::of(positions);
    }
    let positions = query_param(socket, "positions").and_then(|json| serde_json::from_str(&json).ok());
    positions.map(|positions: Value| Presented::of(&positions)).unwrap_or_default()
}

/// The handshake query's parameter `name`.
fn query_param(socket: &SocketRef, name: &str) -> Option<String> {
    let query = socket.req_parts().uri.query()?;
    form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}

async fn on_connect(socket: SocketRef, State(context): State<Arc<Context>>) {
    tracing::debug!(sid = %socket.id, "socket connected");
    METRICS.socket_connected();
    if let Some(HandshakeLogin(login, presented)) = socket.extensions.get::<HandshakeLogin>() {
        log_in(&socket, login, presented, &context).await;
    }
}

/// `login(value)`: with `--auth token` the value is a login token; with
/// `--auth none` a uid (a string or a number), or a token, so that pages can
/// move to tokens before the daemon does. The value may also be an object,
/// `{token, positions}` (or `{uid, positions}` with `--auth none`), to
/// present the positions seen. A refusal is answered with `login_error`, so
/// a bad page learns why and disturbs no one else.
async fn on_login(socket: SocketRef, TryData(value): TryData<Value>, State(context): State<Arc<Context>>) {
    if !admit(&socket) {
        return;
    }
    let (value, presented) = match value {
        Ok(Value::Object(mut fields)) => {
            let presented = fields.get("positions").map(Presented::of).unwrap_or_default();
            let value = fields.remove("token").or_else(|| fields.remove("uid")).unwrap_or(Value::Null);
            (Ok(value), presented)
        }
        other => (other, Presented::default()),
    };
    let login = match value {
        Ok(value) => login_of(value, context.auth, &context.tokens),
        Err(e) => Err(Refused { reason: "malformed", why: format!("login needs one argument: {e}") }),
    };
    match login {
        Ok(login) => log_in(&socket, login, presented, &context).await,
        Err(Refused { reason, why }) => {
            tracing::debug!(sid = %socket.id, cause = %why, "login refused");
            METRICS.login_refused(reason);
            socket.emit(events::LOGIN_ERROR, &why).ok();
        }
    }
}

/// Why a `login` was refused: the metric's reason and the browser's text.
#[derive(Debug)]
struct Refused {
    reason: &'static str,
    why: String,
}

impl From<TokenError> for Refused {
    fn from(e: TokenError) -> Refused {
        Refused { reason: e.reason(), why: e.to_string() }
    }
}

/// What a `login` argument logs in as under `mode`, or why it cannot.
fn login_of(value: Value, mode: AuthMode, tokens: &Tokens) -> Result<Login, Refused> {
    let uid = match (mode, value) {
        (AuthMode::Token, Value::String(token)) => return Ok(tokens.verify(&token)?),
        (AuthMode::Token, _) => return Err(TokenError::NotAToken.into()),
        // Not a token at all: a uid. A token that fails is refused as in token mode.
        (AuthMode::None, Value::String(value)) => match tokens.verify(&value) {
            Err(TokenError::Malformed | TokenError::NotAToken) => value,
            verified => return Ok(verified?),
        },
        (AuthMode::None, Value::Number(uid)) => uid.to_string(),
        (AuthMode::None, other) => {
            return Err(Refused { reason: "bad_uid", why: format!("a uid must be a string or a number, not {other}") })
        }
    };
    check_uid(&uid).map_err(|why| Refused { reason: "bad_uid", why })?;
    Ok(Login { uid, groups: vec![] })
}

/// Logs `socket` in as `login` says, gives it what it missed since the
/// positions it presented and what is kept for its user, and answers with
/// the online count. The first login on a socket wins; later ones change
/// nothing.
async fn log_in(socket: &SocketRef, login: Login, presented: Presented, context: &Context) {
    let Login { uid, groups } = login;
    // Counted as the user's first, so that a membership change from now on
    // reaches this tab, whether it comes before or after its rooms are joined.
    if !context.presence.login(socket.id, &uid) {
        return;
    }
    let uid: Arc<str> = uid.into();
    let groups: Vec<Arc<str>> = groups.into_iter().map(Arc::from).collect();
    let mut attached = Attached::Stale;
    for _ in 0..MEMBERSHIP_READS {
        let members = match context.memberships.read(&uid).await {
            Ok(members) => members,
            Err(e) => {
                // This tab is in its token's groups only, until it logs in again.
                tracing::warn!(uid = &*uid, cause = %e, "cannot read the user's groups");
                Read { groups: vec![], version: context.presence.version_of(&uid) }
            }
        };
        let (done, outcome) = oneshot::channel();
        let request = AttachRequest {
            socket: socket.clone(),
            uid: uid.clone(),
            token_groups: groups.clone(),
            members,
            presented: presented.clone(),
            recovery: None,
            done,
        };
        match &context.recoveries {
            Some(recoveries) => recoveries.attach(request).await,
            None => {
                context.fanout.attach(request).await;
            }
        }
        attached = outcome.await.unwrap_or(Attached::Closed);
        if attached != Attached::Stale {
            break;
        }
    }
    if attached != Attached::Done {
        context.presence.logout(socket.id);
        return;
    }
    // Socket ids stay out of info lines: with a polling session's id, anyone
    // could act as that client.
    tracing::debug!(sid = %socket.id, uid = &*uid, "socket logged in");
    METRICS.login_accepted();
    tracing::info!(uid = &*uid, "socket logged in");
    socket.emit(events::ONLINE_COUNT, &*context.online.last_message()).ok();
}

/// `msgpush:members(group, ack)`: who is in a group the tab is in (the
/// first [`MEMBERS_FOR_A_PAGE`]), answered `{group, uids}`; a tab not in the
/// group is answered `{error}`, learning nothing.
async fn on_members(
    socket: SocketRef,
    TryData(group): TryData<String>,
    ack: AckSender,
    State(context): State<Arc<Context>>,
) {
    if !admit(&socket) {
        return;
    }
    let answer = match group {
        Ok(group) if check_group(&group).is_ok() && context.presence.in_group(socket.id, &group) => {
            let (uids, _) = context.directory.page(Some(&group), None, MEMBERS_FOR_A_PAGE).await;
            json!({ "group": group, "uids": uids })
        }
        _ => json!({ "error": "not in that group" }),
    };
    ack.send(&answer).ok();
}

/// `msgpush:read(id)`: the tab's user read message `id` (`meta.id`). It
/// counts for a message sent with receipts that a tab of the user
/// acknowledged; anything else changes nothing, and nothing is answered.
async fn on_read(socket: SocketRef, TryData(id): TryData<Value>, State(context): State<Arc<Context>>) {
    if !admit(&socket) {
        return;
    }
    let (Some(uid), Ok(id)) = (context.presence.uid_of(socket.id), id) else { return };
    let id = match id {
        Value::Object(mut fields) => fields.remove("id").unwrap_or(Value::Null),
        id => id,
    };
    if let Ok(id) = serde_json::from_value::<MsgId>(id) {
        context.acks.read(uid, id).await;
    }
}

/// `msgpush:send({name, data}, ack)`: a message of the tab's page to the
/// application, posted to the webhook with the tab's uid (the one its login
/// proved, never one the page names). The ack gets `{answer}`, the
/// application's JSON answer, or `{error}`: not logged in, a name the site
/// does not take, data too large, too many messages, or the application
/// failed or did not answer in time.
async fn on_send(
    socket: SocketRef,
    TryData(message): TryData<Value>,
    ack: AckSender,
    State(context): State<Arc<Context>>,
) {
    let refused = |why: &str| {
        METRICS.page_message("refused");
        json!({ "error": why })
    };
    let answer = if !admit(&socket) {
        refused("too many messages from this page (--max-client-messages-per-sec)")
    } else if let Some(uid) = context.presence.uid_of(socket.id) {
        match message {
            Ok(Value::Object(mut fields)) => match fields.remove("name") {
                Some(Value::String(name)) => {
                    let data = fields.remove("data").unwrap_or(Value::Null);
                    match context.webhooks.ask(&uid, &name, data).await {
                        Ok(answer) => {
                            METRICS.page_message("answered");
                            json!({ "answer": answer })
                        }
                        Err(Unanswered::Refused(why)) => refused(&why),
                        Err(Unanswered::Failed(why)) => {
                            METRICS.page_message("failed");
                            tracing::debug!(uid = &*uid, name, cause = why, "a page's message got no answer");
                            json!({ "error": why })
                        }
                    }
                }
                _ => refused("a message to the application is {name, data}, with a name"),
            },
            _ => refused("a message to the application is {name, data}"),
        }
    } else {
        refused("not logged in")
    };
    ack.send(&answer).ok();
}

async fn on_disconnect(socket: SocketRef, reason: DisconnectReason, State(context): State<Arc<Context>>) {
    let uid = context.presence.logout(socket.id);
    tracing::debug!(sid = %socket.id, ?reason, "socket disconnected");
    METRICS.socket_disconnected(reason_label(reason));
    if let Some(uid) = uid {
        tracing::info!(uid = &*uid, ?reason, "socket logged out");
    }
}

/// `reason` as the metric's label.
fn reason_label(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose => "transport_close",
        DisconnectReason::MultipleHttpPollingError => "multiple_polling_requests",
        DisconnectReason::PacketParsingError => "bad_packet",
        DisconnectReason::TransportError => "transport_error",
        DisconnectReason::HeartbeatTimeout => "heartbeat_timeout",
        DisconnectReason::ClientNSDisconnect => "client_disconnect",
        DisconnectReason::ServerNSDisconnect => "server_disconnect",
        DisconnectReason::ClosingServer => "server_closing",
    }
}

#[cfg(test)]
mod tests {
    mod properties {
        use proptest::prelude::*;
        use socketioxide_core::parser::{Parse, ParseConfig, ParserState};
        use socketioxide_core::Str;
        use socketioxide_parser_common::CommonParser;

        use super::super::*;

        const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<String>().prop_map(Value::String),
            ];
            leaf.prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map(any::<String>(), inner, 0..4)
                        .prop_map(|map| Value::Object(map.into_iter().collect())),
                ]
            })
        }

        /// What a browser may send: anything, or something shaped like a
        /// Socket.IO packet (`42["login",...]`, `451-["x",{"_placeholder":true,"num":0}]`).
        fn packet_text() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                ("[0-6]", "([0-9]{1,3}-)?", "(/[a-z]{0,4},)?", "[0-9]{0,3}", json())
                    .prop_map(|(kind, attachments, ns, ack, data)| format!("{kind}{attachments}{ns}{ack}{data}")),
            ]
        }

        proptest! {
            #[test]
            fn any_login_argument_logs_in_as_a_valid_uid_or_is_refused(value in json(), none in any::<bool>()) {
                let tokens = Tokens::new(SECRET, 0, 4);
                let mode = if none { AuthMode::None } else { AuthMode::Token };
                match login_of(value.clone(), mode, &tokens) {
                    Ok(Login { uid, groups }) => {
                        prop_assert!(mode == AuthMode::None, "no token was minted, so none can log in");
                        prop_assert!(groups.is_empty(), "a tab never joins a group on its own word");
                        prop_assert!(check_uid(&uid).is_ok());
                        prop_assert!(value == Value::String(uid.clone()) || value.as_i64().map(|n| n.to_string()) == Some(uid));
                    }
                    Err(refused) => prop_assert!(!refused.why.is_empty()),
                }
            }

            #[test]
            fn any_socket_io_packet_from_a_browser_decodes_or_is_refused(
                text in packet_text(),
                attachments in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..16), 0..3),
            ) {
                let (config, state) = (ParseConfig::default(), ParserState::default());
                if CommonParser.decode_str(&config, &state, Str::from(text)).is_err() {
                    for attachment in attachments {
                        let _ = CommonParser.decode_bin(&config, &state, attachment.into());
                    }
                }
            }

            #[test]
            fn an_event_the_daemon_emits_reads_back_as_itself(event in "[a-z_]{1,12}", data in json()) {
                let (config, state) = (ParseConfig::default(), ParserState::default());
                let value = CommonParser.encode_value(&data, Some(&event)).unwrap();
                let encoded = CommonParser.encode(socketioxide_core::packet::Packet::event("/", value.clone()));
                let socketioxide_core::Value::Str(text, None) = encoded else { panic!("a text packet") };
                let packet = CommonParser.decode_str(&config, &state, text).unwrap();
                let socketioxide_core::packet::PacketData::Event(back, None) = packet.inner else { panic!("an event") };
                let (name, args): (String, Value) = (
                    CommonParser.read_event(&back).unwrap().to_owned(),
                    CommonParser.decode_value(&mut back.clone(), true).unwrap(),
                );
                prop_assert_eq!(name, event);
                prop_assert_eq!(args, data);
            }
        }
    }
}
