//! Message ids: 128 random bits each, from the system's source, drawn
//! [`IDS_PER_DRAW`] at a time: one system call per that many messages
//! instead of one per message (`queue()`'s cost in a bulk job). A forked
//! child draws its own, so that no two processes give the same id.

use std::cell::RefCell;

use msgpush_protocol::MsgId;

use crate::error::PushError;
use crate::process::{self, Generation};

/// Ids drawn per system call.
const IDS_PER_DRAW: usize = 256;

/// Random bits not yet given, and the process they were drawn in.
struct Pool {
    bits: [u128; IDS_PER_DRAW],
    next: usize,
    drawn_in: Option<Generation>,
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { bits: [0; IDS_PER_DRAW], next: IDS_PER_DRAW, drawn_in: None }) };
}

/// A new message id.
pub fn next() -> Result<MsgId, PushError> {
    POOL.with_borrow_mut(|pool| {
        let now = Some(process::current());
        if pool.next == IDS_PER_DRAW || pool.drawn_in != now {
            let mut bytes = [0u8; IDS_PER_DRAW * 16];
            getrandom::fill(&mut bytes)
                .map_err(|e| PushError::Internal(format!("no randomness for a message id: {e}")))?;
            for (bits, chunk) in pool.bits.iter_mut().zip(bytes.chunks_exact(16)) {
                *bits = u128::from_ne_bytes(chunk.try_into().expect("16 bytes"));
            }
            (pool.next, pool.drawn_in) = (0, now);
        }
        let id = pool.bits[pool.next];
        pool.next += 1;
        Ok(MsgId(id))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_do_not_repeat_across_draws() {
        let ids: HashSet<u128> = (0..IDS_PER_DRAW * 3).map(|_| next().unwrap().0).collect();
        assert_eq!(ids.len(), IDS_PER_DRAW * 3);
    }
}
