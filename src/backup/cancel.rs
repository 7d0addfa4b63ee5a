//! Cancelling a backup under way (the daemon's shutdown past `[daemon] shutdown_grace`): the
//! source stops yielding bytes and an `exec` command's whole process group is killed, so the
//! backup fails through its ordinary failure path: no manifest is written, a copy that already
//! landed is deleted, and the spool is removed when the backup ends.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A handle that cancels one backup run; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    /// The process group of the run's `exec` command, once started.
    group: Mutex<Option<rustix::process::Pid>>,
}

impl Cancel {
    /// A handle nothing has cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Cancels the run: the source fails at its next read and the `exec` command's process
    /// group is killed (which ends a read that is waiting for the command).
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        if let Ok(group) = self.inner.group.lock() {
            if let Some(pid) = *group {
                kill_group(pid);
            }
        }
    }

    /// Records the process group of the run's `exec` command (killed at once when the run was
    /// already cancelled).
    pub(crate) fn set_group(&self, pid: rustix::process::Pid) {
        if let Ok(mut group) = self.inner.group.lock() {
            *group = Some(pid);
        }
        if self.is_cancelled() {
            kill_group(pid);
        }
    }

    /// `reader`, failing with "cancelled" once this handle is cancelled.
    pub(crate) fn guard<R: Read>(&self, reader: R) -> Guarded<R> {
        Guarded {
            reader,
            cancel: self.clone(),
        }
    }
}

/// Kills a process group; one already gone is fine.
fn kill_group(pid: rustix::process::Pid) {
    if let Err(e) = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL) {
        if e != rustix::io::Errno::SRCH {
            tracing::warn!("cannot kill the exec command's process group: {e}");
        }
    }
}

/// A reader that fails once its run is cancelled.
pub(crate) struct Guarded<R> {
    reader: R,
    cancel: Cancel,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.is_cancelled() {
            return Err(io::Error::other("the backup was cancelled"));
        }
        let n = self.reader.read(buf)?;
        if self.cancel.is_cancelled() {
            return Err(io::Error::other("the backup was cancelled"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_reader_fails() {
        let cancel = Cancel::new();
        let mut r = cancel.guard(&b"abcdef"[..]);
        let mut buf = [0u8; 2];
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        cancel.cancel();
        assert!(r.read(&mut buf).is_err());
    }
}
