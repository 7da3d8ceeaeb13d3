//! A node's side of the cluster's bus: it applies the orders every node
//! publishes (its own included) to its own sockets, in the order they
//! arrive, answers the counts asked of it, gathers the answers to its own
//! questions and the acknowledgements its waiting pushes hear, and hands its logins' recoveries to its fanout as they come.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::cluster::bus::{Direct, Gather, Incoming, Reached};
use crate::cluster::driver::{Message, PUSH_TIMEOUT};
use crate::hub::Hub;

/// Counts this node asked every node for, by request.
#[derive(Debug)]
pub struct Gathers {
    node: String,
    next: AtomicU64,
    pending: Arc<Mutex<HashMap<u64, Tally>>>,
}

/// The answers to one request so far.
#[derive(Debug)]
struct Tally {
    expected: usize,
    answered: usize,
    sockets: u64,
    done: Option<oneshot::Sender<u64>>,
}

/// The sum of one request's answers, to wait for.
#[derive(Debug)]
pub struct Answers {
    request: u64,
    done: oneshot::Receiver<u64>,
    pending: Arc<Mutex<HashMap<u64, Tally>>>,
}

impl Gathers {
    /// The requests of node `node`.
    pub fn new(node: &str) -> Gathers {
        Gathers { node: node.to_owned(), next: AtomicU64::new(1), pending: Arc::default() }
    }

    /// A new request to every node; how many will answer is known once its
    /// order is published ([`Gathers::expect`]).
    pub fn ask(&self) -> (Gather, Answers) {
        let request = self.next.fetch_add(1, Ordering::Relaxed);
        let (done, answer) = oneshot::channel();
        let tally = Tally { expected: usize::MAX, answered: 0, sockets: 0, done: Some(done) };
        lock(&self.pending).insert(request, tally);
        let gather = Gather { node: self.node.clone(), request };
        (gather, Answers { request, done: answer, pending: self.pending.clone() })
    }

    /// Request `request` is answered by `nodes` nodes (those its order
    /// reached, as Redis said when it published it).
    pub fn expect(&self, request: u64, nodes: usize) {
        let mut pending = lock(&self.pending);
        let Some(tally) = pending.get_mut(&request) else { return };
        tally.expected = nodes;
        if tally.answered >= nodes {
            Self::complete(&mut pending, request);
        }
    }

    /// Counts a node's answer.
    pub fn answered(&self, reached: Reached) {
        let mut pending = lock(&self.pending);
        let Some(tally) = pending.get_mut(&reached.request) else { return };
        tally.answered += 1;
        tally.sockets += reached.sockets;
        if tally.answered >= tally.expected {
            Self::complete(&mut pending, reached.request);
        }
    }

    fn complete(pending: &mut HashMap<u64, Tally>, request: u64) {
        if let Some(Tally { done: Some(done), sockets, .. }) = pending.remove(&request) {
            let _ = done.send(sockets);
        }
    }
}

impl Answers {
    /// The sum of the answers, once every node answered, or of those that
    /// did within [`PUSH_TIMEOUT`] (a node may die after it received the
    /// order).
    pub async fn sum(mut self) -> u64 {
        if let Ok(Ok(sockets)) = tokio::time::timeout(PUSH_TIMEOUT, &mut self.done).await {
            return sockets;
        }
        lock(&self.pending).remove(&self.request).map_or(0, |tally| tally.sockets)
    }
}

/// A request given up (its order was never published, or its sum not
/// awaited) is forgotten, so that the tallies stay bounded by the requests
/// in flight.
impl Drop for Answers {
    fn drop(&mut self) {
        lock(&self.pending).remove(&self.request);
    }
}

fn lock(pending: &Mutex<HashMap<u64, Tally>>) -> MutexGuard<'_, HashMap<u64, Tally>> {
    pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Hub {
    /// Applies what the bus brings until shutdown: orders go to this node's
    /// fanout (answering the counts asked for), answers to the gathers.
    pub async fn serve_bus(self: Arc<Self>, mut messages: mpsc::Receiver<Message>, shutdown: CancellationToken) {
        let Some(cluster) = &self.cluster else { return };
        loop {
            let (channel, payload) = tokio::select! {
                message = messages.recv() => match message {
                    Some(message) => message,
                    None => return,
                },
                _ = shutdown.cancelled() => return,
            };
            match cluster.bus.read(&channel, &payload) {
                Some(Incoming::Order(envelope)) => match envelope.gather {
                    None => self.fanout.offer(envelope.order, None),
                    Some(gather) => {
                        let (reached, count) = oneshot::channel();
                        self.fanout.offer(envelope.order, Some(reached));
                        let hub = self.clone();
                        tokio::spawn(async move {
                            let sockets = count.await.map_or(0, |applied| applied.sockets);
                            if let Some(cluster) = &hub.cluster {
                                let _ = cluster.bus.answer(&gather, Reached { request: gather.request, sockets }).await;
                            }
                        });
                    }
                },
                Some(Incoming::Direct(Direct::Reached(reached))) => cluster.gathers.answered(reached),
                Some(Incoming::Direct(Direct::Acked(ack))) => {
                    self.waits.answered(ack.id, ack.uid.as_deref());
                }
                Some(Incoming::Direct(Direct::Recovery(recovery))) => {
                    if let Some(job) = cluster.recoveries.arrived(recovery) {
                        self.fanout.offer_job(job);
                    }
                }
                None => tracing::debug!("a message on the bus this node cannot read"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_are_summed_and_a_request_given_up_is_forgotten() {
        let gathers = Gathers::new("n");
        let (_, asked) = gathers.ask();
        let request = asked.request;
        gathers.answered(Reached { request, sockets: 3 });
        gathers.expect(request, 2);
        gathers.answered(Reached { request, sockets: 4 });
        assert_eq!(asked.sum().await, 7);
        assert!(lock(&gathers.pending).is_empty());

        let (_, asked) = gathers.ask();
        gathers.answered(Reached { request: asked.request, sockets: 5 });
        gathers.expect(asked.request, 1);
        assert_eq!(asked.sum().await, 5, "answers that came before Redis said how many nodes count");

        drop(gathers.ask());
        assert!(lock(&gathers.pending).is_empty(), "an order never published leaves no tally behind");
    }
}
