//! The pub/sub driver under socketioxide's Redis adapter. The adapter's own
//! redis driver holds a plain multiplexed connection: once Redis restarts,
//! its subscriptions are gone for good. This one runs on redis-rs's
//! `ConnectionManager`, which reconnects and resubscribes by itself, and
//! bounds every command, so that an unreachable Redis fails a publish at
//! once instead of holding a push.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, ErrorKind, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, RedisResult, Value};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::{mpsc, Notify};

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

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// Pub/sub over one managed connection, shared by its clones.
#[derive(Clone)]
pub struct ManagedDriver {
    conn: ConnectionManager,
    handlers: Handlers,
}

impl fmt::Debug for ManagedDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedDriver").finish_non_exhaustive()
    }
}

/// A Redis failure, as the adapter reports it.
#[derive(Debug)]
pub struct DriverError(redis::RedisError);

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DriverError {}

impl From<redis::RedisError> for DriverError {
    fn from(e: redis::RedisError) -> Self {
        DriverError(e)
    }
}

impl ManagedDriver {
    /// Connects to `url`; `dropped` is notified whenever the connection is
    /// lost (what was written to Redis meanwhile may need writing again).
    pub async fn connect(url: &str, dropped: Arc<Notify>) -> Result<(ManagedDriver, ConnectionManager), String> {
        let info = parse_url(url)?;
        // Pub/sub and commands share the connection: that takes RESP3 (Redis 6 and later).
        let settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings)).map_err(|e| format!("--redis-url: {e}"))?;
        let handlers: Handlers = Arc::default();
        let routes = handlers.clone();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_max_delay(MAX_RECONNECT_DELAY)
            .set_number_of_retries(1)
            .set_automatic_resubscription()
            .set_push_sender(move |push: PushInfo| {
                if push.kind == PushKind::Disconnection {
                    dropped.notify_one();
                } else {
                    route(push, &routes);
                }
                Ok::<(), std::convert::Infallible>(())
            });
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| format!("cannot reach Redis (--redis-url): {e}"))?;
        Ok((ManagedDriver { conn: conn.clone(), handlers }, conn))
    }
}

/// Hands a pub/sub message to the adapter's stream for its channel.
fn route(push: PushInfo, handlers: &Handlers) {
    if !matches!(push.kind, PushKind::Message | PushKind::SMessage) {
        return;
    }
    let mut data = push.data.into_iter();
    let (Some(Value::BulkString(channel)), Some(Value::BulkString(message))) = (data.next(), data.next()) else {
        return;
    };
    let channel = String::from_utf8_lossy(&channel).into_owned();
    if let Some(tx) = handlers.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&channel) {
        if tx.try_send((channel, message)).is_err() {
            tracing::warn!("cluster messages arrive faster than this node handles them: one dropped");
        }
    }
}

impl Driver for ManagedDriver {
    type Error = DriverError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), DriverError> {
        bounded(PUSH_TIMEOUT, self.conn.clone().publish::<_, _, Value>(chan, val)).await?;
        Ok(())
    }

    async fn subscribe(&self, chan: String, size: usize) -> Result<MessageStream<ChanItem>, DriverError> {
        let (tx, rx) = mpsc::channel(size);
        self.handlers.write().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(chan.clone(), tx);
        bounded(REDIS_TIMEOUT, self.conn.clone().subscribe(chan)).await?;
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), DriverError> {
        self.handlers.write().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&chan);
        bounded(REDIS_TIMEOUT, self.conn.clone().unsubscribe(chan)).await?;
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, DriverError> {
        let mut conn = self.conn.clone();
        let (_, count): (String, u16) =
            bounded(REDIS_TIMEOUT, redis::cmd("PUBSUB").arg("NUMSUB").arg(chan).query_async(&mut conn)).await?;
        Ok(count)
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
