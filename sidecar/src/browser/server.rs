//! The browser side: the Socket.IO server (its limits) and its handlers for
//! connect, `login` and disconnect, with web-msg-sender's event semantics.
//!
//! A socket logs in once, in one of three ways: a login token in the
//! handshake (socket.io 4.x `auth: {token}`, or a `token` query parameter as
//! socket.io 2.x sends it), or web-msg-sender's `login` event. A bad
//! handshake token refuses the connection (`connect_error`); a bad `login`
//! gets a `login_error` event and leaves the socket connected, logged out.
//! The handlers reach their state through socketioxide's `State` extractor.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::response::IntoResponse;
use msgpush_protocol::defaults::events;
use msgpush_protocol::limits::check_uid;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide::{SocketIo, SocketIoBuilder};
use socketioxide_core::adapter::DefinedAdapter;
use tower::Service;

use crate::auth::tokens::{TokenError, Tokens};
use crate::browser::message_rate::{MessageRate, Verdict};
use crate::settings::flags::{AuthMode, Config};
use crate::state::online_count::OnlineCount;
use crate::state::presence::Presence;
use crate::telemetry::metrics::METRICS;

/// Initial read buffer of each browser websocket, and the most it reads at
/// once. Browsers send little (a `login`, pings), and the buffer grows to
/// hold a larger message: a small one saves 3.75 KiB per connection over
/// socketioxide's default of 4 KiB.
const WS_READ_BUFFER_BYTES: usize = 256;

/// The uid a handshake token vouched for, kept on the socket until the
/// connect handler logs it in.
#[derive(Debug, Clone)]
struct HandshakeUid(String);

/// The state the handlers share with the rest of the daemon.
#[derive(Debug)]
pub struct Shared {
    /// Who is logged in on this node.
    pub presence: Arc<Presence>,
    /// The `update_online_count` message.
    pub online: Arc<OnlineCount>,
    /// Login tokens.
    pub tokens: Arc<Tokens>,
    /// `--max-client-messages-per-sec`, for sockets connecting from now on
    /// (changed by a reload).
    pub messages_per_sec: Arc<AtomicU32>,
}

/// `--max-client-messages-per-sec`, as the handlers' state.
#[derive(Debug, Clone)]
struct MessagesPerSec(Arc<AtomicU32>);

/// Builds the Socket.IO server from `builder` (which picks its adapter),
/// with its handlers; returns its handle, the service that answers requests
/// under `/socket.io/`, and the namespace's adapter initialisation (in a
/// cluster, a future subscribing to Redis, to await).
pub fn socket_io<A: Adapter + DefinedAdapter>(
    builder: SocketIoBuilder<A>,
    config: &Config,
    shared: &Shared,
) -> (
    SocketIo<A>,
    impl Service<Request<Body>, Response: IntoResponse, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static,
    A::InitRes,
) {
    let (service, io) = builder
        .ping_interval(Duration::from_secs(config.ping_interval_secs))
        .ping_timeout(Duration::from_secs(config.ping_timeout_secs))
        .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
        .max_buffer_size(config.max_buffered_packets)
        .max_payload(config.max_client_payload_bytes)
        .ws_max_message_size(config.max_client_payload_bytes as usize)
        .ws_max_frame_size(config.max_client_payload_bytes as usize)
        .ws_read_buffer_size(WS_READ_BUFFER_BYTES)
        .with_state(shared.presence.clone())
        .with_state(shared.online.clone())
        .with_state(shared.tokens.clone())
        .with_state(config.auth)
        .with_state(MessagesPerSec(shared.messages_per_sec.clone()))
        .build_svc();
    let init = io.ns("/", on_connect.with(authenticate));
    (io, service, init)
}

