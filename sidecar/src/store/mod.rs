//! What survives a restart of a single daemon: the history of each stream
//! (for tabs that reconnect), the offline inbox (messages kept for a user
//! until a tab acknowledged them), receipts (who acknowledged and read a
//! message) and the memberships of groups, in an embedded redb file. The
//! model (entries, streams and their names) is shared with the cluster's
//! Redis store. Imports the layers below it (`telemetry`, `settings`, `state`).

pub mod embedded;
pub mod entry;
pub mod history;
pub mod inbox;
pub mod memberships;
mod positions;
pub mod receipts;
pub mod retention;
