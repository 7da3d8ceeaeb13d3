//! `MsgPush\Auth`: login tokens for browsers, minted by msgpushd so that PHP
//! never holds the secret, and logging users out everywhere. Its API is
//! stated in `php-ext/msgpush.stub.php`.

use std::sync::atomic::{AtomicU64, Ordering};

use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, Zval};
use msgpush_protocol::defaults;
use msgpush_protocol::{Command, Disconnect, Reply, TokenRequest};

use crate::{client, values};

/// Tokens this process minted, for `php --ri msgpush`.
static MINTED: AtomicU64 = AtomicU64::new(0);

/// Tokens minted by this process so far.
pub fn minted() -> u64 {
    MINTED.load(Ordering::Relaxed)
}

/// Static functions only.
#[php_class]
#[php(name = "MsgPush\\Auth")]
#[derive(Debug)]
pub struct Auth;

#[php_impl]
impl Auth {
    /// A login token for `uid`, valid for `ttl` seconds; the tab that logs
    /// in with it is in `groups` for its life.
    #[php(optional = ttl, defaults(ttl = defaults::TOKEN_TTL_SECS as i64))]
    pub fn token(uid: &Zval, ttl: i64, groups: Option<&ZendHashTable>) -> PhpResult<String> {
        let groups = match groups {
            Some(groups) => groups.values().map(values::group_of).collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let request = TokenRequest { uid: values::uid_of(uid)?, ttl: values::ttl_of(ttl)?, groups };
        match client::call(Command::Token(request), "the token request")? {
            Reply::Token { token, .. } => {
                MINTED.fetch_add(1, Ordering::Relaxed);
                Ok(token)
            }
            other => Err(client::unexpected(other).into()),
        }
    }

    /// Disconnects every socket of these users; returns how many.
    pub fn disconnect(uid: &Zval) -> PhpResult<i64> {
        let disconnect = Disconnect { uids: values::checked_uids_of(uid)? };
        match client::call(Command::Disconnect(disconnect), "the disconnect")? {
            Reply::Disconnected { sockets } => Ok(client::count(sockets)),
            other => Err(client::unexpected(other).into()),
        }
    }
}
