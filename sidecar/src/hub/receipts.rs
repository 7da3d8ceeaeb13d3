//! Who acknowledged, and read, a message sent with receipts, as PHP asks it
//! (`MsgPush\\Receipt::of()`): from the embedded store, or in a cluster from
//! Redis, whichever node's tabs answered.

use msgpush_protocol::{MsgId, Receipt};

use crate::hub::{Hub, RequestError};

impl Hub {
    /// The receipts of message `id`, first acknowledged first (none once
    /// `--receipt-ttl-secs` passed, or for a message sent without receipts).
    pub async fn receipts(&self, id: MsgId) -> Result<Vec<Receipt>, RequestError> {
        match (&self.cluster, &self.store) {
            (Some(cluster), _) => cluster
                .receipts
                .of(id)
                .await
                .map_err(|e| RequestError::Internal(format!("the receipts are in Redis, which failed: {e}"))),
            (None, Some(store)) => store.receipts(id).map_err(|e| RequestError::Internal(format!("the store: {e}"))),
            (None, None) => Ok(vec![]),
        }
    }
}
