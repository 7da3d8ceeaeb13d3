//! The browser-facing port: the Socket.IO endpoint, the socket.io client
//! script and the msgpush.js helper, behind the origin policy; other routes for browsers (the demo
//! page) are merged in under the same policy.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{header, Request};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower::{Service, ServiceBuilder};

use crate::browser::origin::{self, OriginPolicy};

/// The socket.io client, from the npm package pinned in `package-lock.json`.
const CLIENT_SCRIPT: &[u8] = include_bytes!(env!("MSGPUSH_CLIENT_SCRIPT"));

/// The browser helper over it (`js/msgpush.js`).
const HELPER_SCRIPT: &[u8] = include_bytes!("../../../js/msgpush.js");

/// The router of the Socket.IO port: the client script, `extra` routes (or
/// the daemon's version at `/`), and every other request (those under
/// `/socket.io/`) to Socket.IO.
pub fn router<S>(socket_io: S, origins: OriginPolicy, extra: Option<Router>) -> Router
where
    S: Service<Request<Body>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    let app = Router::new()
        .route("/socket.io/socket.io.js", get(|| script(CLIENT_SCRIPT)))
        .route("/msgpush.js", get(|| script(HELPER_SCRIPT)));
    let app = match extra {
        Some(extra) => app.merge(extra),
        None => app.route("/", get(concat!("msgpushd ", env!("CARGO_PKG_VERSION"), "\n"))),
    };
    let cors = origins.cors();
    let socket_io = ServiceBuilder::new().layer(from_fn_with_state(origins, origin::enforce)).service(socket_io);
    app.fallback_service(socket_io).layer(cors)
}

async fn script(body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
