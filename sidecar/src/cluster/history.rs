//! History and the offline inbox of a cluster, in Redis, so that a tab
//! recovers on any node. One script per push keeps the message in its
//! streams (and inboxes) and publishes its order with the positions it got,
//! atomically: every node receives each stream's messages in position
//! order, and one round trip does both. A login's recovery is read by a
//! script that publishes it on the node's own channel, so that it reaches
//! the node's fanout exactly between the orders published before and after
//! it. Keys (`P` the prefix; `K` a stream's store key):
//! - `P:h:K`: the stream's epoch `e`, last position `n`, first kept `f`;
//! - `P:hz:K`: its messages, scored by position;
//! - `P:hidx`: every kept message, scored by time (`size:position:K`), for
//!   the age and byte bounds; `P:hbytes` their total size; `P:hseq` the
//!   order of every message kept, across streams;
//! - `P:ib:UID`: a user's kept messages by id; `P:ibq:UID` their order;
//!   `P:ibx` every kept message by expiry (`ID:UID`); `P:ibbytes`, `P:ibseq`.

use std::sync::{Arc, LazyLock};

use msgpush_protocol::limits::MAX_TARGET_UIDS;
use msgpush_protocol::{MsgId, Position};
use redis::aio::ConnectionManager;
use redis::{Cmd, RedisResult, Script, Value};
use serde::Serialize;

use crate::cluster::bus::{Audience, Delivery, Sent};
use crate::cluster::census::COUNT;
use crate::cluster::driver::{bounded, REDIS_TIMEOUT};
use crate::cluster::outbox::Lua;
use crate::store::entry::{epoch_text, new_epoch, Stream};
use crate::store::retention::Retention;

/// What the scripts below share: removing one message of history, one of
/// an inbox. ARGV[1] is always the prefix.
const COMMON: &str = r"
local P = ARGV[1]
local function drop_history(member)
  local size, pos, key = string.match(member, '^(%d+):(%d+):(.*)$')
  if not key then redis.call('ZREM', P .. ':hidx', member) return end
  redis.call('ZREM', P .. ':hidx', member)
  redis.call('ZREMRANGEBYSCORE', P .. ':hz:' .. key, pos, pos)
  redis.call('DECRBY', P .. ':hbytes', size)
  local f = tonumber(redis.call('HGET', P .. ':h:' .. key, 'f') or '1')
  if tonumber(pos) >= f then redis.call('HSET', P .. ':h:' .. key, 'f', tonumber(pos) + 1) end
