//! A request's turn in its connection's order. A connection may have many
//! requests in flight, but each starts only once the one before it has
//! placed its order (queued it for the sockets, or published it to the
//! cluster) or has been answered: pipelined pushes share the fanout's store
//! commits and Redis round trips, and still reach a browser in the order
//! they were sent.

use tokio::sync::oneshot;

/// Held by a request until nothing it does can be overtaken by a later
/// request of its connection; passing it (or dropping it, when the request
/// is answered) lets the next one start. [`Turn::default`] is a turn nobody
/// waits for (a request alone on its connection).
#[derive(Debug, Default)]
pub struct Turn(Option<oneshot::Sender<()>>);

/// The next request's side of a [`Turn`].
#[derive(Debug)]
pub struct Next(oneshot::Receiver<()>);

impl Turn {
    /// A turn, and what the request after it waits on.
    pub fn new() -> (Turn, Next) {
        let (passed, next) = oneshot::channel();
        (Turn(Some(passed)), Next(next))
    }

    /// Lets the next request start.
    pub fn pass(&mut self) {
        if let Some(passed) = self.0.take() {
            let _ = passed.send(());
        }
    }
}

impl Next {
    /// Resolves once the turn was passed or dropped. Cancel-safe.
    pub async fn passed(&mut self) {
        let _ = (&mut self.0).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn the_next_request_waits_until_the_turn_is_passed_or_dropped() {
        let (mut turn, mut next) = Turn::new();
        assert!(next.passed().now_or_never().is_none(), "not passed yet");
        turn.pass();
        assert!(next.passed().now_or_never().is_some());
        let (turn, mut next) = Turn::new();
        drop(turn);
        assert!(next.passed().now_or_never().is_some(), "an answered request passes its turn");
    }
}
