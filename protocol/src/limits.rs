//! Size limits and input rules shared by the extension (which checks early,
//! to throw at the call site) and the daemon (which is authoritative).

use crate::message::{Publish, Target};

/// Longest uid accepted, in bytes: user ids are keys, not documents, and the
/// online map holds one per logged-in user.
pub const MAX_UID_BYTES: usize = 256;

/// Longest event name accepted, in bytes.
pub const MAX_EVENT_BYTES: usize = 128;

/// Most uids one publish may target; larger audiences are better served by a
/// broadcast or several publishes.
pub const MAX_TARGET_UIDS: usize = 10_000;

/// Longest group name accepted, in bytes: names are keys chosen by the
/// application (`order-42`, `team:7`).
pub const MAX_GROUP_BYTES: usize = 128;

/// Most groups one request may name (a push, a join, a login token). The
/// daemon may be set lower (`--max-groups-per-request`, `--max-token-groups`).
pub const MAX_GROUPS: usize = 1000;

/// Most uids one page of `Presence::users` may hold.
pub const MAX_USERS_PAGE: u64 = 10_000;

/// Largest reply frame a client needs to accept: replies hold a page of uids
/// at most (10,000 uids of up to 256 bytes).
pub const MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;

/// Longest login token lifetime a client may ask for, in seconds (30 days):
/// a page that stays open longer fetches a new one.
pub const MAX_TOKEN_TTL_SECS: u64 = 30 * 24 * 3600;

/// Longest a message may be kept in an inbox, in seconds (30 days); the
/// daemon may be set lower (`--inbox-max-keep-secs`).
pub const MAX_KEEP_SECS: u64 = 30 * 24 * 3600;

/// Longest a push may wait for acknowledgements (a daemon's
/// `--max-ack-timeout-ms` is at most this).
pub const MAX_ACK_TIMEOUT_MS: u64 = 60_000;

/// The prefix of msgpushd's own events (`msgpush:joined`, ...), which a push
/// may not use, so that no message can pass for one of them.
pub const RESERVED_EVENT_PREFIX: &str = "msgpush:";

/// Socket.IO event names that a server must not emit: the client library
/// reserves them for its own life-cycle.
pub const RESERVED_EVENTS: [&str; 6] =
    ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];

/// Checks a uid; the error says what is wrong.
pub fn check_uid(uid: &str) -> Result<(), String> {
    if uid.is_empty() {
        return Err("a uid must not be empty".into());
    }
    if uid.len() > MAX_UID_BYTES {
        return Err(format!("uid of {} bytes is longer than the limit of {MAX_UID_BYTES} bytes", uid.len()));
    }
    Ok(())
}

/// Checks an event name; the error says what is wrong.
pub fn check_event(event: &str) -> Result<(), String> {
    if event.is_empty() {
        return Err("the event name must not be empty".into());
    }
    if event.len() > MAX_EVENT_BYTES {
        return Err(format!("event name of {} bytes is longer than the limit of {MAX_EVENT_BYTES} bytes", event.len()));
    }
    if RESERVED_EVENTS.contains(&event) {
        return Err(format!("'{event}' is reserved by Socket.IO and cannot be emitted"));
    }
    if event.starts_with(RESERVED_EVENT_PREFIX) {
        return Err(format!("'{event}': names starting with '{RESERVED_EVENT_PREFIX}' are msgpushd's own events"));
    }
    Ok(())
}

/// Checks how long a message is kept in its users' inboxes.
pub fn check_keep(secs: u64) -> Result<(), String> {
    if secs == 0 || secs > MAX_KEEP_SECS {
        return Err(format!("a message is kept 1 to {MAX_KEEP_SECS} seconds, not {secs}"));
    }
    Ok(())
}

/// Checks how long a push waits for acknowledgements.
pub fn check_ack_timeout(ms: u64) -> Result<(), String> {
    if ms == 0 || ms > MAX_ACK_TIMEOUT_MS {
        return Err(format!("a push waits 1 to {MAX_ACK_TIMEOUT_MS} ms for acknowledgements, not {ms}"));
    }
    Ok(())
}

/// Checks a token lifetime; the error says what is wrong.
pub fn check_ttl(ttl: u64) -> Result<(), String> {
    if ttl == 0 || ttl > MAX_TOKEN_TTL_SECS {
        return Err(format!("a token lifetime must be 1 to {MAX_TOKEN_TTL_SECS} seconds, not {ttl}"));
    }
    Ok(())
}

