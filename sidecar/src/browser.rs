//! The browser side: the Socket.IO server (its limits) and its handlers for
//! connect, `login` and disconnect, with web-msg-sender's event semantics.
//! The handlers reach who is online and the online-count message through
//! socketioxide's `State` extractor.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::response::IntoResponse;
use msgpush_protocol::defaults::events;
use serde_json::Value;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;
use tower::Service;

use crate::config::Config;
use crate::online_count::OnlineCount;
use crate::presence::Presence;

/// Initial read buffer of each browser websocket. Browsers send little (a
/// `login`), and the buffer grows for larger messages: a small start saves
/// about 3 KiB per connection over socketioxide's default of 4 KiB.
const WS_READ_BUFFER_BYTES: usize = 1024;

/// Builds the Socket.IO server with its handlers; returns its handle and the
/// service that answers requests under `/socket.io/`.
pub fn socket_io(
    config: &Config,
    presence: Arc<Presence>,
    online: Arc<OnlineCount>,
) -> (
    SocketIo,
    impl Service<Request<Body>, Response: IntoResponse, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static,
) {
    let (service, io) = SocketIo::builder()
        .max_buffer_size(config.max_buffered_packets)
        .max_payload(config.max_client_payload_bytes)
        .ws_max_message_size(config.max_client_payload_bytes as usize)
        .ws_max_frame_size(config.max_client_payload_bytes as usize)
        .ws_read_buffer_size(WS_READ_BUFFER_BYTES)
        .with_state(presence)
        .with_state(online)
        .build_svc();
    io.ns("/", on_connect.with(attach_handlers));
    (io, service)
}

async fn on_connect(socket: SocketRef) {
    tracing::debug!(sid = %socket.id, "socket connected");
}

/// Attaches the event handlers of a new socket. This runs as a connect
/// middleware, before the client is told it is connected: the connect handler
/// itself runs in a spawned task, and a client that emits `login` as soon as
/// it is connected (web-msg-sender pages do) could otherwise beat it.
async fn attach_handlers(socket: SocketRef) -> Result<(), Infallible> {
    socket.on(events::LOGIN, on_login);
    socket.on_disconnect(on_disconnect);
    Ok(())
}

/// `login(uid)`: the uid may be a string or a number; anything else is ignored
/// with a log line, so a bad page cannot disturb anyone else.
async fn on_login(
    socket: SocketRef,
    TryData(uid): TryData<Value>,
    State(presence): State<Arc<Presence>>,
    State(online): State<Arc<OnlineCount>>,
) {
    let uid = match uid {
        Ok(Value::String(uid)) => uid,
        Ok(Value::Number(uid)) => uid.to_string(),
        Ok(other) => {
            tracing::debug!(sid = %socket.id, "login ignored: uid must be a string or a number, got {other}");
            return;
        }
        Err(e) => {
            tracing::debug!(sid = %socket.id, "login ignored: {e}");
            return;
        }
    };
    if let Err(e) = msgpush_protocol::limits::check_uid(&uid) {
        tracing::debug!(sid = %socket.id, "login ignored: {e}");
        return;
    }
    if !presence.login(socket.id, &uid) {
        return;
    }
    socket.join(uid.clone());
    if !socket.connected() {
        // The socket closed while this login ran and its disconnect handler may
        // have run already: make sure it does not stay counted.
        presence.logout(socket.id);
        return;
    }
    tracing::info!(sid = %socket.id, uid, "socket logged in");
    socket.emit(events::ONLINE_COUNT, &*online.last_message()).ok();
}

async fn on_disconnect(socket: SocketRef, reason: DisconnectReason, State(presence): State<Arc<Presence>>) {
    presence.logout(socket.id);
    tracing::info!(sid = %socket.id, ?reason, "socket disconnected");
}
