//! The daemon's Prometheus metrics. Events are counted where they happen,
//! through [`METRICS`]: one set per process, as Prometheus sees a process,
//! so no layer has to be handed a registry. Figures that are states rather
//! than events (sockets connected, users, the cluster's) are set just before
//! each scrape, from the state itself, so they can never drift from it.

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use prometheus::proto::MetricType;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The metrics of this process.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Push handling times, in seconds: from 50 µs (a push to one socket) to
/// a second (a cluster push waiting on a slow Redis).
const PUSH_SECONDS_BUCKETS: &[f64] =
    &[0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// Buckets of the application's answer times (a PHP route: milliseconds to seconds).
const WEBHOOK_SECONDS_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Where a push came from (in the order of [`Ingress::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// The PHP extension, over the Unix socket.
    Unix,
    /// The web-msg-sender-compatible HTTP API.
    Http,
    /// The demo page's form (`--demo`).
    Demo,
}

impl Ingress {
    const ALL: [Ingress; 3] = [Ingress::Unix, Ingress::Http, Ingress::Demo];

    fn label(self) -> &'static str {
        match self {
            Ingress::Unix => "unix",
            Ingress::Http => "http",
            Ingress::Demo => "demo",
        }
    }
}

/// Why a message left a single daemon's history (in the order of
/// [`HistoryDrop::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryDrop {
    /// Beyond its stream's `--history-size`.
    Size,
    /// Older than `--history-ttl-secs`.
    Age,
    /// The oldest when history passed `--history-max-bytes`.
    Bytes,
}

impl HistoryDrop {
    const ALL: [HistoryDrop; 3] = [HistoryDrop::Size, HistoryDrop::Age, HistoryDrop::Bytes];

    fn label(self) -> &'static str {
        match self {
            HistoryDrop::Size => "size",
            HistoryDrop::Age => "age",
            HistoryDrop::Bytes => "bytes",
        }
    }
}

/// How a push ended, as the `result` label says it (in the order of
/// [`PushResult::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushResult {
    /// Emitted to at least one socket.
    Delivered,
    /// No socket to emit to.
    Offline,
    /// A copy of a message already handled (same id, within the window).
    Duplicate,
    /// Refused: it broke a rule.
    Invalid,
    /// The daemon could not carry it out.
    Failed,
}

impl PushResult {
    const ALL: [PushResult; 5] =
        [PushResult::Delivered, PushResult::Offline, PushResult::Duplicate, PushResult::Invalid, PushResult::Failed];

    fn label(self) -> &'static str {
        match self {
            PushResult::Delivered => "delivered",
            PushResult::Offline => "offline",
            PushResult::Duplicate => "duplicate",
            PushResult::Invalid => "invalid",
            PushResult::Failed => "failed",
        }
    }
}

