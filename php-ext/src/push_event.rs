//! `MsgPush\PushEvent`: the PHP class. Its API is stated in
//! `php-ext/msgpush.stub.php`; this file implements it.
//!
//! A message keeps one random id from its first `push()` or `queue()` until a
//! setter changes it, so that sending it again (a retry after TIMEOUT, the
//! queue's resend after a lost answer) is recognised by msgpushd and
//! delivered once.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Duration;

use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendClassObject, ZendHashTable, Zval};
use msgpush_protocol::defaults::events;
use msgpush_protocol::limits::check_keep;
use msgpush_protocol::{Command, Content, MsgId, Position, Publish, Reply, Target};

use crate::error::PushError;
use crate::settings::Settings;
use crate::{client, queue, values};

/// A message being prepared: recipients, event name and content.
#[php_class]
#[php(name = "MsgPush\\PushEvent")]
#[derive(Debug)]
pub struct PushEvent {
    to: Target,
    /// Users whose tabs it leaves out.
    except: Vec<String>,
    event: String,
    content: Content,
    /// Set when the message is first sent; cleared by every setter.
    msg_id: Cell<Option<MsgId>>,
    /// Kept in its streams' history (`setHistory()`).
    history: bool,
    /// Kept in its users' inboxes this long (`keep()`).
    keep_secs: Option<u64>,
    /// What the last `push()` answered: positions, users kept for.
    outcome: RefCell<(BTreeMap<String, Position>, u64)>,
}

impl PushEvent {
    fn publish(&self) -> Result<Publish, PushError> {
        let msg_id = Some(self.msg_id()?);
        let publish = Publish {
            to: self.to.clone(),
            except: self.except.clone(),
            event: self.event.clone(),
            content: self.content.clone(),
            msg_id,
            history: self.history,
            keep_secs: self.keep_secs,
        };
        publish.validate().map_err(PushError::Invalid)?;
        Ok(publish)
    }

    /// This message's id, drawn on first use.
    fn msg_id(&self) -> Result<MsgId, PushError> {
        if let Some(id) = self.msg_id.get() {
            return Ok(id);
        }
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| PushError::Internal(format!("no randomness for a message id: {e}")))?;
        let id = MsgId(u128::from_ne_bytes(bytes));
        self.msg_id.set(Some(id));
        Ok(id)
    }
}

#[php_impl]
impl PushEvent {
    /// A message to everyone, with event `new_msg` and empty content.
    pub fn __construct() -> Self {
        PushEvent {
            to: Target::Everyone,
            except: Vec::new(),
            event: events::NEW_MSG.to_owned(),
            content: Content::Text(String::new()),
            msg_id: Cell::new(None),
            history: true,
            keep_secs: None,
            outcome: RefCell::default(),
        }
    }

