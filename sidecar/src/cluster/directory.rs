//! Who is online, as PHP and pages ask it: from this node's presence on a
//! single daemon, from the census in a cluster (and from this node's
//! presence while Redis is unreachable: then only its own users count).

use std::sync::Arc;

use crate::cluster::census::Census;
use crate::state::presence::{OnlineCounts, Presence};

/// Where the answers come from.
#[derive(Debug, Clone)]
pub struct Directory {
    presence: Arc<Presence>,
    census: Option<Arc<Census>>,
}

impl Directory {
    /// Answers from `presence`, or from `census` in a cluster.
    pub fn new(presence: Arc<Presence>, census: Option<Arc<Census>>) -> Directory {
        Directory { presence, census }
    }

    /// The census, when it can be asked now.
    fn census(&self) -> Option<&Census> {
        self.census.as_deref().filter(|census| census.reachable())
    }

    /// `ask` of the census, or, alone or when it fails, `local` of this node.
    async fn ask<'a, T, F>(&'a self, ask: impl FnOnce(&'a Census) -> F, local: impl FnOnce(&Presence) -> T) -> T
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if let Some(census) = self.census() {
            if let Ok(value) = ask(census).await {
                return value;
            }
        }
        local(&self.presence)
    }

    /// The tabs `uid` has open.
    pub async fn tabs(&self, uid: &str) -> usize {
        self.ask(|census| census.tabs(uid), |presence| presence.sockets_of_all(&[uid.to_owned()])).await
    }

    /// Sockets logged in as any of `uids` (distinct).
    pub async fn sockets_of_all(&self, uids: &[String]) -> usize {
        self.ask(|census| census.sockets_of_all(uids), |presence| presence.sockets_of_all(uids)).await
    }

    /// Which of `uids` are online, in the order given (once each).
    pub async fn online(&self, uids: &[String]) -> Vec<String> {
        self.ask(|census| census.online(uids), |presence| presence.online(uids)).await
    }

    /// Users and tabs online.
    pub async fn counts(&self) -> OnlineCounts {
        self.ask(|census| census.counts(), |presence| presence.counts()).await
    }

    /// Users and tabs in `group`.
    pub async fn group_counts(&self, group: &str) -> OnlineCounts {
        self.ask(|census| census.group_counts(group), |presence| presence.group_counts(group)).await
    }

    /// A page of the uids online (in `group`, if given) after `cursor`.
    pub async fn page(&self, group: Option<&str>, cursor: Option<&str>, limit: usize) -> (Vec<String>, Option<String>) {
        self.ask(
            |census| census.page(group, cursor, limit),
            |presence| match group {
                Some(group) => presence.members_page(group, cursor, limit),
                None => presence.users_page(cursor, limit),
            },
        )
        .await
    }
}
