//! Which process this is, without a system call. Fork safety is checked on
//! every `queue()` and every request, and `getpid()` is a system call each
//! time (glibc no longer caches it); instead a `pthread_atfork` handler,
//! registered at module startup, counts forks in the child, and state
//! remembers the count it was made at. (glibc removes the handler when the
//! extension is unloaded.)

use std::sync::atomic::{AtomicU64, Ordering};

/// Forks this process descends from since the handler was registered.
static FORKS: AtomicU64 = AtomicU64::new(0);

/// A process of a line of forks: differs in every child forked after it was
/// taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

extern "C" fn forked_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// Starts counting forks; once per process, at module startup (before
/// php-fpm forks its workers). False if the system refused.
pub fn watch_forks() -> bool {
    // SAFETY: registers a handler that only increments an atomic, which is
    // async-signal-safe as a fork's child handler must be.
    unsafe { libc::pthread_atfork(None, None, Some(forked_child)) == 0 }
}

/// This process's generation.
pub fn current() -> Generation {
    Generation(FORKS.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_child_is_another_generation() {
        assert!(watch_forks());
        let parent = current();
        assert_eq!(current(), parent);
        // SAFETY: the child only compares two values and exits at once.
        match unsafe { libc::fork() } {
            0 => unsafe { libc::_exit(if current() != parent { 0 } else { 1 }) },
            -1 => panic!("fork failed"),
            child => {
                let mut status = 0;
                // SAFETY: waits for the child forked above.
                assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
                assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child saw status {status}");
                assert_eq!(current(), parent, "the parent stays the same");
            }
        }
    }
}
