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
use msgpush_protocol::limits::{check_ack_timeout, check_keep};
use msgpush_protocol::{Acked, Command, Content, MsgId, Position, Publish, Reply, Target};

use crate::error::PushError;
use crate::settings::{self, Settings};
use crate::{client, ids, queue, values};

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
    /// Receipts asked for (`setReceipts()`).
    receipts: bool,
    /// How long `push()` waits for acknowledgements (`setAckTimeout()`).
    ack_timeout_ms: Option<u64>,
    /// What the last `push()` answered.
    outcome: RefCell<Outcome>,
}

/// What the last `push()` answered.
#[derive(Debug, Default)]
struct Outcome {
    /// Tabs written to.
    sockets: u64,
    /// Positions by stream.
    positions: BTreeMap<String, Position>,
    /// Users kept for.
    kept: u64,
    /// Who acknowledged, for a push that waited.
    acked: Acked,
}

impl PushEvent {
    /// The message as `push()` (`waiting` for acknowledgements, if asked)
    /// or `queue()` sends it.
    fn publish(&self, waiting: bool) -> Result<Publish, PushError> {
        let msg_id = Some(self.msg_id()?);
        let ack_timeout_ms = self.ack_timeout_ms.filter(|_| waiting);
        let publish = Publish {
            to: self.to.clone(),
            except: self.except.clone(),
            event: self.event.clone(),
            content: self.content.clone(),
            msg_id,
            history: self.history,
            keep_secs: self.keep_secs,
            receipts: self.receipts || self.ack_timeout_ms.is_some(),
            ack_timeout_ms,
        };
        publish.validate().map_err(PushError::Invalid)?;
        Ok(publish)
    }

    /// This message's id, drawn on first use.
    fn msg_id(&self) -> Result<MsgId, PushError> {
        if let Some(id) = self.msg_id.get() {
            return Ok(id);
        }
        let id = ids::next()?;
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
            receipts: false,
            ack_timeout_ms: None,
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

    /// Asks each tab the message reaches to acknowledge it, and records
    /// which users did (`MsgPush\Receipt::of($event->id())`), without
    /// waiting (default false).
    #[php(defaults(on = true))]
    pub fn set_receipts(
        self_: &mut ZendClassObject<PushEvent>,
        on: bool,
    ) -> PhpResult<&mut ZendClassObject<PushEvent>> {
        self_.msg_id.set(None);
        self_.receipts = on;
        Ok(self_)
    }

    /// Makes `push()` wait up to `ms` milliseconds for the tabs it reached
    /// to acknowledge the message, and return how many did (0: do not
    /// wait). Implies receipts; `queue()` sends with receipts, not waiting.
    pub fn set_ack_timeout(
        self_: &mut ZendClassObject<PushEvent>,
        ms: i64,
    ) -> PhpResult<&mut ZendClassObject<PushEvent>> {
        self_.msg_id.set(None);
        self_.ack_timeout_ms = match u64::try_from(ms) {
            Ok(0) => None,
            Ok(ms) => {
                check_ack_timeout(ms).map_err(PushError::Invalid)?;
                Some(ms)
            }
            Err(_) => return Err(PushError::Invalid(format!("setAckTimeout() takes milliseconds, not {ms}")).into()),
        };
        Ok(self_)
    }

    /// Sends the message and returns how many sockets (browser tabs) it
    /// reached; 0 means the user is offline. With an ack timeout, waits for
    /// the tabs' acknowledgements and returns how many acknowledged.
    pub fn push(&self) -> PhpResult<i64> {
        *self.outcome.borrow_mut() = Outcome::default();
        let waited = Duration::from_millis(self.ack_timeout_ms.unwrap_or(0));
        match client::call_waiting(Command::Publish(self.publish(true)?), "the push", waited)? {
            Reply::Delivered { sockets, positions, kept, acked } => {
                let waited = acked.is_some();
                let acked = acked.unwrap_or_default();
                let answer = if waited { acked.tabs } else { sockets };
                *self.outcome.borrow_mut() = Outcome { sockets, positions, kept, acked };
                Ok(client::count(answer))
            }
            other => Err(client::unexpected(other).into()),
        }
    }

    /// The tabs the last `push()` reached (written to), waiting or not.
    pub fn reached(&self) -> i64 {
        client::count(self.outcome.borrow().sockets)
    }

    /// The users whose tabs acknowledged the last `push()` within its ack
    /// timeout, each once, in byte order.
    pub fn acked_by(&self) -> Vec<String> {
        self.outcome.borrow().acked.uids.clone()
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
        for (stream, position) in &self.outcome.borrow().positions {
            let mut place = ZendHashTable::new();
            place.insert("epoch", position.epoch.as_str())?;
            place.insert("position", client::count(position.position))?;
            table.insert(stream.as_str(), place)?;
        }
        Ok(table)
    }

    /// The users the last `push()` kept the message for (`keep()`).
    pub fn kept(&self) -> i64 {
        client::count(self.outcome.borrow().kept)
    }

    /// Queues the message for the background writer and returns at once:
    /// true if queued, false if the queue is full (the message is dropped).
    pub fn queue(&self) -> PhpResult<bool> {
        *self.outcome.borrow_mut() = Outcome::default();
        let request = client::encode(Command::Publish(self.publish(false)?), settings::max_message_bytes()?)?;
        Ok(queue::enqueue(request.frame)?)
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
