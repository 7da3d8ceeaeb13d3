//! Memberships of groups, from PHP: `Group::join` makes users members (their
//! tabs open now, on any node, and those they open later), `Group::leave`
//! ends it (a tab stays in the groups its login token names).

use msgpush_protocol::limits::{check_groups, check_uids};
use msgpush_protocol::Membership;

use crate::cluster::bus::Order;
use crate::cluster::memberships::MembershipError;
use crate::hub::{distinct, Hub, RequestError};
use crate::state::turn::Turn;

impl Hub {
    /// Makes each user of `membership` a member of each of its groups;
    /// returns how many of their tabs are open now (all of them are in the
    /// groups now).
    pub async fn group_join(&self, membership: Membership, turn: &mut Turn) -> Result<u64, RequestError> {
        let (uids, groups) = self.checked(membership)?;
        if uids.is_empty() || groups.is_empty() {
            return Ok(0);
        }
        let version = self.memberships.join(&uids, &groups).await.map_err(refusal)?;
        let tabs = self.directory.sockets_of_all(&uids).await as u64;
        Ok(self.apply(Order::Join { uids, groups, version }, false, turn).await?.reached.unwrap_or(tabs))
    }

    /// Ends each user's membership of each group; returns how many of their
    /// tabs left a group.
    pub async fn group_leave(&self, membership: Membership, turn: &mut Turn) -> Result<u64, RequestError> {
        let (uids, groups) = self.checked(membership)?;
        if uids.is_empty() || groups.is_empty() {
            return Ok(0);
        }
        let version = self.memberships.leave(&uids, &groups).await.map_err(refusal)?;
        Ok(self.apply(Order::Leave { uids, groups, version }, true, turn).await?.reached.unwrap_or(0))
    }

    /// The users and groups of `membership`, checked, each once.
    fn checked(&self, membership: Membership) -> Result<(Vec<String>, Vec<String>), RequestError> {
        check_uids(&membership.uids).map_err(RequestError::Invalid)?;
        check_groups(&membership.groups, self.limits.groups_per_request, "in one request (--max-groups-per-request)")
            .map_err(RequestError::Invalid)?;
        Ok((distinct(membership.uids), distinct(membership.groups)))
    }
}

fn refusal(e: MembershipError) -> RequestError {
    match e {
        MembershipError::Bound(why) => RequestError::Invalid(why),
        MembershipError::Redis(e) => RequestError::Internal(format!("cannot store the memberships: {e}")),
    }
}
