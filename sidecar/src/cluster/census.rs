//! Who is online across a cluster, kept in Redis so that any node can count
//! a push's sockets, answer who is online, show cluster totals in
//! `update_online_count`, and tell arrivals and departures (on the site and
//! in each group) once for the whole cluster.
//!
//! Each node keeps its own hash (`PREFIX:node:ID`: each count of its
//! presence) and adds it into the cluster's totals by Lua scripts, so that
//! the two always agree: per user, their tabs (`PREFIX:uids`, with the total
//! in `PREFIX:sockets` and the uids, for paging, in the sorted set
//! `PREFIX:online`); per group, each member's tabs in it (`PREFIX:g:GROUP`,
//! `PREFIX:gm:GROUP`) and its tabs (`PREFIX:gtabs`). A total that goes from
//! zero up is an arrival, unless a departure of the same user from the same
//! place is pending (a reload); one that goes down to zero is a departure,
//! pending in `PREFIX:leaving` until the grace ends, when whichever node
//! takes it first announces it. A node writes absolute counts, so a write
//! that failed is simply made again; after Redis was lost it writes its
//! whole hash anew. A node proves it is alive five times per node TTL
//! (`--cluster-node-ttl-secs`); one silent for the TTL (killed, cut off) is
//! taken out of the totals by whichever node notices first. Node ids are
//! random per start, so a restarted node never counts twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::cluster::driver::{bounded, PUSH_TIMEOUT, REDIS_TIMEOUT};
use crate::state::presence::{Count, Key, OnlineCounts, Presence, Scope};

/// Heartbeats per node TTL: a node is dropped only after missing several.
const BEATS_PER_TTL: u32 = 5;

/// Departures taken at once by one node.
const DUE_BATCH: usize = 1000;

/// What every script below shares. ARGV[1] is the key prefix, ARGV[2] the
/// grace of departures in milliseconds. A count's field is
/// `LEN:SCOPE` followed by the uid, the scope empty for the site.
const COMMON: &str = r"
local prefix, grace = ARGV[1], tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local arrivals = {}
local function parse(f)
  local colon = string.find(f, ':', 1, true)
  local n = tonumber(string.sub(f, 1, colon - 1))
  return string.sub(f, colon + 1, colon + n), string.sub(f, colon + n + 1)
end
local function move(f, delta)
  local scope, uid = parse(f)
  local hash, zset = prefix .. ':uids', prefix .. ':online'
  if scope ~= '' then hash, zset = prefix .. ':g:' .. scope, prefix .. ':gm:' .. scope end
  local after = redis.call('HINCRBY', hash, uid, delta)
  local before = after - delta
  if after <= 0 then
    redis.call('HDEL', hash, uid)
    redis.call('ZREM', zset, uid)
  elseif before <= 0 then
    redis.call('ZADD', zset, 0, uid)
  end
  if scope == '' then
    redis.call('INCRBY', prefix .. ':sockets', delta)
  elseif redis.call('HINCRBY', prefix .. ':gtabs', scope, delta) <= 0 then
    redis.call('HDEL', prefix .. ':gtabs', scope)
  end
  if before <= 0 and after > 0 then
    if redis.call('ZREM', prefix .. ':leaving', f) == 0 then table.insert(arrivals, f) end
  elseif before > 0 and after <= 0 then
    redis.call('ZADD', prefix .. ':leaving', now + grace, f)
  end
end
local function forget(node)
  local old = redis.call('HGETALL', node)
  for i = 1, #old, 2 do move(old[i], -tonumber(old[i + 1])) end
  redis.call('DEL', node)
end
";

