//! Bounds on Engine.IO sessions, in total and per client address. A polling
//! handshake costs a client one request and the daemon a session (some
//! 10 KiB) that lives until it times out, so without caps one client can
//! fill memory. A session is *pending* from its handshake until it is used
//! (its first request after the handshake, or a websocket): honest clients
//! leave that state within a round trip, so pending sessions are capped much
//! lower than sessions.
//!
//! Each admitted session carries an [`Admission`] in the extensions of the
//! request that opened it, which Engine.IO keeps with the session: when the
//! session ends, the admission is dropped and its place freed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use engineioxide::config::EngineIoConfig;
use engineioxide::service::RequestInfo;
use engineioxide::{ProtocolVersion, TransportType};
use tower::{Service, ServiceExt};

use crate::browser::client_addr::TrustedProxies;
use crate::browser::kept_request;
use crate::settings::flags::Config;
use crate::telemetry::accept_errors::AcceptErrors;
use crate::telemetry::metrics::METRICS;

/// Largest handshake answer read back for its session id.
const MAX_HANDSHAKE_BYTES: usize = 4096;

/// The caps, as configured.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Sessions in total.
    pub sessions: usize,
    /// Sessions from one address.
    pub per_address: usize,
    /// Pending sessions in total.
    pub pending: usize,
    /// Pending sessions from one address.
    pub pending_per_address: usize,
}

impl Caps {
    /// The caps `config` sets.
    pub fn of(config: &Config) -> Caps {
        let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Caps {
            sessions: to_usize(config.max_sessions),
            per_address: to_usize(config.max_sessions_per_address),
            pending: to_usize(config.max_pending_sessions),
            pending_per_address: to_usize(config.max_pending_sessions_per_address),
        }
    }
}

/// Sessions admitted so far, in total and by address.
#[derive(Debug)]
pub struct Sessions {
    /// Changed by a reload; sessions already admitted stay.
    caps: RwLock<Caps>,
    proxies: TrustedProxies,
    counts: Mutex<Counts>,
    refusals: Mutex<AcceptErrors>,
}

#[derive(Debug, Default)]
struct Counts {
    sessions: usize,
    pending: usize,
    by_address: HashMap<IpAddr, PerAddress>,
    /// Pending polling sessions by session id, so their first request finds them.
    awaiting: HashMap<String, Weak<Admission>>,
}

#[derive(Debug, Default)]
struct PerAddress {
    sessions: usize,
    pending: usize,
}

/// Why a handshake was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-sessions` or `--max-pending-sessions`.
    Total,
    /// `--max-sessions-per-address` or `--max-pending-sessions-per-address`.
    PerAddress,
}

/// One admitted session's place under the caps, freed when dropped.
#[derive(Debug)]
pub struct Admission {
    sessions: Arc<Sessions>,
    ip: IpAddr,
    pending: AtomicBool,
    /// Set once the handshake's answer named the session.
    sid: OnceLock<String>,
}

impl Sessions {
    /// Empty, with `caps`, believing `X-Forwarded-For` from `proxies`.
    pub fn new(caps: Caps, proxies: TrustedProxies) -> Sessions {
        Sessions {
            caps: RwLock::new(caps),
            proxies,
            counts: Mutex::default(),
            refusals: Mutex::new(AcceptErrors::new("socket.io sessions")),
        }
    }

