//! The web-msg-sender-compatible HTTP push API: any path, GET or POST,
//! `type=publish&to=UID&content=...`, answered `ok`, `offline` or `fail`, so
//! code written for web-msg-sender (curl to :2121) works unchanged.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use msgpush_protocol::defaults::events;
use msgpush_protocol::{Content, Publish, Target};

use crate::auth::api_key::{key_in_head, ApiKey};
use crate::hub::Hub;
use crate::ingress::http_params::{Param, Params, ParamsError};
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

/// The router answering every path with the push handler.
pub fn router(api: HttpApi) -> Router {
    Router::new().fallback(push).with_state(Arc::new(api))
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
    match api.hub.publish(publish, Ingress::Http).await {
        Ok(0) if targeted => reply(StatusCode::OK, Outcome::Offline),
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
    Some(Publish { to, event: events::NEW_MSG.to_owned(), content: Content::Text(content), msg_id: None })
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
