//! Pushes: to users, to groups, or to everyone, leaving out the tabs of
//! some users; each message once per id within the dedup window; kept in
//! its streams' history and, with a keep, in its users' inboxes; with
//! receipts, asking its tabs to acknowledge it, and waiting for them if
//! asked.

use std::time::{Duration, Instant};

use msgpush_protocol::limits::{check_groups, check_uids, MAX_TARGET_UIDS};
use msgpush_protocol::{Acked, Disconnect, MsgId, Position, Publish, Target};

use crate::cluster::bus::{AckAsk, Audience, Delivery, Order};
use crate::cluster::memberships::Memberships;
use crate::hub::{distinct, Hub, RequestError};
use crate::state::recent::Claim;
use crate::state::turn::Turn;
use crate::state::waits::Refusal;
use crate::store::entry::{now_ms, Stream};
use crate::telemetry::metrics::{Ingress, PushResult, METRICS};

/// What a push did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Delivered {
    /// The sockets (tabs) it reached now.
    pub sockets: u64,
    /// Its position in each stream it was kept in.
    pub positions: Vec<(String, Position)>,
    /// The users it was kept for.
    pub kept: u64,
    /// Who acknowledged it, for a push that waited.
    pub acked: Option<Acked>,
}

/// The streams a message to `to` is kept in.
pub fn streams_of(to: &Audience) -> Vec<Stream> {
    match to {
        Audience::Users(uids) => uids.iter().map(|uid| Stream::User(uid.as_str().into())).collect(),
        Audience::Groups(groups) => groups.iter().map(|group| Stream::Group(group.as_str().into())).collect(),
        Audience::Everyone => vec![Stream::All],
    }
}

impl Hub {
    /// Emits `publish` and says how many sockets it reached (0: every
    /// target is offline, nothing was emitted), where it was kept and for
    /// how many users. Sockets whose send buffer is full (a client that
    /// stopped reading) miss the message and are not counted. A copy of a
    /// message already published (same `msg_id`, within the window) is not
    /// emitted again: it gets the first copy's count. Counted in the metrics
    /// under `ingress`. `turn` is passed once the message is placed, before
    /// it is emitted (and before a wait for acknowledgements).
    pub async fn publish(&self, publish: Publish, ingress: Ingress, mut turn: Turn) -> Result<Delivered, RequestError> {
        let started = Instant::now();
        let outcome = self.publish_once(publish, &mut turn).await;
        let result = match &outcome {
            Ok((_, true)) => PushResult::Duplicate,
            Ok((delivered, false)) if delivered.sockets == 0 => PushResult::Offline,
            Ok((_, false)) => PushResult::Delivered,
            Err(RequestError::Invalid(_)) => PushResult::Invalid,
            Err(RequestError::Internal(_) | RequestError::Busy(_) | RequestError::Forged(_)) => PushResult::Failed,
        };
        let sockets = outcome.as_ref().map_or(0, |(delivered, _)| delivered.sockets);
        METRICS.pushed(ingress, result, started.elapsed(), sockets);
        outcome.map(|(delivered, _)| delivered)
    }

    /// [`Hub::publish`]; also says whether the message was a copy.
    async fn publish_once(&self, publish: Publish, turn: &mut Turn) -> Result<(Delivered, bool), RequestError> {
        publish.validate().map_err(RequestError::Invalid)?;
        if let Target::Groups(groups) = &publish.to {
            check_groups(groups, self.limits.groups_per_request, "in one push (--max-groups-per-request)")
                .map_err(RequestError::Invalid)?;
        }
        if let Some(secs) = publish.keep_secs.filter(|&secs| secs > self.limits.max_keep.as_secs()) {
            return Err(RequestError::Invalid(format!(
                "a message is kept at most {} seconds (--inbox-max-keep-secs), not {secs}",
                self.limits.max_keep.as_secs()
            )));
        }
        let Some(id) = publish.msg_id else {
            return Ok((self.deliver(publish, random_id(), turn).await?, false));
        };
        match self.recent.claim(id) {
            Claim::New(ticket) => {
                let delivered = self.deliver(publish, id, turn).await?;
                ticket.finish(delivered.sockets);
                Ok((delivered, false))
            }
            Claim::Copy(sockets) => {
                tracing::debug!(sockets, "a copy of a message already delivered: not delivered again");
                Ok((Delivered { sockets, ..Delivered::default() }, true))
            }
            Claim::InFlight(mut outcome) => match outcome.wait_for(Option::is_some).await.map(|o| *o) {
                Ok(Some(sockets)) => Ok((Delivered { sockets, ..Delivered::default() }, true)),
                _ => Err(RequestError::Internal("the first copy of this message failed; send it again".into())),
            },
        }
    }