end
local function drop_kept(uid, id)
  local kept = redis.call('HGET', P .. ':ib:' .. uid, id)
  redis.call('ZREM', P .. ':ibx', id .. ':' .. uid)
  redis.call('ZREM', P .. ':ibq:' .. uid, id)
  if not kept then return 0 end
  redis.call('HDEL', P .. ':ib:' .. uid, id)
  redis.call('DECRBY', P .. ':ibbytes', #kept)
  return 1
end
local function list(t) if #t == 0 then return '[]' end return cjson.encode(t) end
";

/// Keeps a message and publishes its order. KEYS: the bus channel. ARGV:
/// prefix, now, history size, history ttl ms, history max bytes, inbox
/// size, inbox max bytes, inbox max keep ms, a new epoch, keep until (0:
/// not kept), target kind (`users`, `groups`, `all`), the entry's JSON up
/// to its placements and after, the envelope's JSON up to its positions and
/// after, the message's id, the number of streams, the streams, the users
/// left out. Returns
/// the positions (JSON), the users kept for, the sockets it reaches (see
/// the census's `count`) and the nodes that received its order, or an
/// error `keep:N` when a kept message would reach more than 10,000 users.
const STORE: &str = r#"
local now, size, ttl, max_bytes = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local inbox_size, inbox_bytes, max_keep, epoch = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
local keep_until, kind = tonumber(ARGV[10]), ARGV[11]
local entry_head, entry_tail, order_head, order_tail = ARGV[12], ARGV[13], ARGV[14], ARGV[15]
local id, n = ARGV[16], tonumber(ARGV[17])
local streams, except = {}, {}
for i = 18, 17 + n do table.insert(streams, ARGV[i]) end
local except_list = {}
for i = 18 + n, #ARGV do except[ARGV[i]] = true table.insert(except_list, ARGV[i]) end
local names = {}
if kind == 'users' then for _, key in ipairs(streams) do table.insert(names, string.sub(key, 6)) end end
local sockets = count(kind, names, except_list)
local placed = {}
if size > 0 and ttl > 0 then
  for _, key in ipairs(streams) do
    local meta = P .. ':h:' .. key
    local e = redis.call('HGET', meta, 'e')
    if not e then e = epoch redis.call('HSET', meta, 'e', e, 'f', 1) end
    table.insert(placed, {key, {epoch = e, position = redis.call('HINCRBY', meta, 'n', 1)}})
  end
end
local order = redis.call('INCR', P .. ':hseq')
local tail = ',"order":' .. order .. entry_tail
local copies = {}
if kind == 'users' then
  for i, key in ipairs(streams) do
    copies[key] = entry_head .. (placed[i] and list({placed[i]}) or '[]') .. tail
  end
end
local shared = entry_head .. list(placed) .. tail
for _, place in ipairs(placed) do
  local key, pos = place[1], place[2].position
  local json = copies[key] or shared
  local member = #json .. ':' .. pos .. ':' .. key
  redis.call('ZADD', P .. ':hz:' .. key, pos, json)
  redis.call('PEXPIRE', P .. ':hz:' .. key, ttl)
  redis.call('PEXPIRE', P .. ':h:' .. key, math.max(ttl, 86400000))
  redis.call('ZADD', P .. ':hidx', now, member)
  redis.call('INCRBY', P .. ':hbytes', #json)
  while redis.call('ZCARD', P .. ':hz:' .. key) > size do
    local first = redis.call('ZRANGE', P .. ':hz:' .. key, 0, 0, 'WITHSCORES')
    drop_history(#first[1] .. ':' .. first[2] .. ':' .. key)
  end
end
while tonumber(redis.call('GET', P .. ':hbytes') or '0') > max_bytes do
  local oldest = redis.call('ZRANGE', P .. ':hidx', 0, 0)
  if #oldest == 0 then break end
  drop_history(oldest[1])
end
local kept = 0
if keep_until > 0 then
  local targets, seen = {}, {}
  local function add(uid) if not except[uid] and not seen[uid] then seen[uid] = true table.insert(targets, uid) end end
  if kind == 'users' then
    for _, key in ipairs(streams) do add(string.sub(key, 6)) end
  elseif kind == 'groups' then
    for _, key in ipairs(streams) do
      local group = string.sub(key, 7)
      for _, uid in ipairs(redis.call('HKEYS', P .. ':g:' .. group)) do add(uid) end
      for _, uid in ipairs(redis.call('SMEMBERS', P .. ':gmem:' .. group)) do add(uid) end
    end
  else
    for _, uid in ipairs(redis.call('HKEYS', P .. ':uids')) do add(uid) end
  end
  if #targets > 10000 then return redis.error_reply('keep:' .. #targets) end
  for _, uid in ipairs(targets) do
    local json = copies['user:' .. uid] or shared
    local record = '{"entry":' .. json .. ',"expires_ms":' .. string.format('%d', keep_until) .. '}'
    if redis.call('HSETNX', P .. ':ib:' .. uid, id, record) == 1 then
      kept = kept + 1
      redis.call('ZADD', P .. ':ibq:' .. uid, redis.call('INCR', P .. ':ibseq'), id)
      redis.call('ZADD', P .. ':ibx', keep_until, id .. ':' .. uid)
      redis.call('INCRBY', P .. ':ibbytes', #record)
      redis.call('PEXPIRE', P .. ':ib:' .. uid, max_keep)
      redis.call('PEXPIRE', P .. ':ibq:' .. uid, max_keep)
      while redis.call('ZCARD', P .. ':ibq:' .. uid) > inbox_size do
        drop_kept(uid, redis.call('ZRANGE', P .. ':ibq:' .. uid, 0, 0)[1])
      end
    end
  end
  while tonumber(redis.call('GET', P .. ':ibbytes') or '0') > inbox_bytes do
    local soonest = redis.call('ZRANGE', P .. ':ibx', 0, 0)
    if #soonest == 0 then break end
    drop_kept(string.sub(soonest[1], 34), string.sub(soonest[1], 1, 32))
  end
end
local positions = list(placed)
local nodes = redis.call('PUBLISH', KEYS[1], order_head .. positions .. order_tail)
return {positions, kept, sockets, nodes}
"#;

/// Reads what a tab missed and publishes it to its node. KEYS: the node's
/// channel. ARGV: prefix, now, the login's ticket, its uid, most messages,
/// then per stream of the tab its key, and the epoch and position it
/// presented (-1: none, where it stands only).
const RECOVER: &str = r#"
local ticket, uid, most = ARGV[3], ARGV[4], tonumber(ARGV[5])
local out, heads = {}, {}
for i = 6, #ARGV, 3 do
  local key, epoch, pos = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local meta = redis.call('HMGET', P .. ':h:' .. key, 'e', 'n', 'f')
  table.insert(heads, {key, {epoch = meta[1] or '', position = tonumber(meta[2] or '0')}})
  if pos >= 0 then
    local complete, entries = (pos == 0), {}
    if meta[1] then
      local n, f = tonumber(meta[2] or '0'), tonumber(meta[3] or '1')
      local fresh = epoch == '' and pos == 0
      local same = meta[1] == epoch and pos <= n
      local from = f
      if same then from = pos + 1 elseif fresh then from = 1 end
      complete = (same or fresh) and from >= f
      if from < f then from = f end
      if n - from + 1 > most then from = n - most + 1 complete = false end
      if from <= n then entries = redis.call('ZRANGEBYSCORE', P .. ':hz:' .. key, from, n) end
    end
    table.insert(out, '[' .. cjson.encode(key) .. ',' .. tostring(complete) .. ',' .. list(entries) .. ']')
  end
end
local ids = redis.call('ZRANGE', P .. ':ibq:' .. uid, 0, most - 1)
local inbox = {}
if #ids > 0 then
  for _, kept in ipairs(redis.call('HMGET', P .. ':ib:' .. uid, unpack(ids))) do
    if kept then table.insert(inbox, kept) end
  end
end
local missed = '[' .. table.concat(out, ',') .. ']'
local recovery = '{"ticket":' .. ticket .. ',"missed":' .. missed .. ',"inbox":' .. list(inbox) .. ',"heads":' .. list(heads) .. '}'
redis.call('PUBLISH', KEYS[1], '{"Recovery":' .. recovery .. '}')
return 1
"#;

/// Forgets one kept message. ARGV: prefix, uid, id. Returns 1 if it was kept.
const ACKNOWLEDGE: &str = "return drop_kept(ARGV[2], ARGV[3])";

/// Forgets a user's kept messages. ARGV: prefix, uid. Returns how many.
const CLEAR: &str = r"
local n = 0
for _, id in ipairs(redis.call('HKEYS', P .. ':ib:' .. ARGV[2])) do n = n + drop_kept(ARGV[2], id) end
redis.call('DEL', P .. ':ibq:' .. ARGV[2])
return n
";

/// Drops history older than the ttl and kept messages that expired, a
/// batch at a time. ARGV: prefix, now, ttl ms, most.
const SWEEP: &str = r"
local now, ttl, most = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
for _, member in ipairs(redis.call('ZRANGEBYSCORE', P .. ':hidx', '-inf', '(' .. (now - ttl), 'LIMIT', 0, most)) do
  drop_history(member)
end
for _, member in ipairs(redis.call('ZRANGEBYSCORE', P .. ':ibx', '-inf', now, 'LIMIT', 0, most)) do
  drop_kept(string.sub(member, 34), string.sub(member, 1, 32))
end
return 1
";

/// The script of [`SharedStore::store_command`].
pub static STORE_SCRIPT: LazyLock<Lua> = LazyLock::new(|| Lua::new(format!("{COMMON}{COUNT}{STORE}")));
static RECOVER_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{COMMON}{RECOVER}")));
static ACKNOWLEDGE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{COMMON}{ACKNOWLEDGE}")));
static CLEAR_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{COMMON}{CLEAR}")));
static SWEEP_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{COMMON}{SWEEP}")));

/// Messages and kept messages dropped per sweep.
const SWEEP_BATCH: u64 = 10_000;

/// Why a message could not be kept.
#[derive(Debug)]
pub enum StoreFailure {
    /// A kept message would reach more users than one request may name.
    TooMany(u64),
    /// Redis failed.
    Redis(redis::RedisError),
}

impl std::fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreFailure::TooMany(n) => {
                write!(f, "a kept message reaches at most {MAX_TARGET_UIDS} users; this one would reach {n}")
            }
            StoreFailure::Redis(e) => write!(f, "redis: {e}"),
        }
    }
}

/// The cluster's store.
pub struct SharedStore {
    conn: ConnectionManager,
    prefix: String,
    orders: String,
    retention: Arc<Retention>,
    max_keep_ms: u64,
}

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// What keeping a message did.
#[derive(Debug)]
pub struct Stored {
    /// Its position in each stream, by store key.
    pub positions: Vec<(String, Position)>,
    /// The users it was kept for.
    pub kept: u64,
    /// What publishing its order did.
    pub sent: Sent,
}

/// The users a kept message would have been kept for, when they were too
/// many (the store's error `keep:N`).
pub fn too_many(error: &redis::RedisError) -> Option<u64> {
    error.detail().and_then(|detail| detail.strip_prefix("keep:")).and_then(|n| n.parse().ok())
}

/// An entry's fields as stored, but its placements (which the store adds).
#[derive(Serialize)]
struct EntryHead<'a> {
    id: MsgId,
    event: &'a str,
    content: &'a msgpush_protocol::Content,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    except: &'a [String],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    receipts: bool,
    time_ms: u64,
    placements: [(); 0],
}

