//! `MsgPush\Group`: memberships of groups, and who is in a group. Its API is
//! stated in `php-ext/msgpush.stub.php`.

use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, Zval};
use msgpush_protocol::limits::MAX_USERS_PAGE;
use msgpush_protocol::{Command, Membership, PresenceAnswer, PresenceQuery, Reply};

use crate::presence::counts;
use crate::{client, values};

/// Static functions only.
#[php_class]
#[php(name = "MsgPush\\Group")]
#[derive(Debug)]
pub struct Group;

#[php_impl]
impl Group {
    /// Makes the users members of the groups; returns their tabs open now.
    pub fn join(group: &Zval, uid: &Zval) -> PhpResult<i64> {
        let membership = Membership { groups: values::groups_of(group)?, uids: values::checked_uids_of(uid)? };
        match client::call(Command::GroupJoin(membership), "the join")? {
            Reply::Joined { sockets } => Ok(client::count(sockets)),
            other => Err(client::unexpected(other).into()),
        }
    }

    /// Ends the users' memberships of the groups; returns their tabs that left.
    pub fn leave(group: &Zval, uid: &Zval) -> PhpResult<i64> {
        let membership = Membership { groups: values::groups_of(group)?, uids: values::checked_uids_of(uid)? };
        match client::call(Command::GroupLeave(membership), "the leave")? {
            Reply::Left { sockets } => Ok(client::count(sockets)),
            other => Err(client::unexpected(other).into()),
        }
    }

    /// The uids with a tab in the group, in byte order (every page of them).
    pub fn members(group: &Zval) -> PhpResult<Vec<String>> {
        let group = values::group_of(group)?;
        let (mut members, mut cursor) = (Vec::new(), None);
        loop {
            let query = PresenceQuery::Members { group: group.clone(), cursor, limit: MAX_USERS_PAGE };
            match client::call(Command::Presence(query), "the question")? {
                Reply::Presence(PresenceAnswer::Users { uids, cursor: next }) => {
                    members.extend(uids);
                    cursor = next;
                }
                other => return Err(client::unexpected(other).into()),
            }
            if cursor.is_none() {
                return Ok(members);
            }
        }
    }

    /// `['users' => int, 'tabs' => int]` in the group.
    pub fn count(group: &Zval) -> PhpResult<ZBox<ZendHashTable>> {
        let query = PresenceQuery::GroupCount { group: values::group_of(group)? };
        counts(client::call(Command::Presence(query), "the question")?)
    }
}
