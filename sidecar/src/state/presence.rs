//! The online map: which uid each logged-in socket belongs to, and how many
//! sockets each uid has open. One mutex guards both maps so they never
//! disagree; every operation on it is a couple of hash lookups. In a
//! cluster it also notes which uids changed, for the census to copy to Redis.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use socketioxide::socket::Sid;
use tokio::sync::Notify;

/// The figures shown by `update_online_count`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnlineCounts {
    /// Distinct logged-in uids.
    pub uids: usize,
    /// Logged-in sockets (browser tabs).
    pub sockets: usize,
}

/// Who is logged in.
#[derive(Debug, Default)]
pub struct Presence {
    maps: Mutex<Maps>,
    changes: Notify,
}

#[derive(Debug, Default)]
struct Maps {
    uid_of_socket: HashMap<Sid, Arc<str>>,
    sockets_of_uid: HashMap<Arc<str>, usize>,
    /// Uids whose socket count changed since [`Presence::take_changes`], when tracked.
    changed: Option<HashSet<Arc<str>>>,
}

/// A uid and how many sockets it has open on this node.
pub type UidSockets = (Arc<str>, usize);

impl Presence {
    /// A presence that notes which uids change, for [`Presence::take_changes`].
    pub fn tracking_changes() -> Presence {
        let presence = Presence::default();
        presence.lock().changed = Some(HashSet::new());
        presence
    }

    /// Waits until a uid changed since the last [`Presence::take_changes`].
    pub async fn changed(&self) {
        self.changes.notified().await;
    }

    /// The uids that changed since the last call, with their counts now (0:
    /// no socket left).
    pub fn take_changes(&self) -> Vec<UidSockets> {
        let mut maps = self.lock();
        let changed = maps.changed.as_mut().map(std::mem::take).unwrap_or_default();
        changed.into_iter().map(|uid| (uid.clone(), maps.sockets_of_uid.get(&uid).copied().unwrap_or(0))).collect()
    }

    /// Every logged-in uid with its count; clears the changes noted so far,
    /// which it includes.
    pub fn snapshot(&self) -> Vec<UidSockets> {
        let mut maps = self.lock();
        if let Some(changed) = maps.changed.as_mut() {
            changed.clear();
        }
        maps.sockets_of_uid.iter().map(|(uid, &n)| (uid.clone(), n)).collect()
    }

    fn note_change(&self, mut maps: MutexGuard<'_, Maps>, uid: &Arc<str>) {
        if let Some(changed) = maps.changed.as_mut() {
            changed.insert(uid.clone());
            drop(maps);
            self.changes.notify_one();
        }
    }

    /// Logs socket `sid` in as `uid`. Returns false, changing nothing, if the
    /// socket is logged in already: the first login on a socket wins.
    pub fn login(&self, sid: Sid, uid: &str) -> bool {
        let mut maps = self.lock();
        if maps.uid_of_socket.contains_key(&sid) {
            return false;
        }
        let uid: Arc<str> = match maps.sockets_of_uid.get_key_value(uid) {
            Some((known, _)) => known.clone(),
            None => uid.into(),
        };
        *maps.sockets_of_uid.entry(uid.clone()).or_default() += 1;
        maps.uid_of_socket.insert(sid, uid.clone());
        self.note_change(maps, &uid);
        true
    }

    /// Logs socket `sid` out, if it was logged in; returns the uid it had.
    pub fn logout(&self, sid: Sid) -> Option<Arc<str>> {
        let mut maps = self.lock();
        let uid = maps.uid_of_socket.remove(&sid)?;
        if let Some(count) = maps.sockets_of_uid.get_mut(&uid) {
            *count -= 1;
            if *count == 0 {
                maps.sockets_of_uid.remove(&uid);
            }
        }
        self.note_change(maps, &uid);
        Some(uid)
    }

    /// Sockets logged in as any of `uids`, which must be distinct.
    pub fn sockets_of_all(&self, uids: &[String]) -> usize {
        let maps = self.lock();
        uids.iter().filter_map(|uid| maps.sockets_of_uid.get(uid.as_str())).sum()
    }

    /// The current figures.
    pub fn counts(&self) -> OnlineCounts {
        let maps = self.lock();
        OnlineCounts { uids: maps.sockets_of_uid.len(), sockets: maps.uid_of_socket.len() }
    }

    fn lock(&self) -> MutexGuard<'_, Maps> {
        // The maps are updated with no call that can panic between reads and
        // writes, so a poisoned lock still guards consistent data.
        self.maps.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Presence {
        fn sockets_of(&self, uid: &str) -> usize {
            self.sockets_of_all(&[uid.to_owned()])
        }
    }

    #[test]
    fn tabs_of_one_user_are_counted_and_released() {
        let p = Presence::default();
        let (a, b, c) = (Sid::new(), Sid::new(), Sid::new());
        assert!(p.login(a, "123"));
        assert!(p.login(b, "123"));
        assert!(p.login(c, "7"));
        assert_eq!(p.sockets_of("123"), 2);
        assert_eq!(p.counts(), OnlineCounts { uids: 2, sockets: 3 });
        p.logout(a);
        p.logout(b);
        assert_eq!(p.sockets_of("123"), 0);
        assert_eq!(p.counts(), OnlineCounts { uids: 1, sockets: 1 });
    }

    #[test]
    fn first_login_on_a_socket_wins() {
        let p = Presence::default();
        let s = Sid::new();
        assert!(p.login(s, "1"));
        assert!(!p.login(s, "2"));
        assert_eq!(p.sockets_of("1"), 1);
        assert_eq!(p.sockets_of("2"), 0);
    }

    #[test]
    fn sockets_of_several_uids_add_up() {
        let p = Presence::default();
        p.login(Sid::new(), "1");
        p.login(Sid::new(), "1");
        p.login(Sid::new(), "2");
        let uids = ["1", "2", "nobody"].map(String::from);
        assert_eq!(p.sockets_of_all(&uids), 3);
    }

    #[test]
    fn logout_of_an_anonymous_socket_changes_nothing() {
        let p = Presence::default();
        p.login(Sid::new(), "1");
        p.logout(Sid::new());
        assert_eq!(p.counts(), OnlineCounts { uids: 1, sockets: 1 });
    }

    #[test]
    fn changes_are_the_uids_touched_with_their_counts_now() {
        let p = Presence::tracking_changes();
        let (a, b) = (Sid::new(), Sid::new());
        p.login(a, "1");
        p.login(b, "1");
        p.logout(a);
        p.login(Sid::new(), "2");
        let mut changes = p.take_changes();
        changes.sort();
        assert_eq!(changes, [("1".into(), 1), ("2".into(), 1)]);
        assert!(p.take_changes().is_empty());
        p.logout(b);
        let mut snapshot = p.snapshot();
        snapshot.sort();
        assert_eq!(snapshot, [("2".into(), 1)], "a snapshot holds the uids online");
        assert!(p.take_changes().is_empty(), "and clears the changes it includes");
        assert!(Presence::default().take_changes().is_empty(), "untracked");
    }
}
