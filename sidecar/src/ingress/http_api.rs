//! The HTTP API: every command of the protocol as JSON at `POST /api/v1`
//! (a command in, its reply out, as the Unix socket speaks them), for back
//! ends that cannot load the extension; and web-msg-sender's push API on
//! any other path, GET or POST, `type=publish&to=UID&content=...`, answered
//! `ok`, `offline` or `fail`, so code written for web-msg-sender (curl to
//! :2121) works unchanged.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use msgpush_protocol::codec::unsupported;
use msgpush_protocol::defaults::events;
use msgpush_protocol::{Command, Content, ErrorCode, Publish, Reply, Target};

use crate::auth::api_key::{key_in_head, ApiKey};
use crate::hub::Hub;
use crate::ingress::http_params::{Param, Params, ParamsError};
use crate::state::turn::Turn;
use crate::telemetry::metrics::Ingress;

/// Everything the push handler needs.
#[derive(Debug)]
pub struct HttpApi {
    /// Where pushes go.
    pub hub: Arc<Hub>,
    /// The key required of callers.
    pub api_key: ApiKey,
    /// Largest request body accepted.
    pub max_body: usize,
}

/// Where the JSON API answers.
pub const JSON_API_PATH: &str = "/api/v1";

/// The router: the JSON API, and web-msg-sender's push handler on every
/// other path.
pub fn router(api: HttpApi) -> Router {
    Router::new().route(JSON_API_PATH, post(command)).fallback(push).with_state(Arc::new(api))
}

/// `POST /api/v1`: a command (`{"publish": {...}}`, `"ping"`...) as JSON,
/// answered with its reply, and a status that says whether it failed
/// (400: the command or its input is wrong; 403: the key; 413: too large;
/// 500: the daemon failed).
async fn command(State(api): State<Arc<HttpApi>>, request: Request<Body>) -> Response {
    let given = key_in_head(request.headers(), request.uri());
    if !api.api_key.admits(given.as_deref()) {
        return refused(
            StatusCode::FORBIDDEN,
            ErrorCode::Malformed,
            "the API key is required (Authorization: Bearer KEY, or ?key=KEY)",
        );
    }
    let body = match axum::body::to_bytes(request.into_body(), api.max_body).await {
        Ok(body) => body,
        Err(_) => {
            return refused(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::Malformed, "the body is over --max-body-bytes")
        }
    };
    let command = match serde_json::from_slice::<Command>(&body) {
        Ok(command) => command,
        Err(e) => {
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            return match Command::unknown_name(&value) {
                Some(name) => refused(StatusCode::BAD_REQUEST, ErrorCode::UnsupportedCommand, &unsupported(name)),
                None => refused(StatusCode::BAD_REQUEST, ErrorCode::Malformed, &format!("not a command: {e}")),
            };
        }
    };
    let reply = api.hub.answer(command, Ingress::Http, Turn::default()).await;
    let status = match &reply {
        Reply::Error { code: ErrorCode::Internal, .. } => StatusCode::INTERNAL_SERVER_ERROR,
        Reply::Error { code: ErrorCode::Busy, .. } => StatusCode::SERVICE_UNAVAILABLE,
        Reply::Error { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    (status, Json(reply)).into_response()
}

/// An error reply of the JSON API.
fn refused(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    (status, Json(Reply::Error { code, message: message.to_owned() })).into_response()
}

/// The three answers web-msg-sender gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Offline,
    Fail,
}

fn reply(status: StatusCode, outcome: Outcome) -> Response {
    let body = match outcome {
        Outcome::Ok => "ok",
        Outcome::Offline => "offline",
        Outcome::Fail => "fail",
    };
    (status, [(header::CONTENT_TYPE, "text/html;charset=utf-8")], body).into_response()
}

async fn push(State(api): State<Arc<HttpApi>>, request: Request<Body>) -> Response {
    // A key in the head is checked before the body is read; only a form
    // post that carries its key among its fields needs the body first.
    let key_in_head = key_in_head(request.headers(), request.uri());
    if key_in_head.is_some() && !api.api_key.admits(key_in_head.as_deref()) {
        return reply(StatusCode::FORBIDDEN, Outcome::Fail);
    }
    let params = match Params::read(request, api.max_body).await {
        Ok(params) => params,
        Err(ParamsError::TooLarge) => return reply(StatusCode::PAYLOAD_TOO_LARGE, Outcome::Fail),
        Err(ParamsError::TimedOut) => return reply(StatusCode::REQUEST_TIMEOUT, Outcome::Fail),
        Err(ParamsError::Malformed(why)) => {
            tracing::debug!(cause = %why, "http push refused");
            return reply(StatusCode::OK, Outcome::Fail);
        }
    };
    if key_in_head.is_none() && !api.api_key.admits(text(&params, "key")) {
        return reply(StatusCode::FORBIDDEN, Outcome::Fail);
    }
    let Some(publish) = publish_of(&params) else {
        return reply(StatusCode::OK, Outcome::Fail);
    };
    let targeted = matches!(publish.to, Target::Users(_));
    match api.hub.publish(publish, Ingress::Http, Turn::default()).await {
        Ok(delivered) if targeted && delivered.sockets == 0 => reply(StatusCode::OK, Outcome::Offline),
        Ok(_) => reply(StatusCode::OK, Outcome::Ok),
        Err(e) => {
            tracing::debug!(cause = %e, "http push refused");
            reply(StatusCode::OK, Outcome::Fail)
        }
    }
}

/// The publish a web-msg-sender request asks for, or None if it asks for
/// none (wrong `type`, array parameters).
fn publish_of(params: &Params) -> Option<Publish> {
    if text(params, "type") != Some("publish") {
        return None;
    }
    let to = match params.get("to") {
        None => Target::Everyone,
        Some(Param::Text(uid)) if uid.is_empty() => Target::Everyone,
        Some(Param::Text(uid)) => Target::Users(vec![uid.clone()]),
        Some(Param::Structured) => return None,
    };
    let content = match params.get("content") {
        None => String::new(),
        Some(Param::Text(content)) => escape_html(content),
        Some(Param::Structured) => return None,
    };
    Some(Publish::new(to, events::NEW_MSG, Content::Text(content)))
}

fn text<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    match params.get(name)? {
        Param::Text(t) => Some(t),
        Param::Structured => None,
    }
}