    /// Sets the recipient: a uid (string or int), an array of uids, or `''`
    /// (the default) for everyone.
    #[php(optional = uid)]
    pub fn set_user<'a>(
        self_: &'a mut ZendClassObject<PushEvent>,
        uid: Option<&Zval>,
    ) -> PhpResult<&'a mut ZendClassObject<PushEvent>> {
        self_.msg_id.set(None);
        self_.to = match uid {
            Some(uid) => values::target_of(uid)?,
            None => Target::Everyone,
        };
        Ok(self_)
    }

    /// Sets the recipients to the tabs in a group, or in any of several
    /// (each tab once).
    pub fn set_group<'a>(
        self_: &'a mut ZendClassObject<PushEvent>,
        group: &Zval,
    ) -> PhpResult<&'a mut ZendClassObject<PushEvent>> {
        self_.msg_id.set(None);
        self_.to = Target::Groups(values::groups_of(group)?);
        Ok(self_)
    }

    /// Leaves out the tabs of these users (one uid or several), whoever the
    /// recipients are.
    pub fn except<'a>(
        self_: &'a mut ZendClassObject<PushEvent>,
        uid: &Zval,
    ) -> PhpResult<&'a mut ZendClassObject<PushEvent>> {
        self_.msg_id.set(None);
        self_.except = values::checked_uids_of(uid)?;
        Ok(self_)
    }

    /// Sets the content: a string, or an array sent as JSON.
    #[php(optional = content)]
    pub fn set_content<'a>(
        self_: &'a mut ZendClassObject<PushEvent>,
        content: Option<&Zval>,
    ) -> PhpResult<&'a mut ZendClassObject<PushEvent>> {
        self_.msg_id.set(None);
        self_.content = match content {
            Some(content) => values::content_of(content)?,
            None => Content::Text(String::new()),
        };
        Ok(self_)
    }

    /// Sets the Socket.IO event name (default `new_msg`).
    #[php(defaults(event = events::NEW_MSG))]
    pub fn set_event(
        self_: &mut ZendClassObject<PushEvent>,
        event: String,
    ) -> PhpResult<&mut ZendClassObject<PushEvent>> {
        self_.msg_id.set(None);
        self_.event = values::event_of(&event)?;
        Ok(self_)
    }

    /// Whether the message is kept in its streams' history, for tabs that
    /// reconnect (default true; false for a typing indicator).
    #[php(defaults(keep = true))]
    pub fn set_history(
        self_: &mut ZendClassObject<PushEvent>,
        keep: bool,
    ) -> PhpResult<&mut ZendClassObject<PushEvent>> {
        self_.msg_id.set(None);
        self_.history = keep;
        Ok(self_)
    }

    /// Keeps the message for each of its users until one of their tabs
    /// acknowledged it, at most `seconds` (0: not kept).
    pub fn keep(self_: &mut ZendClassObject<PushEvent>, seconds: i64) -> PhpResult<&mut ZendClassObject<PushEvent>> {
        self_.msg_id.set(None);
        self_.keep_secs = match u64::try_from(seconds) {
            Ok(0) => None,
            Ok(secs) => {
                check_keep(secs).map_err(PushError::Invalid)?;
                Some(secs)
            }
            Err(_) => return Err(PushError::Invalid(format!("keep() takes seconds, not {seconds}")).into()),
        };
        Ok(self_)
    }

    /// Sends the message and returns how many sockets (browser tabs) it
    /// reached; 0 means the user is offline.
    pub fn push(&self) -> PhpResult<i64> {
        *self.outcome.borrow_mut() = Default::default();
        match client::call(Command::Publish(self.publish()?), "the push")? {
            Reply::Delivered { sockets, positions, kept } => {
                *self.outcome.borrow_mut() = (positions, kept);
                Ok(client::count(sockets))
            }
            other => Err(client::unexpected(other).into()),
        }
    }

    /// The message's id (32 hex digits, as pages see it in `meta.id`) once
    /// it was sent (`push()` or `queue()`); null before.
    pub fn id(&self) -> Option<String> {
        self.msg_id.get().map(|id| format!("{:032x}", id.0))
    }

    /// Where the last `push()` kept the message:
    /// `['user:123' => ['epoch' => '…', 'position' => 17], ...]`.
    pub fn positions(&self) -> PhpResult<ZBox<ZendHashTable>> {
        let mut table = ZendHashTable::new();
        for (stream, position) in &self.outcome.borrow().0 {
            let mut place = ZendHashTable::new();
            place.insert("epoch", position.epoch.as_str())?;
            place.insert("position", client::count(position.position))?;
            table.insert(stream.as_str(), place)?;
        }
        Ok(table)
    }

    /// The users the last `push()` kept the message for (`keep()`).
    pub fn kept(&self) -> i64 {
        client::count(self.outcome.borrow().1)
    }

    /// Queues the message for the background writer and returns at once:
    /// true if queued, false if the queue is full (the message is dropped).
    pub fn queue(&self) -> PhpResult<bool> {
        *self.outcome.borrow_mut() = Default::default();
        let settings = Settings::current()?;
        let request = client::encode(Command::Publish(self.publish()?), settings.max_message_bytes)?;
        Ok(queue::enqueue(request.frame, &settings)?)
    }

    /// Waits until every queued message has been answered by msgpushd, at most
    /// `timeoutMs` milliseconds (default `msgpush.flush_timeout_ms`). Returns
    /// true if all were.
    #[php(optional = timeout_ms)]
    pub fn flush(timeout_ms: Option<i64>) -> PhpResult<bool> {
        let timeout = match timeout_ms {
            Some(ms) => Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
            None => Settings::current()?.flush_timeout,
        };
        Ok(queue::flush(timeout))
    }
}
