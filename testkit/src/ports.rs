//! Loopback ports for the servers a test starts.

use std::net::TcpListener;

/// A free TCP port on loopback (bound then released: a server started on it
/// right after should retry on another if it was taken meanwhile).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