/// `json` cut around the first `marker` (which it holds once): what comes
/// before, and what after.
fn split_at(json: &str, marker: &str) -> (String, String) {
    let at = json.rfind(marker).expect("the marker was written");
    (format!("{}{}", &json[..at], &marker[..marker.len() - 2]), json[at + marker.len()..].to_owned())
}

impl SharedStore {
    /// The store under `prefix`, publishing orders on `orders`, bounded by
    /// `retention`, keeping messages at most `max_keep_ms`.
    pub fn new(
        conn: ConnectionManager,
        prefix: &str,
        orders: &str,
        retention: Arc<Retention>,
        max_keep_ms: u64,
    ) -> SharedStore {
        SharedStore { conn, prefix: prefix.to_owned(), orders: orders.to_owned(), retention, max_keep_ms }
    }

    /// Keeps `delivery` in its streams `streams` (and, with a keep, its
    /// users' inboxes) and publishes its order (`envelope`, its JSON), with
    /// the positions it got: the command, for the outbox (running
    /// [`STORE_SCRIPT`]). Read its answer with [`SharedStore::stored`].
    pub fn store_command(&self, delivery: &Delivery, envelope: &str, streams: &[Stream]) -> Cmd {
        let limits = self.retention.get();
        let head = EntryHead {
            id: delivery.id,
            event: &delivery.event,
            content: &delivery.content,
            except: &delivery.except,
            receipts: delivery.acks.is_some(),
            time_ms: delivery.time_ms,
            placements: [],
        };
        let entry = serde_json::to_string(&head).expect("entries serialize");
        let (entry_head, entry_tail) = split_at(&entry, "\"placements\":[]");
        let kind = match &delivery.to {
            Audience::Users(_) => "users",
            Audience::Groups(_) => "groups",
            Audience::Everyone => "all",
        };
        let (order_head, order_tail) = split_at(envelope, "\"placed\":[]");
        let mut command = STORE_SCRIPT.call(&[&self.orders]);
        command
            .arg(&self.prefix)
            .arg(crate::store::entry::now_ms())
            .arg(if delivery.history { limits.history_size } else { 0 })
            .arg(limits.history_ttl.as_millis() as u64)
            .arg(limits.history_max_bytes)
            .arg(limits.inbox_size)
            .arg(limits.inbox_max_bytes)
            .arg(self.max_keep_ms)
            .arg(epoch_text(new_epoch()))
            .arg(delivery.keep_until_ms.unwrap_or(0))
            .arg(kind)
            .arg(entry_head)
            .arg(entry_tail)
            .arg(order_head)
            .arg(order_tail)
            .arg(format!("{:032x}", delivery.id.0))
            .arg(streams.len());
        for stream in streams {
            command.arg(stream.key());
        }
        command.arg(&delivery.except);
        command
    }

