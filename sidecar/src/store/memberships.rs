//! A single daemon's group memberships in the embedded store, so that a
//! restart keeps them: one row per user, their groups and when they were
//! last seen. The memberships in memory are the truth while the daemon
//! runs; these rows are read back at start.

use std::sync::Arc;
use std::time::Duration;

use redb::ReadableTable;

use crate::state::memberships::Saved;
use crate::store::embedded::{Batch, Store, StoreError, MEMBERS};
use crate::store::entry::now_ms;

impl Batch<'_> {
    /// Writes what `saved` says of its user (no groups: forgets the user).
    pub fn save_member(&mut self, saved: &Saved) -> Result<(), StoreError> {
        let mut members = self.txn.open_table(MEMBERS)?;
        if saved.groups.is_empty() {
            members.remove(saved.uid.as_str())?;
            return Ok(());
        }
        let groups: Vec<&str> = saved.groups.iter().map(|group| &**group).collect();
        let bytes = serde_json::to_vec(&groups).unwrap_or_default();
        let seen_ms = now_ms().saturating_sub(saved.age.as_millis().try_into().unwrap_or(u64::MAX));
        members.insert(saved.uid.as_str(), (seen_ms, bytes.as_slice()))?;
        Ok(())
    }
}

impl Store {
    /// Every user's memberships, as last written.
    pub fn members(&self) -> Result<Vec<Saved>, StoreError> {
        let txn = self.read()?;
        let now = now_ms();
        let mut saved = Vec::new();
        for item in txn.open_table(MEMBERS)?.iter()? {
            let (uid, value) = item?;
            let (seen_ms, bytes) = value.value();
            let groups: Vec<String> = serde_json::from_slice(bytes).unwrap_or_default();
            saved.push(Saved {
                uid: uid.value().to_owned(),
                groups: groups.into_iter().map(Arc::from).collect(),
                age: Duration::from_millis(now.saturating_sub(seen_ms)),
            });
        }
        Ok(saved)
    }
}
