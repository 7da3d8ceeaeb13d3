//! A tab logging in: it presents the last position it saw of each of its
//! streams (`{"user": {"epoch": "…", "position": 17}, "g:…": {…}, "all":
//! {…}}`), and is given, before any newer message and before it joins its
//! rooms, every message of those streams it missed, in order, each once,
//! as live delivery would have given it (its user left out by `except`
//! stays left out; a group's messages only while it is in the group); then
//! `msgpush:recovered`, saying whether anything it missed was no longer
//! kept and where each of its streams stands now (an empty epoch and 0 for
//! a stream with no message yet: presented back, it recovers all of it);
//! then the messages kept for its user, each asking for an acknowledgement.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use msgpush_protocol::defaults::events;
use msgpush_protocol::Position;
use serde::Serialize;
use serde_json::Value;
use socketioxide::extract::SocketRef;

use crate::browser::acks::Asked;
use crate::browser::deliver::{answered, ContentArg, Meta};
use crate::browser::fanout::{Applier, Attached, Parts};
use crate::browser::rooms::{self, join_unless_closed};
use crate::cluster::bus::{AckAsk, Recovery};
use crate::cluster::memberships::Memberships;
use crate::state::memberships::Read;
use crate::store::entry::{now_ms, Entry, PageNames, Stream};
use crate::store::history::Missed;
use crate::store::inbox::Kept;

/// Most streams a tab's positions are read for: its user's, everyone's and
/// its groups' (at most 32 by token and 256 by membership by default).
const MAX_PRESENTED: usize = 1024;

/// The positions a tab presented, by its names for the streams.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Presented(BTreeMap<String, Position>);

impl Presented {
    /// The positions of `value` (an object of `{epoch, position}` by stream
    /// name); whatever is not one is left out.
    pub fn of(value: &Value) -> Presented {
        let Value::Object(streams) = value else { return Presented::default() };
        let positions = streams
            .iter()
            .take(MAX_PRESENTED)
            .filter_map(|(name, position)| Some((name.clone(), serde_json::from_value(position.clone()).ok()?)));
        Presented(positions.collect())
    }

    /// The streams a tab of `uid` in `groups` may recover, each with the
    /// position presented for it, if one was.
    pub fn streams(&self, uid: &Arc<str>, groups: &[Arc<str>], names: &PageNames) -> Vec<(Stream, Option<Position>)> {
        let mut streams = vec![Stream::User(uid.clone()), Stream::All];
        streams.extend(groups.iter().map(|group| Stream::Group(group.clone())));
        streams.into_iter().map(|stream| (stream.clone(), self.0.get(&names.of(&stream)).cloned())).collect()
    }
}

/// `msgpush:recovered`'s payload.
#[derive(Debug, Serialize)]
struct Recovered {
    /// Every message missed was given.
    complete: bool,
    /// The streams (the page's names) some of whose messages were no longer kept.
    incomplete: Vec<String>,
    /// Where each of the tab's streams stands, by the page's name.
    positions: BTreeMap<String, Position>,
}

impl Applier {
    /// Gives `socket` what it missed and puts it in its rooms, unless the
    /// memberships read are stale or it closed meanwhile.
    pub(super) fn attach(
        &self,
        socket: &SocketRef,
        uid: &Arc<str>,
        token_groups: Vec<Arc<str>>,
        members: Read,
        presented: Presented,
        recovery: Option<Recovery>,
    ) -> Attached {
        let Parts { presence, .. } = &self.0;
        if presence.version_of(uid) > members.version {
            return Attached::Stale;
        }
        let mut names = vec![rooms::of_user(uid)];
        names.extend(token_groups.iter().map(|group| rooms::of_token_group(group)));
        names.extend(members.groups.iter().map(|group| rooms::of_member_group(group)));
        if !join_unless_closed(socket, names) {
            return Attached::Closed;
        }
        presence.join(socket.id, &token_groups, true);
        presence.join(socket.id, &members.groups, false);
        presence.note_version(uid, members.version);
        if let Memberships::Local(local) = &*self.0.memberships {
            self.save_members(local.seen_to_save(uid).into_iter());
        }
        let mut groups = token_groups;
        groups.extend(members.groups);
        self.give(socket, uid, &groups, &presented, recovery);
        Attached::Done
    }

    /// Emits to `socket` what it missed and what is kept for `uid`.
    fn give(
        &self,
        socket: &SocketRef,
        uid: &Arc<str>,
        groups: &[Arc<str>],
        presented: &Presented,
        recovery: Option<Recovery>,
    ) {
        let Parts { store, names, most_at_login, .. } = &self.0;
        let streams = presented.streams(uid, groups, names);
        let wanted: Vec<(Stream, Position)> =
            streams.iter().filter_map(|(stream, seen)| Some((stream.clone(), seen.clone()?))).collect();
        let read = match (recovery, store) {
            (Some(recovery), _) => read_recovery(recovery),
            (None, Some(store)) => {
                let missed = wanted
                    .iter()
                    .map(|(stream, position)| {
                        let missed = store.missed(stream, position, *most_at_login).unwrap_or_else(|e| {
                            tracing::warn!(cause = %e, "the store could not be read: recovery incomplete");
                            Missed::default()
                        });
                        (stream.key(), missed)
                    })
                    .collect();
                let heads = streams.iter().filter_map(|(stream, _)| Some((stream.key(), store.head(stream).ok()?)));
                let inbox = store.inbox(uid, now_ms(), *most_at_login).unwrap_or_default();
                Reading { missed, heads: heads.collect(), inbox }
            }
            // A cluster node cut off from Redis: nothing to give.
            (None, None) => Reading {
                missed: wanted.iter().map(|(stream, _)| (stream.key(), Missed::default())).collect(),
                heads: vec![],
                inbox: vec![],
            },
        };
        let heads = read.heads.iter().filter_map(|(key, position)| Some((names.of_key(key)?, position.clone())));
        let given = self.give_missed(socket, uid, &wanted, read.missed, heads.collect());
        self.give_kept(socket, uid, read.inbox, &given);
    }

