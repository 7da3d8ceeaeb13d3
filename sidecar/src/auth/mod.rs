//! Who may do what: the token secret's file, minting and verifying the
//! browsers' login tokens (JWTs), and the HTTP API's key. Imports only
//! `telemetry` and `settings`.

pub mod api_key;
pub mod secret;
pub mod tokens;
