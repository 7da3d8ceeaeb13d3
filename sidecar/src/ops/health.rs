//! Health checks on the HTTP API listener, for a load balancer, systemd or
//! a monitoring probe: `GET /healthz` answers while the process serves;
//! `GET /readyz` only while it accepts browsers and pushes with all it
//! needs (in a cluster: Redis), and not once it is shutting down.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;

/// What readiness depends on.
#[derive(Debug, Clone)]
pub struct Health {
    /// The daemon's state (its cluster census, if any).
    pub hub: Arc<Hub>,
    /// Cancelled when the daemon starts shutting down.
    pub shutdown: CancellationToken,
}

/// The routes `/healthz` and `/readyz`.
pub fn router(health: Health) -> Router {
    Router::new().route("/healthz", get(alive)).route("/readyz", get(ready)).with_state(health)
}

async fn alive() -> &'static str {
    "ok\n"
}

async fn ready(State(health): State<Health>) -> (StatusCode, String) {
    if health.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready: shutting down\n".into());
    }
    match health.hub.unready_because() {
        None => (StatusCode::OK, "ready\n".into()),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
    }
}
