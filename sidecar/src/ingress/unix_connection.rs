//! One PHP process's connection: read request frames, answer each in order.
//! Requests may be pipelined; replies are flushed once no further request is
//! already waiting, so a burst costs one write, not one per reply. Every wait
//! has a deadline, so a stuck or hostile peer cannot hold a connection (and
//! its buffers) for ever.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use msgpush_protocol::codec::ServerCodec;
use msgpush_protocol::{ErrorCode, FrameError, Request, Response};
use tokio::net::UnixStream;
use tokio::time::timeout;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;
use crate::telemetry::metrics::Ingress;

/// What one connection may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest frame accepted.
    pub max_frame: usize,
    /// How long a connection may stay silent between requests (the extension
    /// reconnects by itself when it finds its connection closed).
    pub idle: Duration,
    /// How long a frame may take to arrive once it started, and the peer to
    /// take the replies written to it.
    pub io: Duration,
}

/// Serves one connection until the peer closes it, it breaks the protocol
/// beyond recovery, it misses a deadline, or the daemon shuts down.
pub async fn serve(stream: UnixStream, hub: Arc<Hub>, limits: Limits, shutdown: CancellationToken) {
    let mut frames = Framed::new(stream, ServerCodec::new(limits.max_frame));
    loop {
        let next = match frames.next().now_or_never() {
            Some(next) => next,
            None => {
                if let Err(why) = write(&mut frames, None, limits.io).await {
                    tracing::debug!(%why, "closing a unix socket connection");
                    return;
                }
                if frames.read_buffer().is_empty() {
                    tokio::select! {
                        readable = timeout(limits.idle, frames.get_ref().readable()) => if readable.is_err() {
                            tracing::debug!("closing an idle unix socket connection");
                            return;
                        },
                        _ = shutdown.cancelled() => break,
                    }
                }
                tokio::select! {
                    next = timeout(limits.io, frames.next()) => match next {
                        Ok(next) => next,
                        Err(_) => {
                            tracing::debug!("closing a unix socket connection: a frame did not arrive whole in time");
                            return;
                        }
                    },
                    _ = shutdown.cancelled() => break,
                }
            }
        };
        let reply = match next {
            None => break,
            Some(Ok(Ok(request))) => answer(request, &hub).await,
            Some(Ok(Err(refusal))) => refusal,
            Some(Err(e @ FrameError::TooLarge { .. })) => {
                tracing::warn!(cause = %e, "closing a unix socket connection");
                let refusal = Response::error(0, ErrorCode::FrameTooLarge, e.to_string());
                if write(&mut frames, Some(refusal), limits.io).await.is_ok() {
                    let _ = write(&mut frames, None, limits.io).await;
                }
                return;
            }
            Some(Err(e)) => {
                tracing::debug!(cause = %e, "unix socket connection failed");
                return;
            }
        };
        if let Err(why) = write(&mut frames, Some(reply), limits.io).await {
            tracing::debug!(%why, "closing a unix socket connection");
            return;
        }
    }
    // Answers already read are sent, within the same deadline.
    let _ = write(&mut frames, None, limits.io).await;
}

/// Why a write did not complete.
#[derive(Debug)]
enum WriteError {
    /// The peer has not taken the replies within the deadline.
    NotRead,
    /// The connection failed.
    Failed(FrameError),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::NotRead => f.write_str("its replies are not read"),
            WriteError::Failed(e) => write!(f, "writing failed: {e}"),
        }
    }
}

/// Queues `reply` (once the replies before it fit in the write buffer) or,
/// with none, flushes what is queued: every write a connection makes, each
/// waiting at most `deadline` for the peer to read. (A shutdown still sends
/// the answers to what was read, within this deadline and its own grace.)
async fn write(
    frames: &mut Framed<UnixStream, ServerCodec>,
    reply: Option<Response>,
    deadline: Duration,
) -> Result<(), WriteError> {
    let written = async {
        match reply {
            Some(reply) => frames.feed(reply).await,
            None => frames.flush().await,
        }
    };
    match timeout(deadline, written).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(WriteError::Failed(e)),
        Err(_) => Err(WriteError::NotRead),
    }
}

async fn answer(request: Request, hub: &Hub) -> Response {
    Response { id: request.id, reply: hub.answer(request.cmd, Ingress::Unix).await }
}
