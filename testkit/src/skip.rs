//! Tests that cannot run a step on this machine say so, instead of passing
//! in silence: on stderr, and in `target/test-skips.log`, which `make test`
//! reports in its summary line.

use std::io::Write;

use crate::paths::repo_root;

/// Records that `what` was not tested here, because `why`.
pub fn skip(what: &str, why: &str) {
    eprintln!("SKIPPED: {what}: {why}");
    let log = repo_root().join("target/test-skips.log");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("target/test-skips.log");
    writeln!(file, "{what}: {why}").expect("write target/test-skips.log");
}
