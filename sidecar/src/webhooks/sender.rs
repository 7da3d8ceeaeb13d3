//! The queue of events to the application and the task that sends it: in
//! batches (an event waits at most `--webhook-batch-ms` for others, a
//! request carries at most `--webhook-batch-size`), one request at a time so
//! that events arrive in the order they happened, each request retried with
//! a growing pause while the application does not answer 2xx, for
//! `--webhook-retry-secs`. The queue is bounded (`--webhook-queue-size`):
//! what does not fit is dropped, counted and logged once per interval.
//! What is queued lives in memory: a restart loses the events not yet sent.
//!
//! A page's message is not queued: it is posted at once, on its own, and
//! the application's answer goes back to the page.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use msgpush_protocol::WebhookCheck;
use serde_json::{json, Value};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::settings::flags::{Config, EventKind};
use crate::telemetry::metrics::METRICS;
use crate::webhooks::event::{self, Event, PAGE_MESSAGE};
use crate::webhooks::poster::{PostError, Poster};
use crate::webhooks::signature::{self, Refusal, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// The first pause before a request is tried again; it doubles up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(500);

/// The longest pause between two tries of a request.
const LONGEST_PAUSE: Duration = Duration::from_secs(30);

/// Shortest time between two log lines about dropped events.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The events' side of the daemon: what every part that sees an event
/// offers it to, and what checks a webhook request's signature. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Webhooks(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// None: no --webhook-url.
    target: Option<Target>,
    enabled: HashSet<EventKind>,
    queue: Mutex<Queue>,
    arrived: Notify,
    batch_wait: Duration,
    batch_size: usize,
    retry_for: Duration,
    pages: PageMessages,
}

/// Where requests go, and the secret they are signed with.
#[derive(Debug)]
struct Target {
    poster: Poster,
    secret: Vec<u8>,
}

#[derive(Debug)]
struct Queue {
    events: VecDeque<Event>,
    capacity: usize,
    /// Events dropped since the last log line, and when that was.
    unlogged: usize,
    logged_at: Option<Instant>,
}

/// What pages may send.
#[derive(Debug)]
struct PageMessages {
    names: Vec<String>,
    max_bytes: usize,
    pending: Semaphore,
}

/// Why a page's message got no answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Unanswered {
    /// Refused before it was sent (its name, size, or too many waiting).
    Refused(String),
    /// The application failed, or did not answer in time.
    Failed(String),
}

impl Webhooks {
    /// The events of `config`: none without `--webhook-url` (no secret is
    /// read or created then).
    pub fn new(config: &Config) -> Result<Webhooks, String> {
        let target = match &config.webhook_url {
            None => None,
            Some(url) => {
                let secret = crate::auth::secret::load_or_create(&config.webhook_secret_file)
                    .map_err(|e| format!("the webhook secret: {e}"))?;
                let poster = Poster::new(url, Duration::from_millis(config.webhook_timeout_ms))?;
                Some(Target { poster, secret })
            }
        };
        let queue =
            Queue { events: VecDeque::new(), capacity: config.webhook_queue_size, unlogged: 0, logged_at: None };
        Ok(Webhooks(Arc::new(Inner {
            target,
            enabled: config.webhook_events.iter().copied().collect(),
            queue: Mutex::new(queue),
            arrived: Notify::new(),
            batch_wait: Duration::from_millis(config.webhook_batch_ms),
            batch_size: config.webhook_batch_size,
            retry_for: Duration::from_secs(config.webhook_retry_secs),
            pages: PageMessages {
                names: config.page_messages.clone(),
                max_bytes: config.max_page_message_bytes,
                pending: Semaphore::new(config.max_pending_page_messages),
            },
        })))
    }

    /// Queues an event of `kind` with `data`, if events are sent and this
    /// kind is one of them; drops (and counts) it when the queue is full.
    pub fn offer(&self, kind: EventKind, data: Value) {
        if self.0.target.is_none() || !self.0.enabled.contains(&kind) {
            return;
        }
        let name = event::name(kind);
        METRICS.webhook_event(name);
        let mut queue = self.0.queue.lock().expect("the webhook queue");
        if queue.events.len() >= queue.capacity {
            queue.unlogged += 1;
            METRICS.webhook_dropped("full", 1);
            if queue.logged_at.is_none_or(|at| at.elapsed() >= LOG_INTERVAL) {
                tracing::warn!(
                    dropped = queue.unlogged,
                    "webhook events arrive faster than the application takes them (--webhook-queue-size): dropped"
                );
                queue.unlogged = 0;
                queue.logged_at = Some(Instant::now());
            }
            return;
        }
        queue.events.push_back(Event::new(name, data));
        drop(queue);
        self.0.arrived.notify_one();
    }

    /// Events waiting to be sent, for the metrics.
    pub fn waiting(&self) -> usize {
        self.0.queue.lock().expect("the webhook queue").events.len()
    }

