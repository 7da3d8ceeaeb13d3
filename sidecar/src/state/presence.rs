//! Who is logged in on this node: which uid each socket belongs to and
//! which groups it is in, each user's tabs, and each group's members with
//! their tabs there. One mutex guards every map so they never disagree;
//! every operation is a few lookups. The maps note which counts changed,
//! for the book of who is present (the census, in a cluster) to take.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use socketioxide::socket::Sid;
use tokio::sync::Notify;

/// The figures shown by `update_online_count`, or of one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnlineCounts {
    /// Distinct logged-in uids.
    pub uids: usize,
    /// Logged-in sockets (browser tabs).
    pub sockets: usize,
}

/// Where a user is present: on the site (any tab), or in a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Anywhere: the user has a tab open.
    Site,
    /// In this group: the user has a tab in it.
    Group(Arc<str>),
}

/// A count the census copies: a user's tabs in a scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// The site, or a group.
    pub scope: Scope,
    /// The user.
    pub uid: Arc<str>,
}

/// Who is logged in.
#[derive(Debug, Default)]
pub struct Presence {
    maps: Mutex<Maps>,
    changes: Notify,
}

#[derive(Debug, Default)]
struct Maps {
    sockets: HashMap<Sid, Tab>,
    /// Each user's logged-in sockets, in uid order (for paging).
    users: BTreeMap<Arc<str>, User>,
    groups: HashMap<Arc<str>, Group>,
    /// Counts changed since [`Presence::take_changes`].
    changed: HashSet<Key>,
}

/// One logged-in user.
#[derive(Debug, Default)]
struct User {
    sids: Vec<Sid>,
    /// The version of the user's memberships last applied to their tabs.
    version: u64,
}

/// One logged-in socket.
#[derive(Debug)]
struct Tab {
    uid: Arc<str>,
    groups: BTreeSet<Arc<str>>,
    /// The groups its login token names: it stays in them for its life.
    fixed: BTreeSet<Arc<str>>,
}

/// One group's members on this node.
#[derive(Debug, Default)]
struct Group {
    /// Each member's tabs in the group, in uid order.
    members: BTreeMap<Arc<str>, usize>,
    tabs: usize,
}

/// A count and what it counts, as the census writes it.
pub type Count = (Key, usize);

impl Presence {
    /// Waits until a count changed since the last [`Presence::take_changes`].
    pub async fn changed(&self) {
        self.changes.notified().await;
    }

    /// The counts that changed since the last call, with their values now
    /// (0: nothing left).
    pub fn take_changes(&self) -> Vec<Count> {
        let mut maps = self.lock();
        let changed = std::mem::take(&mut maps.changed);
        changed.into_iter().map(|key| (key.clone(), maps.count_of(&key))).collect()
    }

    /// Every count above zero; clears the changes noted so far, which it includes.
    pub fn snapshot(&self) -> Vec<Count> {
        let mut maps = self.lock();
        maps.changed.clear();
        let users =
            maps.users.iter().map(|(uid, user)| (Key { scope: Scope::Site, uid: uid.clone() }, user.sids.len()));
        let members = maps.groups.iter().flat_map(|(group, members)| {
            members
                .members
                .iter()
                .map(|(uid, &tabs)| (Key { scope: Scope::Group(group.clone()), uid: uid.clone() }, tabs))
        });
        users.chain(members).collect()
    }

    /// Logs socket `sid` in as `uid`, in no group yet. Returns false,
    /// changing nothing, if the socket is logged in already: the first login
    /// on a socket wins.
    pub fn login(&self, sid: Sid, uid: &str) -> bool {
        let mut maps = self.lock();
        if maps.sockets.contains_key(&sid) {
            return false;
        }
        let uid: Arc<str> = match maps.users.get_key_value(uid) {
            Some((known, _)) => known.clone(),
            None => uid.into(),
        };
        maps.users.entry(uid.clone()).or_default().sids.push(sid);
        maps.sockets.insert(sid, Tab { uid: uid.clone(), groups: BTreeSet::new(), fixed: BTreeSet::new() });
        self.note_changes(maps, [Key { scope: Scope::Site, uid }]);
        true
    }

