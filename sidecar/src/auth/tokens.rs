//! Login tokens: JWTs (HS256) whose `sub` is the uid, with `exp` and `iat`,
//! and `grp`, the groups the tab that logs in with it is in (absent: none),
//! minted for PHP and verified when a browser logs in. Any back end holding
//! the secret can mint the same tokens with an ordinary JWT library.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use msgpush_protocol::limits::{check_groups, check_uid};
use serde::{Deserialize, Serialize};

/// Longest token looked at: a token for the longest uid and the most
/// groups of the longest names is about 6 KiB, and anything larger is not
/// one of ours.
pub const MAX_TOKEN_BYTES: usize = 8192;

/// The claims of a minted login token.
#[derive(Debug, Serialize)]
struct Claims<'a> {
    sub: &'a str,
    exp: u64,
    iat: u64,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    grp: &'a [String],
}

/// What a login needs of a token's claims (jsonwebtoken checks `exp`);
/// tokens minted elsewhere need no `iat`, nor `grp`.
#[derive(Debug, Deserialize)]
struct Subject {
    sub: String,
    #[serde(default)]
    grp: Vec<String>,
}

/// What a valid token logs a tab in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The user.
    pub uid: String,
    /// The groups the tab is in for its life.
    pub groups: Vec<String>,
}

/// Mints and verifies tokens with one secret.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// `--max-token-groups`.
    max_groups: usize,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens").field("leeway", &self.validation.leeway).finish_non_exhaustive()
    }
}

/// Why a token was refused; the text is what the browser is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a string, or longer than [`MAX_TOKEN_BYTES`].
    NotAToken,
    /// Not a JWT, or without the claims a login token has.
    Malformed,
    /// Signed with another secret, or with another algorithm (`none`...).
    BadSignature,
    /// Past its `exp`.
    Expired,
    /// Its `sub` is not an acceptable uid.
    BadUid(String),
    /// Its `grp` names too many groups, or one with a bad name.
    BadGroups(String),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::NotAToken => write!(f, "invalid token: expected a string of at most {MAX_TOKEN_BYTES} bytes"),
            TokenError::Malformed => f.write_str("invalid token: not a login token"),
            TokenError::BadSignature => f.write_str("invalid token: bad signature"),
            TokenError::Expired => f.write_str("invalid token: expired"),
            TokenError::BadUid(why) | TokenError::BadGroups(why) => write!(f, "invalid token: {why}"),
        }
    }
}

impl std::error::Error for TokenError {}

impl TokenError {
    /// The refusal's reason, as a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::NotAToken => "not_a_token",
            TokenError::Malformed => "malformed",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired => "expired",
            TokenError::BadUid(_) => "bad_uid",
            TokenError::BadGroups(_) => "bad_groups",
        }
    }
}

impl Tokens {
    /// Tokens signed with `secret`, accepted up to `leeway_secs` past `exp`
    /// (jsonwebtoken's default of 60 s is replaced, not added to), naming at
    /// most `max_groups` groups.
    pub fn new(secret: &[u8], leeway_secs: u64, max_groups: usize) -> Tokens {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = leeway_secs;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let (encoding, decoding) = (EncodingKey::from_secret(secret), DecodingKey::from_secret(secret));
        Tokens { encoding, decoding, validation, max_groups }
    }

    /// Checks the groups a token is to name; the error names the rule.
    pub fn check_groups(&self, groups: &[String]) -> Result<(), String> {
        check_groups(groups, self.max_groups, "in a login token (--max-token-groups)")
    }