/// Runs before the client is told it is connected: checks a handshake token
/// and attaches the event handlers. (The connect handler itself runs in a
/// spawned task, and a client that emits `login` as soon as it is connected,
/// as web-msg-sender pages do, could otherwise beat it.)
async fn authenticate<A: Adapter>(
    socket: SocketRef<A>,
    TryData(auth): TryData<Value>,
    State(tokens): State<Arc<Tokens>>,
    State(MessagesPerSec(per_sec)): State<MessagesPerSec>,
) -> Result<(), TokenError> {
    if let Some(token) = handshake_token(&socket, auth.ok()) {
        let uid = tokens.verify(&token).inspect_err(|e| {
            tracing::debug!(sid = %socket.id, cause = %e, "connection refused");
            METRICS.login_refused(e.reason());
        })?;
        socket.extensions.insert(HandshakeUid(uid));
    }
    socket.extensions.insert(Arc::new(MessageRate::new(per_sec.load(Ordering::Relaxed))));
    socket.on(events::LOGIN, on_login);
    socket.on_fallback(on_other_message);
    socket.on_disconnect(on_disconnect);
    Ok(())
}

/// Whether a message from `socket` may be handled: within its rate. A socket
/// far over it is disconnected.
fn admit<A: Adapter>(socket: &SocketRef<A>) -> bool {
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
async fn on_other_message<A: Adapter>(socket: SocketRef<A>) {
    admit(&socket);
}

/// The token of `auth: {token}` (socket.io 3/4), else of the handshake's
/// query string (`query: {token}`, socket.io 2.x).
fn handshake_token<A: Adapter>(socket: &SocketRef<A>, auth: Option<Value>) -> Option<String> {
    if let Some(Value::Object(mut auth)) = auth {
        if let Some(Value::String(token)) = auth.remove("token") {
            return Some(token);
        }
    }
    let query = socket.req_parts().uri.query()?;
    form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "token").map(|(_, token)| token.into_owned())
}

async fn on_connect<A: Adapter>(
    socket: SocketRef<A>,
    State(presence): State<Arc<Presence>>,
    State(online): State<Arc<OnlineCount>>,
) {
    tracing::debug!(sid = %socket.id, "socket connected");
    METRICS.socket_connected();
    if let Some(HandshakeUid(uid)) = socket.extensions.get::<HandshakeUid>() {
        log_in(&socket, uid, &presence, &online);
    }
}

