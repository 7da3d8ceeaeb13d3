//! The daemon's life: [`run`] builds every part from the settings (alone,
//! or as a cluster node once Redis answers), serves until shutdown, then
//! drains; `reload` applies changed settings on SIGHUP. The top layer: it
//! may import every other folder, and none imports it.

pub mod reload;

use std::convert::Infallible;
use std::error::Error;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use axum::response::IntoResponse;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use self::reload::{Live, Reloader};
use crate::auth::api_key::ApiKey;
use crate::auth::tokens::Tokens;
use crate::browser::acks::{Acks, Sink};
use crate::browser::client_addr::TrustedProxies;
use crate::browser::emit::Browsers;
use crate::browser::fanout::{self, Fanout, Job, Parts as FanoutParts};
use crate::browser::origin::OriginPolicy;
use crate::browser::recovering::Recoveries;
use crate::browser::router;
use crate::browser::server::{self, Context};
use crate::browser::sessions::{self, Caps};
use crate::cluster::bus::Bus;
use crate::cluster::census::Census;
use crate::cluster::directory::Directory;
use crate::cluster::driver::{self, Message};
use crate::cluster::history::SharedStore;
use crate::cluster::memberships::{Memberships, SharedMemberships};
use crate::cluster::outbox;
use crate::cluster::receipts::SharedReceipts;
use crate::hub::{Cluster, Gathers, Hub, Limits as HubLimits, Parts};
use crate::ingress::demo;
use crate::ingress::http_api::{self, HttpApi};
use crate::ingress::unix_connection::Limits;
use crate::ingress::unix_listener::{SocketAccess, UnixIngress};
use crate::net::http_server::{self, Deadlines, Listener};
use crate::net::listen;
use crate::net::tls::Tls;
use crate::ops::health::{self, Health};
use crate::ops::monitoring::{self, Monitoring};
use crate::ops::rate_history::History;
use crate::settings::flags::{AuthMode, Config};
use crate::state::memberships::LocalMemberships;
use crate::state::online_count::OnlineCount;
use crate::state::presence::Presence;
use crate::state::recent::Recent;
use crate::state::waits::Waits;
use crate::store::embedded::Store;
use crate::store::entry::PageNames;
use crate::store::retention::{Limits as StoreLimits, Retention};
use crate::webhooks::sender::Webhooks;

/// How long a shutdown waits for connections to finish before giving up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
        driver::parse_url(url).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What a node of a cluster is given besides a single daemon's parts.
struct Joined {
    census: Arc<Census>,
    bus: Arc<Bus>,
    memberships: Memberships,
    messages: mpsc::Receiver<Message>,
    conn: redis::aio::ConnectionManager,
}