    /// Admits a new, pending session from `ip`, or says which cap it hits.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Arc<Admission>, Refusal> {
        let caps = *self.caps.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut counts = self.lock();
        if counts.sessions >= caps.sessions || counts.pending >= caps.pending {
            return Err(Refusal::Total);
        }
        let address = counts.by_address.entry(ip).or_default();
        if address.sessions >= caps.per_address || address.pending >= caps.pending_per_address {
            return Err(Refusal::PerAddress);
        }
        address.sessions += 1;
        address.pending += 1;
        counts.sessions += 1;
        counts.pending += 1;
        Ok(Arc::new(Admission { sessions: self.clone(), ip, pending: AtomicBool::new(true), sid: OnceLock::new() }))
    }

    /// Applies `caps` to handshakes from now on (at a reload).
    pub fn set_caps(&self, caps: Caps) {
        *self.caps.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = caps;
    }

    /// A request naming session `sid` arrived: that session is in use.
    pub fn used(&self, sid: &str) {
        let awaiting = self.lock().awaiting.remove(sid);
        // Upgraded outside the lock: dropping the last reference locks it.
        if let Some(admission) = awaiting.and_then(|weak| weak.upgrade()) {
            admission.activate();
        }
    }

    /// Sessions and pending sessions, in total.
    #[cfg(test)]
    fn totals(&self) -> (usize, usize) {
        let counts = self.lock();
        (counts.sessions, counts.pending)
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn refused(&self, refusal: Refusal) -> Response {
        let (status, cap, cause) = match refusal {
            Refusal::Total => {
                (StatusCode::SERVICE_UNAVAILABLE, "total", "--max-sessions or --max-pending-sessions reached")
            }
            Refusal::PerAddress => (
                StatusCode::TOO_MANY_REQUESTS,
                "per_address",
                "--max-sessions-per-address or --max-pending-sessions-per-address reached",
            ),
        };
        METRICS.session_refused(cap);
        self.refusals.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).note(&cause);
        (status, "too many sessions\n").into_response()
    }
}

impl Admission {
    /// Whether the session has not been used since its handshake.
    pub fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// The session is in use: it no longer counts as pending.
    pub fn activate(&self) {
        if self.pending.swap(false, Ordering::AcqRel) {
            let mut counts = self.sessions.lock();
            counts.pending -= 1;
            if let Some(address) = counts.by_address.get_mut(&self.ip) {
                address.pending -= 1;
            }
            if let Some(sid) = self.sid.get() {
                counts.awaiting.remove(sid);
            }
        }
    }

    /// The handshake's answer named the session `sid`: its first request
    /// will [`Sessions::used`] it.
    fn await_first_request(self: &Arc<Self>, sid: String) {
        let mut counts = self.sessions.lock();
        if self.is_pending() && self.sid.set(sid.clone()).is_ok() {
            counts.awaiting.insert(sid, Arc::downgrade(self));
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let pending = self.is_pending();
        let mut counts = self.sessions.lock();
        counts.sessions -= 1;
        if pending {
            counts.pending -= 1;
        }
        if let Some(sid) = self.sid.get() {
            counts.awaiting.remove(sid);
        }
        if let Some(address) = counts.by_address.get_mut(&self.ip) {
            address.sessions -= 1;
            if pending {
                address.pending -= 1;
            }
            if address.sessions == 0 {
                counts.by_address.remove(&self.ip);
            }
        }
    }
}

/// The Socket.IO service behind the caps: a handshake (a request naming no
/// session) is admitted or refused (429 for one address, 503 in total); any
/// other request marks its session as used. A polling session still unused
/// after the deadline is closed, the way its client would close it.
#[derive(Debug, Clone)]
pub struct Gate<S> {
    inner: S,
    sessions: Arc<Sessions>,
    deadline: Duration,
}

impl<S> Gate<S> {
    /// `inner` behind `sessions`' caps; pending sessions closed after `deadline`.
    pub fn new(inner: S, sessions: Arc<Sessions>, deadline: Duration) -> Gate<S> {
        Gate { inner, sessions, deadline }
    }
}

impl<S> Service<Request<Body>> for Gate<S>
where
    S: Service<Request<Body>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each call drives a clone of `inner` to readiness itself.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let gate = self.clone();
        Box::pin(async move { Ok(gate.handle(request).await) })
    }
}

