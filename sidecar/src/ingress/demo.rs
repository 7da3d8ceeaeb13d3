//! The demo page (`--demo`): log in as a uid, watch messages and the online
//! count, push from a form. The page stands in for a site's back end: it
//! mints tokens and pushes through the hub like PHP would, so whoever
//! reaches it can read any user's messages. Its two endpoints are POSTs
//! (browsers send an Origin with those) under the origin policy.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use msgpush_protocol::defaults::{self, events};
use msgpush_protocol::{Content, Publish, Target, TokenRequest};
use serde::Deserialize;

use crate::browser::origin::{self, OriginPolicy};
use crate::hub::Hub;
use crate::state::turn::Turn;
use crate::telemetry::metrics::Ingress;

/// The demo page: log in as a uid, watch messages and the online count, push.
const DEMO_PAGE: &str = include_str!("../../web/demo.html");

/// The demo's routes: the page at `/`; a token for a uid and the push form,
/// refused to origins `origins` does not allow.
pub fn router(hub: Arc<Hub>, origins: OriginPolicy) -> Router {
    let endpoints = Router::new()
        .route("/demo/token", post(demo_token))
        .route("/demo/push", post(demo_push))
        .layer(from_fn_with_state(origins, origin::enforce))
        .with_state(hub);
    Router::new().route("/", get(Html(DEMO_PAGE))).merge(endpoints)
}

/// What the demo page asks a token for.
#[derive(Debug, Deserialize)]
struct DemoLogin {
    uid: String,
}

/// A login token for the demo page: the page stands in for a site's back end.
async fn demo_token(State(hub): State<Arc<Hub>>, Json(login): Json<DemoLogin>) -> Response {
    let request = TokenRequest { uid: login.uid, ttl: defaults::TOKEN_TTL_SECS, groups: vec![] };
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
    let content = Content::Text(form.content);
    let publish = Publish::new(to, events::NEW_MSG, content);
    match hub.publish(publish, Ingress::Demo, Turn::default()).await {
        Ok(delivered) => Json(serde_json::json!({ "sockets": delivered.sockets })).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}
