//! Serving HTTP/1.1 on a TCP listener with deadlines and a connection cap,
//! so that idle or slow clients cannot hold connections (and descriptors)
//! for ever: a request's head must arrive within the header timeout (which
//! also closes keep-alive connections left idle that long), its body within
//! the body timeout, a write may stall at most the header timeout (a peer
//! that takes nothing), and connections beyond the cap are closed at once. A
//! connection upgraded to a websocket keeps its place under the cap until it
//! closes. Requests carry their peer's address as axum's [`ConnectInfo`].
//! With TLS, the handshake must be done within the header timeout too.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

use crate::telemetry::accept_errors::AcceptErrors;
use crate::telemetry::metrics::{Open, METRICS};

/// The deadlines of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// For a request's head, for a keep-alive connection's next request,
    /// and for the peer to take any of what is written to it.
    pub header: Duration,
    /// For a request's body.
    pub body: Duration,
}

/// A bound TCP listener and what it serves.
#[derive(Debug)]
pub struct Listener {
    /// Its name in log lines.
    pub name: &'static str,
    /// Its `listener` label in the metrics.
    pub metric: &'static str,
    /// The socket.
    pub tcp: TcpListener,
    /// TLS, if it serves HTTPS.
    pub tls: Option<Arc<ServerConfig>>,
}

/// Serves `app` on `listener` until `shutdown`, then lets open requests
/// finish. `connections` is the cap, shared by the listeners given the same
/// semaphore.
pub async fn serve(
    listener: Listener,
    app: Router,
    deadlines: Deadlines,
    connections: Arc<Semaphore>,
    shutdown: CancellationToken,
) {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(deadlines.header);
    let tasks = TaskTracker::new();
    let mut errors = AcceptErrors::new(listener.name);
    let mut refused = AcceptErrors::new(listener.name);
    let tls = listener.tls.map(TlsAcceptor::from);
    let connections_gauge = METRICS.http_connections(listener.metric);
    loop {
        let accepted = tokio::select! {
            accepted = listener.tcp.accept() => accepted,
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                errors.failed(e).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            drop(stream);
            refused.note(&"--max-connections reached; connection closed");
            continue;
        };
        let stream = Counted {
            stream,
            _permit: permit,
            _open: connections_gauge.open(),
            stall_limit: deadlines.header,
            stalled: None,
        };
        let app = app.clone();
        let service = service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(|body| Body::new(TimeoutBody::new(deadlines.body, body)));
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        let (builder, shutdown) = (builder.clone(), shutdown.clone());
        let Some(tls) = tls.clone() else {
            tasks.spawn(async move { serve_connection(&builder, stream, service, shutdown).await });
            continue;
        };
        tasks.spawn(async move {
            match tokio::time::timeout(deadlines.header, tls.accept(stream)).await {
                Ok(Ok(stream)) => serve_connection(&builder, stream, service, shutdown).await,
                Ok(Err(e)) => tracing::debug!(%peer, cause = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
    tasks.close();
    tasks.wait().await;
}

/// Serves HTTP/1.1 requests (and the upgrades they ask for) on one
/// connection until it closes, or gracefully once `shutdown` is cancelled.
async fn serve_connection<I, S>(builder: &http1::Builder, io: I, service: S, shutdown: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming> + Send,
    S::Future: Send,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = builder.serve_connection(TokioIo::new(io), service).with_upgrades();
    let mut connection = pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = shutdown.cancelled() => connection.as_mut().graceful_shutdown(),
    }
    let _ = connection.await;
}

/// A connection holding its place under the cap, and in the metrics, until
/// it is dropped (with the websocket it may have become). A write that makes
/// no progress for the stall limit (the peer takes nothing of what is sent:
/// a client pipelining requests without reading the answers, a websocket
/// that stopped reading) fails, which closes the connection: no write waits
/// for ever.
struct Counted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    _open: Open,
    stall_limit: Duration,
    /// Armed when a write could not proceed, disarmed once one does.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl Counted {
    /// The outcome of a write attempt, with the stall limit applied.
    fn limit_stall<T>(&mut self, cx: &mut Context<'_>, attempt: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if attempt.is_ready() {
            self.stalled = None;
            return attempt;
        }
        let limit = self.stall_limit;
        let stalled = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the peer takes nothing"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let attempt = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.limit_stall(cx, attempt)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let attempt = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.limit_stall(cx, attempt)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
