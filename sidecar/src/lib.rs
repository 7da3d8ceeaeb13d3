//! msgpushd: real-time push for PHP applications. Browsers connect with
//! Socket.IO and log in with a uid; PHP pushes to a uid (or everyone) through
//! the Unix socket (the `msgpush` extension) or the web-msg-sender-compatible
//! HTTP API; the daemon emits to that uid's sockets.
//!
//! # Layout
//! - [`config`]: command-line flags and their environment variables.
//! - [`hub`]: the state every part shares: Socket.IO handle, presence, online count.
//! - [`presence`]: the online map (socket -> uid, uid -> open sockets).
//! - [`browser`]: Socket.IO handlers: connect, `login`, disconnect.
//! - [`online_count`]: the `update_online_count` message and its broadcaster.
//! - [`publisher`]: routing a push to its sockets; shared by both ingresses.
//! - [`unix_listener`] / [`unix_connection`]: the PHP extension's ingress
//!   (frames of `msgpush-protocol`).
//! - [`http_api`] / [`http_params`]: the web-msg-sender-compatible HTTP ingress.
//! - [`web`]: the browser port: Socket.IO, the client script, the demo page.
//! - [`shutdown`]: signal handling; [`fd_limit`]: raising the descriptor limit.
//!
//! [`run`] wires them together and returns once a shutdown has drained.

#![warn(missing_docs)]

pub mod browser;
pub mod config;
pub mod fd_limit;
pub mod http_api;
pub mod http_params;
pub mod hub;
pub mod online_count;
pub mod presence;
pub mod publisher;
pub mod shutdown;
pub mod unix_connection;
pub mod unix_listener;
pub mod web;

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use socketioxide::SocketIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::hub::Hub;
use crate::online_count::OnlineCount;
use crate::unix_listener::{SocketAccess, UnixIngress};

/// How long a shutdown waits for connections to finish before giving up.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Initial read buffer of each browser websocket. Browsers send little (a
/// `login`), and the buffer grows for larger messages: a small start saves
/// about 3 KiB per connection over socketioxide's default of 4 KiB.
pub const WS_READ_BUFFER_BYTES: usize = 1024;

/// Pending-connection queue of the TCP listeners. When the daemon restarts,
/// every open page reconnects at once; a short queue drops their SYNs and
/// they retry a second later. (The kernel caps it at `net.core.somaxconn`.)
pub const LISTEN_BACKLOG: u32 = 4096;

/// Runs the daemon until `shutdown` is cancelled, then stops accepting,
/// answers what was already read, disconnects browsers and removes the socket.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Box<dyn Error>> {
    let (socket_io, io) = SocketIo::builder()
        .max_buffer_size(config.max_buffered_packets)
        .max_payload(config.max_client_payload_bytes)
        .ws_max_message_size(config.max_client_payload_bytes as usize)
        .ws_max_frame_size(config.max_client_payload_bytes as usize)
        .ws_read_buffer_size(WS_READ_BUFFER_BYTES)
        .build_svc();
    let hub = Arc::new(Hub {
        io,
        presence: Default::default(),
        online: OnlineCount::new(config.online_count_template.clone()),
    });
    browser::register(hub.clone());

    let access = SocketAccess { mode: config.socket_mode, group: config.socket_group.clone() };
    let unix = UnixIngress::bind(&config.socket, &access)?;
    let web_listener = bind_tcp(config.listen, "--listen")?;
    let http_listener = bind_tcp(config.http_listen, "--http-listen")?;
    let web = web::router(hub.clone(), socket_io, &config.cors_origin, config.demo);
    let http = http_api::router(http_api::HttpApi {
        hub: hub.clone(),
        api_key: config.http_api_key.clone(),
        max_body: config.max_body_bytes,
    });

    tracing::info!("socket.io listening on http://{}", config.listen);
    tracing::info!("http push api listening on http://{}", config.http_listen);
    tracing::info!("unix socket listening on {}", config.socket.display());
    if config.demo {
        tracing::warn!("demo page enabled at http://{}/: anyone who reaches it can push", config.listen);
    }

    let tasks = TaskTracker::new();
    tasks.spawn(unix.serve(hub.clone(), config.max_frame_bytes, shutdown.clone()));
    tasks.spawn(online_count::broadcast_changes(hub.clone(), shutdown.clone()));
    tasks.spawn(serve_http(web_listener, web, shutdown.clone()));
    tasks.spawn(serve_http(http_listener, http, shutdown.clone()));
    tasks.close();

    shutdown.cancelled().await;
    hub.io.close().await;
    if tokio::time::timeout(SHUTDOWN_GRACE, tasks.wait()).await.is_err() {
        tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; exiting anyway");
    }
    tracing::info!("stopped");
    Ok(())
}

fn bind_tcp(addr: SocketAddr, flag: &str) -> Result<TcpListener, Box<dyn Error>> {
    let listen = || {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(LISTEN_BACKLOG)
    };
    listen().map_err(|e| format!("cannot listen on {addr} ({flag}): {e}").into())
}

async fn serve_http(listener: TcpListener, app: Router, shutdown: CancellationToken) {
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
    if let Err(e) = served {
        tracing::error!("http server failed: {e}");
    }
}
