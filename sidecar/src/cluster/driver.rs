//! The connection to Redis: redis-rs's `ConnectionManager`, which
//! reconnects and resubscribes by itself, carrying commands and pub/sub
//! together (RESP3), with every command bounded, so that an unreachable
//! Redis fails a push at once instead of holding it. The messages of the
//! channels this node subscribes to are handed to a bounded queue.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, RedisResult, Value};
use tokio::sync::{mpsc, Notify};

use crate::telemetry::metrics::METRICS;

/// Longest wait for Redis on a push's path (counting its sockets,
/// publishing it): well within the extension's default `msgpush.timeout_ms`
/// of 1 s, even for both calls.
pub const PUSH_TIMEOUT: Duration = Duration::from_millis(300);

/// Longest wait for Redis elsewhere (the census, the online count,
/// subscribing, connecting): long enough not to take a busy machine's slow
/// answer for an outage.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest pause between two attempts to reconnect.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// `call`, failed if Redis has not answered within `limit` (the connection
/// manager would otherwise hold it while it reconnects).
pub async fn bounded<T>(limit: Duration, call: impl Future<Output = RedisResult<T>>) -> RedisResult<T> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| Err((ErrorKind::Io, "no answer from Redis in time").into()))
}

/// The connection settings in `url`; the error leaves the URL out, as it
/// may hold a password.
pub fn parse_url(url: &str) -> Result<redis::ConnectionInfo, String> {
    url.into_connection_info()
        .map_err(|e| format!("--redis-url is not a Redis URL such as redis://:PASSWORD@HOST:6379 ({e})"))
}

/// A message of a subscribed channel: the channel, the payload.
pub type Message = (Vec<u8>, Vec<u8>);

/// Connects to `url`. `dropped` is notified whenever the connection is lost
/// (what was written to Redis meanwhile may need writing again); the
/// messages of subscribed channels go to `messages`, or are dropped and
/// counted when it is full.
pub async fn connect(
    url: &str,
    dropped: Arc<Notify>,
    messages: mpsc::Sender<Message>,
) -> Result<ConnectionManager, String> {
    let info = parse_url(url)?;
    // Pub/sub and commands share the connection: that takes RESP3 (Redis 6 and later).
    let settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(settings)).map_err(|e| format!("--redis-url: {e}"))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_max_delay(MAX_RECONNECT_DELAY)
        .set_number_of_retries(1)
        .set_automatic_resubscription()
        .set_push_sender(move |push: PushInfo| {
            if push.kind == PushKind::Disconnection {
                dropped.notify_one();
            } else if let Some(message) = message_of(push) {
                if messages.try_send(message).is_err() {
                    METRICS.cluster_message_dropped();
                }
            }
            Ok::<(), std::convert::Infallible>(())
        });
    ConnectionManager::new_with_config(client, config)
        .await
        .map_err(|e| format!("cannot reach Redis (--redis-url): {e}"))
}

/// The channel and payload of a pub/sub message.
fn message_of(push: PushInfo) -> Option<Message> {
    if !matches!(push.kind, PushKind::Message | PushKind::SMessage) {
        return None;
    }
    let mut data = push.data.into_iter();
    match (data.next(), data.next()) {
        (Some(Value::BulkString(channel)), Some(Value::BulkString(message))) => Some((channel, message)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_url_is_refused_without_repeating_it() {
        assert!(parse_url("redis://:pw@10.0.0.9:6379/2").is_ok());
        let error = parse_url("http://:hunter2@x").unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }
}