    /// Puts logged-in socket `sid` in `groups` too; `fixed`: for its life
    /// (the groups of its login token), else until it leaves them.
    pub fn join(&self, sid: Sid, groups: &[Arc<str>], fixed: bool) {
        let mut maps = self.lock();
        let Some(tab) = maps.sockets.get_mut(&sid) else {
            return;
        };
        if fixed {
            tab.fixed.extend(groups.iter().cloned());
        }
        let uid = tab.uid.clone();
        let added: Vec<Arc<str>> = groups.iter().filter(|group| tab.groups.insert((*group).clone())).cloned().collect();
        for group in &added {
            let members = maps.groups.entry(group.clone()).or_default();
            members.tabs += 1;
            *members.members.entry(uid.clone()).or_default() += 1;
        }
        let keys: Vec<Key> =
            added.into_iter().map(|group| Key { scope: Scope::Group(group), uid: uid.clone() }).collect();
        self.note_changes(maps, keys);
    }

    /// Takes logged-in socket `sid` out of `groups`, but those its login
    /// token names.
    pub fn leave(&self, sid: Sid, groups: &[Arc<str>]) {
        let mut maps = self.lock();
        let Some(tab) = maps.sockets.get_mut(&sid) else {
            return;
        };
        let uid = tab.uid.clone();
        let removed: Vec<Arc<str>> =
            groups.iter().filter(|group| !tab.fixed.contains(*group) && tab.groups.remove(*group)).cloned().collect();
        for group in &removed {
            maps.leave_group(group, &uid);
        }
        let keys: Vec<Key> =
            removed.into_iter().map(|group| Key { scope: Scope::Group(group), uid: uid.clone() }).collect();
        self.note_changes(maps, keys);
    }

    /// Logs socket `sid` out, if it was logged in; returns the uid it had.
    pub fn logout(&self, sid: Sid) -> Option<Arc<str>> {
        let mut maps = self.lock();
        let tab = maps.sockets.remove(&sid)?;
        for group in &tab.groups {
            maps.leave_group(group, &tab.uid);
        }
        if let Some(user) = maps.users.get_mut(&tab.uid) {
            user.sids.retain(|&other| other != sid);
            if user.sids.is_empty() {
                maps.users.remove(&tab.uid);
            }
        }
        let keys = tab.groups.iter().map(|group| Key { scope: Scope::Group(group.clone()), uid: tab.uid.clone() });
        let keys: Vec<Key> = keys.chain([Key { scope: Scope::Site, uid: tab.uid.clone() }]).collect();
        self.note_changes(maps, keys);
        Some(tab.uid)
    }

    /// The sockets logged in as `uid`.
    pub fn sids_of(&self, uid: &str) -> Vec<Sid> {
        self.lock().users.get(uid).map(|user| user.sids.clone()).unwrap_or_default()
    }

    /// Notes that memberships of `version` were applied to `uid`'s tabs, if
    /// the user is logged in here.
    pub fn note_version(&self, uid: &str, version: u64) {
        if let Some(user) = self.lock().users.get_mut(uid) {
            user.version = user.version.max(version);
        }
    }

    /// The version of `uid`'s memberships last applied here (0: none).
    pub fn version_of(&self, uid: &str) -> u64 {
        self.lock().users.get(uid).map_or(0, |user| user.version)
    }

    /// The user socket `sid` is logged in as.
    pub fn uid_of(&self, sid: Sid) -> Option<Arc<str>> {
        self.lock().sockets.get(&sid).map(|tab| tab.uid.clone())
    }

    /// The users with a tab in any of `groups` (each once), or, for none,
    /// every user logged in.
    pub fn users_in(&self, groups: Option<&[String]>) -> Vec<String> {
        let maps = self.lock();
        let Some(groups) = groups else {
            return maps.users.keys().map(|uid| uid.to_string()).collect();
        };
        let mut users = BTreeSet::new();
        for group in groups {
            if let Some(members) = maps.groups.get(group.as_str()) {
                users.extend(members.members.keys().map(|uid| uid.to_string()));
            }
        }
        users.into_iter().collect()
    }

    /// Whether socket `sid` is logged in and in `group`.
    pub fn in_group(&self, sid: Sid, group: &str) -> bool {
        self.lock().sockets.get(&sid).is_some_and(|tab| tab.groups.contains(group))
    }

    /// Sockets logged in as any of `uids`, which must be distinct.
    pub fn sockets_of_all(&self, uids: &[String]) -> usize {
        let maps = self.lock();
        uids.iter().filter_map(|uid| maps.users.get(uid.as_str())).map(|user| user.sids.len()).sum()
    }

    /// Sockets in any of `groups`, each once, but those of the users in `except`.
    pub fn sockets_in_groups(&self, groups: &[String], except: &[String]) -> usize {
        let maps = self.lock();
        let mut sids: HashSet<Sid> = HashSet::new();
        for group in groups {
            let Some(members) = maps.groups.get(group.as_str()) else { continue };
            for uid in members.members.keys() {
                if except.iter().any(|excepted| **excepted == **uid) {
                    continue;
                }
                let tabs = maps.users.get(uid).into_iter().flat_map(|user| &user.sids);
                sids.extend(tabs.filter(|sid| maps.sockets.get(sid).is_some_and(|tab| tab.groups.contains(&**group))));
            }
        }
        sids.len()
    }

