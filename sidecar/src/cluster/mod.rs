//! Several daemons as one: the connection to Redis, the bus that carries
//! what every node must do to its sockets, the census of who is online on
//! every node, the memberships of groups, and the directory that answers
//! who is online (from the census, or from this node alone). Imports
//! `state` (what the census copies) and the layers below it.

pub mod bus;
pub mod census;
pub mod directory;
pub mod driver;
pub mod memberships;
