//! Who is online across a cluster, kept in Redis so that any node can count
//! a push's sockets and show cluster totals in `update_online_count`.
//!
//! Each node keeps its own hash (`PREFIX:node:ID`: uid -> sockets on that
//! node) and adds it into the cluster's (`PREFIX:uids`, and the total in
//! `PREFIX:sockets`), by Lua scripts, so that the two always agree. A node
//! writes absolute counts, so a write that failed is simply made again; after
//! Redis was lost it writes its whole hash anew. A node proves it is alive
//! five times per node TTL (`--cluster-node-ttl-secs`); one silent for the
//! TTL (killed, cut off) is taken out of the totals by whichever node
//! notices first. Node ids are random per start, so a restarted node never
//! counts twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::cluster::driver::{bounded, PUSH_TIMEOUT, REDIS_TIMEOUT};
use crate::state::presence::{OnlineCounts, Presence, UidSockets};

/// Heartbeats per node TTL: a node is dropped only after missing several.
const BEATS_PER_TTL: u32 = 5;

/// Removes a node's hash from the cluster totals. KEYS: node hash, uids, sockets.
const FORGET: &str = r"
local old = redis.call('HGETALL', KEYS[1])
for i = 1, #old, 2 do
  local n = tonumber(old[i + 1])
  if redis.call('HINCRBY', KEYS[2], old[i], -n) <= 0 then redis.call('HDEL', KEYS[2], old[i]) end
  redis.call('INCRBY', KEYS[3], -n)
end
redis.call('DEL', KEYS[1])
";

/// Sets some of a node's counts and moves the totals by the difference.
/// KEYS: node hash, uids, sockets; ARGV: uid, count, uid, count...
const SET_COUNTS: &str = r"
for i = 1, #ARGV, 2 do
  local uid, new = ARGV[i], tonumber(ARGV[i + 1])
  local old = tonumber(redis.call('HGET', KEYS[1], uid) or '0')
  if new ~= old then
    if new > 0 then redis.call('HSET', KEYS[1], uid, new) else redis.call('HDEL', KEYS[1], uid) end
    if redis.call('HINCRBY', KEYS[2], uid, new - old) <= 0 then redis.call('HDEL', KEYS[2], uid) end
    redis.call('INCRBY', KEYS[3], new - old)
  end
end
";

/// Takes nodes whose heartbeat expired out of the totals. KEYS: nodes set,
/// uids, sockets, connected; ARGV: key prefix. Returns how many.
const REAP: &str = r"
local reaped = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. ':alive:' .. id) == 0 then
    local node = ARGV[1] .. ':node:' .. id
    local old = redis.call('HGETALL', node)
    for i = 1, #old, 2 do
      local n = tonumber(old[i + 1])
      if redis.call('HINCRBY', KEYS[2], old[i], -n) <= 0 then redis.call('HDEL', KEYS[2], old[i]) end
      redis.call('INCRBY', KEYS[3], -n)
    end
    redis.call('DEL', node)
    redis.call('SREM', KEYS[1], id)
    redis.call('HDEL', KEYS[4], id)
    reaped = reaped + 1
  end
end
return reaped
";

static SET_COUNTS_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(SET_COUNTS));
/// Forgets the node's hash, then sets the counts given (none: leaves).
static REPLACE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{FORGET}{SET_COUNTS}")));
static REAP_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(REAP));

/// This node's place in the cluster census.
pub struct Census {
    conn: ConnectionManager,
    node: String,
    keys: Keys,
    /// How long a node may stay silent before its sockets stop being counted.
    ttl: Duration,
    /// Notified when the Redis connection was lost.
    dropped: Arc<Notify>,
    reachable: AtomicBool,
}

impl std::fmt::Debug for Census {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Census").field("node", &self.node).finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Keys {
    prefix: String,
    node: String,
    alive: String,
    uids: String,
    sockets: String,
    nodes: String,
    connected: String,
}

