//! The cluster's bus: what every node must do to its own sockets (emit a
//! message, put users' tabs in a group or take them out, disconnect users,
//! announce an arrival), published once on Redis (`PREFIX:bus`) and applied
//! by each node in the order Redis delivers it; and the answers a node sends
//! to the one that asked (`PREFIX:to:NODE`): how many of its sockets a
//! message reached, when the asking node cannot count them itself, which of
//! its tabs acknowledged a message the asking node's push waits for, and what
//! a tab logging in missed (published by Redis itself, so that it arrives
//! at its exact place among the orders).

use std::sync::LazyLock;

use msgpush_protocol::{Content, MsgId, Position};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Cmd, RedisResult, Value};
use serde::{Deserialize, Serialize};

use crate::cluster::census::COUNT;
use crate::cluster::driver::{bounded, PUSH_TIMEOUT, REDIS_TIMEOUT};
use crate::cluster::outbox::Lua;

/// Counts a message's sockets and publishes its order unless it reaches
/// none. KEYS: the bus channel. ARGV: prefix, count kind, the envelope's
/// JSON, the number of names, the names, the users left out. Returns the
/// sockets (-1: counted by the nodes) and the nodes that received it.
const DELIVER: &str = r"
local kind, order, n = ARGV[2], ARGV[3], tonumber(ARGV[4])
local names, except = {}, {}
for i = 5, 4 + n do table.insert(names, ARGV[i]) end
for i = 5 + n, #ARGV do table.insert(except, ARGV[i]) end
local sockets = count(kind, names, except)
if sockets == 0 then return {0, 0} end
return {sockets, redis.call('PUBLISH', KEYS[1], order)}
";

/// The script of [`Bus::delivery_command`].
pub static DELIVER_SCRIPT: LazyLock<Lua> = LazyLock::new(|| Lua::new(format!("local P = ARGV[1]\n{COUNT}{DELIVER}")));

/// What a node does to its own sockets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Order {
    /// Emit a message.
    Deliver(Delivery),
    /// Put the tabs of these users in these groups (as members).
    Join {
        /// The users.
        uids: Vec<String>,
        /// The groups.
        groups: Vec<String>,
        /// The version of the memberships this change made.
        version: u64,
    },
    /// Take the tabs of these users out of these groups (as members).
    Leave {
        /// The users.
        uids: Vec<String>,
        /// The groups.
        groups: Vec<String>,
        /// The version of the memberships this change made.
        version: u64,
    },
    /// Disconnect the tabs of these users.
    Disconnect {
        /// The users.
        uids: Vec<String>,
    },
    /// Tell the members of a group that a user arrived in it or left it.
    Announce {
        /// The group.
        group: String,
        /// The user.
        uid: String,
        /// Arrived (else left).
        arrived: bool,
    },
}

/// A message to emit, and to whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Who receives it.
    pub to: Audience,
    /// Users whose tabs it leaves out.
    pub except: Vec<String>,
    /// The Socket.IO event.
    pub event: String,
    /// The content.
    pub content: Content,
    /// The message's id, which pages see.
    pub id: MsgId,
    /// When it was published (ms since the Unix epoch).
    pub time_ms: u64,
    /// Whether it is kept in its streams' history.
    pub history: bool,
    /// Kept in its users' inboxes until then (ms since the Unix epoch).
    pub keep_until_ms: Option<u64>,
    /// Whether tabs are asked to acknowledge it, and who hears of it.
    pub acks: Option<AckAsk>,
    /// Its positions in its streams, by store key, when a cluster's store
    /// kept it (a single daemon's fanout places it as it emits). Last in the
    /// order, so that Redis can add it to the order as written.
    pub placed: Vec<(String, Position)>,
}

/// What becomes of the tabs' acknowledgements of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckAsk {
    /// The push waiting for them, if one does: its node, and its deadline
    /// (ms since the Unix epoch).
    pub wait: Option<(String, u64)>,
}

/// An order as the bus carries it: with, when the node that published it
/// wants to know how many sockets each node reached, where to say it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// What to do.
    pub order: Order,
    /// Where to send the count.
    pub gather: Option<Gather>,
}

