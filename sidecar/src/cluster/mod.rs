//! Several daemons as one: the connection to Redis, the bus that carries
//! what every node must do to its sockets (through the outbox, which
//! writes a node's orders many to a round trip), the census of who is online on
//! every node, the memberships of groups, history, inboxes and receipts, and the
//! directory that answers who is online (from the census, or from this node
//! alone). Imports `store` (the model of what history keeps), `state` (what
//! the census copies) and the layers below them.

pub mod bus;
pub mod census;
pub mod directory;
pub mod driver;
pub mod history;
pub mod memberships;
pub mod outbox;
pub mod receipts;