/// `login(value)`: with `--auth token` the value is a login token; with
/// `--auth none` a uid (a string or a number), or a token, so that pages can
/// move to tokens before the daemon does. A refusal is answered with
/// `login_error`, so a bad page learns why and disturbs no one else.
async fn on_login<A: Adapter>(
    socket: SocketRef<A>,
    TryData(value): TryData<Value>,
    State(mode): State<AuthMode>,
    State(tokens): State<Arc<Tokens>>,
    State(presence): State<Arc<Presence>>,
    State(online): State<Arc<OnlineCount>>,
) {
    if !admit(&socket) {
        return;
    }
    let uid = match value {
        Ok(value) => uid_of_login(value, mode, &tokens),
        Err(e) => Err(Refused { reason: "malformed", why: format!("login needs one argument: {e}") }),
    };
    match uid {
        Ok(uid) => log_in(&socket, uid, &presence, &online),
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

/// The uid a `login` argument logs in as under `mode`, or why it cannot.
fn uid_of_login(value: Value, mode: AuthMode, tokens: &Tokens) -> Result<String, Refused> {
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
    Ok(uid)
}

/// Logs `socket` in as `uid` and answers with the online count. The first
/// login on a socket wins; later ones change nothing.
fn log_in<A: Adapter>(socket: &SocketRef<A>, uid: String, presence: &Presence, online: &OnlineCount) {
    if !presence.login(socket.id, &uid) {
        return;
    }
    if !join_unless_closed(socket, vec![uid.clone()]) {
        presence.logout(socket.id);
        return;
    }
    // Socket ids stay out of info lines: with a polling session's id, anyone
    // could act as that client.
    tracing::debug!(sid = %socket.id, uid, "socket logged in");
    METRICS.login_accepted();
    tracing::info!(uid, "socket logged in");
    socket.emit(events::ONLINE_COUNT, &*online.last_message()).ok();
}

/// A socket's rooms, as logging in changes them.
trait Joins {
    fn join(&self, rooms: Vec<String>);
    fn leave(&self, rooms: Vec<String>);
    /// False from the moment the socket closes, before its disconnect
    /// handler runs and before Socket.IO takes it out of its rooms.
    fn is_open(&self) -> bool;
}

impl<A: Adapter> Joins for SocketRef<A> {
    fn join(&self, rooms: Vec<String>) {
        socketioxide::socket::Socket::join(self, rooms);
    }
    fn leave(&self, rooms: Vec<String>) {
        socketioxide::socket::Socket::leave(self, rooms);
    }
    fn is_open(&self) -> bool {
        self.connected()
    }
}

/// Puts `socket` in `rooms`, unless it closed meanwhile; returns whether it
/// is in them. A login races the socket's close: a join made after Socket.IO
/// emptied the socket's rooms would stay for ever (a room growing, a push
/// counting a socket that is gone). Joining first and then looking settles
/// it whatever the order: open after the join means the close, and the
/// emptying after it, are still to come; closed means the join is undone.
fn join_unless_closed(socket: &impl Joins, rooms: Vec<String>) -> bool {
    socket.join(rooms.clone());
    if socket.is_open() {
        return true;
    }
    socket.leave(rooms);
    false
}

async fn on_disconnect<A: Adapter>(
    socket: SocketRef<A>,
    reason: DisconnectReason,
    State(presence): State<Arc<Presence>>,
) {
    let uid = presence.logout(socket.id);
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
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeSet;

    use super::{join_unless_closed, Joins};

    /// A socket whose close can be made to happen at any point of a login.
    #[derive(Default)]
    struct Racing {
        open: Cell<bool>,
        rooms: RefCell<BTreeSet<String>>,
        closes_on_join: bool,
    }

    impl Racing {
        /// What Socket.IO does when a socket closes: mark it, empty its rooms.
        fn close(&self) {
            self.open.set(false);
            self.rooms.borrow_mut().clear();
        }
    }

    impl Joins for Racing {
        fn join(&self, rooms: Vec<String>) {
            self.rooms.borrow_mut().extend(rooms);
            if self.closes_on_join {
                self.close();
            }
        }
        fn leave(&self, rooms: Vec<String>) {
            for room in rooms {
                self.rooms.borrow_mut().remove(&room);
            }
        }
        fn is_open(&self) -> bool {
            self.open.get()
        }
    }

    #[test]
    fn a_login_racing_the_close_leaves_no_room_whichever_comes_first() {
        let open = Racing { open: Cell::new(true), ..Racing::default() };
        assert!(join_unless_closed(&open, vec!["u".into()]));
        assert_eq!(open.rooms.borrow().len(), 1, "an open socket joins");
        open.close();
        assert!(open.rooms.borrow().is_empty(), "and leaves when it closes");

        let closed_first = Racing::default();
        closed_first.close();
        assert!(!join_unless_closed(&closed_first, vec!["u".into()]));
        assert!(closed_first.rooms.borrow().is_empty(), "a join after the close's cleanup is undone");

        let closed_meanwhile = Racing { open: Cell::new(true), closes_on_join: true, ..Racing::default() };
        assert!(!join_unless_closed(&closed_meanwhile, vec!["u".into()]));
        assert!(closed_meanwhile.rooms.borrow().is_empty());
    }

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
                let tokens = Tokens::new(SECRET, 0);
                let mode = if none { AuthMode::None } else { AuthMode::Token };
                match uid_of_login(value.clone(), mode, &tokens) {
                    Ok(uid) => {
                        prop_assert!(mode == AuthMode::None, "no token was minted, so none can log in");
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
