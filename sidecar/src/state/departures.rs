//! Arrivals and departures as people see them: a page reload closes a
//! user's last tab and opens a new one a moment later, which is neither a
//! departure nor an arrival. A departure is announced only once the user has
//! been gone for the grace period; an arrival within it cancels it, and is
//! not announced either.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::state::presence::Key;

/// Departures waiting for their grace period to end.
#[derive(Debug)]
pub struct Departures {
    grace: Duration,
    pending: Mutex<HashMap<Key, Instant>>,
}

impl Departures {
    /// Departures announced after `grace`.
    pub fn new(grace: Duration) -> Departures {
        Departures { grace, pending: Mutex::default() }
    }

    /// Notes that the user of `key` arrived (a first tab) or left (a last
    /// tab); returns whether to announce the arrival now (not if it ends a
    /// departure still within its grace).
    pub fn note(&self, key: &Key, arrived: bool, now: Instant) -> bool {
        let mut pending = self.lock();
        if arrived {
            return pending.remove(key).is_none();
        }
        pending.insert(key.clone(), now + self.grace);
        false
    }

    /// The departures whose grace ended by `now`, to announce.
    pub fn due(&self, now: Instant) -> Vec<Key> {
        let mut due = Vec::new();
        self.lock().retain(|key, at| {
            let keep = *at > now;
            if !keep {
                due.push(key.clone());
            }
            keep
        });
        due
    }

    /// Departures waiting, for the metrics.
    pub fn waiting(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Instant>> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::presence::Scope;

    fn key(uid: &str) -> Key {
        Key { scope: Scope::Group("team".into()), uid: uid.into() }
    }

    #[test]
    fn a_reload_within_the_grace_is_neither_a_departure_nor_an_arrival() {
        let departures = Departures::new(Duration::from_secs(5));
        let t0 = Instant::now();
        assert!(departures.note(&key("a"), true, t0));
        assert!(!departures.note(&key("a"), false, t0));
        assert!(!departures.note(&key("a"), true, t0 + Duration::from_secs(1)), "back within the grace");
        assert!(departures.due(t0 + Duration::from_secs(10)).is_empty(), "the reload cancelled the departure");
        departures.note(&key("a"), false, t0 + Duration::from_secs(2));
        assert!(departures.due(t0 + Duration::from_secs(3)).is_empty(), "still within the grace");
        assert_eq!(departures.due(t0 + Duration::from_secs(7)), [key("a")]);
        assert!(departures.due(t0 + Duration::from_secs(8)).is_empty(), "announced once");
        assert_eq!(departures.waiting(), 0);
    }
}