impl<S> Gate<S>
where
    S: Service<Request<Body>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    async fn forward(&self, request: Request<Body>) -> Response {
        let Ok(response) = self.inner.clone().oneshot(request).await;
        response.into_response()
    }

    async fn handle(self, mut request: Request<Body>) -> Response {
        let (protocol, transport) = match what_it_opens(&request) {
            Opens::Nothing => return self.forward(request).await,
            Opens::SessionOf(sid) => {
                self.sessions.used(&sid);
                return self.forward(request).await;
            }
            Opens::Session { protocol, transport } => (protocol, transport),
        };
        // Every request from the daemon's own server carries its peer's address.
        let Some(&ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
            return (StatusCode::INTERNAL_SERVER_ERROR, "no peer address\n").into_response();
        };
        let ip = self.sessions.proxies.client_ip(peer.ip(), request.headers());
        let admission = match self.sessions.admit(ip) {
            Ok(admission) => admission,
            Err(refusal) => {
                tracing::debug!(%ip, ?refusal, "socket.io session refused");
                return self.sessions.refused(refusal);
            }
        };
        let websocket = transport == TransportType::Websocket;
        if websocket {
            admission.activate();
        }
        let path = request.uri().path().to_owned();
        // A handshake: Engine.IO keeps its head with the session.
        request = kept_request::detached(request);
        request.extensions_mut().insert(admission.clone());
        let response = self.forward(request).await;
        if websocket || response.status() != StatusCode::OK {
            return response;
        }
        // A polling handshake: its answer (an Engine.IO open packet) names the session.
        let (parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_HANDSHAKE_BYTES).await else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        match open_packet_sid(&bytes) {
            Some(sid) => {
                admission.await_first_request(sid.clone());
                let close = close_request(&path, protocol, &sid);
                tokio::spawn(self.close_if_unused(Arc::downgrade(&admission), close));
            }
            None => admission.activate(),
        }
        Response::from_parts(parts, Body::from(bytes))
    }

    /// After the deadline, closes the session if it is still pending.
    async fn close_if_unused(self, admission: Weak<Admission>, close: Request<Body>) {
        tokio::time::sleep(self.deadline).await;
        if admission.upgrade().is_some_and(|admission| admission.is_pending()) {
            tracing::debug!("closing a session not used since its handshake");
            self.forward(close).await;
        }
    }
}

/// What Engine.IO will do with a request, read with Engine.IO's own parser
/// so that the caps decide on exactly that.
#[derive(Debug, Clone, PartialEq)]
enum Opens {
    /// Nothing: Engine.IO refuses the request (bad query, method or version).
    Nothing,
    /// A new session (a handshake), over this transport.
    Session { protocol: ProtocolVersion, transport: TransportType },
    /// A request of an existing session (a poll, a post, an upgrade).
    SessionOf(String),
}

fn what_it_opens<B>(request: &Request<B>) -> Opens {
    // The daemon's Engine.IO allows every transport, as the default does.
    match RequestInfo::parse(request, &EngineIoConfig::default()) {
        Err(_) => Opens::Nothing,
        Ok(RequestInfo { sid: Some(sid), .. }) => Opens::SessionOf(sid.to_string()),
        Ok(RequestInfo { sid: None, protocol, transport, .. }) => Opens::Session { protocol, transport },
    }
}

/// A client's request to close polling session `sid`: an Engine.IO close
/// packet, framed for the protocol version of its handshake.
fn close_request(path: &str, protocol: ProtocolVersion, sid: &str) -> Request<Body> {
    let (eio, payload) = match protocol {
        ProtocolVersion::V3 => (3, "1:1"),
        ProtocolVersion::V4 => (4, "1"),
    };
    let uri = format!("{path}?EIO={eio}&transport=polling&sid={sid}");
    let mut request = Request::new(Body::from(payload));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri.parse().unwrap_or_default();
    request
}

