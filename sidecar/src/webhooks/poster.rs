//! The HTTP client of the webhook: POSTs to one URL, over HTTP/1.1, with
//! kept-alive connections (a few idle ones are kept), TLS for `https://`
//! (the system's certificate authorities), and one deadline for the whole
//! exchange: connecting, sending, and reading the answer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

/// Idle connections kept for the next requests.
const MOST_IDLE: usize = 8;

/// Largest answer read from the application.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// What the application answered.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum PostError {
    /// The deadline passed.
    Timeout,
    /// Connecting or the exchange failed.
    Failed(String),
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostError::Timeout => f.write_str("the application did not answer in time (--webhook-timeout-ms)"),
            PostError::Failed(why) => write!(f, "the application could not be reached: {why}"),
        }
    }
}

/// Posts to the webhook URL.
#[derive(Clone)]
pub struct Poster {
    uri: Uri,
    host: String,
    port: u16,
    tls: Option<TlsConnector>,
    idle: Arc<Mutex<Vec<SendRequest<Full<Bytes>>>>>,
    deadline: Duration,
}

impl std::fmt::Debug for Poster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poster").field("uri", &self.uri).finish_non_exhaustive()
    }
}

impl Poster {
    /// A client of `url` (checked by the settings) whose exchanges last at most `deadline`.
    pub fn new(url: &str, deadline: Duration) -> Result<Poster, String> {
        let uri: Uri = url.parse().map_err(|e| format!("--webhook-url {url}: {e}"))?;
        let https = uri.scheme_str() == Some("https");
        let host = uri.host().ok_or_else(|| format!("--webhook-url {url} names no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = match https {
            false => None,
            true => Some(tls_connector()?),
        };
        Ok(Poster { uri, host, port, tls, idle: Arc::default(), deadline })
    }

    /// POSTs `body` (JSON) with `headers`; the application's answer, whatever its status.
    pub async fn post(&self, body: Bytes, headers: &[(&'static str, String)]) -> Result<Answer, PostError> {
        timeout(self.deadline, self.exchange(body, headers)).await.map_err(|_| PostError::Timeout)?
    }

    async fn exchange(&self, body: Bytes, headers: &[(&'static str, String)]) -> Result<Answer, PostError> {
        let failed = |e: &dyn std::fmt::Display| PostError::Failed(e.to_string());
        let idle = self.idle.lock().expect("the idle connections").pop();
        let (mut sender, reused) = match idle {
            Some(sender) if !sender.is_closed() => (sender, true),
            _ => (self.connect().await?, false),
        };
        let response = match sender.send_request(self.request(body.clone(), headers)).await {
            Ok(response) => response,
            // A kept-alive connection the application closed meanwhile: once more on a new one.
            Err(e) if reused && (e.is_canceled() || e.is_incomplete_message() || e.is_closed()) => {
                sender = self.connect().await?;
                sender.send_request(self.request(body, headers)).await.map_err(|e| failed(&e))?
            }
            Err(e) => return Err(failed(&e)),
        };
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| failed(&format!("reading the answer: {e}")))?
            .to_bytes();
        let mut idle = self.idle.lock().expect("the idle connections");
        if idle.len() < MOST_IDLE && !sender.is_closed() {
            idle.push(sender);
        }
        Ok(Answer { status, body })
    }

    fn request(&self, body: Bytes, headers: &[(&'static str, String)]) -> Request<Full<Bytes>> {
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let authority = self.uri.authority().map_or(self.host.as_str(), |a| a.as_str());
        let mut request = Request::post(path)
            .header(header::HOST, authority)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, concat!("msgpushd/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.body(Full::new(body)).expect("a request of valid parts")
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, PostError> {
        let failed = |e: &dyn std::fmt::Display| PostError::Failed(format!("{}:{}: {e}", self.host, self.port));
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| failed(&e))?;
        tcp.set_nodelay(true).ok();
        match &self.tls {
            None => handshake(TokioIo::new(tcp)).await.map_err(|e| failed(&e)),
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|e| failed(&e))?;
                let stream = tls.connect(name, tcp).await.map_err(|e| failed(&e))?;
                handshake(TokioIo::new(stream)).await.map_err(|e| failed(&e))
            }
        }
    }
}

/// HTTP/1.1 over `io`, its connection driven by a task of its own until
/// either side closes it.
async fn handshake<T>(io: T) -> hyper::Result<SendRequest<Full<Bytes>>>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(io).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(cause = %e, "a webhook connection failed");
        }
    });
    Ok(sender)
}

/// TLS with the system's certificate authorities.
fn tls_connector() -> Result<TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        roots.add(cert).ok();
    }
    if roots.is_empty() {
        return Err("--webhook-url is https://, but no certificate authority was found on this system \
                    (install ca-certificates)"
            .to_owned());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
