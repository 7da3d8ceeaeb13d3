//! The pushes waiting for their tabs' acknowledgements
//! (`PushEvent->setAckTimeout()`), by message id: each tab's answer is
//! counted here, with its user, until the push's deadline. A bounded number
//! wait at once (`--max-waiting-pushes`); an answer for a push no longer
//! waiting (late, or never asked for) finds nothing and counts nothing.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use msgpush_protocol::{Acked, MsgId};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The pushes waiting now.
#[derive(Debug)]
pub struct Waits {
    most: usize,
    pending: Mutex<HashMap<MsgId, Tally>>,
}

/// One push's answers so far.
#[derive(Debug, Default)]
struct Tally {
    tabs: u64,
    uids: BTreeSet<String>,
    changed: Arc<Notify>,
}

/// Why a push cannot wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// As many pushes wait as may.
    Full(usize),
    /// A push of the same message id waits already.
    Same,
}

/// A push's place among the waiting; dropped, it is forgotten.
#[derive(Debug)]
pub struct Waiting<'a> {
    waits: &'a Waits,
    id: MsgId,
    changed: Arc<Notify>,
}

impl Waits {
    /// At most `most` pushes waiting at once.
    pub fn new(most: usize) -> Waits {
        Waits { most, pending: Mutex::default() }
    }

    /// A place for the push of message `id`, before it is emitted (so that
    /// no answer comes before it).
    pub fn start(&self, id: MsgId) -> Result<Waiting<'_>, Refusal> {
        let mut pending = self.lock();
        let most = self.most;
        if pending.len() >= most {
            return Err(Refusal::Full(most));
        }
        if pending.contains_key(&id) {
            return Err(Refusal::Same);
        }
        let tally = pending.entry(id).or_default();
        Ok(Waiting { waits: self, id, changed: tally.changed.clone() })
    }

    /// A tab of `uid` (None: a tab not logged in, reached by a push to
    /// everyone) answered message `id`; whether a push waited for it.
    pub fn answered(&self, id: MsgId, uid: Option<&str>) -> bool {
        let mut pending = self.lock();
        let Some(tally) = pending.get_mut(&id) else { return false };
        tally.tabs += 1;
        if let Some(uid) = uid.filter(|uid| !tally.uids.contains(*uid)) {
            tally.uids.insert(uid.to_owned());
        }
        tally.changed.notify_one();
        true
    }

    /// Pushes waiting now, for the metrics.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<MsgId, Tally>> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Waiting<'_> {
    /// The answers by `deadline`, or as soon as `reached` tabs answered
    /// (every tab the push reached: no more can come; none reached, none
    /// will).
    pub async fn until(&self, deadline: Instant, reached: u64) -> Acked {
        loop {
            let changed = self.changed.notified();
            if self.snapshot().tabs >= reached {
                break;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                break;
            }
        }
        self.snapshot()
    }

    fn snapshot(&self) -> Acked {
        let pending = self.waits.lock();
        let tally = pending.get(&self.id);
        Acked {
            tabs: tally.map_or(0, |tally| tally.tabs),
            uids: tally.map(|tally| tally.uids.iter().cloned().collect()).unwrap_or_default(),
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.waits.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn answers_count_until_the_deadline_or_every_tab_and_then_count_nothing() {
        let waits = Waits::new(1);
        let waiting = waits.start(MsgId(1)).unwrap();
        assert_eq!(waits.start(MsgId(2)).unwrap_err(), Refusal::Full(1));
        assert!(waits.answered(MsgId(1), Some("a")));
        assert!(waits.answered(MsgId(1), Some("a")));
        assert!(!waits.answered(MsgId(3), Some("a")), "no push waits for it");
        // Every tab answered: no wait (a test that waited an hour would hang).
        let acked = waiting.until(Instant::now() + Duration::from_secs(3600), 2).await;
        assert_eq!(acked, Acked { tabs: 2, uids: vec!["a".into()] });
        let acked = waiting.until(Instant::now() + Duration::from_millis(20), 5).await;
        assert_eq!(acked.tabs, 2, "the rest never answer: the deadline ends the wait");
        assert!(waits.answered(MsgId(1), None));
        let acked = waiting.until(Instant::now(), 3).await;
        assert_eq!(acked, Acked { tabs: 3, uids: vec!["a".into()] }, "a tab not logged in counts, without a user");
        drop(waiting);
        assert!(!waits.answered(MsgId(1), Some("b")), "late");
        assert_eq!(waits.len(), 0);
        let offline = waits.start(MsgId(2)).unwrap();
        let acked = offline.until(Instant::now() + Duration::from_secs(3600), 0).await;
        assert_eq!(acked.tabs, 0, "a push that reached no tab does not wait");
    }
}
