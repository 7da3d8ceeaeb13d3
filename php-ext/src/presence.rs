//! `MsgPush\Presence`: who is online, across the cluster in a cluster. Its
//! API is stated in `php-ext/msgpush.stub.php`.

use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, Zval};
use msgpush_protocol::limits::MAX_USERS_PAGE;
use msgpush_protocol::{Command, PresenceAnswer, PresenceQuery, Reply};

use crate::error::PushError;
use crate::{client, values};

/// Static functions only.
#[php_class]
#[php(name = "MsgPush\\Presence")]
#[derive(Debug)]
pub struct Presence;

/// The tabs `uid` has open.
fn tabs_of(uid: &Zval) -> Result<u64, PushError> {
    let query = PresenceQuery::Tabs { uid: values::uid_of(uid)? };
    match client::call(Command::Presence(query), "the question")? {
        Reply::Presence(PresenceAnswer::Tabs { tabs }) => Ok(tabs),
        other => Err(client::unexpected(other)),
    }
}

/// `['users' => int, 'tabs' => int]` of a count's answer.
pub fn counts(reply: Reply) -> PhpResult<ZBox<ZendHashTable>> {
    let Reply::Presence(PresenceAnswer::Count { users, tabs }) = reply else {
        return Err(client::unexpected(reply).into());
    };
    let mut table = ZendHashTable::new();
    table.insert("users", client::count(users))?;
    table.insert("tabs", client::count(tabs))?;
    Ok(table)
}

#[php_impl]
impl Presence {
    /// Whether the user has a tab open.
    pub fn is_online(uid: &Zval) -> PhpResult<bool> {
        Ok(tabs_of(uid)? > 0)
    }

    /// How many tabs the user has open.
    pub fn tabs(uid: &Zval) -> PhpResult<i64> {
        Ok(client::count(tabs_of(uid)?))
    }

    /// Which of these uids have a tab open, in the order given.
    pub fn online(uids: &ZendHashTable) -> PhpResult<Vec<String>> {
        let uids: Vec<String> = uids.values().map(values::uid_of).collect::<Result<_, _>>()?;
        let query = PresenceQuery::Online { uids };
        match client::call(Command::Presence(query), "the question")? {
            Reply::Presence(PresenceAnswer::Online { uids }) => Ok(uids),
            other => Err(client::unexpected(other).into()),
        }
    }

    /// `['users' => int, 'tabs' => int]` online.
    pub fn count() -> PhpResult<ZBox<ZendHashTable>> {
        counts(client::call(Command::Presence(PresenceQuery::Count), "the question")?)
    }

    /// A page of the uids online: `['users' => [...], 'cursor' => ?string]`.
    #[php(optional = cursor, defaults(limit = 1000))]
    pub fn users(cursor: Option<String>, limit: i64) -> PhpResult<ZBox<ZendHashTable>> {
        let limit = u64::try_from(limit)
            .ok()
            .filter(|n| (1..=MAX_USERS_PAGE).contains(n))
            .ok_or_else(|| PushError::Invalid(format!("a page holds 1 to {MAX_USERS_PAGE} uids, not {limit}")))?;
        let query = PresenceQuery::Users { cursor, limit };
        let Reply::Presence(PresenceAnswer::Users { uids, cursor }) =
            client::call(Command::Presence(query), "the question")?
        else {
            return Err(PushError::ConnectionLost("unexpected reply from msgpushd".into()).into());
        };
        let mut table = ZendHashTable::new();
        table.insert("users", uids)?;
        match cursor {
            Some(cursor) => table.insert("cursor", cursor)?,
            None => table.insert("cursor", ())?,
        }
        Ok(table)
    }
}
