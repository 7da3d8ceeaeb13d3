//! Which web pages may use the Socket.IO endpoint. The CORS headers tell a
//! browser whether a page may read the answers, but a websocket is not
//! subject to CORS: so with an allow-list, a request from another origin
//! (polling handshake and polls, websocket upgrade) is refused outright.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The allowed origins; empty: any.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    allowed: Vec<HeaderValue>,
    refuse_missing: bool,
}

impl OriginPolicy {
    /// `origins` as given to `--cors-origin`; `refuse_missing` also refuses
    /// requests without an Origin header (when there is a list).
    pub fn new(origins: &[String], refuse_missing: bool) -> OriginPolicy {
        let allowed = origins.iter().filter_map(|o| HeaderValue::from_str(o.trim()).ok()).collect();
        OriginPolicy { allowed, refuse_missing }
    }

    fn allows(&self, origin: Option<&HeaderValue>) -> bool {
        if self.allowed.is_empty() {
            return true;
        }
        match origin {
            Some(origin) => self.allowed.contains(origin),
            None => !self.refuse_missing,
        }
    }

    /// The CORS headers. Socket.IO 2.x browser clients send credentials with
    /// polling requests, so the origin is reflected (never `*`) and
    /// credentials allowed.
    pub fn cors(&self) -> CorsLayer {
        let layer = CorsLayer::very_permissive();
        if self.allowed.is_empty() {
            return layer;
        }
        layer.allow_origin(AllowOrigin::list(self.allowed.clone()))
    }
}

/// Middleware in front of Socket.IO: refuses requests from origins the
/// policy does not allow, with 403.
pub async fn enforce(State(policy): State<OriginPolicy>, request: Request<Body>, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN);
    if policy.allows(origin) {
        return next.run(request).await;
    }
    tracing::debug!(origin = ?origin, "socket.io request from a foreign origin refused");
    (StatusCode::FORBIDDEN, "origin not allowed\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allow_list_refuses_other_origins_and_optionally_none() {
        let origin = |s: &'static str| HeaderValue::from_static(s);
        let open = OriginPolicy::new(&[], true);
        assert!(open.allows(Some(&origin("http://any.example"))) && open.allows(None));
        let listed = OriginPolicy::new(&["http://shop.example".into()], false);
        assert!(listed.allows(Some(&origin("http://shop.example"))));
        assert!(!listed.allows(Some(&origin("http://evil.example"))));
        assert!(listed.allows(None), "no Origin header: allowed unless asked otherwise");
        assert!(!OriginPolicy::new(&["http://shop.example".into()], true).allows(None));
    }
}
