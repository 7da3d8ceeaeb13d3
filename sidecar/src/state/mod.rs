//! State that knows nothing of the server: who is logged in (the online
//! map, with groups), who is a member of which group, arrivals and
//! departures with their grace, the `update_online_count` message, the
//! ids of recently published messages, the pushes waiting for
//! acknowledgements, and a request's turn in its connection's order. Each
//! piece is a leaf with its own lock; imports only `telemetry` and
//! `settings`.

pub mod departures;
pub mod local_book;
pub mod memberships;
pub mod online_count;
pub mod presence;
pub mod recent;
pub mod turn;
pub mod waits;