    /// Emits `publish` (as message `id`) to its sockets, keeping it as
    /// asked, and waits for acknowledgements if asked.
    async fn deliver(&self, publish: Publish, id: MsgId, turn: &mut Turn) -> Result<Delivered, RequestError> {
        let Some(ms) = publish.ack_timeout_ms else {
            let acks = publish.receipts.then_some(AckAsk { wait: None });
            return self.deliver_asking(publish, id, acks, turn).await;
        };
        let wait = Duration::from_millis(ms);
        if wait > self.limits.max_ack_wait {
            return Err(RequestError::Invalid(format!(
                "a push waits at most {} ms for acknowledgements (--max-ack-timeout-ms), not {ms}",
                self.limits.max_ack_wait.as_millis()
            )));
        }
        let waiting = self.waits.start(id).map_err(|refusal| match refusal {
            Refusal::Full(most) => {
                METRICS.wait_refused();
                RequestError::Busy(format!(
                    "{most} pushes wait for acknowledgements already (--max-waiting-pushes); try again later"
                ))
            }
            Refusal::Same => RequestError::Invalid("a push of this message waits for acknowledgements already".into()),
        })?;
        let deadline = Instant::now() + wait;
        let node = self.cluster.as_ref().map_or(String::new(), |cluster| cluster.census.node().to_owned());
        let until_ms = now_ms().saturating_add(ms);
        let mut delivered =
            self.deliver_asking(publish, id, Some(AckAsk { wait: Some((node, until_ms)) }), turn).await?;
        delivered.acked = Some(waiting.until(deadline.into(), delivered.sockets).await);
        Ok(delivered)
    }

    /// Emits `publish` (as message `id`) to its sockets, keeping it as
    /// asked, asking its tabs to acknowledge it as `acks` says.
    async fn deliver_asking(
        &self,
        publish: Publish,
        id: MsgId,
        acks: Option<AckAsk>,
        turn: &mut Turn,
    ) -> Result<Delivered, RequestError> {
        let Publish { to, except, event, content, history, keep_secs, .. } = publish;
        let except = distinct(except);
        let to = match to {
            Target::Everyone => Audience::Everyone,
            Target::Users(uids) => {
                let uids: Vec<String> = distinct(uids).into_iter().filter(|uid| !except.contains(uid)).collect();
                Audience::Users(uids)
            }
            Target::Groups(groups) => Audience::Groups(distinct(groups)),
        };
        // Nobody named: answered before anything else, whatever the cluster's state.
        if matches!(&to, Audience::Users(names) | Audience::Groups(names) if names.is_empty()) {
            return Ok(Delivered::default());
        }
        let keep_until_ms = keep_secs.map(|secs| now_ms().saturating_add(secs.saturating_mul(1000)));
        if keep_until_ms.is_some() && self.cluster.is_none() {
            self.check_keep_targets(&to, &except)?;
        }
        let time_ms = now_ms();
        let gather = to.counted_by_nodes();
        let delivery =
            Delivery { to, except, event, content, id, time_ms, history, keep_until_ms, acks, placed: vec![] };
        let published = self.apply(Order::Deliver(delivery), gather, turn).await?;
        let sockets = published.reached.unwrap_or(0);
        Ok(Delivered { sockets, positions: published.positions, kept: published.kept, acked: None })
    }

    /// Refuses a kept message to groups or everyone that would be kept for
    /// more users than one request may name (a single daemon's check; a
    /// cluster's store makes it).
    fn check_keep_targets(&self, to: &Audience, except: &[String]) -> Result<(), RequestError> {
        let mut users = match to {
            Audience::Users(_) => return Ok(()),
            Audience::Groups(groups) => {
                let mut users = self.presence.users_in(Some(groups));
                if let Memberships::Local(local) = &*self.memberships {
                    users.extend(local.members_of(groups));
                }
                users
            }
            Audience::Everyone => self.presence.users_in(None),
        };
        users.sort_unstable();
        users.dedup();
        users.retain(|user| !except.contains(user));
        if users.len() > MAX_TARGET_UIDS {
            return Err(RequestError::Invalid(format!(
                "a kept message reaches at most {MAX_TARGET_UIDS} users; this one would reach {}",
                users.len()
            )));
        }
        Ok(())
    }

    /// Disconnects every socket logged in as any of the uids; returns how
    /// many. A socket whose send buffer is full cannot be told and stays
    /// connected: it is not counted.
    pub async fn disconnect(&self, disconnect: Disconnect, turn: &mut Turn) -> Result<u64, RequestError> {
        check_uids(&disconnect.uids).map_err(RequestError::Invalid)?;
        let uids = distinct(disconnect.uids);
        if uids.is_empty() {
            return Ok(0);
        }
        let counted = match self.reachable_census() {
            Some(census) => census.sockets_of_all(&uids).await.ok().map(|n| n as u64),
            None => None,
        };
        if counted == Some(0) {
            return Ok(0);
        }
        let local = self.presence.sockets_of_all(&uids) as u64;
        let reached = self.apply(Order::Disconnect { uids }, false, turn).await?.reached;
        Ok(reached.or(counted).unwrap_or(local))
    }
}

/// A new random message id, for a message sent without one (the HTTP API).
fn random_id() -> MsgId {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the system's random source");
    MsgId(u128::from_le_bytes(bytes))
}
