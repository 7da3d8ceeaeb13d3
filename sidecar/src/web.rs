//! The browser-facing port: the Socket.IO endpoint, the socket.io client
//! script, and (with `--demo`) the demo page and its push form.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, Request, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use msgpush_protocol::defaults::{self, events};
use msgpush_protocol::{Content, Publish, Target, TokenRequest};
use serde::Deserialize;
use tower::{Service, ServiceBuilder};

use crate::hub::Hub;
use crate::metrics::Ingress;
use crate::origin::{self, OriginPolicy};

/// The socket.io client, from the npm package pinned in `package-lock.json`.
const CLIENT_SCRIPT: &[u8] = include_bytes!(env!("MSGPUSH_CLIENT_SCRIPT"));

/// The demo page: log in as a uid, watch messages and the online count, push.
const DEMO_PAGE: &str = include_str!("../web/demo.html");

/// The router of the Socket.IO port: the routes below, and every other
/// request (those under `/socket.io/`) to Socket.IO.
pub fn router<S>(hub: Arc<Hub>, socket_io: S, origins: OriginPolicy, demo: bool) -> Router
where
    S: Service<Request<Body>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    let mut app = Router::new().route("/socket.io/socket.io.js", get(client_script));
    app = if demo {
        app.route("/", get(Html(DEMO_PAGE))).route("/demo/token", get(demo_token)).route("/demo/push", post(demo_push))
    } else {
        app.route("/", get(concat!("msgpushd ", env!("CARGO_PKG_VERSION"), "\n")))
    };
    let cors = origins.cors();
    let socket_io = ServiceBuilder::new().layer(from_fn_with_state(origins, origin::enforce)).service(socket_io);
    app.with_state(hub).fallback_service(socket_io).layer(cors)
}

async fn client_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CLIENT_SCRIPT,
    )
        .into_response()
}

/// What the demo page asks a token for.
#[derive(Debug, Deserialize)]
struct DemoLogin {
    uid: String,
}

/// A login token for the demo page: the page stands in for a site's back end.
async fn demo_token(State(hub): State<Arc<Hub>>, Query(login): Query<DemoLogin>) -> Response {
    let request = TokenRequest { uid: login.uid, ttl: defaults::TOKEN_TTL_SECS };
    match hub.mint_token(&request) {
        Ok((token, expires)) => Json(serde_json::json!({ "token": token, "expires": expires })).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// What the demo page's form posts.
#[derive(Debug, Deserialize)]
struct DemoPush {
    /// A uid, or empty for everyone.
    to: String,
    content: String,
}

async fn demo_push(State(hub): State<Arc<Hub>>, Json(form): Json<DemoPush>) -> Response {
    let to = if form.to.is_empty() { Target::Everyone } else { Target::Users(vec![form.to]) };
    let publish = Publish { to, event: events::NEW_MSG.to_owned(), content: Content::Text(form.content), msg_id: None };
    match hub.publish(publish, Ingress::Demo).await {
        Ok(sockets) => Json(serde_json::json!({ "sockets": sockets })).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}