/// Every metric, registered in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Browser sockets on this node, by transport and Socket.IO protocol (set at scrape).
    pub sockets: IntGaugeVec,
    /// Sockets logged in on this node (set at scrape).
    pub logged_in_sockets: IntGauge,
    /// Distinct uids logged in on this node (set at scrape).
    pub users: IntGauge,
    /// Socket.IO rooms on this node with a socket in them (set at scrape):
    /// one per logged-in uid, so more than `users` is a leak.
    pub rooms: IntGauge,
    /// Tasks alive in the daemon's runtime, a few per socket (set at scrape):
    /// one that keeps growing is a leak.
    pub tasks: IntGauge,
    sockets_connected: IntCounter,
    sockets_disconnected: IntCounterVec,
    logins_accepted: IntCounter,
    logins_refused: IntCounterVec,
    sessions_refused: IntCounterVec,
    /// `msgpush_pushes_total`'s series, by ingress and result, resolved once
    /// so that a push takes no lock to count itself.
    pushes: [[IntCounter; PushResult::ALL.len()]; Ingress::ALL.len()],
    /// `msgpush_push_duration_seconds`'s series, by ingress.
    push_seconds: [Histogram; Ingress::ALL.len()],
    messages_emitted: IntCounter,
    messages_dropped: IntCounter,
    orders_dropped: IntCounter,
    cluster_messages_dropped: IntCounter,
    /// Orders waiting for this node's fanout task (set at scrape).
    pub pending_orders: IntGauge,
    /// Group memberships a single daemon holds (set at scrape).
    pub memberships: IntGauge,
    /// Departures waiting for their grace on a single daemon (set at scrape).
    pub departures_waiting: IntGauge,
    /// Messages and bytes in a single daemon's history (set at scrape).
    pub history_messages: IntGauge,
    /// See `history_messages`.
    pub history_bytes: IntGauge,
    /// See `history_messages`.
    pub history_streams: IntGauge,
    /// Messages and bytes kept in a single daemon's inboxes (set at scrape).
    pub inbox_messages: IntGauge,
    /// See `inbox_messages`.
    pub inbox_bytes: IntGauge,
    /// `msgpush_history_dropped_total`'s series, by reason (one per message
    /// dropped: resolved once).
    history_dropped: [IntCounter; HistoryDrop::ALL.len()],
    inbox_dropped: IntCounterVec,
    unstored: IntCounter,
    store_commits: IntCounter,
    webhook_events: IntCounterVec,
    webhook_delivered: IntCounter,
    webhook_dropped: IntCounterVec,
    webhook_requests: IntCounterVec,
    webhook_seconds: Histogram,
    /// Events waiting to be sent to the webhook (set at scrape).
    pub webhook_waiting: IntGauge,
    page_messages: IntCounterVec,
    recoveries: IntCounterVec,
    acknowledged: IntCounter,
    /// Pushes waiting for acknowledgements (set at scrape).
    pub waiting_pushes: IntGauge,
    receipts: IntCounterVec,
    receipts_dropped: IntCounter,
    waits_refused: IntCounter,
    unix_connections: IntGauge,
    http_connections: IntGaugeVec,
    cluster: OnceLock<Cluster>,
}

