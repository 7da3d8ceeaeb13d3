//! The browser side: Socket.IO connection, `login` and disconnect handling,
//! with web-msg-sender's event semantics.

use std::convert::Infallible;
use std::sync::Arc;

use serde_json::Value;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;

use crate::hub::Hub;
use crate::online_count;

/// Registers the handlers of the default namespace.
pub fn register(hub: Arc<Hub>) {
    let io = hub.io.clone();
    let on_connect = async |socket: SocketRef| tracing::debug!(sid = %socket.id, "socket connected");
    io.ns("/", on_connect.with(move |socket: SocketRef| attach_handlers(socket, hub.clone())));
}

/// Attaches the event handlers of a new socket. This runs as a connect
/// middleware, before the client is told it is connected: the connect handler
/// itself runs in a spawned task, and a client that emits `login` as soon as
/// it is connected (web-msg-sender pages do) could otherwise beat it.
async fn attach_handlers(socket: SocketRef, hub: Arc<Hub>) -> Result<(), Infallible> {
    let login_hub = hub.clone();
    socket.on("login", move |socket: SocketRef, uid: TryData<Value>| {
        let hub = login_hub.clone();
        async move { on_login(socket, uid, &hub) }
    });
    socket.on_disconnect(move |socket: SocketRef, reason: DisconnectReason| {
        let hub = hub.clone();
        async move {
            hub.presence.logout(socket.id);
            tracing::info!(sid = %socket.id, ?reason, "socket disconnected");
        }
    });
    Ok(())
}

/// `login(uid)`: the uid may be a string or a number; anything else is ignored
/// with a log line, so a bad page cannot disturb anyone else.
fn on_login(socket: SocketRef, TryData(uid): TryData<Value>, hub: &Hub) {
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
    if !hub.presence.login(socket.id, &uid) {
        return;
    }
    socket.join(uid.clone());
    if !socket.connected() {
        // The socket closed while this login ran and its disconnect handler may
        // have run already: make sure it does not stay counted.
        hub.presence.logout(socket.id);
        return;
    }
    tracing::info!(sid = %socket.id, uid, "socket logged in");
    socket.emit(online_count::EVENT, &*hub.online.last_message()).ok();
}
