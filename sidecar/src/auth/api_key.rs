//! The key that guards the HTTP API listener's push and monitoring routes
//! (`--http-api-key`): given as an `Authorization: Bearer KEY` header (the
//! scheme in any case, RFC 7235), or a `key` parameter in the query string
//! or, for web-msg-sender's form posts, in the body. The health checks stay
//! open, for load balancers. Keys are compared in constant time.

use axum::http::{header, HeaderMap, Uri};
use subtle::ConstantTimeEq;

/// The key required of callers, if one is set.
#[derive(Debug, Clone)]
pub struct ApiKey(Option<String>);

impl ApiKey {
    /// `key` required (None: anyone who reaches the listener may call).
    pub fn new(key: Option<String>) -> ApiKey {
        ApiKey(key)
    }

    /// Whether a request giving `given` may pass.
    pub fn admits(&self, given: Option<&str>) -> bool {
        match (&self.0, given) {
            (None, _) => true,
            (Some(key), Some(given)) => bool::from(given.as_bytes().ct_eq(key.as_bytes())),
            (Some(_), None) => false,
        }
    }
}

/// The key a request gives before its body: its `Authorization: Bearer`
/// header, else its `key` query parameter.
pub fn key_in_head(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    bearer_token(headers).map(str::to_owned).or_else(|| {
        let query = uri.query()?;
        form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "key").map(|(_, key)| key.into_owned())
    })
}

/// The token of an `Authorization: Bearer` header.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let (scheme, token) = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(authorization: Option<&str>, uri: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        }
        key_in_head(&headers, &uri.parse().unwrap())
    }

    #[test]
    fn a_key_is_taken_from_the_header_before_the_query() {
        assert_eq!(head(None, "/"), None);
        assert_eq!(head(None, "/?type=publish&key=k%20x"), Some("k x".into()));
        assert_eq!(head(Some("Bearer k"), "/?key=other"), Some("k".into()));
        assert_eq!(head(Some("bearer k"), "/"), Some("k".into()), "the scheme is case-insensitive");
        assert_eq!(head(Some("BEARER  k"), "/"), Some("k".into()));
        assert_eq!(head(Some("Basic k"), "/?key=q"), Some("q".into()), "another scheme is no bearer token");
    }

    #[test]
    fn only_the_key_itself_passes() {
        let key = ApiKey::new(Some("s3cret".into()));
        assert!(key.admits(Some("s3cret")));
        for wrong in ["", "s3cre", "s3cret ", "S3CRET", "s3cret\0"] {
            assert!(!key.admits(Some(wrong)), "{wrong:?}");
        }
        assert!(!key.admits(None));
        assert!(ApiKey::new(None).admits(None));
    }
}
