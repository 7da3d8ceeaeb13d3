//! Waiting for something to happen, with one patience for every test.

use std::time::{Duration, Instant};

/// How long any expected happening may take before a test fails. Generous:
/// tests assert on what happens, never on how fast.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Polls `check` until it holds or `PATIENCE` runs out.
pub fn wait_until(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