/// [`Envelope`], borrowed: what the bus carries, written without a copy.
#[derive(Serialize)]
struct Outgoing<'a> {
    order: &'a Order,
    gather: Option<&'a Gather>,
}

/// The JSON of `order` and `gather` as the bus carries them ([`Envelope`]).
pub fn envelope_json(order: &Order, gather: Option<&Gather>) -> String {
    serde_json::to_string(&Outgoing { order, gather }).expect("orders always serialize")
}

/// Who a message is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Audience {
    /// Every socket.
    Everyone,
    /// The tabs of these users (never none).
    Users(Vec<String>),
    /// The tabs in any of these groups, each once (never none).
    Groups(Vec<String>),
}

impl Audience {
    /// The kind the census's `count` takes for this audience, and the
    /// names it counts (see [`COUNT`]).
    fn counted_as(&self) -> (&'static str, &[String]) {
        match self {
            Audience::Users(uids) => ("users", uids),
            Audience::Groups(groups) => ("groups", groups),
            Audience::Everyone => ("all", &[]),
        }
    }

    /// Whether only the nodes can count this audience's sockets (see
    /// [`COUNT`]), so that a push asks them.
    pub fn counted_by_nodes(&self) -> bool {
        matches!(self, Audience::Groups(_))
    }
}

/// What a push's command did: the sockets it reached, when Redis could
/// count them, and the nodes that received its order (0: not published).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The sockets, counted by Redis (None: each node counts).
    pub sockets: Option<u64>,
    /// The nodes that received the order.
    pub nodes: usize,
}

impl Sent {
    /// Redis's answer to [`Bus::delivery_command`] (and to the store's).
    pub fn read(sockets: i64, nodes: usize) -> Sent {
        Sent { sockets: u64::try_from(sockets).ok(), nodes }
    }
}

/// Where the count of sockets a delivery reached goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gather {
    /// The node that asked.
    pub node: String,
    /// Its request's number.
    pub request: u64,
}

/// What a node's own channel brings: an answer to its gather, or what a
/// tab logging in on it missed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Direct {
    /// A count.
    Reached(Reached),
    /// A recovery.
    Recovery(Recovery),
    /// A tab's acknowledgement of a message a push of this node waits for.
    Acked(TabAck),
}

/// A tab's acknowledgement, for the node whose push waits for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabAck {
    /// The message.
    pub id: MsgId,
    /// The tab's user (None: a tab not logged in).
    pub uid: Option<String>,
}

/// What a tab missed while away, read by Redis at the place the tab's
/// login takes among the orders: the messages of each stream it presented
/// a position in, and those kept for its user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// The login it answers.
    pub ticket: u64,
    /// Per stream (by store key): whether nothing it missed was dropped,
    /// and the entries (JSON, as stored).
    pub missed: Vec<(String, bool, Vec<String>)>,
    /// The messages kept for its user (JSON, as stored).
    pub inbox: Vec<String>,
    /// Where each of its streams stands (by store key).
    pub heads: Vec<(String, Position)>,
}

/// A node's answer to a [`Gather`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reached {
    /// The request's number.
    pub request: u64,
    /// Sockets of the answering node the message reached.
    pub sockets: u64,
}

/// This node's side of the bus.
pub struct Bus {
    conn: ConnectionManager,
    orders: String,
    prefix: String,
    node: String,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").field("node", &self.node).finish_non_exhaustive()
    }
}

impl Bus {
    /// The bus under `prefix`, as node `node`, over `conn`.
    pub fn new(conn: ConnectionManager, prefix: &str, node: &str) -> Bus {
        Bus { conn, orders: format!("{prefix}:bus"), prefix: prefix.to_owned(), node: node.to_owned() }
    }

    /// The channels this node listens to: the orders, and its answers.
    pub fn channels(&self) -> [String; 2] {
        [self.orders.clone(), self.answers_of(&self.node)]
    }

    fn answers_of(&self, node: &str) -> String {
        format!("{}:to:{node}", self.prefix)
    }

    /// Subscribes to [`Bus::channels`] (kept across reconnections).
    pub async fn subscribe(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        bounded(REDIS_TIMEOUT, conn.subscribe(&self.channels())).await
    }

