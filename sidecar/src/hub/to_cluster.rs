//! A node's orders to the cluster: each one command in the outbox (a
//! message's sockets counted, and it kept, in the same script that
//! publishes it), its request's turn passed as soon as it is queued there.
//! When Redis fails it, the order is applied to this node's sockets in the
//! outbox's order, so a connection's pushes keep their order then too.

use redis::{RedisResult, Value};
use tokio::sync::oneshot;

use crate::browser::fanout::Applied;
use crate::cluster::bus::{envelope_json, Bus, Order, Sent, DELIVER_SCRIPT};
use crate::cluster::history::{too_many, SharedStore, StoreFailure, STORE_SCRIPT};
use crate::cluster::outbox::Lua;
use crate::hub::publish::streams_of;
use crate::hub::{Cluster, Hub, Published, RequestError};
use crate::state::turn::Turn;
use crate::telemetry::metrics::METRICS;

/// Redis's answer to an order's command, or, when Redis failed it, what
/// this node's sockets got instead.
type Answer = (RedisResult<Value>, Option<oneshot::Receiver<Applied>>);

impl Hub {
    /// Publishes `order` through the outbox (see [`Hub::apply`]), passing
    /// `turn` once it is queued.
    pub(super) async fn publish_to_cluster(
        &self,
        cluster: &Cluster,
        order: Order,
        gather: bool,
        turn: &mut Turn,
    ) -> Result<Published, RequestError> {
        let asked = gather.then(|| cluster.gathers.ask());
        let to_gather = asked.as_ref().map(|(gather, _)| gather);
        let kind = match &order {
            Order::Deliver(d) if d.history || d.keep_until_ms.is_some() => Kind::Kept,
            Order::Deliver(_) => Kind::Live,
            _ => Kind::Other,
        };
        let envelope = envelope_json(&order, to_gather);
        let (command, script): (_, Option<&'static Lua>) = match (&order, &kind) {
            (Order::Deliver(delivery), Kind::Kept) => {
                (cluster.store.store_command(delivery, &envelope, &streams_of(&delivery.to)), Some(&STORE_SCRIPT))
            }
            (Order::Deliver(delivery), Kind::Live) => {
                (cluster.bus.delivery_command(delivery, &envelope), Some(&DELIVER_SCRIPT))
            }
            _ => (cluster.bus.order_command(&envelope), None),
        };
        let (answered, answer) = oneshot::channel::<Answer>();
        let fanout = self.fanout.clone();
        let done = Box::new(move |result: RedisResult<Value>| {
            let instead = match &result {
                Err(e) if too_many(e).is_none() => {
                    let (reached, applied) = oneshot::channel();
                    fanout.offer(order, Some(reached));
                    Some(applied)
                }
                _ => None,
            };
            let _ = answered.send((result, instead));
        });
        cluster.outbox.send(command, script, done).await;
        turn.pass();
        let Ok((result, instead)) = answer.await else {
            return Err(RequestError::Internal("the node is shutting down".into()));
        };
        if let Some(applied) = instead {
            if matches!(kind, Kind::Kept) {
                METRICS.unstored();
            }
            if let Err(e) = &result {
                tracing::debug!(cause = %e, "publishing to the cluster failed: applied to this node's sockets");
            }
            let applied = applied.await.unwrap_or_default();
            return Ok(Published { reached: Some(applied.sockets), positions: applied.positions, kept: applied.kept });
        }
        let (sent, positions, kept): (Sent, _, _) = match kind {
            Kind::Kept => match SharedStore::stored(result) {
                Ok(stored) => (stored.sent, stored.positions, stored.kept),
                Err(StoreFailure::TooMany(n)) => {
                    return Err(RequestError::Invalid(StoreFailure::TooMany(n).to_string()))
                }
                Err(StoreFailure::Redis(e)) => return Err(internal(e)),
            },
            Kind::Live => (result.and_then(Bus::delivered).map_err(internal)?, vec![], 0),
            Kind::Other => (result.and_then(Bus::published).map_err(internal)?, vec![], 0),
        };
        let reached = match asked {
            Some((gather, answers)) => {
                cluster.gathers.expect(gather.request, sent.nodes);
                Some(answers.sum().await)
            }
            None => sent.sockets,
        };
        Ok(Published { reached, positions, kept })
    }
}

/// Which command an order is.
enum Kind {
    /// A message to keep: [`STORE_SCRIPT`].
    Kept,
    /// A message to deliver live: [`DELIVER_SCRIPT`].
    Live,
    /// Any other order: a `PUBLISH`.
    Other,
}

fn internal(e: redis::RedisError) -> RequestError {
    RequestError::Internal(format!("redis: {e}"))
}
