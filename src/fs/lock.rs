//! The cross-process vault lock: `File::lock` semantics on `.continuum-vault.lock`, which is
//! never unlinked (unlinking a lock file lets two processes hold "the" lock at once).

use std::fs::{File, TryLockError};
use std::time::Duration;

use rustix::fs::{FileType, Mode, OFlags};

use super::PrivateDir;
use super::dir::io_error;
use crate::deadline::Deadline;
use crate::{Error, Unsafe};

/// The lock file's name inside the vault dir.
pub(crate) const LOCK_FILE: &str = ".continuum-vault.lock";

/// Held while a process creates, migrates or replaces files; released on drop.
#[derive(Debug)]
pub(crate) struct VaultLock {
    _file: File,
}

impl PrivateDir {
    /// Takes the exclusive vault lock, waiting until the deadline at most.
    pub(crate) fn lock(&self, deadline: &Deadline) -> Result<VaultLock, Error> {
        let path = self.join(LOCK_FILE);
        let fd = rustix::fs::openat(
            self.fd(),
            LOCK_FILE,
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| match e {
            rustix::io::Errno::LOOP => Error::UnsafePath {
                path: path.clone(),
                problem: Unsafe::Symlink,
            },
            e => io_error("open lock file", &path, e.into()),
        })?;
        let st = rustix::fs::fstat(&fd).map_err(|e| io_error("inspect", &path, e.into()))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(Error::UnsafePath {
                path,
                problem: Unsafe::NotRegularFile,
            });
        }
        let file = File::from(fd);
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(VaultLock { _file: file }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(io_error("lock", &path, e)),
            }
            let left = deadline.remaining();
            if left.is_zero() {
                return Err(Error::Timeout {
                    what: "vault lock",
                    after: deadline.budget(),
                });
            }
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::testing::private_dir;

    #[test]
    fn second_holder_times_out_then_succeeds_after_release() {
        let (_tmp, dir) = private_dir();
        let held = dir.lock(&Deadline::after(Duration::from_secs(1))).unwrap();
        // A second descriptor on the same file conflicts, as another process would.
        let err = dir
            .lock(&Deadline::after(Duration::from_millis(50)))
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Timeout {
                    what: "vault lock",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.class(), crate::ErrorClass::KeyUnavailable);
        drop(held);
        dir.lock(&Deadline::after(Duration::from_millis(50)))
            .unwrap();
        assert!(dir.join(LOCK_FILE).is_file());
    }
}
