//! The messages published recently, by id. A message sent again within the
//! window (the extension resends one whose answer was lost; an application
//! retries a push that timed out) is answered as its first copy was, and not
//! delivered twice.
//!
//! Each claim of an id has a generation: an id forgotten (its first copy
//! failed, or it was evicted) and claimed again is a new generation, and
//! what belonged to the old one (its place in the order of arrival, its
//! ticket) can no longer touch the new one.

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
    /// Each remembered id's slot, with the generation that claimed it.
    slots: HashMap<MsgId, (u64, Slot)>,
    /// Claims in arrival order, for forgetting them.
    order: VecDeque<(Instant, MsgId, u64)>,
    next_generation: u64,
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
    generation: u64,
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
            Some((_, Slot::Done(sockets))) => return Claim::Copy(*sockets),
            Some((_, Slot::Pending(outcome))) => return Claim::InFlight(outcome.clone()),
            None => {}
        }
        let (outcome, receiver) = watch::channel(None);
        let generation = inner.next_generation;
        inner.next_generation += 1;
        inner.slots.insert(id, (generation, Slot::Pending(receiver)));
        inner.order.push_back((now, id, generation));
        Claim::New(Ticket { recent: self, id, generation, outcome, finished: false })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update leaves the maps consistent: a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    /// Forgets claims that arrived before `cutoff`, and the oldest beyond
    /// `capacity` (keeping room for one more).
    fn forget_before(&mut self, cutoff: Option<Instant>, capacity: usize) {
        while let Some(&(arrived, id, generation)) = self.order.front() {
            let expired = cutoff.is_some_and(|cutoff| arrived < cutoff);
            if !expired && self.order.len() < capacity {
                break;
            }
            self.order.pop_front();
            self.remove(id, generation);
        }
    }

    /// The slot of `id`, if `generation` claimed it.
    fn slot(&mut self, id: MsgId, generation: u64) -> Option<&mut Slot> {
        self.slots.get_mut(&id).filter(|(claimed_by, _)| *claimed_by == generation).map(|(_, slot)| slot)
    }

    /// Forgets `id`, if `generation` claimed it.
    fn remove(&mut self, id: MsgId, generation: u64) {
        if self.slot(id, generation).is_some() {
            self.slots.remove(&id);
        }
    }
}

impl Ticket<'_> {
    /// Records that the message reached `sockets` sockets, for its copies.
    pub fn finish(mut self, sockets: u64) {
        self.finished = true;
        if let Some(slot) = self.recent.lock().slot(self.id, self.generation) {
            *slot = Slot::Done(sockets);
        }
        self.outcome.send_replace(Some(sockets));
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.recent.lock().remove(self.id, self.generation);
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

    #[test]
    fn a_stale_arrival_does_not_forget_the_id_claimed_again() {
        let recent = Recent::new(Duration::from_millis(200), 100);
        drop(recent.claim(MsgId(1)));
        std::thread::sleep(Duration::from_millis(120));
        let Claim::New(ticket) = recent.claim(MsgId(1)) else { panic!("new: the first copy failed") };
        ticket.finish(1);
        std::thread::sleep(Duration::from_millis(120));
        // The failed claim's arrival is past the window now; the second one's is not.
        assert!(matches!(recent.claim(MsgId(2)), Claim::New(_)));
        assert!(matches!(recent.claim(MsgId(1)), Claim::Copy(1)), "still a copy within the second claim's window");
    }

    #[test]
    fn an_evicted_claim_cannot_touch_the_one_that_replaced_it() {
        let recent = Recent::new(Duration::from_secs(60), 2);
        let Claim::New(first) = recent.claim(MsgId(1)) else { panic!("new") };
        for id in [2, 3] {
            let Claim::New(ticket) = recent.claim(MsgId(id)) else { panic!("new") };
            ticket.finish(1);
        }
        // Evicted while in flight, then claimed again by a copy that finishes first.
        let Claim::New(second) = recent.claim(MsgId(1)) else { panic!("evicted, so new") };
        second.finish(2);
        drop(first);
        assert!(matches!(recent.claim(MsgId(1)), Claim::Copy(2)), "the old ticket's failure forgot nothing");
        let Claim::New(third) = recent.claim(MsgId(4)) else { panic!("new") };
        let Claim::New(old) = recent.claim(MsgId(5)) else { panic!("new") };
        let Claim::New(again) = recent.claim(MsgId(4)) else { panic!("4 was evicted by 5 and 1's") };
        again.finish(7);
        third.finish(3);
        assert!(matches!(recent.claim(MsgId(4)), Claim::Copy(7)), "nor did its late success");
        drop(old);
    }
}