/// The cluster's figures, registered once the node is in a cluster (set at scrape).
#[derive(Debug)]
pub struct Cluster {
    /// 1 while Redis answers this node, else 0.
    pub redis_up: IntGauge,
    /// Nodes in the cluster's census.
    pub nodes: IntGauge,
    /// Distinct uids logged in across the cluster.
    pub users: IntGauge,
    /// Sockets logged in across the cluster.
    pub sockets: IntGauge,
    /// This node's orders waiting to be written to Redis.
    pub outbox_waiting: IntGauge,
}

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        let metrics = Metrics {
            sockets: gauge_vec(
                &registry,
                "msgpush_sockets",
                "Browser sockets connected to this node, by transport and Socket.IO protocol \
                 (4: socket.io 2.x clients, 5: 3.x and 4.x)",
                &["transport", "protocol"],
            ),
            logged_in_sockets: gauge(&registry, "msgpush_logged_in_sockets", "Sockets logged in on this node"),
            users: gauge(&registry, "msgpush_users", "Distinct uids logged in on this node"),
            rooms: gauge(&registry, "msgpush_rooms", "Socket.IO rooms on this node with a socket in them"),
            tasks: gauge(&registry, "msgpush_tasks", "Tasks alive in the daemon's runtime (a few per socket)"),
            sockets_connected: counter(&registry, "msgpush_sockets_connected_total", "Browser sockets connected"),
            sockets_disconnected: counter_vec(
                &registry,
                "msgpush_sockets_disconnected_total",
                "Browser sockets disconnected, by reason",
                &["reason"],
            ),
            logins_accepted: counter(&registry, "msgpush_logins_accepted_total", "Logins accepted"),
            logins_refused: counter_vec(
                &registry,
                "msgpush_logins_refused_total",
                "Logins refused (bad token, bad uid), by reason",
                &["reason"],
            ),
            sessions_refused: counter_vec(
                &registry,
                "msgpush_sessions_refused_total",
                "Socket.IO handshakes refused by the session caps, by cap (total or per_address)",
                &["cap"],
            ),
            pushes: {
                let pushes = counter_vec(
                    &registry,
                    "msgpush_pushes_total",
                    "Pushes handled, by ingress (unix, http, demo) and result",
                    &["ingress", "result"],
                );
                Ingress::ALL.map(|i| PushResult::ALL.map(|r| pushes.with_label_values(&[i.label(), r.label()])))
            },
            push_seconds: {
                let opts = HistogramOpts::new(
                    "msgpush_push_duration_seconds",
                    "Time from a push read to its answer, by ingress",
                )
                .buckets(PUSH_SECONDS_BUCKETS.to_vec());
                let histogram = HistogramVec::new(opts, &["ingress"]).expect("a valid histogram");
                registry.register(Box::new(histogram.clone())).expect("registered once");
                Ingress::ALL.map(|i| histogram.with_label_values(&[i.label()]))
            },
            messages_emitted: counter(
                &registry,
                "msgpush_messages_emitted_total",
                "Pushed messages handed to browser sockets (in a cluster, counted by the node that took the push)",
            ),
            messages_dropped: counter(
                &registry,
                "msgpush_messages_dropped_total",
                "Messages to this node's sockets dropped because the socket's send buffer was full \
                 (a client not reading)",
            ),
            orders_dropped: counter(
                &registry,
                "msgpush_orders_dropped_total",
                "Orders from other nodes dropped because this node's queue was full (--max-pending-orders)",
            ),
            cluster_messages_dropped: counter(
                &registry,
                "msgpush_cluster_messages_dropped_total",
                "Cluster messages dropped because they arrived faster than this node read them",
            ),
            pending_orders: gauge(&registry, "msgpush_pending_orders", "Orders waiting for this node's fanout task"),
            memberships: gauge(&registry, "msgpush_memberships", "Group memberships this daemon holds (alone)"),
            departures_waiting: gauge(
                &registry,
                "msgpush_departures_waiting",
                "Departures waiting for their grace (--offline-grace-secs) before they are announced",
            ),
            history_messages: gauge(
                &registry,
                "msgpush_history_messages",
                "Messages kept in history (a single daemon's), once per stream",
            ),
            history_bytes: gauge(
                &registry,
                "msgpush_history_bytes",
                "Bytes of history's log (a single daemon's), what --history-max-bytes bounds",
            ),
            history_streams: gauge(
                &registry,
                "msgpush_history_streams",
                "Streams keeping messages in history (a single daemon's), each with its positions in memory",
            ),
            inbox_messages: gauge(&registry, "msgpush_inbox_messages", "Messages kept in inboxes (a single daemon's)"),
            inbox_bytes: gauge(
                &registry,
                "msgpush_inbox_bytes",
                "Bytes of messages kept in inboxes (a single daemon's)",
            ),
            history_dropped: {
                let dropped = counter_vec(
                    &registry,
                    "msgpush_history_dropped_total",
                    "Messages dropped from history by the retention, by bound (size, age, bytes)",
                    &["reason"],
                );
                HistoryDrop::ALL.map(|why| dropped.with_label_values(&[why.label()]))
            },
            inbox_dropped: counter_vec(
                &registry,
                "msgpush_inbox_dropped_total",
                "Kept messages dropped unacknowledged, by cause (expired, size, bytes)",
                &["reason"],
            ),
            unstored: counter(
                &registry,
                "msgpush_unstored_total",
                "Messages delivered live but not kept in history or inboxes: the store failed or was unreachable",
            ),
            store_commits: counter(
                &registry,
                "msgpush_store_commits_total",
                "Transactions a single daemon committed to its store (the writes waiting together share one)",
            ),
            webhook_events: counter_vec(
                &registry,
                "msgpush_webhook_events_total",
                "Events for --webhook-url, by type (those dropped by a full queue too)",
                &["type"],
            ),
            webhook_delivered: counter(
                &registry,
                "msgpush_webhook_delivered_total",
                "Events the application took (a 2xx answer)",
            ),
            webhook_dropped: counter_vec(
                &registry,
                "msgpush_webhook_dropped_total",
                "Events never sent: the queue was full (--webhook-queue-size), or the application refused them \
                 past --webhook-retry-secs",
                &["reason"],
            ),
            webhook_requests: counter_vec(
                &registry,
                "msgpush_webhook_requests_total",
                "Requests to --webhook-url, by outcome (ok, refused: a non-2xx answer, failed: no answer)",
                &["outcome"],
            ),
            webhook_seconds: {
                let opts = HistogramOpts::new(
                    "msgpush_webhook_answer_seconds",
                    "Time the application took to answer a request to --webhook-url",
                )
                .buckets(WEBHOOK_SECONDS_BUCKETS.to_vec());
                let histogram = Histogram::with_opts(opts).expect("a valid histogram");
                registry.register(Box::new(histogram.clone())).expect("registered once");
                histogram
            },
            webhook_waiting: gauge(
                &registry,
                "msgpush_webhook_waiting_events",
                "Events waiting to be sent to --webhook-url (--webhook-queue-size)",
            ),
            page_messages: counter_vec(
                &registry,
                "msgpush_page_messages_total",
                "Pages' messages to the application (msgpush:send), by outcome (answered, refused, failed)",
                &["outcome"],
            ),
            recoveries: counter_vec(
                &registry,
                "msgpush_recoveries_total",
                "Tabs that presented positions when logging in, by outcome (complete, incomplete)",
                &["outcome"],
            ),
            acknowledged: counter(
                &registry,
                "msgpush_inbox_acknowledged_total",
                "Kept messages a tab acknowledged (and that no login delivers again)",
            ),
            waiting_pushes: gauge(
                &registry,
                "msgpush_waiting_pushes",
                "Pushes waiting for their tabs' acknowledgements (--max-waiting-pushes)",
            ),
            receipts: counter_vec(
                &registry,
                "msgpush_receipts_total",
                "Users' receipts recorded, by kind (acked, read)",
                &["kind"],
            ),
            receipts_dropped: counter(
                &registry,
                "msgpush_receipts_dropped_total",
                "Receipts not recorded: the message had --max-receipts-per-message already, or the store failed",
            ),
            waits_refused: counter(
                &registry,
                "msgpush_waits_refused_total",
                "Pushes refused because --max-waiting-pushes wait already",
            ),
            unix_connections: gauge(&registry, "msgpush_unix_connections", "Open connections on the Unix socket"),
            http_connections: gauge_vec(
                &registry,
                "msgpush_http_connections",
                "Open TCP connections, by listener (socket_io, http_api)",
                &["listener"],
            ),
            cluster: OnceLock::new(),
            registry,
        };
        for cap in ["total", "per_address"] {
            metrics.sessions_refused.with_label_values(&[cap]);
        }
        for reason in ["expired", "size", "bytes"] {
            metrics.inbox_dropped.with_label_values(&[reason]);
        }
        for outcome in ["complete", "incomplete"] {
            metrics.recoveries.with_label_values(&[outcome]);
        }
        for reason in ["full", "expired"] {
            metrics.webhook_dropped.with_label_values(&[reason]);
        }
        for kind in ["user_online", "user_offline", "group_joined", "group_left", "message_acked", "message_read"] {
            metrics.webhook_events.with_label_values(&[kind]);
        }
        for outcome in ["ok", "refused", "failed"] {
            metrics.webhook_requests.with_label_values(&[outcome]);
        }
        for outcome in ["answered", "refused", "failed"] {
            metrics.page_messages.with_label_values(&[outcome]);
        }
        let process = prometheus::process_collector::ProcessCollector::for_self();
        metrics.registry.register(Box::new(process)).expect("registered once");
        let build = IntGaugeVec::new(Opts::new("msgpush_build_info", "The running version (always 1)"), &["version"])
            .expect("a valid gauge");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        metrics.registry.register(Box::new(build)).expect("registered once");
        metrics
    }

    /// The cluster's gauges, registered on first use.
    pub fn cluster(&self) -> &Cluster {
        self.cluster.get_or_init(|| Cluster {
            redis_up: gauge(&self.registry, "msgpush_redis_up", "1 while Redis answers this node, else 0"),
            nodes: gauge(&self.registry, "msgpush_cluster_nodes", "Nodes in the cluster"),
            users: gauge(&self.registry, "msgpush_cluster_users", "Distinct uids logged in across the cluster"),
            sockets: gauge(&self.registry, "msgpush_cluster_logged_in_sockets", "Sockets logged in across the cluster"),
            outbox_waiting: gauge(
                &self.registry,
                "msgpush_cluster_outbox_waiting",
                "This node's orders waiting to be written to Redis (--max-pending-orders)",
            ),
        })
    }

    /// Every metric in Prometheus' text exposition format.
    pub fn encode(&self) -> String {
        let mut text = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut text).expect("text encoding cannot fail");
        String::from_utf8(text).expect("the text format is UTF-8")
    }

    /// The value of the unlabelled gauge or counter `name` (the process
    /// collector's, for instance), if there is one.
    pub fn value(&self, name: &str) -> Option<f64> {
        let family = self.registry.gather().into_iter().find(|f| f.name() == name)?;
        let metric = family.get_metric().first()?;
        match family.get_field_type() {
            MetricType::GAUGE => Some(metric.get_gauge().get_value()),
            MetricType::COUNTER => Some(metric.get_counter().get_value()),
            _ => None,
        }
    }

    /// A browser socket connected.
    pub fn socket_connected(&self) {
        self.sockets_connected.inc();
    }

    /// A browser socket disconnected, for `reason`.
    pub fn socket_disconnected(&self, reason: &'static str) {
        self.sockets_disconnected.with_label_values(&[reason]).inc();
    }

    /// A login was accepted.
    pub fn login_accepted(&self) {
        self.logins_accepted.inc();
    }

    /// A login was refused, for `reason`.
    pub fn login_refused(&self, reason: &'static str) {
        self.logins_refused.with_label_values(&[reason]).inc();
    }

    /// A handshake was refused by a session cap (`total` or `per_address`).
    pub fn session_refused(&self, cap: &'static str) {
        self.sessions_refused.with_label_values(&[cap]).inc();
    }

    /// A push from `ingress` ended with `result` after `took`, handing the
    /// message to `sockets` sockets.
    pub fn pushed(&self, ingress: Ingress, result: PushResult, took: Duration, sockets: u64) {
        self.pushes[ingress as usize][result as usize].inc();
        self.push_seconds[ingress as usize].observe(took.as_secs_f64());
        if result == PushResult::Delivered {
            self.messages_emitted.inc_by(sockets);
        }
    }

    /// A message left history before its time, by the bound `reason`.
    pub fn history_dropped(&self, why: HistoryDrop) {
        self.history_dropped[why as usize].inc();
    }

    /// A kept message was dropped unacknowledged, for `reason`.
    pub fn inbox_dropped(&self, reason: &str) {
        self.inbox_dropped.with_label_values(&[reason]).inc();
    }

    /// A message went out live only: the store could not keep it.
    pub fn unstored(&self) {
        self.unstored.inc();
    }

    /// An event of type `kind` was queued for the webhook.
    pub fn webhook_event(&self, kind: &str) {
        self.webhook_events.with_label_values(&[kind]).inc();
    }

    /// `events` were never sent, for `reason` (full, expired).
    pub fn webhook_dropped(&self, reason: &str, events: usize) {
        self.webhook_dropped.with_label_values(&[reason]).inc_by(events as u64);
    }

    /// A request to the webhook ended as `outcome` after `seconds`; it
    /// delivered `delivered` events.
    pub fn webhook_request(&self, outcome: &str, seconds: f64, delivered: usize) {
        self.webhook_requests.with_label_values(&[outcome]).inc();
        if outcome != "failed" {
            self.webhook_seconds.observe(seconds);
        }
        self.webhook_delivered.inc_by(delivered as u64);
    }

    /// A page's message ended as `outcome`.
    pub fn page_message(&self, outcome: &str) {
        self.page_messages.with_label_values(&[outcome]).inc();
    }

    /// A single daemon committed a transaction to its store.
    pub fn store_committed(&self) {
        self.store_commits.inc();
    }

    /// A tab presented positions; its recovery was `complete` or not.
    pub fn recovered(&self, complete: bool) {
        self.recoveries.with_label_values(&[if complete { "complete" } else { "incomplete" }]).inc();
    }

    /// A tab acknowledged a kept message.
    pub fn acknowledged(&self) {
        self.acknowledged.inc();
    }

    /// A user's receipt was recorded: acknowledged, or `read`.
    pub fn receipt(&self, read: bool) {
        self.receipts.with_label_values(&[if read { "read" } else { "acked" }]).inc();
    }

    /// A receipt could not be recorded.
    pub fn receipt_dropped(&self) {
        self.receipts_dropped.inc();
    }

    /// A push that would wait was refused: too many wait.
    pub fn wait_refused(&self) {
        self.waits_refused.inc();
    }

    /// An order from another node dropped: this node's queue was full.
    pub fn order_dropped(&self) {
        self.orders_dropped.inc();
    }

    /// A cluster message dropped: it arrived faster than this node read.
    pub fn cluster_message_dropped(&self) {
        self.cluster_messages_dropped.inc();
    }

    /// Pushes handled so far, whatever their ingress and result.
    pub fn pushes_so_far(&self) -> u64 {
        self.push_seconds.iter().map(Histogram::get_sample_count).sum()
    }

    /// `sockets` missed a message: their send buffer was full.
    pub fn dropped(&self, sockets: usize) {
        self.messages_dropped.inc_by(sockets as u64);
    }

    /// Messages dropped for slow clients so far.
    pub fn dropped_so_far(&self) -> u64 {
        self.messages_dropped.get()
    }

    /// A connection on the Unix socket, counted until the guard is dropped.
    pub fn unix_connection(&self) -> Open {
        Open::new(self.unix_connections.clone())
    }

    /// The gauge of TCP connections on `listener`, resolved once per listener
    /// so that accepting a connection takes no lock.
    pub fn http_connections(&self, listener: &'static str) -> Connections {
        Connections(self.http_connections.with_label_values(&[listener]))
    }
}

