//! This process's open-descriptor limit: each client connection a test or a
//! benchmark holds takes one, and the usual soft limit of 1024 is too few.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Raises the soft limit to the hard limit (inherited by the processes this
/// one starts); returns the soft limit now in force.
pub fn raise() -> u64 {
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
    getrlimit(Resource::RLIMIT_NOFILE).map_or(0, |(soft, _)| soft)
}