    /// Publishes `envelope` (an order's JSON, see [`envelope_json`]) to
    /// every node: the command, for the outbox. Read its answer with
    /// [`Bus::published`].
    pub fn order_command(&self, envelope: &str) -> Cmd {
        let mut command = redis::cmd("PUBLISH");
        command.arg(&self.orders).arg(envelope);
        command
    }

    /// Counts `delivery`'s sockets and publishes it (as `envelope`, its
    /// JSON) unless it reaches none: the command, for the outbox (running
    /// [`DELIVER_SCRIPT`]). Read its answer with [`Bus::delivered`].
    pub fn delivery_command(&self, delivery: &Delivery, envelope: &str) -> Cmd {
        let (kind, names) = delivery.to.counted_as();
        let mut command = DELIVER_SCRIPT.call(&[&self.orders]);
        command.arg(&self.prefix).arg(kind).arg(envelope).arg(names.len()).arg(names).arg(&delivery.except);
        command
    }

    /// What [`Bus::delivery_command`] answered.
    pub fn delivered(answer: Value) -> RedisResult<Sent> {
        let (sockets, nodes): (i64, usize) = redis::from_redis_value(answer)?;
        Ok(Sent::read(sockets, nodes))
    }

    /// What [`Bus::order_command`] answered.
    pub fn published(answer: Value) -> RedisResult<Sent> {
        Ok(Sent { sockets: None, nodes: redis::from_redis_value(answer)? })
    }

    /// Publishes `envelope` to every node (this one included).
    pub async fn publish(&self, envelope: &Envelope) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let payload = serde_json::to_vec(envelope).expect("orders always serialize");
        bounded(PUSH_TIMEOUT, conn.publish::<_, _, ()>(&self.orders, payload)).await
    }

    /// This node's own channel, where Redis publishes its recoveries.
    pub fn own_channel(&self) -> String {
        self.answers_of(&self.node)
    }

    /// The channel of every node's orders.
    pub fn orders_channel(&self) -> &str {
        &self.orders
    }

    /// Sends `reached` to the node that asked for it.
    pub async fn answer(&self, gather: &Gather, reached: Reached) -> redis::RedisResult<()> {
        self.direct(&gather.node, &Direct::Reached(reached)).await
    }

    /// Tells node `node`, whose push waits for it, that a tab acknowledged.
    pub async fn acked(&self, node: &str, ack: TabAck) -> redis::RedisResult<()> {
        self.direct(node, &Direct::Acked(ack)).await
    }

    async fn direct(&self, node: &str, direct: &Direct) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let payload = serde_json::to_vec(direct).expect("answers always serialize");
        bounded(PUSH_TIMEOUT, conn.publish::<_, _, ()>(self.answers_of(node), payload)).await
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// What a message of channel `channel` carries, if it is one of ours.
    pub fn read(&self, channel: &[u8], payload: &[u8]) -> Option<Incoming> {
        if channel == self.orders.as_bytes() {
            return serde_json::from_slice(payload).ok().map(Incoming::Order);
        }
        serde_json::from_slice(payload).ok().map(Incoming::Direct)
    }
}

/// A message from the bus.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// An order for this node's sockets.
    Order(Envelope),
    /// An answer to this node, or a recovery.
    Direct(Direct),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_read_back_as_written() {
        let order = Order::Deliver(Delivery {
            to: Audience::Groups(vec!["team".into()]),
            except: vec!["me".into()],
            event: "new_msg".into(),
            content: Content::Json(serde_json::json!({ "n": 1 })),
            id: MsgId(7),
            time_ms: 1,
            history: true,
            keep_until_ms: Some(2),
            acks: Some(AckAsk { wait: Some(("ab".into(), 3)) }),
            placed: vec![("group:team".into(), Position { epoch: "00000000000000ff".into(), position: 3 })],
        });
        let envelope = Envelope { order, gather: Some(Gather { node: "ab".into(), request: 7 }) };
        let bytes = serde_json::to_vec(&envelope).unwrap();
        assert_eq!(serde_json::from_slice::<Envelope>(&bytes).unwrap(), envelope);
    }
}