/// The session id in a polling handshake's answer: `0{"sid":...}`, or
/// `<length>:0{"sid":...}` for Engine.IO 3.
fn open_packet_sid(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Open {
        sid: String,
    }
    let start = body.iter().position(|&b| b == b'{')?;
    let open = serde_json::Deserializer::from_slice(&body[start..]).into_iter::<Open>().next()?.ok()?;
    Some(open.sid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: Caps = Caps { sessions: 5, per_address: 3, pending: 4, pending_per_address: 2 };

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn pending_sessions_are_capped_lower_than_sessions() {
        let sessions = Arc::new(Sessions::new(CAPS, TrustedProxies::default()));
        let a = sessions.admit(ip(1)).unwrap();
        let b = sessions.admit(ip(1)).unwrap();
        assert_eq!(sessions.admit(ip(1)).unwrap_err(), Refusal::PerAddress, "two pending from one address");
        a.activate();
        b.activate();
        let c = sessions.admit(ip(1)).unwrap();
        c.activate();
        assert_eq!(sessions.admit(ip(1)).unwrap_err(), Refusal::PerAddress, "three sessions from one address");
        let others: Vec<_> = [2, 3].map(|last| sessions.admit(ip(last)).unwrap()).into();
        assert_eq!(sessions.admit(ip(4)).unwrap_err(), Refusal::Total, "five in total");
        drop(others);
        assert_eq!(sessions.totals(), (3, 0));
        drop((a, b, c));
        assert_eq!(sessions.totals(), (0, 0));
        assert!(sessions.lock().by_address.is_empty(), "no address left behind");
    }

    #[test]
    fn a_request_naming_the_session_makes_it_used() {
        let sessions = Arc::new(Sessions::new(CAPS, TrustedProxies::default()));
        let admission = sessions.admit(ip(1)).unwrap();
        admission.await_first_request("abc".into());
        sessions.used("unknown");
        assert!(admission.is_pending());
        sessions.used("abc");
        assert!(!admission.is_pending());
        assert_eq!(sessions.totals(), (1, 0));
        assert!(sessions.lock().awaiting.is_empty());
        drop(admission);
        assert_eq!(sessions.totals(), (0, 0));
    }

    #[test]
    fn the_session_id_is_read_from_either_engine_io_version() {
        assert_eq!(open_packet_sid(br#"0{"sid":"x1","upgrades":["websocket"]}"#).as_deref(), Some("x1"));
        assert_eq!(open_packet_sid(br#"97:0{"sid":"x2","pingInterval":25000}"#).as_deref(), Some("x2"));
        assert_eq!(open_packet_sid(b"0nonsense"), None);
    }

    mod properties {
        use std::sync::Arc;

        use bytes::Bytes;
        use engineioxide::handler::EngineIoHandler;
        use engineioxide::service::EngineIoService;
        use engineioxide::socket::{DisconnectReason, Socket};
        use engineioxide::Str;
        use proptest::prelude::*;

        use super::*;

        /// An Engine.IO handler that does nothing: the real service, to ask
        /// what it does with a request.
        #[derive(Debug)]
        struct Nobody;

        impl EngineIoHandler for Nobody {
            type Data = ();
            fn on_connect(self: Arc<Self>, _: Arc<Socket<()>>) {}
            fn on_disconnect(&self, _: Arc<Socket<()>>, _: DisconnectReason) {}
            fn on_message(self: &Arc<Self>, _: Str, _: Arc<Socket<()>>) {}
            fn on_binary(self: &Arc<Self>, _: Bytes, _: Arc<Socket<()>>) {}
        }

        /// Queries made of the parts Engine.IO reads, spelt every way a
        /// client might: bare, empty, percent-encoded, repeated, unknown.
        fn query() -> impl Strategy<Value = String> {
            let part = prop_oneof![
                Just("EIO=3".to_owned()),
                Just("EIO=4".to_owned()),
                Just("EIO=5".to_owned()),
                Just("E%49O=4".to_owned()),
                Just("transport=polling".to_owned()),
                Just("transport=websocket".to_owned()),
                Just("tr%61nsport=websocket".to_owned()),
                Just("transport=".to_owned()),
                Just("sid".to_owned()),
                Just("sid=".to_owned()),
                Just("s%69d=x".to_owned()),
                Just("sid=AAAAAAAAAAAAAAAA".to_owned()),
                Just("sid=garbage".to_owned()),
                Just("b64=1".to_owned()),
                "[a-z%0-9=]{0,8}",
            ];
            prop::collection::vec(part, 0..7).prop_map(|parts| parts.join("&"))
        }

        proptest! {
            #[test]
            fn the_gate_counts_a_session_exactly_when_engine_io_opens_one(query in query()) {
                let Ok(request) = Request::get(format!("/engine.io/?{query}")).body(Body::empty()) else {
                    return Ok(());
                };
                let opens = what_it_opens(&request);
                let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
                let (status, body) = runtime.block_on(async {
                    let engine = EngineIoService::with_config(Arc::new(Nobody), EngineIoConfig::default());
                    let response = engine.oneshot(request).await.unwrap();
                    let status = response.status();
                    (status, axum::body::to_bytes(Body::new(response.into_body()), 1 << 16).await.unwrap())
                });
                let opened = status == StatusCode::OK && open_packet_sid(&body).is_some();
                match opens {
                    Opens::Session { transport: TransportType::Polling, .. } => prop_assert!(opened),
                    // A websocket handshake without the upgrade's headers opens nothing
                    // either; one with them is a session, as the gate counts it.
                    Opens::Session { transport: TransportType::Websocket, .. } => prop_assert!(!opened),
                    Opens::SessionOf(_) | Opens::Nothing => prop_assert!(!opened, "{query}: {status}"),
                }
            }
        }
    }
}
