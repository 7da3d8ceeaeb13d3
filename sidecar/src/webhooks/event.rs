//! An event as the application receives it: `{id, type, time, data}`, in
//! the body `{"events": [...]}` of a request.

use serde::Serialize;
use serde_json::Value;

use crate::settings::flags::EventKind;

/// One event.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Unique: the application drops an event it has seen (a retried
    /// request it had taken).
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When, in milliseconds since the Unix epoch.
    pub time: u64,
    /// Its data (`uid`, and `group` or `msg_id`, or a page's `name` and `data`).
    pub data: Value,
}

/// The type of a page's message.
pub const PAGE_MESSAGE: &str = "page_message";

impl Event {
    /// A new event of type `kind`, now.
    pub fn new(kind: &'static str, data: Value) -> Event {
        Event { id: new_id(), kind, time: crate::store::entry::now_ms(), data }
    }
}

/// The name of `kind` on the wire.
pub fn name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::UserOnline => "user_online",
        EventKind::UserOffline => "user_offline",
        EventKind::GroupJoined => "group_joined",
        EventKind::GroupLeft => "group_left",
        EventKind::MessageAcked => "message_acked",
        EventKind::MessageRead => "message_read",
    }
}

/// The body of a request carrying `events`.
pub fn body(events: &[Event]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        events: &'a [Event],
    }
    serde_json::to_vec(&Body { events }).unwrap_or_default()
}

/// 128 random bits, in hex.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the system's random source");
    format!("{:032x}", u128::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_lists_its_events_with_their_type_and_an_id_each() {
        let events = [
            Event::new(name(EventKind::UserOnline), serde_json::json!({"uid": "7"})),
            Event::new(name(EventKind::UserOffline), serde_json::json!({"uid": "7"})),
        ];
        let body: Value = serde_json::from_slice(&body(&events)).unwrap();
        let listed = body["events"].as_array().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0]["type"], "user_online");
        assert_eq!(listed[1]["data"]["uid"], "7");
        assert_eq!(listed[0]["id"].as_str().unwrap().len(), 32);
        assert_ne!(listed[0]["id"], listed[1]["id"]);
    }
}
