//! The messages published recently, by id. A message sent again within the
//! window (the extension resends one whose answer was lost; an application
//! retries a push that timed out) is answered as its first copy was, and not
//! delivered twice.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use msgpush_protocol::MsgId;
use tokio::sync::watch;

/// What is known of one id.
#[derive(Debug)]
enum Slot {
    /// The first copy is being published; its outcome will be sent here.
    Pending(watch::Receiver<Option<u64>>),
    /// The first copy reached this many sockets.
    Done(u64),
}

/// Recently published message ids.
#[derive(Debug)]
pub struct Recent {
    window: Duration,
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    slots: HashMap<MsgId, Slot>,
    /// Ids in arrival order, for forgetting them.
    order: VecDeque<(Instant, MsgId)>,
}

/// The answer to [`Recent::claim`].
#[derive(Debug)]
pub enum Claim<'a> {
    /// A new message: publish it, then [`Ticket::finish`].
    New(Ticket<'a>),
    /// A copy of a message that reached this many sockets.
    Copy(u64),
    /// A copy of a message still being published: its outcome will come here
    /// (`None` if it failed).
    InFlight(watch::Receiver<Option<u64>>),
}

/// The right to publish a new message; dropped unfinished (the publish
/// failed or was cancelled), it forgets the id so a copy can try again.
#[derive(Debug)]
pub struct Ticket<'a> {
    recent: &'a Recent,
    id: MsgId,
    outcome: watch::Sender<Option<u64>>,
    finished: bool,
}

impl Recent {
    /// Remembers ids for `window`, at most `capacity` of them (the oldest go first).
    pub fn new(window: Duration, capacity: usize) -> Recent {
        Recent { window, capacity, inner: Mutex::default() }
    }

    /// Looks `id` up, remembering it if it is new.
    pub fn claim(&self, id: MsgId) -> Claim<'_> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.forget_before(now.checked_sub(self.window), self.capacity);
        match inner.slots.get(&id) {
            Some(Slot::Done(sockets)) => return Claim::Copy(*sockets),
            Some(Slot::Pending(outcome)) => return Claim::InFlight(outcome.clone()),
            None => {}
        }
        let (outcome, receiver) = watch::channel(None);
        inner.slots.insert(id, Slot::Pending(receiver));
        inner.order.push_back((now, id));
        Claim::New(Ticket { recent: self, id, outcome, finished: false })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update leaves the maps consistent: a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    /// Forgets ids that arrived before `cutoff`, and the oldest beyond
    /// `capacity` (keeping room for one more).
    fn forget_before(&mut self, cutoff: Option<Instant>, capacity: usize) {
        while let Some(&(arrived, id)) = self.order.front() {
            let expired = cutoff.is_some_and(|cutoff| arrived < cutoff);
            if !expired && self.order.len() < capacity {
                break;
            }
            self.order.pop_front();
            self.slots.remove(&id);
        }
    }
}

impl Ticket<'_> {
    /// Records that the message reached `sockets` sockets, for its copies.
    pub fn finish(mut self, sockets: u64) {
        self.finished = true;
        if let Some(slot) = self.recent.lock().slots.get_mut(&self.id) {
            *slot = Slot::Done(sockets);
        }
        self.outcome.send_replace(Some(sockets));
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.recent.lock().slots.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_answered_with_the_first_outcome() {
        let recent = Recent::new(Duration::from_secs(60), 100);
        let Claim::New(ticket) = recent.claim(MsgId(1)) else { panic!("new") };
        let Claim::InFlight(outcome) = recent.claim(MsgId(1)) else { panic!("in flight") };
        ticket.finish(3);
        assert_eq!(*outcome.borrow(), Some(3));
        assert!(matches!(recent.claim(MsgId(1)), Claim::Copy(3)));
        assert!(matches!(recent.claim(MsgId(2)), Claim::New(_)));
    }

    #[test]
    fn a_failed_first_copy_lets_the_next_one_through() {
        let recent = Recent::new(Duration::from_secs(60), 100);
        drop(recent.claim(MsgId(1)));
        assert!(matches!(recent.claim(MsgId(1)), Claim::New(_)));
    }

    #[test]
    fn ids_are_forgotten_after_the_window_or_beyond_the_capacity() {
        let recent = Recent::new(Duration::from_secs(60), 2);
        for id in 1..=3 {
            let Claim::New(ticket) = recent.claim(MsgId(id)) else { panic!("new") };
            ticket.finish(1);
        }
        assert!(matches!(recent.claim(MsgId(1)), Claim::New(_)), "the oldest went beyond the capacity");
        let brief = Recent::new(Duration::ZERO, 100);
        let Claim::New(ticket) = brief.claim(MsgId(1)) else { panic!("new") };
        ticket.finish(1);
        std::thread::sleep(Duration::from_millis(2));
        assert!(matches!(brief.claim(MsgId(1)), Claim::New(_)), "past the window");
    }
}
