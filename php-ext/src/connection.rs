//! One Unix-socket connection to msgpushd, with a deadline on every call:
//! connect, send (with `MSG_NOSIGNAL`, so a closed peer never raises SIGPIPE
//! in the PHP process) and receive.

use std::io::{self, Read};
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use msgpush_protocol::frame::{self, FrameError};
use msgpush_protocol::limits::MAX_REPLY_BYTES;
use msgpush_protocol::Response;
use socket2::{Domain, SockAddr, Socket, Type};

use crate::error::PushError;
use crate::process::{self, Generation};

/// A connection, remembering which process opened it and to which path.
#[derive(Debug)]
pub struct Connection {
    socket: Socket,
    /// The process that opened it: after a fork the child must not share it.
    opened_in: Generation,
    path: PathBuf,
    read_buf: Vec<u8>,
}

impl Connection {
    /// Connects to `path`, waiting at most until `deadline`.
    pub fn open(path: &Path, deadline: Instant) -> Result<Connection, PushError> {
        let connect = || -> io::Result<Socket> {
            let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
            socket.connect_timeout(&SockAddr::unix(path)?, remaining(deadline)?)?;
            Ok(socket)
        };
        let socket = connect().map_err(|e| PushError::unreachable(path, &e))?;
        Ok(Connection { socket, opened_in: process::current(), path: path.to_owned(), read_buf: Vec::new() })
    }

    /// Whether this connection can carry the next request to `path`: opened by
    /// this process, to that path, and not closed by the daemon (a restart
    /// closes it; this is noticed here, before anything is sent).
    pub fn is_usable_for(&self, path: &Path) -> bool {
        if self.opened_in != process::current() || self.path != path {
            return false;
        }
        let mut probe = [MaybeUninit::<u8>::uninit(); 1];
        match self.socket.recv_with_flags(&mut probe, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
            // 0: the daemon closed it. More: an unread stray reply; start clean.
            Ok(_) => false,
        }
    }

    /// Writes all of `bytes` before `deadline`.
    pub fn send(&self, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
        while !bytes.is_empty() {
            self.socket.set_write_timeout(Some(remaining(deadline)?))?;
            match self.socket.send_with_flags(bytes, libc::MSG_NOSIGNAL) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(io::ErrorKind::TimedOut.into()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads the next reply before `deadline`. A deadline that passes shows
    /// as an I/O error of kind `TimedOut`.
    pub fn receive(&mut self, deadline: Instant) -> Result<Response, FrameError> {
        let mut reader = DeadlineReader { socket: &self.socket, deadline };
        frame::read(&mut reader, &mut self.read_buf, MAX_REPLY_BYTES)
    }

    /// The socket path this connection goes to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Time left until `deadline`, or a timeout error once it has passed.
fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    Ok(left)
}

/// Reads from a socket, each read limited to the time left until a deadline.
struct DeadlineReader<'a> {
    socket: &'a Socket,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            self.socket.set_read_timeout(Some(remaining(self.deadline)?))?;
            match (&*self.socket).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(io::ErrorKind::TimedOut.into()),
                other => return other,
            }
        }
    }
}