/// Runs the daemon until `shutdown` is cancelled, then stops accepting,
/// answers what was already read, disconnects browsers and removes the socket.
/// `reloader` re-reads the settings on SIGHUP.
pub async fn run(config: Config, reloader: Reloader, shutdown: CancellationToken) -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let hangups = reload::hangups()?;
    let secret = crate::auth::secret::load_or_create(&config.token_secret_file)?;
    let tokens = Arc::new(Tokens::new(&secret, config.token_leeway_secs, config.max_token_groups));
    let webhooks = Webhooks::new(&config)?;
    let joined = match &config.redis_url {
        None => None,
        Some(url) => match join_cluster(url, &config, &shutdown).await? {
            Some(joined) => Some(joined),
            None => return Ok(()),
        },
    };
    let presence = Arc::new(Presence::default());
    let online = Arc::new(OnlineCount::new(config.online_count_template.clone()));
    let messages_per_sec = Arc::new(AtomicU32::new(config.max_client_messages_per_sec));
    let (fanout, orders) = fanout::queue(config.max_pending_orders);
    let names = PageNames::new(&secret);
    let most_at_login = (config.max_buffered_packets / 2).max(1);
    let retention = Arc::new(Retention::new(StoreLimits::of(&config)));
    let (memberships, cluster, messages, store) = match joined {
        None => {
            let limits = crate::state::memberships::Limits {
                per_user: config.max_groups_per_user,
                total: config.max_memberships,
                retention: Duration::from_secs(config.group_membership_days * 24 * 3600),
            };
            let store = Store::open(&config.state_dir, retention.clone(), config.store_sync)?;
            let local = LocalMemberships::new(limits);
            let expired = local.restore(store.members().map_err(|e| format!("cannot read the store: {e}"))?);
            if !expired.is_empty() {
                fanout.offer_job(Job::ForgetMembers(expired));
            }
            (Memberships::Local(Arc::new(local)), None, None, Some(Arc::new(store)))
        }
        Some(Joined { census, bus, memberships, messages, conn }) => {
            let gathers = Gathers::new(census.node());
            let (outbox, writer) = outbox::outbox(conn.clone(), config.max_pending_orders);
            let max_keep = Duration::from_secs(config.inbox_max_keep_secs).as_millis() as u64;
            let receipts = Arc::new(SharedReceipts::new(conn.clone(), &config.redis_prefix, retention.clone()));
            let store = Arc::new(SharedStore::new(
                conn,
                &config.redis_prefix,
                bus.orders_channel(),
                retention.clone(),
                max_keep,
            ));
            let recoveries = Arc::new(Recoveries::new(
                store.clone(),
                census.clone(),
                bus.own_channel(),
                fanout.clone(),
                names.clone(),
                most_at_login,
            ));
            let cluster = Cluster { census, bus, gathers, outbox, store, receipts, recoveries };
            (memberships, Some(cluster), Some((messages, writer)), None)
        }
    };
    let memberships = Arc::new(memberships);
    let census = cluster.as_ref().map(|cluster| cluster.census.clone());
    let waits = Arc::new(Waits::new(config.max_waiting_pushes as usize));
    let sink = match &cluster {
        Some(cluster) => {
            Sink::Shared { store: cluster.store.clone(), receipts: cluster.receipts.clone(), bus: cluster.bus.clone() }
        }
        None => Sink::Local(fanout.clone()),
    };
    let acks = Acks::new(sink, waits.clone(), webhooks.clone());
    let context = Arc::new(Context {
        presence: presence.clone(),
        online: online.clone(),
        tokens: tokens.clone(),
        auth: config.auth,
        messages_per_sec: messages_per_sec.clone(),
        memberships: memberships.clone(),
        fanout: fanout.clone(),
        directory: Directory::new(presence.clone(), census.clone()),
        recoveries: cluster.as_ref().map(|cluster| cluster.recoveries.clone()),
        acks: acks.clone(),
        webhooks: webhooks.clone(),
    });

    let shared_store = cluster.as_ref().map(|cluster| cluster.store.clone());
    let (io, socket_io) = server::socket_io(&config, context);
    let browsers = Browsers::new(io);
    let recent = Recent::new(Duration::from_secs(config.dedup_window_secs), config.dedup_max_ids);
    let limits = HubLimits {
        groups_per_request: config.max_groups_per_request,
        grace: Duration::from_secs(config.offline_grace_secs),
        announced_group_users: config.max_announced_group_users,
        max_keep: Duration::from_secs(config.inbox_max_keep_secs),
        max_ack_wait: Duration::from_millis(config.max_ack_timeout_ms),
    };
    let hub = Arc::new(Hub::new(Parts {
        browsers: browsers.clone(),
        presence: presence.clone(),
        fanout: fanout.clone(),
        memberships: memberships.clone(),
        online: online.clone(),
        tokens,
        recent,
        limits,
        cluster,
        store: store.clone(),
        waits,
        webhooks: webhooks.clone(),
    }));
    let tasks = TaskTracker::new();
    let parts = FanoutParts {
        browsers: browsers.clone(),
        presence: presence.clone(),
        memberships: memberships.clone(),
        store,
        acks,
        names,
        ack_timeout: Duration::from_secs(config.inbox_ack_timeout_secs),
        most_at_login,
    };
    tasks.spawn(orders.run(parts, shutdown.clone()));
    tasks.spawn(webhooks.run(shutdown.clone()));
    if let Some(store) = shared_store {
        tasks.spawn(sweep_shared(store, shutdown.clone()));
    }
    match (census, messages) {
        (Some(census), Some((messages, writer))) => {
            tracing::info!(node = census.node(), "cluster node on redis");
            tasks.spawn(writer.run(shutdown.clone()));
            tasks.spawn(hub.clone().serve_bus(messages, shutdown.clone()));
            let (sockets, announcer) = (browsers.clone(), hub.clone());
            let announce = move |changes| {
                let announcer = announcer.clone();
                tokio::spawn(async move { announcer.announce(changes).await });
            };
            tasks.spawn(census.run(presence, move || sockets.sockets(), announce, shutdown.clone()));
        }
        _ => {
            tasks.spawn(hub.clone().keep_book(shutdown.clone()));
            if let Memberships::Local(local) = &*memberships {
                tasks.spawn(sweep(local.clone(), fanout.clone(), shutdown.clone()));
            }
        }
    }
    let daemon = Daemon { config, reloader, hangups, started, shutdown, tasks, retention };
    serve(daemon, hub, online, messages_per_sec, socket_io).await
}