/// A Lua function `count(kind, names, except)` for the scripts that
/// publish a push, so that counting its sockets takes no round trip of its
/// own: the sockets of the users `names` (kind `users`), those of every
/// node but the tabs of `except` (`all`); -1 for groups, which only the
/// nodes can count: a tab in two of them counts once, and a tab that
/// joined a group just before the push is in it on its node before the
/// census says so. Needs `P`, the prefix.
pub const COUNT: &str = r"
local function sum_fields(hash, fields)
  local total = 0
  for i = 1, #fields, 1000 do
    for _, v in ipairs(redis.call('HMGET', hash, unpack(fields, i, math.min(i + 999, #fields)))) do
      if v then total = total + tonumber(v) end
    end
  end
  return total
end
local function count(kind, names, except)
  if kind == 'users' then return sum_fields(P .. ':uids', names) end
  if kind == 'all' then
    local all = 0
    for _, v in ipairs(redis.call('HVALS', P .. ':connected')) do all = all + tonumber(v) end
    return math.max(0, all - sum_fields(P .. ':uids', except))
  end
  return -1
end
";

/// Sets some of a node's counts and moves the totals by the difference.
/// KEYS: node hash; ARGV: prefix, grace, field, count, field, count...
/// Returns the arrivals to announce.
const SET_COUNTS: &str = r"
for i = 3, #ARGV, 2 do
  local f, new = ARGV[i], tonumber(ARGV[i + 1])
  local old = tonumber(redis.call('HGET', KEYS[1], f) or '0')
  if new ~= old then
    if new > 0 then redis.call('HSET', KEYS[1], f, new) else redis.call('HDEL', KEYS[1], f) end
    move(f, new - old)
  end
end
return arrivals
";

/// Takes nodes whose heartbeat expired out of the totals. KEYS: nodes set,
/// connected; ARGV: prefix, grace. Returns how many.
const REAP: &str = r"
local reaped = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', prefix .. ':alive:' .. id) == 0 then
    forget(prefix .. ':node:' .. id)
    redis.call('SREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    reaped = reaped + 1
  end
end
return reaped
";

/// Takes the departures whose grace has ended. KEYS: the pending
/// departures; ARGV: prefix, grace, most to take. Returns them.
const DUE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, f in ipairs(due) do redis.call('ZREM', KEYS[1], f) end
return due
";

static SET_COUNTS_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{COMMON}{SET_COUNTS}")));
/// Forgets the node's hash, then sets the counts given (none: leaves).
static REPLACE_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{COMMON}forget(KEYS[1])\n{SET_COUNTS}")));
static REAP_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{COMMON}{REAP}")));
static DUE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{COMMON}{DUE}")));

/// Arrivals and departures the census found, to announce.
#[derive(Debug, Default)]
pub struct Changes {
    /// Who arrived where.
    pub arrived: Vec<Key>,
    /// Who left where, once the grace ended.
    pub left: Vec<Key>,
}

/// This node's place in the cluster census.
pub struct Census {
    conn: ConnectionManager,
    node: String,
    keys: Keys,
    /// How long a node may stay silent before its sockets stop being counted.
    ttl: Duration,
    /// Departures are announced after this.
    grace: Duration,
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
    online: String,
    sockets: String,
    gtabs: String,
    leaving: String,
    nodes: String,
    connected: String,
}

impl Census {
    /// This node (id `node`) in the census kept under `prefix`, over
    /// `conn`, dropped by the others after `ttl` of silence, announcing
    /// departures after `grace`; `dropped` is notified when the connection
    /// is lost.
    pub fn new(
        conn: ConnectionManager,
        prefix: &str,
        node: String,
        ttl: Duration,
        grace: Duration,
        dropped: Arc<Notify>,
    ) -> Census {
        let keys = Keys {
            prefix: prefix.to_owned(),
            node: format!("{prefix}:node:{node}"),
            alive: format!("{prefix}:alive:{node}"),
            uids: format!("{prefix}:uids"),
            online: format!("{prefix}:online"),
            sockets: format!("{prefix}:sockets"),
            gtabs: format!("{prefix}:gtabs"),
            leaving: format!("{prefix}:leaving"),
            nodes: format!("{prefix}:nodes"),
            connected: format!("{prefix}:connected"),
        };
        Census { conn, node, keys, ttl, grace, dropped, reachable: AtomicBool::new(true) }
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

    fn group_key(&self, kind: &str, group: &str) -> String {
        format!("{}:{kind}:{group}", self.keys.prefix)
    }

    /// A query on a push's path: fails at once during an outage, and after
    /// [`PUSH_TIMEOUT`].
    async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> redis::RedisResult<T> {
        self.while_reachable()?;
        let mut conn = self.conn.clone();
        bounded(PUSH_TIMEOUT, command.query_async(&mut conn)).await
    }

    /// Sockets logged in as any of `uids` (distinct) on every node.
    pub async fn sockets_of_all(&self, uids: &[String]) -> redis::RedisResult<usize> {
        if uids.is_empty() {
            return Ok(0);
        }
        let counts: Vec<Option<usize>> = self.query(redis::cmd("HMGET").arg(&self.keys.uids).arg(uids)).await?;
        Ok(counts.into_iter().flatten().sum())
    }

    /// The tabs `uid` has open on every node.
    pub async fn tabs(&self, uid: &str) -> redis::RedisResult<usize> {
        let tabs: Option<usize> = self.query(redis::cmd("HGET").arg(&self.keys.uids).arg(uid)).await?;
        Ok(tabs.unwrap_or(0))
    }

    /// Which of `uids` have a tab open, in the order given (once each).
    pub async fn online(&self, uids: &[String]) -> redis::RedisResult<Vec<String>> {
        if uids.is_empty() {
            return Ok(vec![]);
        }
        let tabs: Vec<Option<usize>> = self.query(redis::cmd("HMGET").arg(&self.keys.uids).arg(uids)).await?;
        let mut seen = std::collections::HashSet::new();
        let online = uids.iter().zip(tabs).filter(|(uid, tabs)| tabs.is_some() && seen.insert(uid.as_str()));
        Ok(online.map(|(uid, _)| uid.clone()).collect())
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

    /// Users and tabs in `group` across the cluster.
    pub async fn group_counts(&self, group: &str) -> redis::RedisResult<OnlineCounts> {
        self.while_reachable()?;
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.hlen(self.group_key("g", group)).hget(&self.keys.gtabs, group);
        let (uids, sockets): (usize, Option<usize>) = bounded(REDIS_TIMEOUT, pipe.query_async(&mut conn)).await?;
        Ok(OnlineCounts { uids, sockets: sockets.unwrap_or(0) })
    }

    /// A page of up to `limit` uids online (in `group`, if given) after
    /// `cursor`, in byte order, and the next page's cursor if more follow.
    pub async fn page(
        &self,
        group: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> redis::RedisResult<(Vec<String>, Option<String>)> {
        let zset = match group {
            Some(group) => self.group_key("gm", group),
            None => self.keys.online.clone(),
        };
        let from = match cursor {
            Some(cursor) => format!("({cursor}"),
            None => "-".to_owned(),
        };
        let mut uids: Vec<String> = self
            .query(redis::cmd("ZRANGEBYLEX").arg(zset).arg(from).arg("+").arg("LIMIT").arg(0).arg(limit + 1))
            .await?;
        let more = uids.len() > limit;
        uids.truncate(limit);
        let cursor = if more { uids.last().cloned() } else { None };
        Ok((uids, cursor))
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

    /// Copies `presence` to Redis as it changes, beats the heartbeat, reaps
    /// dead nodes and takes due departures until `shutdown`, handing
    /// arrivals and departures to `announce`; then leaves the census.
    /// `connected` says how many sockets this node has.
    pub async fn run(
        self: Arc<Self>,
        presence: Arc<Presence>,
        connected: impl Fn() -> usize,
        announce: impl Fn(Changes),
        shutdown: CancellationToken,
    ) {
        let mut heartbeat = tokio::time::interval(self.ttl / BEATS_PER_TTL);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut departures = tokio::time::interval(Duration::from_secs(1));
        departures.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
                _ = departures.tick() => {
                    if let Ok(left) = self.due().await {
                        announce(Changes { arrived: vec![], left });
                    }
                }
            }
            let counts = if whole { presence.snapshot() } else { presence.take_changes() };
            if whole || !counts.is_empty() {
                match self.write(whole, counts, connected()).await {
                    Ok(arrived) => {
                        whole = false;
                        announce(Changes { arrived, left: vec![] });
                    }
                    Err(_) => whole = true,
                }
            }
        }
        self.leave().await;
    }

    /// The script's fixed arguments: the prefix, the grace in milliseconds.
    fn common_args(&self, invocation: &mut redis::ScriptInvocation<'_>) {
        invocation.arg(&self.keys.prefix).arg(self.grace.as_millis().try_into().unwrap_or(u64::MAX));
    }

    /// Writes `counts` (with `whole`, this node's every count, replacing
    /// what Redis holds for it), and the sockets `connected` to this node;
    /// returns the arrivals.
    async fn write(&self, whole: bool, counts: Vec<Count>, connected: usize) -> redis::RedisResult<Vec<Key>> {
        let script = if whole { &*REPLACE_SCRIPT } else { &*SET_COUNTS_SCRIPT };
        let mut invocation = script.key(&self.keys.node);
        self.common_args(&mut invocation);
        for (key, n) in &counts {
            invocation.arg(field(key)).arg(n);
        }
        let mut conn = self.conn.clone();
        let arrived: Vec<Vec<u8>> = self.outcome(bounded(REDIS_TIMEOUT, invocation.invoke_async(&mut conn)).await)?;
        self.outcome(
            bounded(REDIS_TIMEOUT, conn.hset::<_, _, _, ()>(&self.keys.connected, &self.node, connected)).await,
        )?;
        Ok(arrived.iter().filter_map(|f| key_of(f)).collect())
    }

    /// The departures whose grace ended, taken for this node to announce.
    async fn due(&self) -> redis::RedisResult<Vec<Key>> {
        self.while_reachable()?;
        let mut invocation = DUE_SCRIPT.key(&self.keys.leaving);
        self.common_args(&mut invocation);
        invocation.arg(DUE_BATCH);
        let mut conn = self.conn.clone();
        let due: Vec<Vec<u8>> = bounded(REDIS_TIMEOUT, invocation.invoke_async(&mut conn)).await?;
        Ok(due.iter().filter_map(|f| key_of(f)).collect())
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
        reap.key(&self.keys.connected);
        self.common_args(&mut reap);
        let reaped: u64 = self.outcome(bounded(REDIS_TIMEOUT, reap.invoke_async(&mut conn)).await)?;
        if reaped > 0 {
            tracing::warn!(nodes = reaped, ttl = ?self.ttl, "silent nodes are no longer counted");
        }
        Ok(known)
    }

    /// Takes this node out of the census (at shutdown).
    async fn leave(&self) {
        let mut forget = REPLACE_SCRIPT.key(&self.keys.node);
        self.common_args(&mut forget);
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

/// A count's field in the node hashes: `LEN:SCOPE` then the uid.
fn field(key: &Key) -> Vec<u8> {
    let scope = match &key.scope {
        Scope::Site => "",
        Scope::Group(group) => group,
    };
    let mut field = format!("{}:{scope}", scope.len()).into_bytes();
    field.extend_from_slice(key.uid.as_bytes());
    field
}

/// The count a field names (None if it is not one: a key written by someone else).
fn key_of(field: &[u8]) -> Option<Key> {
    let colon = field.iter().position(|&b| b == b':')?;
    let len: usize = std::str::from_utf8(&field[..colon]).ok()?.parse().ok()?;
    let rest = field.get(colon + 1..)?;
    let (scope, uid) = (rest.get(..len)?, rest.get(len..)?);
    let uid = std::str::from_utf8(uid).ok()?;
    let scope = match std::str::from_utf8(scope).ok()? {
        "" => Scope::Site,
        group => Scope::Group(group.into()),
    };
    Some(Key { scope, uid: uid.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_names_its_count_whatever_the_group_and_uid_hold() {
        for (scope, uid) in [(Scope::Site, "123"), (Scope::Group("a:b".into()), "c:d"), (Scope::Group("7".into()), "")]
        {
            let key = Key { scope, uid: uid.into() };
            assert_eq!(key_of(&field(&key)), Some(key));
        }
        assert_eq!(field(&Key { scope: Scope::Group("team".into()), uid: "al".into() }), b"4:teamal");
        assert_eq!(key_of(b"9:short"), None);
        assert_eq!(key_of(b"nonsense"), None);
    }
}
