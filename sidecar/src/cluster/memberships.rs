//! Who is a member of which group: in memory on a single daemon (its store
//! keeps a copy), in Redis in a cluster (`PREFIX:member:UID`, a set of
//! groups, expiring after the retention unless the user joins a group or
//! logs in again; and by group, `PREFIX:gmem:GROUP`, for the messages kept
//! for a group's members). Every change
//! raises one version shared by all users (`PREFIX:memver`), so that a login
//! that read a user's groups can tell whether a change came after.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;

use crate::cluster::driver::{bounded, REDIS_TIMEOUT};
use crate::state::memberships::{LocalMemberships, Read};

/// Makes users members of groups, within the bound per user. KEYS: the
/// version counter; ARGV: prefix, retention in seconds, most per user, the
/// number of groups, the groups, then the uids. Returns the version, or an
/// error naming the user over the bound.
const JOIN: &str = r"
local prefix, retention, most, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local groups = {}
for i = 5, 4 + n do table.insert(groups, ARGV[i]) end
for i = 5 + n, #ARGV do
  local set = prefix .. ':member:' .. ARGV[i]
  local new = 0
  for _, g in ipairs(groups) do
    if redis.call('SISMEMBER', set, g) == 0 then new = new + 1 end
  end
  if redis.call('SCARD', set) + new > most then
    return redis.error_reply('over:' .. ARGV[i] .. ':' .. (redis.call('SCARD', set) + new))
  end
end
for i = 5 + n, #ARGV do
  local set = prefix .. ':member:' .. ARGV[i]
  redis.call('SADD', set, unpack(groups))
  redis.call('EXPIRE', set, retention)
  for _, g in ipairs(groups) do
    redis.call('SADD', prefix .. ':gmem:' .. g, ARGV[i])
    redis.call('EXPIRE', prefix .. ':gmem:' .. g, retention)
  end
end
return redis.call('INCR', KEYS[1])
";

/// Ends memberships. KEYS: the version counter; ARGV: prefix, the number of
/// groups, the groups, then the uids. Returns the version.
const LEAVE: &str = r"
local prefix, n = ARGV[1], tonumber(ARGV[2])
local groups = {}
for i = 3, 2 + n do table.insert(groups, ARGV[i]) end
for i = 3 + n, #ARGV do
  redis.call('SREM', prefix .. ':member:' .. ARGV[i], unpack(groups))
  for _, g in ipairs(groups) do redis.call('SREM', prefix .. ':gmem:' .. g, ARGV[i]) end
end
return redis.call('INCR', KEYS[1])
";

/// A user's groups and the version now, renewing their retention. KEYS:
/// the user's set, the version counter; ARGV: retention in seconds.
const READ: &str = r"
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return {redis.call('SMEMBERS', KEYS[1]), tonumber(redis.call('GET', KEYS[2]) or '0')}
";

static JOIN_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(JOIN));
static LEAVE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(LEAVE));
static READ_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(READ));

/// Why memberships could not be changed or read.
#[derive(Debug)]
pub enum MembershipError {
    /// A bound would be broken (the message names it).
    Bound(String),
    /// Redis failed.
    Redis(redis::RedisError),
}

impl std::fmt::Display for MembershipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MembershipError::Bound(why) => f.write_str(why),
            MembershipError::Redis(e) => write!(f, "redis: {e}"),
        }
    }
}

/// The memberships of a single daemon, or of a cluster.
#[derive(Debug)]
pub enum Memberships {
    /// In memory.
    Local(Arc<LocalMemberships>),
    /// In Redis.
    Shared(SharedMemberships),
}

/// The memberships in Redis.
pub struct SharedMemberships {
    conn: ConnectionManager,
    prefix: String,
    version: String,
    per_user: usize,
    retention: Duration,
}

impl std::fmt::Debug for SharedMemberships {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMemberships").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl SharedMemberships {
    /// The memberships under `prefix`, at most `per_user` groups per user,
    /// kept `retention` after a user was last seen.
    pub fn new(conn: ConnectionManager, prefix: &str, per_user: usize, retention: Duration) -> SharedMemberships {
        let version = format!("{prefix}:memver");
        SharedMemberships { conn, prefix: prefix.to_owned(), version, per_user, retention }
    }
}

impl Memberships {
    /// Makes each of `uids` a member of each of `groups`; returns the
    /// version of the change.
    pub async fn join(&self, uids: &[String], groups: &[String]) -> Result<u64, MembershipError> {
        match self {
            Memberships::Local(local) => {
                let versions = local.join(uids, groups).map_err(MembershipError::Bound)?;
                Ok(versions.into_iter().map(|(_, version)| version).max().unwrap_or(0))
            }
            Memberships::Shared(shared) => {
                let mut invocation = JOIN_SCRIPT.key(&shared.version);
                invocation.arg(&shared.prefix).arg(shared.retention.as_secs().max(1)).arg(shared.per_user);
                invocation.arg(groups.len()).arg(groups).arg(uids);
                let mut conn = shared.conn.clone();
                bounded(REDIS_TIMEOUT, invocation.invoke_async(&mut conn)).await.map_err(|e| {
                    match e.detail().and_then(|detail| detail.strip_prefix("over:")) {
                        Some(over) => {
                            let (uid, count) = over.rsplit_once(':').unwrap_or((over, "?"));
                            MembershipError::Bound(format!(
                                "user {uid} would be a member of {count} groups, more than --max-groups-per-user ({})",
                                shared.per_user
                            ))
                        }
                        None => MembershipError::Redis(e),
                    }
                })
            }
        }
    }

    /// Ends each of `uids`' membership of each of `groups`; returns the
    /// version of the change.
    pub async fn leave(&self, uids: &[String], groups: &[String]) -> Result<u64, MembershipError> {
        match self {
            Memberships::Local(local) => {
                Ok(local.leave(uids, groups).into_iter().map(|(_, version)| version).max().unwrap_or(0))
            }
            Memberships::Shared(shared) => {
                let mut invocation = LEAVE_SCRIPT.key(&shared.version);
                invocation.arg(&shared.prefix).arg(groups.len()).arg(groups).arg(uids);
                let mut conn = shared.conn.clone();
                bounded(REDIS_TIMEOUT, invocation.invoke_async(&mut conn)).await.map_err(MembershipError::Redis)
            }
        }
    }

    /// `uid`'s groups and their version; the user is seen.
    pub async fn read(&self, uid: &str) -> Result<Read, MembershipError> {
        match self {
            Memberships::Local(local) => Ok(local.read(uid)),
            Memberships::Shared(shared) => {
                let mut invocation = READ_SCRIPT.key(format!("{}:member:{uid}", shared.prefix));
                invocation.key(&shared.version).arg(shared.retention.as_secs().max(1));
                let mut conn = shared.conn.clone();
                let (groups, version): (Vec<String>, u64) =
                    bounded(REDIS_TIMEOUT, invocation.invoke_async(&mut conn)).await.map_err(MembershipError::Redis)?;
                Ok(Read { groups: groups.into_iter().map(Arc::from).collect(), version })
            }
        }
    }
}
