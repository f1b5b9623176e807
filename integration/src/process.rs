//! Child processes of a test, killed by PID when their guard drops.

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A spawned process that is killed (SIGKILL, then reaped) when dropped, so a failing test
/// never leaves a server running.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    what: String,
}

impl ChildGuard {
    pub(crate) fn new(child: Child, what: String) -> ChildGuard {
        ChildGuard {
            child: Some(child),
            what,
        }
    }

    /// The process ID.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The command line, for messages.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Exit status if it has exited already.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// True until the process has exited (a zombie counts as exited). Needs no `&mut`, so
    /// shared lab handles can ask.
    pub fn is_running(&self) -> bool {
        if self.child.is_none() {
            return false;
        }
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.id())).unwrap_or_default();
        // Format: `pid (comm) STATE ...`; comm may contain spaces, so split after `)`.
        match stat.rsplit_once(')') {
            Some((_, rest)) => !rest.trim_start().starts_with(['Z', 'X']),
            None => false,
        }
    }

    /// Send a signal (e.g. SIGTERM for a graceful stop).
    pub fn signal(&self, sig: Signal) {
        let _ = kill(Pid::from_raw(self.id() as i32), sig);
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `program arg arg...` for error messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
