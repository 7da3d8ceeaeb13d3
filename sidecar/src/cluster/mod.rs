//! Several daemons as one: the Redis pub/sub driver under socketioxide's
//! adapter, and the census of who is online on every node. Imports
//! `state` (what the census copies) and the layers below it.

pub mod census;
pub mod driver;
