//! Who is a member of which group, as PHP said (`Group::join`), on a
//! single daemon. A member's every tab is in the group, those open now and
//! those opened later, until `Group::leave`. Each user's memberships carry
//! a version, raised by every join and leave, so that a login that read
//! them can tell whether a change came after. Bounded: a user is a member
//! of at most so many groups, the daemon remembers at most so many
//! memberships, and those of a user not seen (no join, no login) for the
//! retention period are forgotten. The daemon's store keeps a copy, read
//! back at start; a user's time last seen is written again at most hourly.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The bounds of the memberships.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Groups one user may be a member of.
    pub per_user: usize,
    /// Memberships in all.
    pub total: usize,
    /// How long the memberships of a user not seen are kept.
    pub retention: Duration,
}

/// The memberships, in memory.
#[derive(Debug)]
pub struct LocalMemberships {
    limits: Limits,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    users: HashMap<Arc<str>, Member>,
    /// The same memberships by group.
    groups: HashMap<Arc<str>, BTreeSet<Arc<str>>>,
    total: usize,
    /// Raised by every change, so versions only grow, even for a user
    /// forgotten and joined again.
    version: u64,
}

#[derive(Debug)]
struct Member {
    groups: BTreeSet<Arc<str>>,
    version: u64,
    seen: Instant,
    /// When `seen` was last written to the store.
    saved: Instant,
}

/// How stale the store's copy of a user's time last seen may grow.
const SAVE_SEEN_EVERY: Duration = Duration::from_secs(3600);

/// A user's memberships, to write to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The user.
    pub uid: String,
    /// Their groups (none: forget the user).
    pub groups: Vec<Arc<str>>,
    /// How long ago they were last seen.
    pub age: Duration,
}

impl Saved {
    /// A user to forget.
    pub fn forgotten(uid: &str) -> Saved {
        Saved { uid: uid.to_owned(), groups: vec![], age: Duration::ZERO }
    }
}

/// A user's memberships as read, with their version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// The groups.
    pub groups: Vec<Arc<str>>,
    /// Their version.
    pub version: u64,
}

impl LocalMemberships {
    /// No memberships yet, within `limits`.
    pub fn new(limits: Limits) -> LocalMemberships {
        LocalMemberships { limits, inner: Mutex::default() }
    }

    /// Makes each of `uids` a member of each of `groups`; returns each
    /// user's new version, or, changing nothing, the bound it would break.
    pub fn join(&self, uids: &[String], groups: &[String]) -> Result<Vec<(String, u64)>, String> {
        let mut inner = self.lock();
        let mut added = 0;
        for uid in uids {
            let had = inner.users.get(uid.as_str()).map(|m| m.groups.clone()).unwrap_or_default();
            let new = groups.iter().filter(|g| !had.contains(g.as_str())).count();
            if had.len() + new > self.limits.per_user {
                return Err(format!(
                    "user {uid} would be a member of {} groups, more than --max-groups-per-user ({})",
                    had.len() + new,
                    self.limits.per_user
                ));
            }
            added += new;
        }
        if inner.total + added > self.limits.total {
            return Err(format!(
                "the daemon would hold {} memberships, more than --max-memberships ({})",
                inner.total + added,
                self.limits.total
            ));
        }
        let now = Instant::now();
        let mut versions = Vec::with_capacity(uids.len());
        for uid in uids {
            inner.version += 1;
            let version = inner.version;
            let member = inner.users.entry(uid.as_str().into()).or_insert_with(|| Member {
                groups: BTreeSet::new(),
                version,
                seen: now,
                saved: now,
            });
            member.groups.extend(groups.iter().map(|g| Arc::from(g.as_str())));
            member.version = version;
            member.seen = now;
            versions.push((uid.clone(), version));
            let uid: Arc<str> = uid.as_str().into();
            for group in groups {
                inner.groups.entry(group.as_str().into()).or_default().insert(uid.clone());
            }
        }
        inner.total += added;
        Ok(versions)
    }

    /// Ends each of `uids`' membership of each of `groups`; returns each
    /// user's new version.
    pub fn leave(&self, uids: &[String], groups: &[String]) -> Vec<(String, u64)> {
        let mut inner = self.lock();
        let mut versions = Vec::with_capacity(uids.len());
        let mut removed = 0;
        for uid in uids {
            inner.version += 1;
            let version = inner.version;
            if let Some(member) = inner.users.get_mut(uid.as_str()) {
                let before = member.groups.len();
                member.groups.retain(|g| !groups.iter().any(|left| **left == **g));
                removed += before - member.groups.len();
                member.version = version;
                if member.groups.is_empty() {
                    inner.users.remove(uid.as_str());
                }
            }
            for group in groups {
                inner.drop_member(group, uid);
            }
            versions.push((uid.clone(), version));
        }
        inner.total -= removed;
        versions
    }

    /// `uid`'s groups and their version (0 for a user who never joined one);
    /// a user read is seen (their retention starts again).
    pub fn read(&self, uid: &str) -> Read {
        let mut inner = self.lock();
        let version = inner.version;
        match inner.users.get_mut(uid) {
            Some(member) => {
                member.seen = Instant::now();
                Read { groups: member.groups.iter().cloned().collect(), version: member.version }
            }
            // No membership: any later change has a higher version than this.
            None => Read { groups: vec![], version },
        }
    }

    /// Forgets the memberships of users not seen within the retention;
    /// returns who was forgotten.
    pub fn sweep(&self, now: Instant) -> Vec<String> {
        let retention = self.limits.retention;
        let mut inner = self.lock();
        let mut removed = 0;
        let mut forgotten = Vec::new();
        inner.users.retain(|uid, member| {
            let keep = now.saturating_duration_since(member.seen) < retention;
            if !keep {
                removed += member.groups.len();
                forgotten.push((uid.clone(), std::mem::take(&mut member.groups)));
            }
            keep
        });
        for (uid, groups) in &forgotten {
            for group in groups {
                inner.drop_member(group, uid);
            }
        }
        inner.total -= removed;
        forgotten.into_iter().map(|(uid, _)| uid.to_string()).collect()
    }

