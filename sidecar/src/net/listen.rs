//! Binding the TCP listeners, with a pending-connection queue long enough
//! for every open page reconnecting at once after a restart.

use std::error::Error;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// Pending-connection queue of the TCP listeners. When the daemon restarts,
/// every open page reconnects at once; a short queue drops their SYNs and
/// they retry a second later. (The kernel caps it at `net.core.somaxconn`.)
const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr`; the error names the address and `flag`, the
/// setting that asked for it.
pub fn bind_tcp(addr: SocketAddr, flag: &str) -> Result<TcpListener, Box<dyn Error>> {
    let listen = || {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(LISTEN_BACKLOG)
    };
    listen().map_err(|e| format!("cannot listen on {addr} ({flag}): {e}").into())
}