/// PHP's `htmlspecialchars($s, ENT_QUOTES)`, which web-msg-sender applies to
/// `content`: pages insert it as HTML, so it must not carry markup.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#039;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_htmlspecialchars_ent_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#039;Jerry&#039;&lt;/a&gt;"
        );
        assert_eq!(escape_html("当前 ok"), "当前 ok");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// PHP's `htmlspecialchars_decode($s, ENT_QUOTES)`.
        fn unescape(s: &str) -> String {
            s.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#039;", "'")
                .replace("&amp;", "&")
        }

        proptest! {
            #[test]
            fn escaped_content_carries_no_markup_and_decodes_to_the_original(content in any::<String>()) {
                let escaped = escape_html(&content);
                prop_assert!(!escaped.contains(['<', '>', '"', '\'']));
                prop_assert_eq!(unescape(&escaped), content);
            }

            #[test]
            fn any_parameters_give_a_publish_or_none(
                fields in prop::collection::vec(("(type|to|content|key|x)(\\[\\])?", "[ -~]{0,12}"), 0..6),
            ) {
                let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
                let request = Request::get(format!("/?{query}")).body(Body::empty()).unwrap();
                let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
                let params = runtime.block_on(Params::read(request, 0)).unwrap();
                if let Some(publish) = publish_of(&params) {
                    prop_assert_eq!(text(&params, "type"), Some("publish"));
                    prop_assert_eq!(&publish.event, events::NEW_MSG);
                    prop_assert!(publish.validate().is_ok());
                }
            }
        }
    }
}