    /// What the store keeps of `uid` now (after a join or a leave).
    pub fn saved(&self, uid: &str) -> Saved {
        let mut inner = self.lock();
        let now = Instant::now();
        match inner.users.get_mut(uid) {
            Some(member) => {
                member.saved = member.seen;
                let age = now.saturating_duration_since(member.seen);
                Saved { uid: uid.to_owned(), groups: member.groups.iter().cloned().collect(), age }
            }
            None => Saved::forgotten(uid),
        }
    }

    /// What the store should keep of `uid` when it was seen (read) since
    /// its copy was last written, longer than [`SAVE_SEEN_EVERY`] ago.
    pub fn seen_to_save(&self, uid: &str) -> Option<Saved> {
        {
            let inner = self.lock();
            let member = inner.users.get(uid)?;
            if member.seen.saturating_duration_since(member.saved) < SAVE_SEEN_EVERY {
                return None;
            }
        }
        Some(self.saved(uid))
    }

    /// Takes back what the store kept: `saved`, each seen `age` ago; those
    /// past the retention are left out (returned, to forget).
    pub fn restore(&self, saved: Vec<Saved>) -> Vec<String> {
        let mut inner = self.lock();
        let now = Instant::now();
        let mut expired = Vec::new();
        for Saved { uid, groups, age } in saved {
            if age >= self.limits.retention || groups.is_empty() {
                expired.push(uid);
                continue;
            }
            let seen = now.checked_sub(age).unwrap_or(now);
            let uid: Arc<str> = uid.into();
            for group in &groups {
                inner.groups.entry(group.clone()).or_default().insert(uid.clone());
            }
            inner.total += groups.len();
            let member = Member { groups: groups.into_iter().collect(), version: 0, seen, saved: seen };
            inner.users.insert(uid, member);
        }
        expired
    }

    /// The members of any of `groups`, each once.
    pub fn members_of(&self, groups: &[String]) -> Vec<String> {
        let inner = self.lock();
        let mut members = BTreeSet::new();
        for group in groups {
            members.extend(inner.groups.get(group.as_str()).into_iter().flatten().map(|uid| uid.to_string()));
        }
        members.into_iter().collect()
    }

    /// Memberships held, for the metrics.
    pub fn total(&self) -> usize {
        self.lock().total
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn drop_member(&mut self, group: &str, uid: &str) {
        if let Some(members) = self.groups.get_mut(group) {
            members.remove(uid);
            if members.is_empty() {
                self.groups.remove(group);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { per_user: 3, total: 5, retention: Duration::from_secs(60) };

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn members_are_read_with_a_version_every_change_raises() {
        let m = LocalMemberships::new(LIMITS);
        let before = m.read("alice");
        assert!(before.groups.is_empty());
        let joined = m.join(&names(&["alice", "bob"]), &names(&["team", "ops"])).unwrap();
        assert!(joined.iter().all(|(_, v)| *v > before.version));
        let read = m.read("alice");
        assert_eq!(read.groups, [Arc::from("ops"), Arc::from("team")]);
        let left = m.leave(&names(&["alice"]), &names(&["team"]));
        assert!(left[0].1 > read.version);
        assert_eq!(m.read("alice").groups, [Arc::from("ops")]);
        assert_eq!(m.total(), 3);
    }

    #[test]
    fn the_bounds_refuse_a_join_whole_and_name_the_setting() {
        let m = LocalMemberships::new(LIMITS);
        m.join(&names(&["a"]), &names(&["1", "2"])).unwrap();
        let err = m.join(&names(&["a"]), &names(&["2", "3", "4"])).unwrap_err();
        assert!(err.contains("--max-groups-per-user (3)"), "{err}");
        assert_eq!(m.read("a").groups.len(), 2, "nothing of it was applied");
        m.join(&names(&["b"]), &names(&["1", "2", "3"])).unwrap();
        let err = m.join(&names(&["c"]), &names(&["1"])).unwrap_err();
        assert!(err.contains("--max-memberships (5)"), "{err}");
    }

    #[test]
    fn users_not_seen_for_the_retention_are_forgotten() {
        let m = LocalMemberships::new(LIMITS);
        m.join(&names(&["old", "new"]), &names(&["g"])).unwrap();
        let later = Instant::now() + Duration::from_secs(61);
        let mut forgotten = m.sweep(later);
        forgotten.sort();
        assert_eq!(forgotten, ["new", "old"]);
        assert!(m.read("old").groups.is_empty());
        assert_eq!(m.total(), 0);
    }

    #[test]
    fn what_the_store_kept_comes_back_but_what_expired() {
        let m = LocalMemberships::new(LIMITS);
        m.join(&names(&["kept"]), &names(&["team", "ops"])).unwrap();
        let saved = m.saved("kept");
        assert_eq!(saved.groups, [Arc::from("ops"), Arc::from("team")]);
        assert_eq!(m.seen_to_save("kept"), None, "written just now");
        let old = Saved { uid: "old".into(), groups: vec![Arc::from("team")], age: Duration::from_secs(61) };
        let restored = LocalMemberships::new(LIMITS);
        assert_eq!(restored.restore(vec![saved, old]), ["old"]);
        assert_eq!(restored.read("kept").groups, [Arc::from("ops"), Arc::from("team")]);
        assert_eq!(restored.members_of(&names(&["team"])), ["kept"]);
        assert_eq!(restored.total(), 2);
    }
}
