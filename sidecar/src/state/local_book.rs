//! The book of who is present on a single daemon: from the presence's
//! changes, who arrived (a first tab, on the site or in a group) and, after
//! the grace, who left. (In a cluster the census keeps this book, in Redis.)

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::state::departures::Departures;
use crate::state::presence::{Count, Key};

/// Who is present, and the departures waiting for their grace.
#[derive(Debug)]
pub struct LocalBook {
    present: Mutex<HashSet<Key>>,
    departures: Departures,
}

impl LocalBook {
    /// Nobody present; departures announced after `grace`.
    pub fn new(grace: Duration) -> LocalBook {
        LocalBook { present: Mutex::default(), departures: Departures::new(grace) }
    }

    /// Takes in changed counts; returns the arrivals to announce.
    pub fn apply(&self, changes: Vec<Count>, now: Instant) -> Vec<Key> {
        let mut present = self.lock();
        let mut arrivals = Vec::new();
        for (key, count) in changes {
            let was = present.contains(&key);
            match (was, count > 0) {
                (false, true) => {
                    present.insert(key.clone());
                    if self.departures.note(&key, true, now) {
                        arrivals.push(key);
                    }
                }
                (true, false) => {
                    present.remove(&key);
                    self.departures.note(&key, false, now);
                }
                _ => {}
            }
        }
        arrivals
    }

    /// The departures to announce by `now`.
    pub fn due(&self, now: Instant) -> Vec<Key> {
        self.departures.due(now)
    }

    /// Departures waiting for their grace, for the metrics.
    pub fn waiting(&self) -> usize {
        self.departures.waiting()
    }

    fn lock(&self) -> MutexGuard<'_, HashSet<Key>> {
        self.present.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::presence::Scope;

    #[test]
    fn arrivals_now_departures_after_the_grace_and_a_reload_is_neither() {
        let book = LocalBook::new(Duration::from_secs(5));
        let key = Key { scope: Scope::Site, uid: "a".into() };
        let t0 = Instant::now();
        assert_eq!(book.apply(vec![(key.clone(), 1)], t0), std::slice::from_ref(&key));
        assert!(book.apply(vec![(key.clone(), 2)], t0).is_empty(), "a second tab");
        assert!(book.apply(vec![(key.clone(), 0)], t0).is_empty());
        assert!(book.apply(vec![(key.clone(), 1)], t0 + Duration::from_secs(1)).is_empty(), "a reload");
        assert!(book.due(t0 + Duration::from_secs(9)).is_empty());
        book.apply(vec![(key.clone(), 0)], t0 + Duration::from_secs(10));
        assert_eq!(book.waiting(), 1);
        assert_eq!(book.due(t0 + Duration::from_secs(16)), [key]);
    }
}