impl Census {
    /// This node (a new random id) in the census kept under `prefix`, over
    /// `conn`, dropped by the others after `ttl` of silence; `dropped` is
    /// notified when the connection is lost.
    pub fn new(conn: ConnectionManager, prefix: &str, ttl: Duration, dropped: Arc<Notify>) -> Census {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).expect("the system's random source");
        let node: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let keys = Keys {
            prefix: prefix.to_owned(),
            node: format!("{prefix}:node:{node}"),
            alive: format!("{prefix}:alive:{node}"),
            uids: format!("{prefix}:uids"),
            sockets: format!("{prefix}:sockets"),
            nodes: format!("{prefix}:nodes"),
            connected: format!("{prefix}:connected"),
        };
        Census { conn, node, keys, ttl, dropped, reachable: AtomicBool::new(true) }
    }

    /// This node's id in the census.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether Redis answered this node's last heartbeat or write. While it
    /// does not, pushes do not wait for it; a single slow answer elsewhere
    /// does not count as an outage.
    pub fn reachable(&self) -> bool {
        self.reachable.load(Ordering::Acquire)
    }

    /// Fails at once while Redis is known to be unreachable.
    fn while_reachable(&self) -> redis::RedisResult<()> {
        if self.reachable() {
            return Ok(());
        }
        Err((redis::ErrorKind::Io, "redis unreachable").into())
    }

    /// Sockets logged in as any of `uids` (distinct) on every node.
    pub async fn sockets_of_all(&self, uids: &[String]) -> redis::RedisResult<usize> {
        self.while_reachable()?;
        if uids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn.clone();
        let counts: Vec<Option<usize>> =
            bounded(PUSH_TIMEOUT, redis::cmd("HMGET").arg(&self.keys.uids).arg(uids).query_async(&mut conn)).await?;
        Ok(counts.into_iter().flatten().sum())
    }

    /// Distinct uids and sockets logged in across the cluster.
    pub async fn counts(&self) -> redis::RedisResult<OnlineCounts> {
        self.while_reachable()?;
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.hlen(&self.keys.uids).get(&self.keys.sockets);
        let (uids, sockets): (usize, Option<i64>) = bounded(REDIS_TIMEOUT, pipe.query_async(&mut conn)).await?;
        Ok(OnlineCounts { uids, sockets: usize::try_from(sockets.unwrap_or(0)).unwrap_or(0) })
    }

    /// Sockets connected to every node, logged in or not, as each node last
    /// wrote them (at a login or logout, and at each heartbeat).
    pub async fn connected(&self) -> redis::RedisResult<usize> {
        self.while_reachable()?;
        let mut conn = self.conn.clone();
        let counts: Vec<usize> =
            bounded(PUSH_TIMEOUT, redis::cmd("HVALS").arg(&self.keys.connected).query_async(&mut conn)).await?;
        Ok(counts.into_iter().sum())
    }

    /// Every node in the census with its connected sockets, by node id.
    pub async fn nodes(&self) -> redis::RedisResult<Vec<(String, usize)>> {
        self.while_reachable()?;
        let mut conn = self.conn.clone();
        bounded(REDIS_TIMEOUT, redis::cmd("HGETALL").arg(&self.keys.connected).query_async(&mut conn)).await
    }

    /// Notes the outcome of a heartbeat or a write, so that an outage is
    /// logged once when it starts and once when it ends.
    fn outcome<T>(&self, result: redis::RedisResult<T>) -> redis::RedisResult<T> {
        match &result {
            Ok(_) => {
                if !self.reachable.swap(true, Ordering::AcqRel) {
                    tracing::info!("redis reachable again: cluster delivery and counts resume");
                }
            }
            Err(cause) => {
                if self.reachable.swap(false, Ordering::AcqRel) {
                    tracing::error!(
                        %cause,
                        "redis unreachable: this node serves its own browsers only, and counts only them, \
                         until it is back"
                    );
                }
            }
        }
        result
    }

    /// Copies `presence` to Redis as it changes, beats the heartbeat and
    /// reaps dead nodes until `shutdown`; then leaves the census.
    /// `connected` says how many sockets this node has.
    pub async fn run(
        self: Arc<Self>,
        presence: Arc<Presence>,
        connected: impl Fn() -> usize,
        shutdown: CancellationToken,
    ) {
        let mut heartbeat = tokio::time::interval(self.ttl / BEATS_PER_TTL);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut whole = true;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.dropped.notified() => whole = true,
                _ = presence.changed() => {}
                _ = heartbeat.tick() => {
                    if !matches!(self.beat(connected()).await, Ok(true)) {
                        whole = true;
                    }
                }
            }
            let counts = if whole { presence.snapshot() } else { presence.take_changes() };
            if whole || !counts.is_empty() {
                whole = self.write(whole, counts, connected()).await.is_err();
            }
        }
        self.leave().await;
    }

    /// Writes `counts` (with `whole`, this node's every count, replacing
    /// what Redis holds for it), and the sockets `connected` to this node.
    async fn write(&self, whole: bool, counts: Vec<UidSockets>, connected: usize) -> redis::RedisResult<()> {
        let script = if whole { &*REPLACE_SCRIPT } else { &*SET_COUNTS_SCRIPT };
        let mut invocation = script.key(&self.keys.node);
        invocation.key(&self.keys.uids).key(&self.keys.sockets);
        for (uid, n) in &counts {
            invocation.arg(&**uid).arg(n);
        }
        let mut conn = self.conn.clone();
        self.outcome(bounded(REDIS_TIMEOUT, invocation.invoke_async::<()>(&mut conn)).await)?;
        self.outcome(
            bounded(REDIS_TIMEOUT, conn.hset::<_, _, _, ()>(&self.keys.connected, &self.node, connected)).await,
        )
    }

    /// Proves this node alive, and takes dead ones out of the totals.
    /// Returns whether Redis still knew this node (not if it restarted
    /// empty, or reaped this node after a long pause).
    async fn beat(&self, connected: usize) -> redis::RedisResult<bool> {
        let mut pipe = redis::pipe();
        pipe.exists(&self.keys.alive)
            .pset_ex(&self.keys.alive, 1, self.ttl.as_millis().try_into().unwrap_or(u64::MAX))
            .ignore()
            .sadd(&self.keys.nodes, &self.node)
            .ignore()
            .hset(&self.keys.connected, &self.node, connected)
            .ignore();
        let mut conn = self.conn.clone();
        let (known,): (bool,) = self.outcome(bounded(REDIS_TIMEOUT, pipe.query_async(&mut conn)).await)?;
        let mut reap = REAP_SCRIPT.key(&self.keys.nodes);
        reap.key(&self.keys.uids).key(&self.keys.sockets).key(&self.keys.connected).arg(&self.keys.prefix);
        let reaped: u64 = self.outcome(bounded(REDIS_TIMEOUT, reap.invoke_async(&mut conn)).await)?;
        if reaped > 0 {
            tracing::warn!(nodes = reaped, ttl = ?self.ttl, "silent nodes are no longer counted");
        }
        Ok(known)
    }

    /// Takes this node out of the census (at shutdown).
    async fn leave(&self) {
        let mut forget = REPLACE_SCRIPT.key(&self.keys.node);
        forget.key(&self.keys.uids).key(&self.keys.sockets);
        let mut pipe = redis::pipe();
        pipe.srem(&self.keys.nodes, &self.node).hdel(&self.keys.connected, &self.node).del(&self.keys.alive);
        let mut conn = self.conn.clone();
        let left = match bounded(REDIS_TIMEOUT, forget.invoke_async::<()>(&mut conn)).await {
            Ok(()) => bounded(REDIS_TIMEOUT, pipe.query_async::<()>(&mut conn)).await,
            Err(e) => Err(e),
        };
        if let Err(e) = left {
            tracing::warn!(cause = %e, ttl = ?self.ttl, "could not leave the cluster census; the others drop this node after the ttl");
        }
    }
}