    /// Emits the messages missed; returns their ids.
    fn give_missed(
        &self,
        socket: &SocketRef,
        uid: &Arc<str>,
        wanted: &[(Stream, Position)],
        missed: Vec<(String, Missed)>,
        positions: BTreeMap<String, Position>,
    ) -> HashSet<u128> {
        let Parts { names, most_at_login, .. } = &self.0;
        let mut given = HashSet::new();
        let seen: BTreeMap<String, &Position> =
            wanted.iter().map(|(stream, position)| (stream.key(), position)).collect();
        let mut incomplete: Vec<String> = Vec::new();
        let mut entries: Vec<Entry> = Vec::new();
        for (key, stream) in missed {
            if !stream.complete {
                incomplete.extend(names.of_key(&key));
            }
            entries.extend(stream.entries);
        }
        // Each once, never to a user it leaves out, never one seen through another stream.
        entries.retain(|entry| {
            let seen_elsewhere = entry.placements.iter().any(|(key, position)| {
                seen.get(key).is_some_and(|saw| saw.epoch == position.epoch && saw.position >= position.position)
            });
            !seen_elsewhere && !entry.except.iter().any(|user| **user == **uid) && given.insert(entry.id.0)
        });
        entries.sort_by_key(|entry| entry.order);
        if entries.len() > *most_at_login {
            let dropped = entries.len() - most_at_login;
            entries.drain(..dropped);
            incomplete.push("*".to_owned());
        }
        for entry in &entries {
            let meta = Meta { recovered: true, ..Meta::new(entry.id, &entry.placements, names) };
            self.give_one(socket, uid, entry, &meta, false);
        }
        incomplete.sort_unstable();
        incomplete.dedup();
        let complete = incomplete.is_empty();
        if !wanted.is_empty() {
            crate::telemetry::metrics::METRICS.recovered(complete);
        }
        socket.emit(events::RECOVERED, &(Recovered { complete, incomplete, positions },)).ok();
        given
    }

    /// Emits the messages kept for `uid` (but those just given), asking for
    /// acknowledgements.
    fn give_kept(&self, socket: &SocketRef, uid: &Arc<str>, inbox: Vec<Kept>, given: &HashSet<u128>) {
        let names = &self.0.names;
        for kept in inbox {
            let entry = kept.entry;
            if given.contains(&entry.id.0) {
                continue;
            }
            let meta = Meta { kept: true, ..Meta::new(entry.id, &entry.placements, names) };
            self.give_one(socket, uid, &entry, &meta, true);
        }
    }

    /// Emits `entry` to `socket`, asking for an acknowledgement if it is
    /// `kept` or was sent with receipts.
    fn give_one(&self, socket: &SocketRef, uid: &Arc<str>, entry: &Entry, meta: &Meta, kept: bool) {
        let args = (ContentArg(&entry.content), meta);
        if !kept && !entry.receipts {
            if let Err(e) = socket.emit(&entry.event, &args) {
                tracing::debug!(cause = %e, "a missed message could not be given");
            }
            return;
        }
        match socket.emit_with_ack::<_, Value>(&entry.event, &args) {
            Ok(answer) => {
                let (acks, uid, id, receipts) = (self.0.acks.clone(), uid.clone(), entry.id, entry.receipts);
                tokio::spawn(async move {
                    if answered(&answer.await) {
                        let ask = AckAsk { wait: None };
                        acks.answered(Some(uid), id, Asked { kept, receipts: receipts.then_some(&ask) }).await;
                    }
                });
            }
            Err(e) => tracing::debug!(cause = %e, "a missed message could not be given"),
        }
    }
}

/// What was read for a login: what it missed per stream, where its streams
/// stand, what is kept for its user.
struct Reading {
    missed: Vec<(String, Missed)>,
    heads: Vec<(String, Position)>,
    inbox: Vec<Kept>,
}

/// What a cluster's Redis read for a login, decoded.
fn read_recovery(recovery: Recovery) -> Reading {
    let missed = recovery
        .missed
        .into_iter()
        .map(|(key, complete, entries)| {
            let entries = entries.iter().filter_map(|entry| serde_json::from_str(entry).ok()).collect();
            (key, Missed { entries, complete })
        })
        .collect();
    let now = now_ms();
    let inbox = recovery.inbox.iter().filter_map(|kept| serde_json::from_str::<Kept>(kept).ok());
    Reading { missed, heads: recovery.heads, inbox: inbox.filter(|kept| kept.expires_ms > now).collect() }
}
