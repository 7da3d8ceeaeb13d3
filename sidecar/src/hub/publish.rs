//! Pushes: to users, to groups, or to everyone, leaving out the tabs of
//! some users; each message once per id within the dedup window.

use std::time::Instant;

use msgpush_protocol::limits::check_groups;
use msgpush_protocol::{Disconnect, Publish, Target};

use crate::cluster::bus::{Audience, Delivery, Order};
use crate::hub::{distinct, Hub, RequestError};
use crate::state::recent::Claim;
use crate::telemetry::metrics::{Ingress, PushResult, METRICS};

impl Hub {
    /// Emits `publish` and returns how many sockets it reached (0: every
    /// target is offline, nothing was emitted). Sockets whose send buffer is
    /// full (a client that stopped reading) miss the message and are not
    /// counted. A copy of a message already published (same `msg_id`,
    /// within the window) is not emitted again: it gets the first copy's
    /// answer. Counted in the metrics under `ingress`.
    pub async fn publish(&self, publish: Publish, ingress: Ingress) -> Result<u64, RequestError> {
        let started = Instant::now();
        let outcome = self.publish_once(publish).await;
        let result = match &outcome {
            Ok((_, true)) => PushResult::Duplicate,
            Ok((0, false)) => PushResult::Offline,
            Ok((_, false)) => PushResult::Delivered,
            Err(RequestError::Invalid(_)) => PushResult::Invalid,
            Err(RequestError::Internal(_)) => PushResult::Failed,
        };
        let sockets = outcome.as_ref().map_or(0, |&(sockets, _)| sockets);
        METRICS.pushed(ingress, result, started.elapsed(), sockets);
        outcome.map(|(sockets, _)| sockets)
    }

    /// [`Hub::publish`]; also says whether the message was a copy.
    async fn publish_once(&self, publish: Publish) -> Result<(u64, bool), RequestError> {
        publish.validate().map_err(RequestError::Invalid)?;
        if let Target::Groups(groups) = &publish.to {
            check_groups(groups, self.limits.groups_per_request, "in one push (--max-groups-per-request)")
                .map_err(RequestError::Invalid)?;
        }
        let Some(id) = publish.msg_id else {
            return Ok((self.deliver(publish).await?, false));
        };
        match self.recent.claim(id) {
            Claim::New(ticket) => {
                let sockets = self.deliver(publish).await?;
                ticket.finish(sockets);
                Ok((sockets, false))
            }
            Claim::Copy(sockets) => {
                tracing::debug!(sockets, "a copy of a message already delivered: not delivered again");
                Ok((sockets, true))
            }
            Claim::InFlight(mut outcome) => match outcome.wait_for(Option::is_some).await.map(|o| *o) {
                Ok(Some(sockets)) => Ok((sockets, true)),
                _ => Err(RequestError::Internal("the first copy of this message failed; send it again".into())),
            },
        }
    }

    /// Emits `publish` to its sockets; returns how many it reached.
    async fn deliver(&self, publish: Publish) -> Result<u64, RequestError> {
        let Publish { to, except, event, content, .. } = publish;
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
            return Ok(0);
        }
        let counted = self.count(&to, &except).await;
        if counted == Some(0) {
            return Ok(0);
        }
        let order = Order::Deliver(Delivery { to, except, event, content });
        let reached = self.apply(order, counted.is_none()).await;
        Ok(reached.or(counted).unwrap_or(0))
    }

    /// The sockets `to` reaches across the cluster, but the tabs of the
    /// users `except`, when the census can tell: a single daemon's fanout
    /// counts as it emits (None), and so does each node for a push to
    /// several groups (a tab in two of them counts once, which only its
    /// node knows).
    async fn count(&self, to: &Audience, except: &[String]) -> Option<u64> {
        let census = self.reachable_census()?;
        let counted = match to {
            Audience::Users(uids) => census.sockets_of_all(uids).await,
            Audience::Groups(groups) if groups.len() == 1 => census.sockets_in_group(&groups[0], except).await,
            Audience::Groups(_) => return None,
            Audience::Everyone => match (census.connected().await, census.sockets_of_all(except).await) {
                (Ok(all), Ok(excepted)) => Ok(all.saturating_sub(excepted)),
                (Err(e), _) | (_, Err(e)) => Err(e),
            },
        };
        // Slow to count: published still, counting this node's (a lower bound).
        Some(counted.unwrap_or_else(|_| self.local_count(to, except)) as u64)
    }

    /// The sockets of this node `to` reaches, but the tabs of `except`.
    fn local_count(&self, to: &Audience, except: &[String]) -> usize {
        match to {
            Audience::Users(uids) => self.presence.sockets_of_all(uids),
            Audience::Groups(groups) => self.presence.sockets_in_groups(groups, except),
            Audience::Everyone => self.browsers.sockets().saturating_sub(self.presence.sockets_of_all(except)),
        }
    }

    /// Disconnects every socket logged in as any of the uids; returns how
    /// many. A socket whose send buffer is full cannot be told and stays
    /// connected: it is not counted.
    pub async fn disconnect(&self, disconnect: Disconnect) -> Result<u64, RequestError> {
        msgpush_protocol::limits::check_uids(&disconnect.uids).map_err(RequestError::Invalid)?;
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
        let reached = self.apply(Order::Disconnect { uids }, false).await;
        Ok(reached.or(counted).unwrap_or(local))
    }
}
