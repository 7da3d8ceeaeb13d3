//! Child processes that never outlive the test that started them, passed or
//! failed.

use std::process::{Child, ExitStatus};
use std::time::Instant;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::wait::PATIENCE;

/// Owns a child process and stops it when dropped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    graceful: bool,
}

impl ChildGuard {
    /// Kills the child (SIGKILL) on drop.
    pub fn kill_on_drop(child: Child) -> ChildGuard {
        ChildGuard { child, graceful: false }
    }

    /// Stops the child with SIGTERM on drop and waits for it: for servers
    /// such as nginx and php-fpm whose master then stops its workers too.
    pub fn terminate_on_drop(child: Child) -> ChildGuard {
        ChildGuard { child, graceful: true }
    }

    /// The child process.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Sends SIGHUP (msgpushd reloads its settings).
    pub fn hang_up(&self) {
        kill(self.pid(), Signal::SIGHUP).expect("send SIGHUP");
    }

    /// Sends SIGTERM and waits for the exit; None if it did not exit within
    /// [`PATIENCE`] (it is then killed on drop).
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let _ = kill(self.pid(), Signal::SIGTERM);
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        if !(self.graceful && self.terminate().is_some()) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