/// Connects this node to its cluster's Redis (waiting for it if it is not up
/// yet: a cluster's nodes and its Redis may start in any order) and its
/// bus; None if shut down meanwhile.
async fn join_cluster(
    url: &str,
    config: &Config,
    shutdown: &CancellationToken,
) -> Result<Option<Joined>, Box<dyn Error>> {
    driver::parse_url(url)?;
    let dropped = Arc::new(Notify::new());
    let (messages_in, messages) = mpsc::channel(CLUSTER_BACKLOG);
    let Some(conn) = connect_redis(url, &dropped, messages_in, shutdown).await else {
        return Ok(None);
    };
    let node = node_id();
    let (ttl, grace) =
        (Duration::from_secs(config.cluster_node_ttl_secs), Duration::from_secs(config.offline_grace_secs));
    let prefix = &config.redis_prefix;
    let census = Arc::new(Census::new(conn.clone(), prefix, node.clone(), ttl, grace, dropped));
    let bus = Arc::new(Bus::new(conn.clone(), prefix, &node));
    bus.subscribe().await.map_err(|e| format!("cannot join the cluster on Redis: {e}"))?;
    let retention = Duration::from_secs(config.group_membership_days * 24 * 3600);
    let memberships =
        Memberships::Shared(SharedMemberships::new(conn.clone(), prefix, config.max_groups_per_user, retention));
    Ok(Some(Joined { census, bus, memberships, messages, conn }))
}

/// A new random id for this node, so that a restarted node never counts twice.
fn node_id() -> String {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).expect("the system's random source");
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Forgets, once a minute, the memberships of users not seen for the
/// retention (in the store too, by `fanout`), until shutdown.
async fn sweep(memberships: Arc<LocalMemberships>, fanout: Fanout, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let forgotten = memberships.sweep(Instant::now());
                if !forgotten.is_empty() {
                    fanout.offer_job(Job::ForgetMembers(forgotten));
                }
            }
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Drops, once a second, what the cluster's retention no longer keeps,
/// until shutdown (every node does; a sweep finds what another left).
async fn sweep_shared(store: Arc<SharedStore>, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(e) = store.sweep().await {
                    tracing::debug!(cause = %e, "the cluster's retention could not be applied");
                }
            }
            _ = shutdown.cancelled() => return,
        }
    }
}

