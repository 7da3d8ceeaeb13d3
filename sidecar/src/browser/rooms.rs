//! The Socket.IO rooms a tab is in: one for its user (`u:UID`), and per
//! group two, one for the tabs in it by their login token (`t:GROUP`) and one
//! for the tabs of its members (`m:GROUP`), so that ending a membership
//! takes a tab out of the group only if its token does not keep it there.
//! And joining them at login, which races the socket's close.

use socketioxide::extract::SocketRef;

/// A socket's rooms, as logging in changes them.
pub trait Joins {
    /// Puts the socket in `rooms`.
    fn join(&self, rooms: Vec<String>);
    /// Takes the socket out of `rooms`.
    fn leave(&self, rooms: Vec<String>);
    /// False from the moment the socket closes, before its disconnect
    /// handler runs and before Socket.IO takes it out of its rooms.
    fn is_open(&self) -> bool;
}

impl Joins for SocketRef {
    fn join(&self, rooms: Vec<String>) {
        socketioxide::socket::Socket::join(self, rooms);
    }
    fn leave(&self, rooms: Vec<String>) {
        socketioxide::socket::Socket::leave(self, rooms);
    }
    fn is_open(&self) -> bool {
        self.connected()
    }
}

/// Puts `socket` in `rooms`, unless it closed meanwhile; returns whether it
/// is in them. A login races the socket's close: a join made after Socket.IO
/// emptied the socket's rooms would stay for ever (a room growing, a push
/// counting a socket that is gone). Joining first and then looking settles
/// it whatever the order: open after the join means the close, and the
/// emptying after it, are still to come; closed means the join is undone.
pub fn join_unless_closed(socket: &impl Joins, rooms: Vec<String>) -> bool {
    socket.join(rooms.clone());
    if socket.is_open() {
        return true;
    }
    socket.leave(rooms);
    false
}

/// The room of `uid`'s tabs.
pub fn of_user(uid: &str) -> String {
    format!("u:{uid}")
}

/// The rooms of these users' tabs.
pub fn of_users(uids: &[String]) -> Vec<String> {
    uids.iter().map(|uid| of_user(uid)).collect()
}

/// The room of the tabs in `group` by their login token.
pub fn of_token_group(group: &str) -> String {
    format!("t:{group}")
}

/// The room of the tabs in `group` by their user's membership.
pub fn of_member_group(group: &str) -> String {
    format!("m:{group}")
}

/// Both rooms of each of `groups`.
pub fn of_groups<S: AsRef<str>>(groups: &[S]) -> Vec<String> {
    groups.iter().flat_map(|group| [of_token_group(group.as_ref()), of_member_group(group.as_ref())]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeSet;

    /// A socket whose close can be made to happen at any point of a login.
    #[derive(Default)]
    struct Racing {
        open: Cell<bool>,
        rooms: RefCell<BTreeSet<String>>,
        closes_on_join: bool,
    }

    impl Racing {
        /// What Socket.IO does when a socket closes: mark it, empty its rooms.
        fn close(&self) {
            self.open.set(false);
            self.rooms.borrow_mut().clear();
        }
    }

    impl Joins for Racing {
        fn join(&self, rooms: Vec<String>) {
            self.rooms.borrow_mut().extend(rooms);
            if self.closes_on_join {
                self.close();
            }
        }
        fn leave(&self, rooms: Vec<String>) {
            for room in rooms {
                self.rooms.borrow_mut().remove(&room);
            }
        }
        fn is_open(&self) -> bool {
            self.open.get()
        }
    }

    #[test]
    fn a_login_racing_the_close_leaves_no_room_whichever_comes_first() {
        let open = Racing { open: Cell::new(true), ..Racing::default() };
        assert!(join_unless_closed(&open, vec!["u".into()]));
        assert_eq!(open.rooms.borrow().len(), 1, "an open socket joins");
        open.close();
        assert!(open.rooms.borrow().is_empty(), "and leaves when it closes");

        let closed_first = Racing::default();
        closed_first.close();
        assert!(!join_unless_closed(&closed_first, vec!["u".into()]));
        assert!(closed_first.rooms.borrow().is_empty(), "a join after the close's cleanup is undone");

        let closed_meanwhile = Racing { open: Cell::new(true), closes_on_join: true, ..Racing::default() };
        assert!(!join_unless_closed(&closed_meanwhile, vec!["u".into()]));
        assert!(closed_meanwhile.rooms.borrow().is_empty());
    }

    #[test]
    fn users_and_groups_never_share_a_room() {
        assert_eq!(of_user("t:x"), "u:t:x");
        assert_eq!(of_groups(&["x"]), ["t:x", "m:x"]);
        assert_ne!(of_user("x"), of_token_group("x"));
    }
}
