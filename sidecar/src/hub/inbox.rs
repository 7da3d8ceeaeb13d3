//! The messages kept for a user (`PushEvent->keep()`), as PHP asks about
//! them: how many wait, and forgetting them (`Inbox::count`, `clear`).

use msgpush_protocol::limits::check_uid;

use crate::hub::{Hub, RequestError};

impl Hub {
    /// How many messages are kept for `uid`.
    pub async fn inbox_count(&self, uid: &str) -> Result<u64, RequestError> {
        check_uid(uid).map_err(RequestError::Invalid)?;
        match (&self.cluster, &self.store) {
            (Some(cluster), _) => cluster.store.inbox_count(uid).await.map_err(unreachable),
            (None, Some(store)) => {
                store.inbox_count(uid).map_err(|e| RequestError::Internal(format!("the store: {e}")))
            }
            (None, None) => Ok(0),
        }
    }

    /// Forgets the messages kept for `uid`; returns how many.
    pub async fn inbox_clear(&self, uid: &str) -> Result<u64, RequestError> {
        check_uid(uid).map_err(RequestError::Invalid)?;
        match &self.cluster {
            Some(cluster) => cluster.store.inbox_clear(uid).await.map_err(unreachable),
            None => Ok(self.fanout.clear_inbox(uid.to_owned()).await),
        }
    }
}

fn unreachable(e: redis::RedisError) -> RequestError {
    RequestError::Internal(format!("the inboxes are in Redis, which failed: {e}"))
}