/// One listener's gauge of open connections.
#[derive(Debug, Clone)]
pub struct Connections(IntGauge);

impl Connections {
    /// A connection, counted until the guard is dropped.
    pub fn open(&self) -> Open {
        Open::new(self.0.clone())
    }
}

/// An open connection, counted in its gauge until dropped.
#[derive(Debug)]
pub struct Open(IntGauge);

impl Open {
    fn new(gauge: IntGauge) -> Open {
        gauge.inc();
        Open(gauge)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let counter = IntCounter::new(name, help).expect("a valid counter");
    registry.register(Box::new(counter.clone())).expect("registered once");
    counter
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter");
    registry.register(Box::new(counter.clone())).expect("registered once");
    counter
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let gauge = IntGauge::new(name, help).expect("a valid gauge");
    registry.register(Box::new(gauge.clone())).expect("registered once");
    gauge
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let gauge = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid gauge");
    registry.register(Box::new(gauge.clone())).expect("registered once");
    gauge
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_tables_are_in_declaration_order() {
        assert!(Ingress::ALL.iter().enumerate().all(|(i, &ingress)| ingress as usize == i));
        assert!(PushResult::ALL.iter().enumerate().all(|(i, &result)| result as usize == i));
    }

    #[test]
    fn the_exposition_names_every_family_with_its_labels() {
        let metrics = Metrics::new();
        metrics.pushed(Ingress::Unix, PushResult::Delivered, Duration::from_micros(80), 3);
        metrics.login_refused("expired");
        let _open = metrics.unix_connection();
        let text = metrics.encode();
        assert!(text.contains("msgpush_pushes_total{ingress=\"unix\",result=\"delivered\"} 1\n"), "{text}");
        assert!(text.contains("msgpush_messages_emitted_total 3\n"), "{text}");
        assert!(text.contains("msgpush_logins_refused_total{reason=\"expired\"} 1\n"), "{text}");
        assert!(text.contains("msgpush_unix_connections 1\n"), "{text}");
        assert!(text.contains("msgpush_push_duration_seconds_bucket{ingress=\"unix\",le=\"0.0001\"} 1\n"), "{text}");
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert_eq!(metrics.pushes_so_far(), 1);
        metrics.cluster().redis_up.set(1);
        assert!(metrics.encode().contains("msgpush_redis_up 1\n"));
    }
}
