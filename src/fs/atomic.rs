//! Atomic replacement: a new file is written under a temporary name created with
//! `O_CREAT|O_EXCL|O_NOFOLLOW` and mode 0600, fsynced, renamed over the target, and the
//! directory is fsynced. A crash at any point leaves the old file or the new one.

use std::fs::File;
use std::io::Write;

use rand::RngExt;
use rustix::fs::{Mode, OFlags};

use super::PrivateDir;
use super::dir::io_error;
use crate::Error;

/// Marks temporary files: `.<name>.tmp.<random>`.
const TEMP_MARK: &str = ".tmp.";

/// Whether an existing target may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replace {
    /// Replace the target atomically if it exists.
    Yes,
    /// Fail if the target exists (used for new key files).
    No,
}

impl PrivateDir {
    /// Writes `bytes` to `name` atomically with mode 0600. Call with the vault lock held.
    pub(crate) fn write_atomic(
        &self,
        name: &str,
        bytes: &[u8],
        replace: Replace,
    ) -> Result<(), Error> {
        self.write_atomic_verified(name, bytes, replace, |_| Ok(()))
    }

    /// Like [`write_atomic`](Self::write_atomic), but reads the temp file back after the
    /// fsync and lets `verify` accept it before it replaces the target. Rotation uses this
    /// to prove the new ciphertext decrypts with the vault key before the old one goes.
    pub(crate) fn write_atomic_verified(
        &self,
        name: &str,
        bytes: &[u8],
        replace: Replace,
        verify: impl FnOnce(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.stage(name, bytes, replace, verify)?.commit()
    }

    /// The first half of an atomic write: the temp file, written, fsynced, read back and
    /// accepted by `verify`, but not yet renamed over `name`. Several files can be staged
    /// before any of them replaces its target, so that a full disk or a failed check
    /// changes nothing; a [`Staged`] dropped without [`Staged::commit`] removes its temp file.
    pub(crate) fn stage(
        &self,
        name: &str,
        bytes: &[u8],
        replace: Replace,
        verify: impl FnOnce(&[u8]) -> Result<(), Error>,
    ) -> Result<Staged<'_>, Error> {
        let target = self.join(name);
        let write_err = |source: std::io::Error| Error::Write {
            path: target.clone(),
            source,
        };
        let temp = temp_name(name);
        let fd = rustix::fs::openat(
            self.fd(),
            &temp,
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| write_err(e.into()))?;
        let staged = Staged {
            dir: self,
            temp,
            target: name.to_owned(),
            replace,
            done: false,
        };
        let mut file = File::from(fd);
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(write_err)
            .and_then(|()| read_back(&file, bytes.len()).map_err(write_err))
            .and_then(|written| verify(&written))?;
        Ok(staged)
    }

    fn rename(&self, from: &str, to: &str, replace: Replace) -> std::io::Result<()> {
        match replace {
            Replace::Yes => rustix::fs::renameat(self.fd(), from, self.fd(), to)?,
            Replace::No => rustix::fs::renameat_with(
                self.fd(),
                from,
                self.fd(),
                to,
                rustix::fs::RenameFlags::NOREPLACE,
            )?,
        }
        Ok(())
    }

    /// Removes temp files left by writers that crashed. Call with the vault lock held, so
    /// that no live writer's temp file is among them.
    pub(crate) fn remove_stale_temps(&self) -> Result<(), Error> {
        for name in self.entries()? {
            let name = name.as_str();
            if is_temp_name(name) {
                match rustix::fs::unlinkat(self.fd(), name, rustix::fs::AtFlags::empty()) {
                    Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                    Err(e) => {
                        return Err(io_error(
                            "remove stale temp file",
                            &self.join(name),
                            e.into(),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A temp file written and checked, waiting to replace its target.
#[must_use = "a staged file replaces nothing until it is committed"]
pub(crate) struct Staged<'a> {
    dir: &'a PrivateDir,
    temp: String,
    target: String,
    replace: Replace,
    done: bool,
}

impl Staged<'_> {
    /// Renames the temp file over its target and fsyncs the directory.
    pub(crate) fn commit(mut self) -> Result<(), Error> {
        let write_err = |source: std::io::Error| Error::Write {
            path: self.dir.join(&self.target),
            source,
        };
        self.dir
            .rename(&self.temp, &self.target, self.replace)
            .map_err(write_err)?;
        self.done = true;
        rustix::fs::fsync(self.dir.fd()).map_err(|e| write_err(e.into()))
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Best effort: a leftover temp file is also removed by the next write.
            let _ = rustix::fs::unlinkat(
                self.dir.fd(),
                self.temp.as_str(),
                rustix::fs::AtFlags::empty(),
            );
        }
    }
}

/// Reads the whole file back through its descriptor, into a zeroizing buffer: it may be a
/// key file.
fn read_back(file: &File, len: usize) -> std::io::Result<zeroize::Zeroizing<Vec<u8>>> {
    use std::os::unix::fs::FileExt;
    let mut buf = zeroize::Zeroizing::new(vec![0u8; len]);
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

fn temp_name(name: &str) -> String {
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(12)
        .map(char::from)
        .collect();
    format!(".{name}{TEMP_MARK}{suffix}")
}

fn is_temp_name(name: &str) -> bool {
    name.starts_with('.')
        && name.rsplit_once(TEMP_MARK).is_some_and(|(_, suffix)| {
            !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::testing::{mode, private_dir};

    #[test]
    fn writes_0600_and_replaces() {
        let (_tmp, dir) = private_dir();
        dir.write_atomic("s", b"one", Replace::Yes).unwrap();
        dir.write_atomic("s", b"two", Replace::Yes).unwrap();
        assert_eq!(std::fs::read(dir.join("s")).unwrap(), b"two");
        assert_eq!(mode(dir.join("s")), 0o600);
        let err = dir.write_atomic("s", b"three", Replace::No).unwrap_err();
        assert!(matches!(err, Error::Write { .. }));
        assert_eq!(std::fs::read(dir.join("s")).unwrap(), b"two");
        // Nothing but the target is left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn removes_only_temp_files() {
        let (_tmp, dir) = private_dir();
        for name in [
            ".jwt_secret.tmp.abcDEF123456",
            "..continuum-vault.json.tmp.x1",
            "jwt_secret",
            ".continuum-vault.lock",
            ".x.tmp.",
        ] {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        dir.remove_stale_temps().unwrap();
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [".continuum-vault.lock", ".x.tmp.", "jwt_secret"]);
    }

    #[test]
    fn temp_names_are_recognised() {
        let t = temp_name("jwt_secret");
        assert!(t.starts_with(".jwt_secret.tmp."), "{t}");
        assert!(is_temp_name(&t));
        assert!(!is_temp_name("jwt_secret"));
    }
}
