//! A cluster's receipts, in Redis, so that any node answers
//! `Receipt::of()` whichever node's tabs acknowledged: `P:rc:ID`, a hash of
//! uid → `ACKED_MS:READ_MS` (0: not read), which expires
//! `--receipt-ttl-secs` after the message's first acknowledgement and holds
//! at most `--max-receipts-per-message` users.

use std::sync::{Arc, LazyLock};

use msgpush_protocol::{MsgId, Receipt};
use redis::aio::ConnectionManager;
use redis::Script;

use crate::cluster::driver::{bounded, REDIS_TIMEOUT};
use crate::store::receipts::{in_order, Recorded};
use crate::store::retention::Retention;

/// Records one receipt. KEYS: the message's hash. ARGV: uid, now, `read`
/// or `ack`, ttl ms, most users. Returns 1 (new), 0 (nothing new), -1 (full).
const RECORD: &str = r"
local key, uid, now = KEYS[1], ARGV[1], ARGV[2]
local old = redis.call('HGET', key, uid)
if ARGV[3] == 'read' then
  if not old then return 0 end
  local acked, read = string.match(old, '^(%d+):(%d+)$')
  if read ~= '0' then return 0 end
  redis.call('HSET', key, uid, acked .. ':' .. now)
  return 1
end
if old then return 0 end
if redis.call('HLEN', key) >= tonumber(ARGV[5]) then return -1 end
redis.call('HSET', key, uid, now .. ':0')
if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[4]) end
return 1
";

static RECORD_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RECORD));

/// The cluster's receipts.
pub struct SharedReceipts {
    conn: ConnectionManager,
    prefix: String,
    retention: Arc<Retention>,
}

impl std::fmt::Debug for SharedReceipts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedReceipts").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl SharedReceipts {
    /// The receipts under `prefix`, bounded by `retention`.
    pub fn new(conn: ConnectionManager, prefix: &str, retention: Arc<Retention>) -> SharedReceipts {
        SharedReceipts { conn, prefix: prefix.to_owned(), retention }
    }

    fn key(&self, id: MsgId) -> String {
        format!("{}:rc:{:032x}", self.prefix, id.0)
    }

    /// Records that a tab of `uid` acknowledged message `id` (or, `read`,
    /// reported it read; counted only after an acknowledgement).
    pub async fn record(&self, id: MsgId, uid: &str, now_ms: u64, read: bool) -> redis::RedisResult<Recorded> {
        let limits = self.retention.get();
        let mut invocation = RECORD_SCRIPT.key(self.key(id));
        invocation
            .arg(uid)
            .arg(now_ms)
            .arg(if read { "read" } else { "ack" })
            .arg(u64::try_from(limits.receipt_ttl.as_millis()).unwrap_or(u64::MAX))
            .arg(limits.receipts_per_message);
        let mut conn = self.conn.clone();
        let recorded: i64 = bounded(REDIS_TIMEOUT, invocation.invoke_async(&mut conn)).await?;
        Ok(match recorded {
            1 => Recorded::New,
            -1 => Recorded::Full,
            _ => Recorded::Nothing,
        })
    }

    /// The receipts of message `id`, first acknowledged first.
    pub async fn of(&self, id: MsgId) -> redis::RedisResult<Vec<Receipt>> {
        let mut conn = self.conn.clone();
        let fields: Vec<(String, String)> =
            bounded(REDIS_TIMEOUT, redis::cmd("HGETALL").arg(self.key(id)).query_async(&mut conn)).await?;
        let mut receipts: Vec<Receipt> = fields
            .into_iter()
            .filter_map(|(uid, times)| {
                let (acked, read) = times.split_once(':')?;
                let read_ms = read.parse().ok().filter(|&read: &u64| read != 0);
                Some(Receipt { uid, acked_ms: acked.parse().ok()?, read_ms })
            })
            .collect();
        in_order(&mut receipts);
        Ok(receipts)
    }
}