/// Checks the uids of a push or a disconnect: each one, and how many.
pub fn check_uids(uids: &[String]) -> Result<(), String> {
    if uids.len() > MAX_TARGET_UIDS {
        return Err(format!("{} uids in one request exceed the limit of {MAX_TARGET_UIDS}", uids.len()));
    }
    uids.iter().try_for_each(|uid| check_uid(uid))
}

/// Checks a group name; the error says what is wrong.
pub fn check_group(group: &str) -> Result<(), String> {
    if group.is_empty() {
        return Err("a group name must not be empty".into());
    }
    if group.len() > MAX_GROUP_BYTES {
        return Err(format!("group name of {} bytes is longer than the limit of {MAX_GROUP_BYTES} bytes", group.len()));
    }
    Ok(())
}

/// Checks the groups of a request: each one, and that there are at most
/// `max` (`what` names the rule in the error).
pub fn check_groups(groups: &[String], max: usize, what: &str) -> Result<(), String> {
    if groups.len() > max {
        return Err(format!("{} groups {what} exceed the limit of {max}", groups.len()));
    }
    groups.iter().try_for_each(|group| check_group(group))
}

impl Publish {
    /// Checks the event name, every uid and every group against the limits above.
    pub fn validate(&self) -> Result<(), String> {
        check_event(&self.event)?;
        check_uids(&self.except)?;
        if let Some(secs) = self.keep_secs {
            check_keep(secs)?;
        }
        if let Some(ms) = self.ack_timeout_ms {
            check_ack_timeout(ms)?;
        }
        match &self.to {
            Target::Users(uids) => check_uids(uids),
            Target::Groups(groups) => check_groups(groups, MAX_GROUPS, "in one push"),
            Target::Everyone => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Content;

    fn publish(to: Target, event: &str) -> Publish {
        Publish::new(to, event, Content::Text("x".into()))
    }

    #[test]
    fn ordinary_publish_is_valid() {
        assert!(publish(Target::Users(vec!["42".into()]), "new_msg").validate().is_ok());
        assert!(publish(Target::Everyone, "order_shipped").validate().is_ok());
    }

    #[test]
    fn bad_events_are_refused() {
        assert!(publish(Target::Everyone, "").validate().unwrap_err().contains("empty"));
        assert!(publish(Target::Everyone, "disconnect").validate().unwrap_err().contains("reserved"));
        let long = "e".repeat(MAX_EVENT_BYTES + 1);
        assert!(publish(Target::Everyone, &long).validate().unwrap_err().contains("limit"));
    }

    #[test]
    fn bad_uids_are_refused() {
        let long = "u".repeat(MAX_UID_BYTES + 1);
        let err = publish(Target::Users(vec!["ok".into(), long]), "new_msg").validate().unwrap_err();
        assert!(err.contains("257 bytes"), "{err}");
        let empty = publish(Target::Users(vec![String::new()]), "new_msg").validate().unwrap_err();
        assert!(empty.contains("empty"));
    }

    #[test]
    fn bad_groups_are_refused_with_the_rule() {
        assert!(publish(Target::Groups(vec!["order-42".into()]), "new_msg").validate().is_ok());
        let long = "g".repeat(MAX_GROUP_BYTES + 1);
        let err = publish(Target::Groups(vec![long]), "new_msg").validate().unwrap_err();
        assert!(err.contains("129 bytes") && err.contains("128"), "{err}");
        assert!(check_groups(&["a".into(), "b".into()], 1, "in a token").unwrap_err().contains("2 groups in a token"));
        let mut except = publish(Target::Everyone, "new_msg");
        except.except = vec![String::new()];
        assert!(except.validate().unwrap_err().contains("empty"));
    }

    #[test]
    fn an_ack_wait_outside_its_bounds_is_refused() {
        let mut push = publish(Target::Everyone, "new_msg");
        push.ack_timeout_ms = Some(3000);
        assert!(push.validate().is_ok() && push.wants_receipts());
        push.ack_timeout_ms = Some(0);
        assert!(push.validate().unwrap_err().contains("1 to 60000 ms"));
        push.ack_timeout_ms = Some(MAX_ACK_TIMEOUT_MS + 1);
        assert!(push.validate().is_err());
    }
}