    /// What [`SharedStore::store_command`] answered.
    pub fn stored(answer: RedisResult<Value>) -> Result<Stored, StoreFailure> {
        let read = answer.and_then(|value| Ok(redis::from_redis_value::<(String, u64, i64, usize)>(value)?));
        let (positions, kept, sockets, nodes) = read.map_err(|e| match too_many(&e) {
            Some(n) => StoreFailure::TooMany(n),
            None => StoreFailure::Redis(e),
        })?;
        let positions = serde_json::from_str(&positions).unwrap_or_default();
        Ok(Stored { positions, kept, sent: Sent::read(sockets, nodes) })
    }

    /// Has Redis read what a tab of `uid` missed in its `streams` since the
    /// positions it presented (and its inbox), at most `most` of each, and
    /// where they stand, and publish it on `channel` as recovery `ticket`.
    pub async fn recover(
        &self,
        channel: &str,
        ticket: u64,
        uid: &str,
        streams: &[(Stream, Option<Position>)],
        most: usize,
    ) -> redis::RedisResult<()> {
        let mut invocation = RECOVER_SCRIPT.key(channel);
        invocation.arg(&self.prefix).arg(crate::store::entry::now_ms()).arg(ticket).arg(uid).arg(most.max(1));
        for (stream, presented) in streams {
            match presented {
                Some(position) => invocation.arg(stream.key()).arg(&position.epoch).arg(position.position),
                None => invocation.arg(stream.key()).arg("").arg(-1),
            };
        }
        let mut conn = self.conn.clone();
        bounded(REDIS_TIMEOUT, invocation.invoke_async::<()>(&mut conn)).await
    }

