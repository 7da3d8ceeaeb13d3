//! What history and the inbox keep of a message, and the names of its
//! streams: a user's (`user:UID`), a group's (`group:NAME`), everyone's
//! (`all`), as PHP and the stores name them; a page names its own user's
//! stream `user` and a group's by an opaque id (`g:` and 16 hex digits of an
//! HMAC of the name under the token secret), so that a message to several
//! groups tells a tab their positions without telling it their names.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use msgpush_protocol::{Content, MsgId, Position};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The streams a message is kept in: one per user of a push to users, one
/// per group of a push to groups, `all` for a push to everyone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// A user's stream.
    User(Arc<str>),
    /// A group's stream.
    Group(Arc<str>),
    /// The stream of pushes to everyone.
    All,
}

impl Stream {
    /// The name the stores and PHP use: `user:UID`, `group:NAME`, `all`.
    pub fn key(&self) -> String {
        match self {
            Stream::User(uid) => format!("user:{uid}"),
            Stream::Group(group) => format!("group:{group}"),
            Stream::All => "all".to_owned(),
        }
    }

    /// The stream a store's `key` names.
    pub fn of_key(key: &str) -> Option<Stream> {
        if key == "all" {
            return Some(Stream::All);
        }
        if let Some(uid) = key.strip_prefix("user:") {
            return Some(Stream::User(uid.into()));
        }
        key.strip_prefix("group:").map(|group| Stream::Group(group.into()))
    }
}

/// A message as its streams keep it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The message's id.
    pub id: MsgId,
    /// Its Socket.IO event.
    pub event: String,
    /// Its content.
    pub content: Content,
    /// Users whose tabs it leaves out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
    /// Sent with receipts: a tab given it again is asked to acknowledge it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub receipts: bool,
    /// When it was published, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Its position in each of its streams, by store key: the one stream
    /// of a copy kept for a user, or every group of a push to groups.
    pub placements: Vec<(String, Position)>,
    /// Its place among every message kept, across streams: what a tab
    /// recovering several streams is given them in.
    #[serde(default)]
    pub order: u64,
}

/// The names pages give streams.
#[derive(Clone)]
pub struct PageNames {
    key: Arc<[u8]>,
}

impl std::fmt::Debug for PageNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageNames")
    }
}

impl PageNames {
    /// Names derived from `secret` (the token secret, shared by a cluster's nodes).
    pub fn new(secret: &[u8]) -> PageNames {
        PageNames { key: secret.into() }
    }

    /// What a page calls `stream`.
    pub fn of(&self, stream: &Stream) -> String {
        match stream {
            Stream::User(_) => "user".to_owned(),
            Stream::All => "all".to_owned(),
            Stream::Group(group) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
                mac.update(group.as_bytes());
                let digest = mac.finalize().into_bytes();
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("g:{hex}")
            }
        }
    }

    /// What a page calls the stream a store names `key`.
    pub fn of_key(&self, key: &str) -> Option<String> {
        Stream::of_key(key).map(|stream| self.of(&stream))
    }
}

/// An epoch as pages and PHP see it: 16 hex digits.
pub fn epoch_text(epoch: u64) -> String {
    format!("{epoch:016x}")
}

/// A new random epoch.
pub fn new_epoch() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the system's random source");
    u64::from_le_bytes(bytes)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis().try_into().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_named_for_the_stores_and_for_pages() {
        let names = PageNames::new(b"secret");
        for stream in [Stream::User("7".into()), Stream::Group("a:b".into()), Stream::All] {
            assert_eq!(Stream::of_key(&stream.key()), Some(stream.clone()));
        }
        assert_eq!(names.of(&Stream::User("7".into())), "user");
        let group = names.of(&Stream::Group("order-42".into()));
        assert!(group.starts_with("g:") && group.len() == 18, "{group}");
        assert!(!group.contains("order"), "a page does not learn the group's name");
        assert_eq!(group, names.of(&Stream::Group("order-42".into())), "the same name each time");
        assert_ne!(group, names.of(&Stream::Group("order-43".into())));
        assert_ne!(group, PageNames::new(b"other").of(&Stream::Group("order-42".into())));
        assert_eq!(Stream::of_key("nonsense"), None);
    }
}