    /// Which of `uids` have a tab open here, in the order given (once each).
    pub fn online(&self, uids: &[String]) -> Vec<String> {
        let maps = self.lock();
        let mut seen = HashSet::new();
        uids.iter().filter(|uid| maps.users.contains_key(uid.as_str()) && seen.insert(uid.as_str())).cloned().collect()
    }

    /// The current figures.
    pub fn counts(&self) -> OnlineCounts {
        let maps = self.lock();
        OnlineCounts { uids: maps.users.len(), sockets: maps.sockets.len() }
    }

    /// Users and tabs in `group`.
    pub fn group_counts(&self, group: &str) -> OnlineCounts {
        let maps = self.lock();
        let members = maps.groups.get(group);
        OnlineCounts { uids: members.map_or(0, |g| g.members.len()), sockets: members.map_or(0, |g| g.tabs) }
    }

    /// Up to `limit` uids logged in, after `cursor`, in byte order; and the
    /// cursor of the next page if there is one.
    pub fn users_page(&self, cursor: Option<&str>, limit: usize) -> (Vec<String>, Option<String>) {
        let maps = self.lock();
        page(maps.users.range::<str, _>(after(cursor)).map(|(uid, _)| uid), limit)
    }

    /// The same as [`Presence::users_page`], for the members of `group`.
    pub fn members_page(&self, group: &str, cursor: Option<&str>, limit: usize) -> (Vec<String>, Option<String>) {
        let maps = self.lock();
        let Some(members) = maps.groups.get(group) else {
            return (vec![], None);
        };
        page(members.members.range::<str, _>(after(cursor)).map(|(uid, _)| uid), limit)
    }