    /// A token logging a browser in as `uid`, in `groups`, for `ttl_secs`;
    /// returns it and its expiry (seconds since the epoch). `uid`, `groups`
    /// and `ttl_secs` must have been checked.
    pub fn mint(
        &self,
        uid: &str,
        groups: &[String],
        ttl_secs: u64,
    ) -> Result<(String, u64), jsonwebtoken::errors::Error> {
        let iat = now();
        let claims = Claims { sub: uid, exp: iat + ttl_secs, iat, grp: groups };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims.exp))
    }

    /// What a token logs in as, if it is one of ours and still valid.
    pub fn verify(&self, token: &str) -> Result<Login, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::NotAToken);
        }
        let data =
            jsonwebtoken::decode::<Subject>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    TokenError::BadSignature
                }
                _ => TokenError::Malformed,
            })?;
        let Subject { sub: uid, grp: groups } = data.claims;
        check_uid(&uid).map_err(TokenError::BadUid)?;
        self.check_groups(&groups).map_err(TokenError::BadGroups)?;
        Ok(Login { uid, groups })
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn signed(claims: &serde_json::Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    #[test]
    fn leeway_is_what_was_configured() {
        let strict = Tokens::new(SECRET, 0, 4);
        let lenient = Tokens::new(SECRET, 5, 4);
        let just_expired = signed(&serde_json::json!({ "sub": "1", "exp": now() - 2 }), SECRET);
        assert_eq!(strict.verify(&just_expired), Err(TokenError::Expired), "no silent 60 s leeway");
        assert_eq!(lenient.verify(&just_expired).map(|login| login.uid), Ok("1".to_owned()));
    }

    #[test]
    fn a_minted_token_verifies_as_its_uid() {
        let tokens = Tokens::new(SECRET, 0, 4);
        let (token, exp) = tokens.mint("123", &[], 60).unwrap();
        assert!(exp >= now() + 59);
        assert_eq!(tokens.verify(&token), Ok(Login { uid: "123".into(), groups: vec![] }));
        let groups = vec!["order-42".to_owned(), "team".to_owned()];
        let (token, _) = tokens.mint("123", &groups, 60).unwrap();
        assert_eq!(tokens.verify(&token), Ok(Login { uid: "123".into(), groups }));
    }

    #[test]
    fn forged_expired_and_malformed_tokens_are_refused() {
        let tokens = Tokens::new(SECRET, 0, 4);
        let t = now();
        let other = signed(&serde_json::json!({ "sub": "1", "exp": t + 60 }), b"another secret, also 32 bytes long");
        assert_eq!(tokens.verify(&other), Err(TokenError::BadSignature));
        let expired = signed(&serde_json::json!({ "sub": "1", "exp": t - 1 }), SECRET);
        assert_eq!(tokens.verify(&expired), Err(TokenError::Expired));
        let no_sub = signed(&serde_json::json!({ "exp": t + 60 }), SECRET);
        assert_eq!(tokens.verify(&no_sub), Err(TokenError::Malformed));
        let no_exp = signed(&serde_json::json!({ "sub": "1" }), SECRET);
        assert_eq!(tokens.verify(&no_exp), Err(TokenError::Malformed));
        let empty_uid = signed(&serde_json::json!({ "sub": "", "exp": t + 60 }), SECRET);
        assert!(matches!(tokens.verify(&empty_uid), Err(TokenError::BadUid(_))));
        assert_eq!(tokens.verify("123"), Err(TokenError::Malformed));
        assert_eq!(tokens.verify(&"a".repeat(MAX_TOKEN_BYTES + 1)), Err(TokenError::NotAToken));
        let too_many =
            signed(&serde_json::json!({ "sub": "1", "exp": t + 60, "grp": ["a", "b", "c", "d", "e"] }), SECRET);
        assert!(matches!(tokens.verify(&too_many), Err(TokenError::BadGroups(why)) if why.contains("5 groups")));
        let bad_name = signed(&serde_json::json!({ "sub": "1", "exp": t + 60, "grp": [""] }), SECRET);
        assert!(matches!(tokens.verify(&bad_name), Err(TokenError::BadGroups(_))));
    }

    #[test]
    fn alg_none_is_refused() {
        let tokens = Tokens::new(SECRET, 0, 4);
        let (token, _) = tokens.mint("1", &[], 60).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}, the payload of a genuine token, no signature.
        let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(tokens.verify(&unsigned).is_err());
    }

    mod properties {
        use base64::Engine;
        use proptest::prelude::*;

        use super::*;

        /// `header.payload.signature`, each part base64url of what was generated.
        fn jwt_shaped() -> impl Strategy<Value = String> {
            let part = prop::collection::vec(any::<u8>(), 0..80);
            let json = prop_oneof![
                Just(r#"{"alg":"HS256","typ":"JWT"}"#.to_owned()),
                Just(r#"{"alg":"none"}"#.to_owned()),
                "\\{[ -~]{0,60}\\}",
            ];
            (json.clone(), json, part).prop_map(|(header, payload, signature)| {
                let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                format!("{}.{}.{}", b64.encode(header), b64.encode(payload), b64.encode(signature))
            })
        }

        proptest! {
            #[test]
            fn any_string_is_a_uid_only_if_we_signed_it(token in prop_oneof![any::<String>(), jwt_shaped()]) {
                let tokens = Tokens::new(SECRET, 0, 4);
                prop_assert!(tokens.verify(&token).is_err());
            }

            #[test]
            fn a_minted_token_logs_in_as_its_uid_in_its_groups(
                uid in "\\PC{1,64}",
                groups in prop::collection::vec("\\PC{1,32}", 0..4),
                ttl in 1u64..=2_592_000,
            ) {
                let tokens = Tokens::new(SECRET, 0, 4);
                let (token, exp) = tokens.mint(&uid, &groups, ttl).unwrap();
                prop_assert!(token.len() <= MAX_TOKEN_BYTES);
                prop_assert!(exp >= now() + ttl - 1);
                prop_assert_eq!(tokens.verify(&token), Ok(Login { uid, groups }));
            }
        }
    }
}
