//! Who is online, as PHP asks it (exact across a cluster, from the census),
//! and arrivals and departures in groups, announced to the group's tabs:
//! a user is in a group while one of their tabs is; a departure waits for
//! the grace (`--offline-grace-secs`), so that a reload is neither. Each
//! announcement goes to every tab in the group, so that a group's arrivals
//! cost the square of its size: groups of more users than
//! `--max-announced-group-users` are not announced (their pages ask).

use std::collections::HashMap;

use std::sync::Arc;
use std::time::{Duration, Instant};

use msgpush_protocol::limits::{check_group, check_uid, check_uids, MAX_USERS_PAGE};
use msgpush_protocol::{PresenceAnswer, PresenceQuery};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::cluster::bus::{Envelope, Order};
use crate::cluster::census::Changes;
use crate::hub::{Hub, RequestError};
use crate::settings::flags::EventKind;
use crate::state::presence::{Key, Scope};

/// How often a single daemon looks for departures whose grace ended.
const DEPARTURES_INTERVAL: Duration = Duration::from_secs(1);

impl Hub {
    /// The answer to `query`.
    pub async fn presence(&self, query: PresenceQuery) -> Result<PresenceAnswer, RequestError> {
        let invalid = RequestError::Invalid;
        let answer = match query {
            PresenceQuery::Tabs { uid } => {
                check_uid(&uid).map_err(invalid)?;
                PresenceAnswer::Tabs { tabs: self.directory.tabs(&uid).await as u64 }
            }
            PresenceQuery::Online { uids } => {
                check_uids(&uids).map_err(invalid)?;
                PresenceAnswer::Online { uids: self.directory.online(&uids).await }
            }
            PresenceQuery::Count => {
                let counts = self.directory.counts().await;
                PresenceAnswer::Count { users: counts.uids as u64, tabs: counts.sockets as u64 }
            }
            PresenceQuery::GroupCount { group } => {
                check_group(&group).map_err(invalid)?;
                let counts = self.directory.group_counts(&group).await;
                PresenceAnswer::Count { users: counts.uids as u64, tabs: counts.sockets as u64 }
            }
            PresenceQuery::Users { cursor, limit } => {
                let (uids, cursor) = self.directory.page(None, cursor.as_deref(), page_limit(limit)?).await;
                PresenceAnswer::Users { uids, cursor }
            }
            PresenceQuery::Members { group, cursor, limit } => {
                check_group(&group).map_err(invalid)?;
                let page = self.directory.page(Some(&group), cursor.as_deref(), page_limit(limit)?).await;
                PresenceAnswer::Users { uids: page.0, cursor: page.1 }
            }
        };
        Ok(answer)
    }

    /// Tells the application of every change in `changes` (its webhook),
    /// and the tabs in each group who arrived in it and who left it, in
    /// groups small enough. (Arrivals and departures on the site are not
    /// announced to tabs.)
    pub async fn announce(&self, changes: Changes) {
        self.tell_application(&changes);
        let mut orders: Vec<Order> =
            announcements(&changes.arrived, true).chain(announcements(&changes.left, false)).collect();
        let mut users: HashMap<String, usize> = HashMap::new();
        for order in &orders {
            if let Order::Announce { group, .. } = order {
                if !users.contains_key(group) {
                    users.insert(group.clone(), self.directory.group_counts(group).await.uids);
                }
            }
        }
        orders.retain(|order| match order {
            Order::Announce { group, .. } => users[group] <= self.limits.announced_group_users,
            _ => true,
        });
        for order in orders {
            match &self.cluster {
                None => self.fanout.offer(order, None),
                Some(cluster) => {
                    if let Err(e) = cluster.bus.publish(&Envelope { order, gather: None }).await {
                        tracing::debug!(cause = %e, "an arrival or departure could not be announced");
                    }
                }
            }
        }
    }

    /// On a single daemon, keeps the book of who is present from this
    /// node's presence, announcing arrivals at once and departures once
    /// their grace ended, until shutdown. (A cluster's census does this.)
    pub async fn keep_book(self: Arc<Self>, shutdown: CancellationToken) {
        let mut departures = tokio::time::interval(DEPARTURES_INTERVAL);
        departures.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let changes = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.presence.changed() => {
                    Changes { arrived: self.book.apply(self.presence.take_changes(), Instant::now()), left: vec![] }
                }
                _ = departures.tick() => Changes { arrived: vec![], left: self.book.due(Instant::now()) },
            };
            self.announce(changes).await;
        }
    }

    /// Departures waiting for their grace on a single daemon, for the metrics.
    pub fn departures_waiting(&self) -> usize {
        self.book.waiting()
    }
}

impl Hub {
    /// Offers `changes` to the application's webhook: users online and
    /// offline, groups joined and left. (Each change reaches one node of a
    /// cluster, so each event is sent once.)
    fn tell_application(&self, changes: &Changes) {
        let events = changes.arrived.iter().map(|key| (key, true)).chain(changes.left.iter().map(|key| (key, false)));
        for (key, arrived) in events {
            match (&key.scope, arrived) {
                (Scope::Site, true) => self.webhooks.offer(EventKind::UserOnline, json!({ "uid": &*key.uid })),
                (Scope::Site, false) => self.webhooks.offer(EventKind::UserOffline, json!({ "uid": &*key.uid })),
                (Scope::Group(group), true) => {
                    self.webhooks.offer(EventKind::GroupJoined, json!({ "uid": &*key.uid, "group": &**group }))
                }
                (Scope::Group(group), false) => {
                    self.webhooks.offer(EventKind::GroupLeft, json!({ "uid": &*key.uid, "group": &**group }))
                }
            }
        }
    }
}

/// The announcements of arrivals (`arrived`) or departures in groups.
fn announcements(keys: &[Key], arrived: bool) -> impl Iterator<Item = Order> + '_ {
    keys.iter().filter_map(move |key| match &key.scope {
        Scope::Group(group) => Some(Order::Announce { group: group.to_string(), uid: key.uid.to_string(), arrived }),
        Scope::Site => None,
    })
}

/// A page's size, as asked: 1 to [`MAX_USERS_PAGE`].
fn page_limit(limit: u64) -> Result<usize, RequestError> {
    if limit == 0 || limit > MAX_USERS_PAGE {
        return Err(RequestError::Invalid(format!("a page holds 1 to {MAX_USERS_PAGE} uids, not {limit}")));
    }
    Ok(limit as usize)
}
