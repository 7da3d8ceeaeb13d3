//! Emitting one message to this node's tabs, with its meta: the message's
//! id and its position in each of its streams, as the page names them
//! (`socket.on('new_msg', (content, meta) => …)`; a handler with one
//! argument sees the content as before). A push to users is emitted user by
//! user, each seeing its own stream's position; one to groups or everyone
//! once. On a single daemon the message is kept in history (and in its
//! users' inboxes) here, as it is emitted; in a cluster Redis kept it and
//! the order carries its positions. A kept message, or one sent with
//! receipts, is emitted asking for an acknowledgement, which takes it out of
//! the user's inbox, records the user's receipt, and counts for a push
//! waiting for it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use msgpush_protocol::{Content, MsgId, Position};
use serde::Serialize;
use socketioxide::AckError;

use crate::browser::acks::Asked;
use crate::browser::emit::{Rooms, To};
use crate::browser::fanout::{Applied, Applier, Parts};
use crate::browser::rooms;
use crate::cluster::bus::{AckAsk, Audience, Delivery};
use crate::cluster::memberships::Memberships;
use crate::store::embedded::{Batch, StoreError};
use crate::store::entry::{now_ms, Entry, PageNames, Stream};
use crate::telemetry::metrics::METRICS;

/// The meta a page receives beside the content.
#[derive(Debug, Serialize)]
pub struct Meta {
    /// The message's id (32 hex digits).
    pub id: MsgId,
    /// Its position in each of its streams the page can see, by the page's
    /// name for the stream (`user`, `all`, `g:…`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub positions: BTreeMap<String, Position>,
    /// Kept until acknowledged: call the acknowledgement.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub kept: bool,
    /// Given again at login, not live.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
}

impl Meta {
    /// The meta of a message placed at `placements` (store keys).
    pub fn new(id: MsgId, placements: &[(String, Position)], names: &PageNames) -> Meta {
        let positions = placements
            .iter()
            .filter_map(|(key, position)| names.of_key(key).map(|name| (name, position.clone())))
            .collect();
        Meta { id, positions, kept: false, recovered: false }
    }
}

/// A delivery ready to keep and emit: its copies (one per user for a push
/// to users, each with its own stream's positions; else one).
#[derive(Debug)]
pub struct Prepared {
    to: Audience,
    copies: Vec<(Option<Arc<str>>, Entry)>,
    history: bool,
    keep_until_ms: Option<u64>,
    acks: Option<AckAsk>,
    kept: u64,
}

impl Prepared {
    /// `delivery`'s copies, placed where a cluster's store placed it.
    pub fn of(delivery: Delivery) -> Prepared {
        let Delivery { to, except, event, content, id, time_ms, history, keep_until_ms, acks, placed } = delivery;
        let receipts = acks.is_some();
        let entry = Entry { id, event, content, except, receipts, time_ms, placements: placed, order: 0 };
        let copies = match &to {
            Audience::Users(uids) => uids
                .iter()
                .map(|uid| {
                    let key = Stream::User(uid.as_str().into()).key();
                    let placements = entry.placements.iter().filter(|(placed, _)| *placed == key).cloned().collect();
                    (Some(Arc::from(uid.as_str())), Entry { placements, ..entry.clone() })
                })
                .collect(),
            _ => vec![(None, entry)],
        };
        Prepared { to, copies, history, keep_until_ms, acks, kept: 0 }
    }

    /// Whether a single daemon keeps it anywhere.
    pub fn keeps(&self) -> bool {
        self.history || self.keep_until_ms.is_some()
    }

    /// It could not be kept: delivered live only, and counted.
    pub fn unstored(&mut self) {
        if self.keeps() {
            METRICS.unstored();
        }
        self.kept = 0;
        for (_, copy) in &mut self.copies {
            copy.placements.clear();
        }
    }
}

/// A message's content as its event's first argument: the string, or the
/// JSON value, as itself.
#[derive(Debug)]
pub struct ContentArg<'a>(pub &'a Content);

impl Serialize for ContentArg<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Content::Text(text) => text.serialize(serializer),
            Content::Json(value) => value.serialize(serializer),
        }
    }
}

/// Whether a tab answered an acknowledgement request, whatever it said
/// (nothing, as a page calling `ack()` does, fails to decode).
pub fn answered<V>(answer: &Result<V, AckError>) -> bool {
    matches!(answer, Ok(_) | Err(AckError::Decode(_)))
}

impl Applier {
    /// Emits `delivery` to this node's tabs, keeping it first in a single
    /// daemon's store; returns what it reached, its positions and the users
    /// it was kept for.
    pub(super) async fn deliver(&self, delivery: Delivery) -> Applied {
        let mut prepared = Prepared::of(delivery);
        if let Some(store) = &self.0.store {
            if prepared.keeps() {
                let kept = store.batch().and_then(|mut batch| {
                    self.keep_prepared(&mut batch, &mut prepared)?;
                    batch.commit()
                });
                if let Err(e) = kept {
                    tracing::warn!(cause = %e, "a message could not be kept: delivered live only");
                    prepared.unstored();
                }
            }
        }
        self.emit_prepared(prepared).await
    }

    /// Keeps `prepared` in `batch`: in its streams' history, and in its
    /// users' inboxes; it gets its positions and the users kept for.
    pub(super) fn keep_prepared(&self, batch: &mut Batch<'_>, prepared: &mut Prepared) -> Result<(), StoreError> {
        let Prepared { to, copies, history, keep_until_ms, kept, .. } = prepared;
        *kept = self.keep(batch, to, copies, *history, *keep_until_ms)?;
        Ok(())
    }

