//! msgpushd: real-time push for PHP applications. Browsers connect with
//! Socket.IO and log in with a login token naming their uid; PHP pushes to a
//! uid (or everyone) through the Unix socket (the `msgpush` extension) or the
//! web-msg-sender-compatible HTTP API; the daemon emits to that uid's sockets.
//! With `--redis-url` several daemons form a cluster: a push to any node
//! reaches the uid's sockets on every node.
//!
//! # Layout
//! - `metrics`: the Prometheus metrics, counted where events happen.
//! - `presence`: the online map (socket -> uid, uid -> open sockets).
//! - `online_count`: the `update_online_count` message.
//! - `client_addr`: a browser's address, through trusted reverse proxies.
//! - [`config`]: command-line flags and their environment variables;
//!   [`config_file`]: the settings file, and the three together.
//! - [`logging`]: log lines, at a level a reload can change.
//! - `redis_driver`: the Redis pub/sub under socketioxide's adapter (cluster).
//! - `census`: who is online across a cluster, kept in Redis.
//! - `emit`: emitting to browser sockets, on this node or every node, and
//!   counting those that missed it.
//! - `recent`: ids of recently published messages, so a copy is delivered once.
//! - `secret` / `tokens`: the token secret's file; minting and verifying
//!   login tokens (JWTs).
//! - `message_rate`: how many messages a browser may send.
//! - `accept_errors`: logging connections turned away, once per interval.
//! - `sessions`: caps on Socket.IO sessions, in total and per address.
//! - `browser`: the Socket.IO server and its handlers: connect, `login`,
//!   disconnect (they use `presence`, `online_count`, `tokens`,
//!   `message_rate`, `sessions`).
//! - `hub`: the shared state tying those together: routing a push to its
//!   sockets (on every node of a cluster), minting tokens, disconnecting
//!   users, broadcasting the online count, the figures for monitoring.
//! - `unix_listener` / `unix_connection`: the PHP extension's ingress
//!   (frames of `msgpush-protocol`).
//! - `api_key`: the HTTP API listener's key.
//! - `http_api` / `http_params`: the web-msg-sender-compatible HTTP ingress.
//! - `health`: `/healthz` and `/readyz` on the HTTP API listener.
//! - `rate_history` / `status_page` / `monitoring`: `/metrics` and
//!   `/status` on the HTTP API listener.
//! - `origin`: which pages may use Socket.IO: CORS, foreign origins refused.
//! - `web`: the browser port: Socket.IO, the client script, the demo page.
//! - `tls`: the certificate of the browser port, reloadable.
//! - `http_server`: serving the two TCP ports with deadlines, a
//!   connection cap and TLS.
//! - [`reload`]: applying changed settings on SIGHUP.
//! - [`shutdown`]: signal handling; [`fd_limit`]: raising the descriptor limit.
//!
//! Each module imports only those above it in this list.
//! [`run`] wires them together and returns once a shutdown has drained.

#![warn(missing_docs)]

pub mod config;
pub mod config_file;
pub mod fd_limit;
pub mod logging;
pub mod reload;
pub mod shutdown;

mod accept_errors;
mod api_key;
mod browser;
mod census;
mod client_addr;
mod emit;
mod health;
mod http_api;
mod http_params;
mod http_server;
mod hub;
mod kept_request;
mod message_rate;
mod metrics;
mod monitoring;
mod online_count;
mod origin;
mod presence;
mod rate_history;
mod recent;
mod redis_driver;
mod secret;
mod sessions;
mod status_page;
mod tls;
mod tokens;
mod unix_connection;
mod unix_listener;
mod web;

use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use axum::response::IntoResponse;
use socketioxide::SocketIo;
use socketioxide_redis::{RedisAdapterConfig, RedisAdapterCtr};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use crate::api_key::ApiKey;
use crate::browser::Shared;
use crate::census::Census;
use crate::config::{AuthMode, Config};
use crate::emit::{Browsers, ClusterAdapter};
use crate::hub::Hub;
use crate::online_count::OnlineCount;
use crate::presence::Presence;
use crate::rate_history::History;
use crate::recent::Recent;
use crate::redis_driver::ManagedDriver;
use crate::reload::{Live, Reloader};
use crate::sessions::Caps;
use crate::tls::Tls;
use crate::tokens::Tokens;
use crate::unix_listener::{SocketAccess, UnixIngress};

