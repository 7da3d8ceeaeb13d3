//! A TCP stream that notes when the kernel received what it reads
//! (`SO_TIMESTAMPNS`). Over loopback a segment is stamped as the sender's
//! write goes through the stack, so the stamp of a push's frame is when the
//! server handed it to the kernel, however late the generator, which shares
//! the cores, gets around to reading it.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags};
use nix::sys::time::TimeSpec;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream and the kernel's receive time of its latest read.
pub struct Stamped {
    inner: TcpStream,
    received_ns: u64,
}

impl Stamped {
    /// Asks the kernel to stamp what `inner` receives.
    pub fn new(inner: TcpStream) -> io::Result<Stamped> {
        setsockopt(&inner.as_fd(), sockopt::ReceiveTimestampns, &true)?;
        Ok(Stamped { inner, received_ns: 0 })
    }

    /// When the kernel received the data of the latest read, in ns since the
    /// Unix epoch.
    pub fn received_ns(&self) -> u64 {
        self.received_ns
    }
}

/// One `recvmsg`: the bytes read and the stamp of the last segment among them.
fn receive(fd: i32, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!(TimeSpec);
    let msg = recvmsg::<()>(fd, &mut iov, Some(&mut space), MsgFlags::empty())?;
    let stamp = msg.cmsgs()?.find_map(|cmsg| match cmsg {
        ControlMessageOwned::ScmTimestampns(t) => Some(t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64),
        _ => None,
    });
    Ok((msg.bytes, stamp))
}

impl AsyncRead for Stamped {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let fd = this.inner.as_raw_fd();
        loop {
            ready!(this.inner.poll_read_ready(cx))?;
            match this.inner.try_io(Interest::READABLE, || receive(fd, buf.initialize_unfilled())) {
                Ok((n, stamp)) => {
                    buf.advance(n);
                    if let Some(ns) = stamp {
                        this.received_ns = ns;
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Stamped {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[tokio::test]
    async fn reads_carry_the_kernels_receive_time() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let mut stamped = Stamped::new(client).unwrap();
        let mut buf = [0; 16];
        // The kernel turns stamping on shortly after the first socket asks.
        for _ in 0..100 {
            server.write_all(b"warm").await.unwrap();
            stamped.read_exact(&mut buf[..4]).await.unwrap();
            if stamped.received_ns() != 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }

        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        server.write_all(b"hello").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let n = stamped.read(&mut buf).await.unwrap();
        let after_read = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;

        assert_eq!(&buf[..n], b"hello");
        let stamp = stamped.received_ns();
        assert!(stamp >= before, "stamped {stamp}, written after {before}");
        // Stamped on arrival, not when read 50 ms later.
        assert!(after_read - stamp >= 40_000_000, "stamped {stamp}, read at {after_read}");
    }
}
