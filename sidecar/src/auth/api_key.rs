//! The key that guards the HTTP API listener's push and monitoring routes
//! (`--http-api-key`): given as an `Authorization: Bearer KEY` header or a
//! `key` parameter. The health checks stay open, for load balancers.

use axum::http::{header, HeaderMap};

/// The key required of callers, if one is set.
#[derive(Debug, Clone)]
pub struct ApiKey(Option<String>);

impl ApiKey {
    /// `key` required (None: anyone who reaches the listener may call).
    pub fn new(key: Option<String>) -> ApiKey {
        ApiKey(key)
    }

    /// Whether a request with this bearer token (see [`bearer_token`]) and
    /// `key` parameter may pass.
    pub fn admits(&self, bearer: Option<&str>, param: Option<&str>) -> bool {
        let Some(key) = &self.0 else {
            return true;
        };
        bearer.or(param) == Some(key.as_str())
    }
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_taken_from_the_header_before_the_parameter() {
        let mut headers = HeaderMap::new();
        let key = ApiKey::new(Some("k".into()));
        assert!(!key.admits(bearer_token(&headers), None));
        assert!(key.admits(bearer_token(&headers), Some("k")));
        headers.insert(header::AUTHORIZATION, "Bearer k".parse().unwrap());
        assert!(key.admits(bearer_token(&headers), None));
        headers.insert(header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert!(!key.admits(bearer_token(&headers), Some("k")));
        assert!(ApiKey::new(None).admits(None, None));
    }
}