/// What [`serve`] needs besides the hub and the Socket.IO service.
struct Daemon {
    config: Config,
    reloader: Reloader,
    hangups: tokio::signal::unix::Signal,
    started: Instant,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    retention: Arc<Retention>,
}

/// Serves the daemon, with its hub and Socket.IO service built.
async fn serve<S>(
    daemon: Daemon,
    hub: Arc<Hub>,
    online: Arc<OnlineCount>,
    messages_per_sec: Arc<AtomicU32>,
    socket_io: S,
) -> Result<(), Box<dyn Error>>
where
    S: Service<Request<Body>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    let Daemon { config, reloader, hangups, started, shutdown, tasks, retention } = daemon;

    let access = SocketAccess { mode: config.socket_mode, group: config.socket_group.clone() };
    let unix = UnixIngress::bind(&config.socket, &access)?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(Tls::load(cert, key)?)),
        _ => None,
    };
    let web_listener = Listener {
        name: "socket.io",
        metric: "socket_io",
        tcp: listen::bind_tcp(config.listen, "--listen")?,
        tls: tls.as_ref().map(|tls| tls.server_config()),
    };
    let http_listener = Listener {
        name: "http push api",
        metric: "http_api",
        tcp: listen::bind_tcp(config.http_listen, "--http-listen")?,
        tls: None,
    };
    let origins = OriginPolicy::new(&config.cors_origin, config.refuse_missing_origin);
    let proxies = TrustedProxies::new(config.trusted_proxy.clone());
    let sessions = Arc::new(sessions::Sessions::new(Caps::of(&config), proxies));
    let gate = sessions::Gate::new(socket_io, sessions.clone(), Duration::from_secs(config.connect_timeout_secs));
    let demo = config.demo.then(|| demo::router(hub.clone(), origins.clone()));
    let web = router::router(gate, origins, demo);
    let api_key = ApiKey::new(config.http_api_key.clone());
    let history = Arc::new(History::default());
    let http =
        http_api::router(HttpApi { hub: hub.clone(), api_key: api_key.clone(), max_body: config.max_body_bytes })
            .merge(health::router(Health { hub: hub.clone(), shutdown: shutdown.clone() }))
            .merge(monitoring::router(Monitoring { hub: hub.clone(), api_key, history: history.clone(), started }));

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
        tracing::warn!(
            url = %format!("http://{}/", config.listen),
            "demo page enabled: it mints login tokens for any uid, so anyone who reaches it can read any user's \
             messages and push to anyone; keep --listen on loopback"
        );
    }

    let limits = Limits {
        max_frame: config.max_frame_bytes,
        idle: Duration::from_secs(config.unix_idle_timeout_secs),
        io: Duration::from_secs(config.unix_io_timeout_secs),
    };
    tasks.spawn(unix.serve(hub.clone(), limits, shutdown.clone()));
    tasks.spawn(hub.clone().broadcast_online_count(shutdown.clone()));
    tasks.spawn(history.run(shutdown.clone()));
    let deadlines = Deadlines {
        header: Duration::from_secs(config.http_header_timeout_secs),
        body: Duration::from_secs(config.http_body_timeout_secs),
    };
    let connections = Arc::new(Semaphore::new(config.max_connections()));
    let serve = |listener, app| http_server::serve(listener, app, deadlines, connections.clone(), shutdown.clone());
    tasks.spawn(serve(web_listener, web));
    tasks.spawn(serve(http_listener, http));
    let live = Live { sessions, online, messages_per_sec, tls, retention };
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

/// Connects to Redis, waiting for it if it is not up yet; None if shut
/// down meanwhile.
async fn connect_redis(
    url: &str,
    dropped: &Arc<Notify>,
    messages: mpsc::Sender<Message>,
    shutdown: &CancellationToken,
) -> Option<redis::aio::ConnectionManager> {
    let mut waiting = false;
    loop {
        match driver::connect(url, dropped.clone(), messages.clone()).await {
            Ok(conn) => return Some(conn),
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
