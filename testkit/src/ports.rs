//! Loopback ports for the servers a test starts.

use std::net::TcpListener;
use std::sync::Mutex;

/// Below the kernel's ephemeral range (32768–60999 by default), so the local
/// port of an outgoing connection, or another program's bind to port 0, never
/// takes a port between the moment it is chosen and the server's bind.
const FIRST: u16 = 12_000;
const LAST: u16 = 32_000;

/// The next port to try: each process starts at its own place in the range and
/// walks forwards, so a port is handed out once per process and two test
/// binaries rarely try the same one.
static NEXT: Mutex<Option<u16>> = Mutex::new(None);

/// A free TCP port on loopback, bound then released for a server the test
/// starts right after.
pub fn free_port() -> u16 {
    let mut next = NEXT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let span = u32::from(LAST - FIRST);
    let mut port = next.unwrap_or_else(|| FIRST + (std::process::id().wrapping_mul(7919) % span) as u16);
    loop {
        port = if port >= LAST { FIRST } else { port + 1 };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            *next = Some(port);
            return port;
        }
    }
}
