//! The signature of a webhook request: `X-MsgPush-Timestamp` (Unix
//! seconds) and `X-MsgPush-Signature: v1=HEX`, the HMAC-SHA256 of
//! `TIMESTAMP.BODY` with the webhook secret. A check refuses a signature
//! that does not hold and a timestamp more than [`TOLERANCE_SECS`] away
//! from now, so a request captured on the way cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a request's timestamp may be from the checker's clock.
pub const TOLERANCE_SECS: u64 = 300;

/// The header with the timestamp.
pub const TIMESTAMP_HEADER: &str = "x-msgpush-timestamp";

/// The header with the signature.
pub const SIGNATURE_HEADER: &str = "x-msgpush-signature";

/// Why a request is not msgpushd's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The headers are missing or not of the scheme.
    Malformed,
    /// The signature does not hold: forged, altered, or another secret.
    Forged,
    /// Signed too long ago (or too far ahead): a replay, or a wrong clock.
    Stale,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Malformed => "the request carries no msgpush signature (X-MsgPush-Timestamp, X-MsgPush-Signature)",
            Refusal::Forged => "the request's signature does not hold: it was forged or altered",
            Refusal::Stale => "the request was signed more than 5 minutes ago (a replay, or a wrong clock)",
        })
    }
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header of `body` sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let tag = mac(secret, &timestamp.to_string(), body).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// Whether `signature` and `timestamp` (the headers) sign `body`, at `now` (Unix seconds).
pub fn check(secret: &[u8], timestamp: &str, signature: &str, body: &[u8], now: u64) -> Result<(), Refusal> {
    let sent: u64 = timestamp.trim().parse().map_err(|_| Refusal::Malformed)?;
    let tag = signature.trim().strip_prefix("v1=").and_then(hex).ok_or(Refusal::Malformed)?;
    mac(secret, timestamp.trim(), body).verify_slice(&tag).map_err(|_| Refusal::Forged)?;
    if sent.abs_diff(now) > TOLERANCE_SECS {
        return Err(Refusal::Stale);
    }
    Ok(())
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..64).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_signed_body_checks_and_anything_changed_does_not() {
        let body = br#"{"events":[]}"#;
        let signature = sign(SECRET, 1_000, body);
        assert_eq!(check(SECRET, "1000", &signature, body, 1_010), Ok(()));
        assert_eq!(check(SECRET, "1000", &signature, br#"{"events":[1]}"#, 1_010), Err(Refusal::Forged));
        assert_eq!(check(SECRET, "1001", &signature, body, 1_010), Err(Refusal::Forged), "the time is signed");
        assert_eq!(check(b"another secret", "1000", &signature, body, 1_010), Err(Refusal::Forged));
        assert_eq!(check(SECRET, "1000", &signature, body, 1_000 + TOLERANCE_SECS + 1), Err(Refusal::Stale));
        assert_eq!(check(SECRET, "", &signature, body, 1_000), Err(Refusal::Malformed));
        assert_eq!(check(SECRET, "1000", "v1=zz", body, 1_000), Err(Refusal::Malformed));
        assert_eq!(check(SECRET, "1000", &signature[3..], body, 1_000), Err(Refusal::Malformed));
    }

    proptest! {
        #[test]
        fn any_header_pair_is_refused_unless_it_signs_the_body(
            timestamp in ".{0,24}",
            signature in "(v1=)?[0-9a-fA-Fz]{0,70}",
            body in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            // Generated headers almost never sign the body; they must never panic or pass.
            prop_assert!(check(SECRET, &timestamp, &signature, &body, 1_000).is_err());
        }
    }
}