/// How long a shutdown waits for connections to finish before giving up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Pending-connection queue of the TCP listeners. When the daemon restarts,
/// every open page reconnects at once; a short queue drops their SYNs and
/// they retry a second later. (The kernel caps it at `net.core.somaxconn`.)
const LISTEN_BACKLOG: u32 = 4096;

/// Messages from other nodes waiting for this one to emit them; beyond it
/// they are dropped (and logged). Held only while there is a backlog.
const CLUSTER_BACKLOG: usize = 65_536;

/// Checks what the settings name beyond their syntax (the TLS files, the
/// Redis URL), for `--check-config`.
pub fn check(config: &Config) -> Result<(), String> {
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        Tls::load(cert, key)?;
    }
    if let Some(url) = &config.redis_url {
        redis_driver::parse_url(url).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Runs the daemon until `shutdown` is cancelled, then stops accepting,
/// answers what was already read, disconnects browsers and removes the socket.
/// `reloader` re-reads the settings on SIGHUP.
pub async fn run(config: Config, reloader: Reloader, shutdown: CancellationToken) -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let hangups = reload::hangups()?;
    let secret = secret::load_or_create(&config.token_secret_file)?;
    let mut shared = Shared {
        presence: Arc::new(Presence::default()),
        online: Arc::new(OnlineCount::new(config.online_count_template.clone())),
        tokens: Arc::new(Tokens::new(&secret, config.token_leeway_secs)),
        messages_per_sec: Arc::new(AtomicU32::new(config.max_client_messages_per_sec)),
    };
    let daemon = Daemon { config, reloader, hangups, started, shutdown };
    let Some(url) = daemon.config.redis_url.clone() else {
        let (io, socket_io, ()) = browser::socket_io(SocketIo::builder(), &daemon.config, &shared);
        return serve(daemon, shared, Browsers::Alone(io), None, socket_io).await;
    };
    redis_driver::parse_url(&url)?;
    let dropped = Arc::new(Notify::new());
    let Some((driver, conn)) = connect_redis(&url, &dropped, &daemon.shutdown).await else {
        return Ok(());
    };
    let config = &daemon.config;
    let ttl = Duration::from_secs(config.cluster_node_ttl_secs);
    let census = Arc::new(Census::new(conn, &config.redis_prefix, ttl, dropped));
    let adapter = RedisAdapterConfig::new()
        .with_prefix(format!("{}-io", config.redis_prefix))
        .with_stream_buffer(CLUSTER_BACKLOG)
        .with_request_timeout(redis_driver::REDIS_TIMEOUT);
    let builder = SocketIo::builder().with_adapter::<ClusterAdapter>(RedisAdapterCtr::new_with_driver(driver, adapter));
    shared.presence = Arc::new(Presence::tracking_changes());
    let (io, socket_io, init) = browser::socket_io(builder, config, &shared);
    init.await.map_err(|e| format!("cannot join the cluster on Redis: {e}"))?;
    tracing::info!(node = census.node(), "cluster node on redis");
    serve(daemon, shared, Browsers::Clustered(io), Some(census), socket_io).await
}

/// What [`serve`] needs besides the Socket.IO server.
struct Daemon {
    config: Config,
    reloader: Reloader,
    hangups: tokio::signal::unix::Signal,
    started: Instant,
    shutdown: CancellationToken,
}