    /// The events of a webhook request, if msgpushd signed it (with this
    /// daemon's secret) less than 5 minutes ago.
    pub fn check(&self, request: &WebhookCheck) -> Result<Vec<Value>, String> {
        let Some(target) = &self.0.target else {
            return Err("this msgpushd sends no webhooks (no --webhook-url), so it signed no request".to_owned());
        };
        let body = request.body.as_bytes();
        signature::check(&target.secret, &request.timestamp, &request.signature, body, now_secs())
            .map_err(|refusal: Refusal| refusal.to_string())?;
        let parsed: Value =
            serde_json::from_slice(body).map_err(|e| format!("the body is not msgpushd's JSON: {e}"))?;
        match parsed {
            Value::Object(mut fields) => match fields.remove("events") {
                Some(Value::Array(events)) => Ok(events),
                _ => Err("the body holds no events".to_owned()),
            },
            _ => Err("the body holds no events".to_owned()),
        }
    }

    /// Sends a message of `uid`'s page (`name`, `data`) to the application
    /// and returns its answer: the JSON it answered (null for an empty body).
    pub async fn ask(&self, uid: &str, name: &str, data: Value) -> Result<Value, Unanswered> {
        let pages = &self.0.pages;
        let Some(target) = &self.0.target else {
            return Err(Unanswered::Refused("this site takes no messages from pages".into()));
        };
        if !pages.names.iter().any(|allowed| allowed == name) {
            return Err(Unanswered::Refused(format!("'{name}' is not a message this site takes (--page-messages)")));
        }
        let size = serde_json::to_vec(&data).map_or(usize::MAX, |json| json.len());
        if size > pages.max_bytes {
            return Err(Unanswered::Refused(format!(
                "the message's data is {size} bytes, over {} (--max-page-message-bytes)",
                pages.max_bytes
            )));
        }
        let Ok(_pending) = pages.pending.try_acquire() else {
            return Err(Unanswered::Refused("too many messages wait for the application; try again".into()));
        };
        let event = Event::new(PAGE_MESSAGE, json!({ "uid": uid, "name": name, "data": data }));
        let started = Instant::now();
        let answer = post(target, &event::body(std::slice::from_ref(&event))).await;
        let seconds = started.elapsed().as_secs_f64();
        match answer {
            Ok(answer) if (200..300).contains(&answer.status) => {
                METRICS.webhook_request("ok", seconds, 0);
                if answer.body.iter().all(u8::is_ascii_whitespace) {
                    return Ok(Value::Null);
                }
                serde_json::from_slice(&answer.body)
                    .map_err(|_| Unanswered::Failed("the application's answer is not JSON".into()))
            }
            Ok(answer) => {
                METRICS.webhook_request("refused", seconds, 0);
                Err(Unanswered::Failed(format!("the application answered {}", answer.status)))
            }
            Err(e) => {
                METRICS.webhook_request("failed", seconds, 0);
                Err(Unanswered::Failed(e.to_string()))
            }
        }
    }

    /// Sends the queued events until shutdown (what is still queued then is lost).
    pub async fn run(self, shutdown: CancellationToken) {
        let Some(target) = &self.0.target else { return };
        loop {
            let Some(batch) = self.next_batch(&shutdown).await else { return };
            let body = event::body(&batch);
            let first_try = Instant::now();
            let mut pause = FIRST_PAUSE;
            loop {
                let started = Instant::now();
                let outcome = post(target, &body).await;
                let seconds = started.elapsed().as_secs_f64();
                let why = match outcome {
                    Ok(answer) if (200..300).contains(&answer.status) => {
                        METRICS.webhook_request("ok", seconds, batch.len());
                        break;
                    }
                    Ok(answer) => {
                        METRICS.webhook_request("refused", seconds, 0);
                        format!("the application answered {}", answer.status)
                    }
                    Err(e) => {
                        METRICS.webhook_request("failed", seconds, 0);
                        e.to_string()
                    }
                };
                if first_try.elapsed() + pause > self.0.retry_for {
                    METRICS.webhook_dropped("expired", batch.len());
                    tracing::warn!(
                        events = batch.len(),
                        cause = why,
                        "webhook events dropped after --webhook-retry-secs"
                    );
                    break;
                }
                tracing::debug!(cause = why, retry_in_ms = pause.as_millis() as u64, "webhook request failed");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.cancelled() => return,
                }
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
    }

    /// The next events to send: once one is queued, those queued within
    /// the batch's wait (or as soon as a batch is full). None at shutdown.
    async fn next_batch(&self, shutdown: &CancellationToken) -> Option<Vec<Event>> {
        let inner = &self.0;
        let waiting = || inner.queue.lock().expect("the webhook queue").events.len();
        while waiting() == 0 {
            tokio::select! {
                _ = inner.arrived.notified() => {}
                _ = shutdown.cancelled() => return None,
            }
        }
        let deadline = tokio::time::Instant::now() + inner.batch_wait;
        while waiting() < inner.batch_size {
            tokio::select! {
                _ = inner.arrived.notified() => {}
                _ = tokio::time::sleep_until(deadline) => break,
                _ = shutdown.cancelled() => return None,
            }
        }
        let mut queue = inner.queue.lock().expect("the webhook queue");
        let take = queue.events.len().min(inner.batch_size);
        Some(queue.events.drain(..take).collect())
    }
}

/// Posts `body`, signed now.
async fn post(target: &Target, body: &[u8]) -> Result<crate::webhooks::poster::Answer, PostError> {
    let timestamp = now_secs();
    let headers = [
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (SIGNATURE_HEADER, signature::sign(&target.secret, timestamp, body)),
    ];
    target.poster.post(Bytes::copy_from_slice(body), &headers).await
}

fn now_secs() -> u64 {
    crate::store::entry::now_ms() / 1000
}
