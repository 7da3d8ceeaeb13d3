//! One PHP process's connection: read request frames and answer them, the
//! replies in the order of the requests. Requests may be pipelined: up to
//! [`MOST_IN_FLIGHT`] are answered at once, each started once the one before
//! it has taken its turn (see [`Turn`]), so a burst of pushes shares the
//! store's commits and still reaches browsers in order. Replies are flushed
//! once nothing more can be done without waiting, so a burst costs one
//! write, not one per reply. Every wait has a deadline, so a stuck or
//! hostile peer cannot hold a connection (and its buffers) for ever.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, SinkExt, StreamExt};
use msgpush_protocol::codec::ServerCodec;
use msgpush_protocol::{ErrorCode, FrameError, Request, Response};
use tokio::net::UnixStream;
use tokio::time::timeout;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;
use crate::state::turn::{Next, Turn};
use crate::telemetry::metrics::Ingress;

/// Most requests of one connection being answered at once (a pipelined
/// burst beyond it is read as answers complete).
const MOST_IN_FLIGHT: usize = 256;

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

type Frames = Framed<UnixStream, ServerCodec>;

/// A frame read: a request, a refusal to answer in its place, or why the
/// connection cannot go on.
type Incoming = Option<Result<Result<Request, Response>, FrameError>>;

/// How a connection ends.
enum End {
    /// The peer closed it, or the daemon is shutting down: the answers to
    /// what was read are sent.
    Closed,
    /// A frame over the limit: the answers before it, then a refusal.
    TooLarge(FrameError),
}

/// Serves one connection until the peer closes it, it breaks the protocol
/// beyond recovery, it misses a deadline, or the daemon shuts down.
pub async fn serve(stream: UnixStream, hub: Arc<Hub>, limits: Limits, shutdown: CancellationToken) {
    let mut frames = Framed::new(stream, ServerCodec::new(limits.max_frame));
    let mut answers = FuturesOrdered::new();
    // The last request started, until it has taken its turn.
    let mut previous: Option<Next> = None;
    let end = loop {
        // Replies ready are queued, in order.
        while let Some(Some(reply)) = answers.next().now_or_never() {
            if let Err(why) = write(&mut frames, Some(reply), limits.io).await {
                tracing::debug!(%why, "closing a unix socket connection");
                return;
            }
        }
        let may_start = previous.is_none() && answers.len() < MOST_IN_FLIGHT;
        // A request read whole already starts at once.
        let incoming = match may_start.then(|| frames.next().now_or_never()).flatten() {
            Some(incoming) => incoming,
            None => {
                if let Err(why) = write(&mut frames, None, limits.io).await {
                    tracing::debug!(%why, "closing a unix socket connection");
                    return;
                }
                let idle = answers.is_empty();
                tokio::select! {
                    () = async { previous.as_mut().expect("a turn to wait for").passed().await }, if previous.is_some() => {
                        previous = None;
                        continue;
                    }
                    Some(reply) = answers.next(), if !answers.is_empty() => {
                        if let Err(why) = write(&mut frames, Some(reply), limits.io).await {
                            tracing::debug!(%why, "closing a unix socket connection");
                            return;
                        }
                        continue;
                    }
                    read = read(&mut frames, limits, idle), if may_start => match read {
                        Ok(incoming) => incoming,
                        Err(closing) => {
                            tracing::debug!("{closing}");
                            return;
                        }
                    },
                    _ = shutdown.cancelled() => break End::Closed,
                }
            }
        };
        match incoming {
            None => break End::Closed,
            Some(Ok(Ok(request))) => {
                let (turn, next) = Turn::new();
                answers.push_back(Either::Left(answer(request, hub.clone(), turn)));
                previous = Some(next);
            }
            Some(Ok(Err(refusal))) => answers.push_back(Either::Right(std::future::ready(refusal))),
            Some(Err(e @ FrameError::TooLarge { .. })) => break End::TooLarge(e),
            Some(Err(e)) => {
                tracing::debug!(cause = %e, "unix socket connection failed");
                return;
            }
        }
    };
    // The answers to what was read are sent, within the same deadline.
    let _ = timeout(limits.io, async {
        while let Some(reply) = answers.next().await {
            write(&mut frames, Some(reply), limits.io).await?;
        }
        if let End::TooLarge(e) = end {
            tracing::warn!(cause = %e, "closing a unix socket connection");
            write(&mut frames, Some(Response::error(0, ErrorCode::FrameTooLarge, e.to_string())), limits.io).await?;
        }
        write(&mut frames, None, limits.io).await
    })
    .await;
}

/// The next frame: waits for one to start (at most `idle`, when `idle`:
/// nothing is being answered), then at most `io` for it to arrive whole;
/// or why the connection closes.
async fn read(frames: &mut Frames, limits: Limits, idle: bool) -> Result<Incoming, &'static str> {
    if frames.read_buffer().is_empty() {
        let readable = frames.get_ref().readable();
        if idle {
            timeout(limits.idle, readable).await.map_err(|_| "closing an idle unix socket connection")?.ok();
        } else {
            readable.await.ok();
        }
    }
    timeout(limits.io, frames.next())
        .await
        .map_err(|_| "closing a unix socket connection: a frame did not arrive whole in time")
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
async fn write(frames: &mut Frames, reply: Option<Response>, deadline: Duration) -> Result<(), WriteError> {
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

async fn answer(request: Request, hub: Arc<Hub>, turn: Turn) -> Response {
    Response { id: request.id, reply: hub.answer(request.cmd, Ingress::Unix, turn).await }
}
