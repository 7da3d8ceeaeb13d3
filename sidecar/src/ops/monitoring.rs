//! Monitoring on the HTTP API listener, behind the API key when one is set:
//! `GET /metrics` (Prometheus' text format) and `GET /status` (a page for
//! people). Figures that are states are read from the daemon at each request.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::auth::api_key::{key_in_head, ApiKey};
use crate::browser::emit::SocketKind;
use crate::hub::{Figures, Hub};
use crate::ops::rate_history::History;
use crate::ops::status_page::{self, Status};
use crate::telemetry::metrics::METRICS;

/// What the monitoring routes read.
#[derive(Debug)]
pub struct Monitoring {
    /// The daemon's state.
    pub hub: Arc<Hub>,
    /// The key required of callers.
    pub api_key: ApiKey,
    /// The recent pushes, for the status page's chart.
    pub history: Arc<History>,
    /// When the daemon started.
    pub started: Instant,
}

/// The routes `/metrics` and `/status`.
pub fn router(monitoring: Monitoring) -> Router {
    Router::new().route("/metrics", get(metrics)).route("/status", get(status)).with_state(Arc::new(monitoring))
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "the API key is required (Authorization: Bearer KEY, or ?key=KEY)\n").into_response()
}

async fn metrics(State(m): State<Arc<Monitoring>>, headers: HeaderMap, uri: Uri) -> Response {
    if !m.api_key.admits(key_in_head(&headers, &uri).as_deref()) {
        return forbidden();
    }
    set_gauges(&m.hub.figures().await);
    METRICS.pending_orders.set(m.hub.pending_orders() as i64);
    METRICS.memberships.set(m.hub.memberships().unwrap_or(0) as i64);
    METRICS.departures_waiting.set(m.hub.departures_waiting() as i64);
    METRICS.waiting_pushes.set(m.hub.waiting_pushes() as i64);
    METRICS.webhook_waiting.set(m.hub.waiting_events() as i64);
    if let Some(stored) = m.hub.stored() {
        METRICS.history_messages.set(stored.history_messages as i64);
        METRICS.history_bytes.set(stored.history_bytes as i64);
        METRICS.history_streams.set(stored.history_streams as i64);
        METRICS.inbox_messages.set(stored.inbox_messages as i64);
        METRICS.inbox_bytes.set(stored.inbox_bytes as i64);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], METRICS.encode()).into_response()
}

/// Sets the metrics that are states from `figures`. Every kind of socket is
/// set, none present included, so that each series exists from the start.
fn set_gauges(figures: &Figures) {
    for transport in ["websocket", "polling"] {
        for protocol in ["4", "5"] {
            let sockets = figures.sockets.get(&SocketKind { transport, protocol }).copied().unwrap_or(0);
            METRICS.sockets.with_label_values(&[transport, protocol]).set(sockets as i64);
        }
    }
    METRICS.logged_in_sockets.set(figures.logged_in.sockets as i64);
    METRICS.users.set(figures.logged_in.uids as i64);
    METRICS.rooms.set(figures.rooms as i64);
    METRICS.tasks.set(tokio::runtime::Handle::current().metrics().num_alive_tasks() as i64);
    if let Some(cluster) = &figures.cluster {
        let gauges = METRICS.cluster();
        gauges.redis_up.set(i64::from(cluster.reachable));
        gauges.outbox_waiting.set(cluster.outbox_waiting as i64);
        if let Some(counts) = cluster.counts {
            gauges.nodes.set(cluster.nodes.len() as i64);
            gauges.users.set(counts.uids as i64);
            gauges.sockets.set(counts.sockets as i64);
        }
    }
}

async fn status(State(m): State<Arc<Monitoring>>, headers: HeaderMap, uri: Uri) -> Response {
    if !m.api_key.admits(key_in_head(&headers, &uri).as_deref()) {
        return forbidden();
    }
    let figures = m.hub.figures().await;
    let samples = m.history.samples();
    let page = status_page::render(&Status {
        uptime: m.started.elapsed(),
        figures: &figures,
        samples: &samples,
        memory_bytes: METRICS.value("process_resident_memory_bytes"),
        open_fds: METRICS.value("process_open_fds"),
    });
    ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}
