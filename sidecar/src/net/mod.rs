//! The network plumbing: serving HTTP/1.1 on a TCP listener with deadlines,
//! a connection cap and TLS; binding the listeners; the descriptor limit;
//! the shutdown signals. Knows nothing of Socket.IO or of pushes; imports
//! only `telemetry`.

pub mod fd_limit;
pub mod http_server;
pub mod listen;
pub mod shutdown;
pub mod tls;