    /// Emits a prepared delivery to this node's tabs; returns what it
    /// reached, its positions and the users it was kept for.
    pub(super) async fn emit_prepared(&self, prepared: Prepared) -> Applied {
        let Parts { presence, .. } = &self.0;
        let Prepared { to, copies, keep_until_ms, acks, kept, .. } = prepared;
        let mut applied = Applied { kept, ..Applied::default() };
        applied.positions = copies.iter().flat_map(|(_, copy)| copy.placements.iter().cloned()).collect();
        let asked = Asked { kept: keep_until_ms.is_some(), receipts: acks.as_ref() };
        for (uid, copy) in copies {
            let (target, addressed) = match (&to, &uid) {
                (Audience::Users(_), Some(uid)) => {
                    let target = Rooms::new(vec![rooms::of_user(uid)]).map(To::Rooms);
                    (target, presence.sockets_of_all(&[uid.to_string()]))
                }
                (Audience::Groups(groups), _) => {
                    let addressed = presence.sockets_in_groups(groups, &copy.except);
                    (Rooms::new(rooms::of_groups(groups)).map(To::Rooms), addressed)
                }
                _ => {
                    let excepted = presence.sockets_of_all(&copy.except);
                    (Some(To::Everyone), self.0.browsers.sockets().saturating_sub(excepted))
                }
            };
            // Nobody named is nobody, never every socket.
            let Some(target) = target else { continue };
            if addressed == 0 {
                continue;
            }
            applied.sockets += self.emit(target, &copy, uid, asked, addressed).await;
        }
        applied
    }

    /// Keeps `copies` in history (`history`) and in their users' inboxes
    /// (until `keep_until_ms`); returns the users kept for.
    fn keep(
        &self,
        batch: &mut Batch<'_>,
        to: &Audience,
        copies: &mut [(Option<Arc<str>>, Entry)],
        history: bool,
        keep_until_ms: Option<u64>,
    ) -> Result<u64, StoreError> {
        if history {
            for (uid, copy) in copies.iter_mut() {
                let streams = match (to, uid) {
                    (Audience::Users(_), Some(uid)) => vec![Stream::User(uid.clone())],
                    (Audience::Groups(groups), _) => groups.iter().map(|g| Stream::Group(g.as_str().into())).collect(),
                    _ => vec![Stream::All],
                };
                copy.placements = batch.append(&streams, copy.clone())?;
            }
        }
        let Some(until) = keep_until_ms else { return Ok(0) };
        let mut kept = 0;
        for (uid, copy) in copies.iter() {
            let users = match uid {
                Some(uid) => vec![uid.to_string()],
                None => self.keep_targets(to, &copy.except),
            };
            for user in users {
                batch.keep(&user, copy, until)?;
                kept += 1;
            }
        }
        Ok(kept)
    }

    /// Who a kept message to groups or everyone is kept for: the groups'
    /// members and the users with a tab in them, or every user online.
    fn keep_targets(&self, to: &Audience, except: &[String]) -> Vec<String> {
        let Parts { presence, memberships, .. } = &self.0;
        let mut users = match to {
            Audience::Groups(groups) => {
                let mut users = presence.users_in(Some(groups));
                if let Memberships::Local(local) = &**memberships {
                    users.extend(local.members_of(groups));
                }
                users.sort_unstable();
                users.dedup();
                users
            }
            _ => presence.users_in(None),
        };
        users.retain(|user| !except.contains(user));
        users
    }

    /// Emits one copy to `target`; returns the sockets it reached of the
    /// `addressed`. `uid` is the copy's user, for a push to users.
    async fn emit(&self, target: To, copy: &Entry, uid: Option<Arc<str>>, asked: Asked<'_>, addressed: usize) -> u64 {
        let Parts { browsers, presence, names, acks, ack_timeout, .. } = &self.0;
        let meta = Meta { kept: asked.kept, ..Meta::new(copy.id, &copy.placements, names) };
        let args = (ContentArg(&copy.content), &meta);
        if !asked.kept && asked.receipts.is_none() {
            return match browsers.emit(target, &copy.except, &copy.event, &args).await {
                Ok(missed) => addressed.saturating_sub(missed) as u64,
                Err(e) => {
                    tracing::warn!(cause = %e, "cannot emit");
                    0
                }
            };
        }
        // Answers after a push's wait still make receipts.
        let waited = asked.receipts.and_then(|ask| ask.wait.as_ref()).map(|(_, until)| until.saturating_sub(now_ms()));
        let timeout = (*ack_timeout).max(Duration::from_millis(waited.unwrap_or(0)));
        let answers = match browsers.emit_with_ack(target, &copy.except, &copy.event, &args, timeout).await {
            Ok(answers) => answers,
            Err(e) => {
                tracing::warn!(cause = %e, "cannot emit");
                return 0;
            }
        };
        let (acks, presence, id) = (acks.clone(), presence.clone(), copy.id);
        let (kept, ask) = (asked.kept, asked.receipts.cloned());
        tokio::spawn(async move {
            let asked = Asked { kept, receipts: ask.as_ref() };
            let mut answers = std::pin::pin!(answers);
            while let Some((sid, answer)) = answers.next().await {
                if !answered(&answer) {
                    continue;
                }
                acks.answered(uid.clone().or_else(|| presence.uid_of(sid)), id, asked).await;
            }
        });
        addressed as u64
    }
}