    fn note_changes(&self, mut maps: MutexGuard<'_, Maps>, keys: impl IntoIterator<Item = Key>) {
        maps.changed.extend(keys);
        drop(maps);
        self.changes.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, Maps> {
        // The maps are updated with no call that can panic between reads and
        // writes, so a poisoned lock still guards consistent data.
        self.maps.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Maps {
    /// One tab of `uid` less in `group`.
    fn leave_group(&mut self, group: &Arc<str>, uid: &Arc<str>) {
        let Some(members) = self.groups.get_mut(group) else { return };
        members.tabs -= 1;
        if let Some(tabs) = members.members.get_mut(uid) {
            *tabs -= 1;
            if *tabs == 0 {
                members.members.remove(uid);
            }
        }
        if members.tabs == 0 {
            self.groups.remove(group);
        }
    }

    fn count_of(&self, key: &Key) -> usize {
        match &key.scope {
            Scope::Site => self.users.get(&key.uid).map_or(0, |user| user.sids.len()),
            Scope::Group(group) => self.groups.get(group).and_then(|g| g.members.get(&key.uid)).copied().unwrap_or(0),
        }
    }
}

/// The bounds of the uids after `cursor`.
fn after(cursor: Option<&str>) -> (Bound<&str>, Bound<&str>) {
    match cursor {
        Some(cursor) => (Bound::Excluded(cursor), Bound::Unbounded),
        None => (Bound::Unbounded, Bound::Unbounded),
    }
}

/// The first `limit` of `uids`, and the last of them as the next page's
/// cursor when more follow.
fn page<'a>(mut uids: impl Iterator<Item = &'a Arc<str>>, limit: usize) -> (Vec<String>, Option<String>) {
    let listed: Vec<String> = uids.by_ref().take(limit).map(|uid| uid.to_string()).collect();
    let cursor = match (uids.next(), listed.last()) {
        (Some(_), Some(last)) => Some(last.clone()),
        _ => None,
    };
    (listed, cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|name| Arc::from(*name)).collect()
    }

    #[test]
    fn tabs_of_one_user_are_counted_and_released() {
        let p = Presence::default();
        let (a, b, c) = (Sid::new(), Sid::new(), Sid::new());
        assert!(p.login(a, "123"));
        assert!(p.login(b, "123"));
        assert!(p.login(c, "7"));
        assert_eq!(p.sockets_of_all(&["123".into()]), 2);
        assert_eq!(p.sids_of("123").len(), 2);
        assert_eq!(p.counts(), OnlineCounts { uids: 2, sockets: 3 });
        assert_eq!(p.logout(a).as_deref(), Some("123"));
        p.logout(b);
        assert_eq!(p.sockets_of_all(&["123".into()]), 0);
        assert_eq!(p.counts(), OnlineCounts { uids: 1, sockets: 1 });
        assert!(p.logout(Sid::new()).is_none(), "an anonymous socket");
    }

    #[test]
    fn first_login_on_a_socket_wins() {
        let p = Presence::default();
        let s = Sid::new();
        assert!(p.login(s, "1"));
        assert!(!p.login(s, "2"));
        assert_eq!(p.sockets_of_all(&["1".into()]), 1);
        assert_eq!(p.sockets_of_all(&["2".into()]), 0);
    }

    #[test]
    fn groups_count_their_members_and_tabs_each_tab_once() {
        let p = Presence::default();
        let (a1, a2, b) = (Sid::new(), Sid::new(), Sid::new());
        p.login(a1, "alice");
        p.login(a2, "alice");
        p.login(b, "bob");
        p.join(a1, &groups(&["team", "order-42"]), false);
        p.join(a2, &groups(&["team"]), false);
        p.join(a2, &groups(&["team"]), false);
        p.join(b, &groups(&["team"]), true);
        assert_eq!(p.group_counts("team"), OnlineCounts { uids: 2, sockets: 3 }, "joining twice changes nothing");
        assert!(p.in_group(a2, "team") && !p.in_group(a2, "order-42"));
        assert_eq!(p.sockets_in_groups(&["team".into(), "order-42".into()], &[]), 3, "each tab once");
        assert_eq!(p.sockets_in_groups(&["team".into()], &["alice".into()]), 1, "but alice's");
        assert_eq!(p.members_page("team", None, 10), (vec!["alice".into(), "bob".into()], None));
        p.leave(a1, &groups(&["team"]));
        p.leave(b, &groups(&["team"]));
        assert_eq!(p.group_counts("team"), OnlineCounts { uids: 2, sockets: 2 }, "bob's token keeps him in");
        p.logout(a2);
        p.logout(a1);
        assert_eq!(p.group_counts("team"), OnlineCounts { uids: 1, sockets: 1 });
        assert!(!p.lock().groups.contains_key("order-42"), "an empty group is forgotten");
    }

    #[test]
    fn membership_versions_are_kept_while_the_user_is_here() {
        let p = Presence::default();
        let s = Sid::new();
        p.note_version("a", 5);
        assert_eq!(p.version_of("a"), 0, "not logged in: nothing to keep");
        p.login(s, "a");
        p.note_version("a", 5);
        p.note_version("a", 3);
        assert_eq!(p.version_of("a"), 5);
        p.logout(s);
        assert_eq!(p.version_of("a"), 0);
    }

    #[test]
    fn users_are_listed_in_pages_without_repeat_or_miss() {
        let p = Presence::default();
        for i in 0..25 {
            p.login(Sid::new(), &format!("u{i:02}"));
        }
        let (mut listed, mut cursor) = (Vec::new(), None);
        loop {
            let (uids, next) = p.users_page(cursor.as_deref(), 10);
            listed.extend(uids);
            cursor = next;
            if cursor.is_none() {
                break;
            }
        }
        let expected: Vec<String> = (0..25).map(|i| format!("u{i:02}")).collect();
        assert_eq!(listed, expected);
        assert_eq!(p.users_page(None, 25).1, None, "a full last page has no cursor");
        assert_eq!(p.online(&["u03".into(), "nobody".into(), "u03".into()]), ["u03"]);
    }

    #[test]
    fn changes_are_the_counts_touched_with_their_values_now() {
        let p = Presence::default();
        let (a, b) = (Sid::new(), Sid::new());
        p.login(a, "1");
        p.login(b, "1");
        p.join(b, &groups(&["g"]), false);
        p.logout(a);
        let user = Key { scope: Scope::Site, uid: "1".into() };
        let member = Key { scope: Scope::Group("g".into()), uid: "1".into() };
        let mut changes = p.take_changes();
        changes.sort();
        assert_eq!(changes, [(user.clone(), 1), (member.clone(), 1)]);
        assert!(p.take_changes().is_empty());
        p.logout(b);
        let mut changes = p.take_changes();
        changes.sort();
        assert_eq!(changes, [(user, 0), (member, 0)]);
        p.login(Sid::new(), "2");
        assert_eq!(p.snapshot(), [(Key { scope: Scope::Site, uid: "2".into() }, 1)]);
        assert!(p.take_changes().is_empty(), "a snapshot clears the changes it includes");
    }
}