    /// Forgets `uid`'s kept message `id`; returns whether it was kept.
    pub async fn acknowledge(&self, uid: &str, id: MsgId) -> redis::RedisResult<bool> {
        let mut invocation = ACKNOWLEDGE_SCRIPT.prepare_invoke();
        invocation.arg(&self.prefix).arg(uid).arg(format!("{:032x}", id.0));
        let mut conn = self.conn.clone();
        let kept: u64 = bounded(REDIS_TIMEOUT, invocation.invoke_async(&mut conn)).await?;
        Ok(kept == 1)
    }

    /// How many messages are kept for `uid`.
    pub async fn inbox_count(&self, uid: &str) -> redis::RedisResult<u64> {
        let mut conn = self.conn.clone();
        let key = format!("{}:ib:{uid}", self.prefix);
        bounded(REDIS_TIMEOUT, redis::cmd("HLEN").arg(key).query_async(&mut conn)).await
    }

    /// Forgets the messages kept for `uid`; returns how many.
    pub async fn inbox_clear(&self, uid: &str) -> redis::RedisResult<u64> {
        let mut invocation = CLEAR_SCRIPT.prepare_invoke();
        invocation.arg(&self.prefix).arg(uid);
        let mut conn = self.conn.clone();
        bounded(REDIS_TIMEOUT, invocation.invoke_async(&mut conn)).await
    }

    /// Drops what the retention no longer keeps (every node sweeps; a sweep
    /// finds what another left).
    pub async fn sweep(&self) -> redis::RedisResult<()> {
        let ttl = self.retention.get().history_ttl.as_millis() as u64;
        let mut invocation = SWEEP_SCRIPT.prepare_invoke();
        invocation.arg(&self.prefix).arg(crate::store::entry::now_ms()).arg(ttl).arg(SWEEP_BATCH);
        let mut conn = self.conn.clone();
        bounded(REDIS_TIMEOUT, invocation.invoke_async::<()>(&mut conn)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_text_is_cut_where_the_store_adds_its_part() {
        let (head, tail) = split_at(r#"{"a":1,"placed":[]},"g":null}"#, "\"placed\":[]");
        assert_eq!(format!("{head}[[\"all\",1]]{tail}"), r#"{"a":1,"placed":[["all",1]]},"g":null}"#);
    }
}
