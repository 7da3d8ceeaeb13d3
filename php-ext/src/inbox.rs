//! `MsgPush\Inbox`: the messages kept for a user (`PushEvent->keep()`)
//! until one of their tabs acknowledged them. Its API is stated in
//! `php-ext/msgpush.stub.php`.

use ext_php_rs::prelude::*;
use ext_php_rs::types::Zval;
use msgpush_protocol::{Command, InboxUser, Reply};

use crate::{client, values};

/// Static functions only.
#[php_class]
#[php(name = "MsgPush\\Inbox")]
#[derive(Debug)]
pub struct Inbox;

#[php_impl]
impl Inbox {
    /// How many kept messages wait for the user.
    pub fn count(uid: &Zval) -> PhpResult<i64> {
        let user = InboxUser { uid: values::uid_of(uid)? };
        match client::call(Command::InboxCount(user), "the question")? {
            Reply::Inbox { messages } => Ok(client::count(messages)),
            other => Err(client::unexpected(other).into()),
        }
    }

    /// Forgets the messages kept for the user; returns how many.
    pub fn clear(uid: &Zval) -> PhpResult<i64> {
        let user = InboxUser { uid: values::uid_of(uid)? };
        match client::call(Command::InboxClear(user), "the clear")? {
            Reply::Cleared { messages } => Ok(client::count(messages)),
            other => Err(client::unexpected(other).into()),
        }
    }
}
