//! What becomes of a tab's acknowledgement of a message (socket.io's ack
//! callback) and of its report that its user read one (`msgpush:read`):
//! a kept message leaves the user's inbox, a message sent with receipts
//! records the user's receipt, and a push waiting for its tabs counts it
//! (on its own node, told over the bus in a cluster). A single daemon's
//! writes go through its fanout task, the store's one writer; a cluster's
//! to Redis.

use std::sync::Arc;

use msgpush_protocol::MsgId;
use serde_json::json;

use crate::browser::fanout::{Fanout, Job};
use crate::cluster::bus::{AckAsk, Bus, TabAck};
use crate::cluster::history::SharedStore;
use crate::cluster::receipts::SharedReceipts;
use crate::settings::flags::EventKind;
use crate::state::waits::Waits;
use crate::store::entry::now_ms;
use crate::store::receipts::Recorded;
use crate::telemetry::metrics::METRICS;
use crate::webhooks::sender::Webhooks;

/// Where a tab's acknowledgements go.
#[derive(Debug, Clone)]
pub struct Acks {
    sink: Sink,
    waits: Arc<Waits>,
    /// Receipts are events for the application too.
    webhooks: Webhooks,
    /// This node's id (empty on a single daemon).
    node: String,
}

/// The store that takes them.
#[derive(Debug, Clone)]
pub enum Sink {
    /// The fanout task, which writes the embedded store (a single daemon).
    Local(Fanout),
    /// Redis (a cluster), and the bus to the node of a waiting push.
    Shared {
        /// Inboxes.
        store: Arc<SharedStore>,
        /// Receipts.
        receipts: Arc<SharedReceipts>,
        /// The bus.
        bus: Arc<Bus>,
    },
}

/// What a message asked of the tabs it was emitted to.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    /// It is kept in its users' inboxes until acknowledged.
    pub kept: bool,
    /// Its receipts are recorded, and a push may wait for them.
    pub receipts: Option<&'a AckAsk>,
}

impl Acks {
    /// Acknowledgements into `sink`; the pushes of this node wait in
    /// `waits`; new receipts are offered to `webhooks`.
    pub fn new(sink: Sink, waits: Arc<Waits>, webhooks: Webhooks) -> Acks {
        let node = match &sink {
            Sink::Local(_) => String::new(),
            Sink::Shared { bus, .. } => bus.node().to_owned(),
        };
        Acks { sink, waits, webhooks, node }
    }

    /// A tab of `uid` (None: not logged in, reached by a push to everyone)
    /// acknowledged message `id`, which asked for it as `asked` says.
    pub async fn answered(&self, uid: Option<Arc<str>>, id: MsgId, asked: Asked<'_>) {
        if let Some((node, until_ms)) = asked.receipts.and_then(|ask| ask.wait.as_ref()) {
            if now_ms() <= *until_ms {
                self.tell_waiting(node, id, uid.as_deref()).await;
            }
        }
        // Receipts and inboxes are a user's.
        let Some(uid) = uid else { return };
        if asked.receipts.is_some() {
            self.record(uid.clone(), id, false).await;
        }
        if asked.kept {
            self.leave_inbox(uid, id).await;
        }
    }

    /// A tab of `uid` reported that its user read message `id` (counted
    /// only for a message the user acknowledged, with receipts).
    pub async fn read(&self, uid: Arc<str>, id: MsgId) {
        self.record(uid, id, true).await;
    }

    async fn tell_waiting(&self, node: &str, id: MsgId, uid: Option<&str>) {
        match &self.sink {
            Sink::Shared { bus, .. } if node != self.node => {
                if let Err(e) = bus.acked(node, TabAck { id, uid: uid.map(str::to_owned) }).await {
                    tracing::debug!(cause = %e, "an acknowledgement could not reach the waiting node");
                }
            }
            _ => {
                self.waits.answered(id, uid);
            }
        }
    }

    async fn record(&self, uid: Arc<str>, id: MsgId, read: bool) {
        match &self.sink {
            Sink::Local(fanout) => fanout.offer_job(Job::Receipt { uid, id, read, time_ms: now_ms() }),
            Sink::Shared { receipts, .. } => {
                let recorded = receipts.record(id, &uid, now_ms(), read).await;
                let recorded = recorded.unwrap_or_else(|e| {
                    tracing::warn!(cause = %e, "a receipt could not reach Redis");
                    Recorded::Full
                });
                self.recorded(recorded, read, &uid, id);
            }
        }
    }

    async fn leave_inbox(&self, uid: Arc<str>, id: MsgId) {
        match &self.sink {
            Sink::Local(fanout) => fanout.offer_job(Job::Acknowledged { uid, id }),
            Sink::Shared { store, .. } => match store.acknowledge(&uid, id).await {
                Ok(true) => METRICS.acknowledged(),
                Ok(false) => {}
                Err(e) => tracing::warn!(cause = %e, "an acknowledgement could not reach Redis"),
            },
        }
    }
}

impl Acks {
    /// Counts what recording `uid`'s receipt (`read`, or an
    /// acknowledgement) of message `id` did, and tells the application of
    /// a new one. (Only the first is new, on any node: one event each.)
    pub fn recorded(&self, recorded: Recorded, read: bool, uid: &str, id: MsgId) {
        match recorded {
            Recorded::New => {
                METRICS.receipt(read);
                let kind = if read { EventKind::MessageRead } else { EventKind::MessageAcked };
                self.webhooks.offer(kind, json!({ "uid": uid, "msg_id": id }));
            }
            Recorded::Nothing => {}
            Recorded::Full => METRICS.receipt_dropped(),
        }
    }
}