/// Serves the daemon with its Socket.IO server built (alone, or a cluster
/// node with its `census`).
async fn serve<S>(
    daemon: Daemon,
    shared: Shared,
    browsers: Browsers,
    census: Option<Arc<Census>>,
    socket_io: S,
) -> Result<(), Box<dyn Error>>
where
    S: Service<Request<Body>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    let Daemon { config, reloader, hangups, started, shutdown } = daemon;
    let Shared { presence, online, tokens, messages_per_sec } = shared;
    let recent = Recent::new(Duration::from_secs(config.dedup_window_secs), config.dedup_max_ids);
    let hub = Arc::new(Hub::new(browsers.clone(), presence.clone(), census.clone(), online.clone(), tokens, recent));

    let access = SocketAccess { mode: config.socket_mode, group: config.socket_group.clone() };
    let unix = UnixIngress::bind(&config.socket, &access)?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(Tls::load(cert, key)?)),
        _ => None,
    };
    let web_listener = http_server::Listener {
        name: "socket.io",
        metric: "socket_io",
        tcp: bind_tcp(config.listen, "--listen")?,
        tls: tls.as_ref().map(|tls| tls.server_config()),
    };
    let http_listener = http_server::Listener {
        name: "http push api",
        metric: "http_api",
        tcp: bind_tcp(config.http_listen, "--http-listen")?,
        tls: None,
    };
    let origins = origin::OriginPolicy::new(&config.cors_origin, config.refuse_missing_origin);
    let proxies = client_addr::TrustedProxies::new(config.trusted_proxy.clone());
    let sessions = Arc::new(sessions::Sessions::new(Caps::of(&config), proxies));
    let gate = sessions::Gate::new(socket_io, sessions.clone(), Duration::from_secs(config.connect_timeout_secs));
    let web = web::router(hub.clone(), gate, origins, config.demo);
    let api_key = ApiKey::new(config.http_api_key.clone());
    let history = Arc::new(History::default());
    let http = http_api::router(http_api::HttpApi {
        hub: hub.clone(),
        api_key: api_key.clone(),
        max_body: config.max_body_bytes,
    })
    .merge(health::router(health::Health { hub: hub.clone(), shutdown: shutdown.clone() }))
    .merge(monitoring::router(monitoring::Monitoring {
        hub: hub.clone(),
        api_key,
        history: history.clone(),
        started,
    }));

    let scheme = if tls.is_some() { "https (wss)" } else { "http (ws)" };
    tracing::info!(address = %config.listen, scheme, "socket.io listening");
    tracing::info!(address = %config.http_listen, "http push api listening");
    tracing::info!(path = %config.socket.display(), "unix socket listening");
    match config.auth {
        AuthMode::Token => tracing::info!(secret = %config.token_secret_file.display(), "browsers log in with tokens"),
        AuthMode::None => tracing::warn!(
            "--auth none: browsers log in with a plain uid, so any page can read any user's messages; \
             move pages to login tokens and drop this flag"
        ),
    }
    if config.demo {
        tracing::warn!(url = %format!("http://{}/", config.listen), "demo page enabled: anyone who reaches it can push");
    }

    let tasks = TaskTracker::new();
    let limits = unix_connection::Limits {
        max_frame: config.max_frame_bytes,
        idle: Duration::from_secs(config.unix_idle_timeout_secs),
        io: Duration::from_secs(config.unix_io_timeout_secs),
    };
    tasks.spawn(unix.serve(hub.clone(), limits, shutdown.clone()));
    tasks.spawn(hub.clone().broadcast_online_count(shutdown.clone()));
    tasks.spawn(history.run(shutdown.clone()));
    if let Some(census) = census {
        tasks.spawn(census.run(presence, move || browsers.sockets(), shutdown.clone()));
    }
    let deadlines = http_server::Deadlines {
        header: Duration::from_secs(config.http_header_timeout_secs),
        body: Duration::from_secs(config.http_body_timeout_secs),
    };
    let connections = Arc::new(Semaphore::new(config.max_connections()));
    let serve = |listener, app| http_server::serve(listener, app, deadlines, connections.clone(), shutdown.clone());
    tasks.spawn(serve(web_listener, web));
    tasks.spawn(serve(http_listener, http));
    let live = Live { sessions, online, messages_per_sec, tls };
    tasks.spawn(reload::run(hangups, reloader, live, config, shutdown.clone()));
    tasks.close();
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    tracing::info!("ready");

    shutdown.cancelled().await;
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    // Closing a browser's socket waits for its writer, which a client that
    // stopped reading holds: the grace bounds that too.
    let drained = async {
        hub.close().await;
        tasks.wait().await;
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
        tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the grace period; exiting anyway");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Connects to Redis, waiting for it if it is not up yet (a cluster's nodes
/// and its Redis may start in any order); None if shut down meanwhile.
async fn connect_redis(
    url: &str,
    dropped: &Arc<Notify>,
    shutdown: &CancellationToken,
) -> Option<(ManagedDriver, redis::aio::ConnectionManager)> {
    let mut waiting = false;
    loop {
        match ManagedDriver::connect(url, dropped.clone()).await {
            Ok(connected) => return Some(connected),
            Err(e) if !waiting => {
                tracing::error!(cause = %e, "waiting for Redis before joining the cluster");
                waiting = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return None,
        }
    }
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
