//! The private directory: created 0700, refused when it is a link, foreign, or writable by others.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};

use super::{mode_bits, my_uid};
use crate::{Error, Unsafe};

/// A directory that was checked once and is then used only through its descriptor.
#[derive(Debug)]
pub(crate) struct PrivateDir {
    path: PathBuf,
    fd: OwnedFd,
}

impl PrivateDir {
    /// Opens an existing directory and checks it; `Ok(None)` when it does not exist.
    pub(crate) fn open(path: &Path) -> Result<Option<Self>, Error> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::open(path, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(Self::open_error(path, e.into())),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| io_error("inspect", path, e.into()))?;
        let unsafe_path = |problem| Error::UnsafePath {
            path: path.to_owned(),
            problem,
        };
        if st.st_uid != my_uid() {
            return Err(unsafe_path(Unsafe::ForeignOwner {
                owner: st.st_uid,
                me: my_uid(),
            }));
        }
        let mode = mode_bits(st.st_mode);
        if mode & 0o022 != 0 {
            return Err(unsafe_path(Unsafe::WritableByOthers { mode }));
        }
        Ok(Some(Self {
            path: path.to_owned(),
            fd,
        }))
    }

    /// Opens the directory, creating it (and missing parents) with mode 0700 first if needed.
    pub(crate) fn create(path: &Path) -> Result<Self, Error> {
        if let Some(dir) = Self::open(path)? {
            return Ok(dir);
        }
        match std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
        {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error("create directory", path, e)),
        }
        Self::open(path)?.ok_or_else(|| {
            io_error(
                "create directory",
                path,
                io::Error::from(io::ErrorKind::NotFound),
            )
        })
    }

    fn open_error(path: &Path, e: io::Error) -> Error {
        // O_NOFOLLOW|O_DIRECTORY fails with ELOOP or ENOTDIR on a link; tell which it was.
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => Error::UnsafePath {
                path: path.to_owned(),
                problem: Unsafe::Symlink,
            },
            Ok(m) if !m.is_dir() => Error::UnsafePath {
                path: path.to_owned(),
                problem: Unsafe::NotDirectory,
            },
            _ => io_error("open directory", path, e),
        }
    }

    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// The full path of an entry, for messages.
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The names in this directory (UTF-8 ones; `.` and `..` left out), listed through the
    /// checked descriptor: a directory swapped in at the same path is never what is listed.
    pub(crate) fn entries(&self) -> Result<Vec<String>, Error> {
        let list_err = |e: rustix::io::Errno| io_error("list", &self.path, e.into());
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.fd).map_err(list_err)? {
            let entry = entry.map_err(list_err)?;
            if let Ok(name) = entry.file_name().to_str()
                && name != "."
                && name != ".."
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Renames `name` to `<name>.unreadable.<now>` (then `.1`, `.2`, ... when that exists),
    /// never over an existing file: a file set aside is kept, never deleted or replaced.
    /// Returns the new name. Call with the vault lock held.
    pub(crate) fn set_aside(&self, name: &str, now: u64) -> Result<String, Error> {
        let base = format!("{name}.unreadable.{now}");
        for n in 0..100 {
            let to = if n == 0 {
                base.clone()
            } else {
                format!("{base}.{n}")
            };
            match rustix::fs::renameat_with(
                &self.fd,
                name,
                &self.fd,
                to.as_str(),
                rustix::fs::RenameFlags::NOREPLACE,
            ) {
                Ok(()) => return Ok(to),
                Err(rustix::io::Errno::EXIST) => {}
                Err(e) => {
                    return Err(Error::Write {
                        path: self.join(name),
                        source: e.into(),
                    });
                }
            }
        }
        Err(Error::Write {
            path: self.join(name),
            source: io::Error::from(io::ErrorKind::AlreadyExists),
        })
    }

    /// Removes `name` from this directory (not following a link); an absent file is not an
    /// error. Call with the vault lock held.
    pub(crate) fn remove(&self, name: &str) -> Result<(), Error> {
        match rustix::fs::unlinkat(&self.fd, name, rustix::fs::AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(Error::Write {
                path: self.join(name),
                source: e.into(),
            }),
        }
    }

    /// Removes the file at `path` through its checked parent directory; an absent file or
    /// directory is not an error.
    pub(crate) fn remove_path(path: &Path) -> Result<(), Error> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
        else {
            return Ok(());
        };
        match Self::open(parent)? {
            Some(dir) => dir.remove(name),
            None => Ok(()),
        }
    }

    /// Sets this directory's mode to 0700 when group or others have any bit; returns the
    /// old mode when it changed. Call with the vault lock held.
    pub(crate) fn tighten_self(&self) -> Result<Option<u32>, Error> {
        let st =
            rustix::fs::fstat(&self.fd).map_err(|e| io_error("inspect", &self.path, e.into()))?;
        let mode = mode_bits(st.st_mode);
        if !super::group_or_other_bits(mode) {
            return Ok(None);
        }
        rustix::fs::fchmod(&self.fd, Mode::from_raw_mode(0o700))
            .map_err(|e| io_error("change the mode of", &self.path, e.into()))?;
        Ok(Some(mode))
    }

    /// Sets an existing regular file's mode to 0600 (used to tighten loose ciphertext files).
    pub(crate) fn tighten(&self, name: &str) -> Result<(), Error> {
        let path = self.join(name);
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_error("open", &path, e.into()))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| io_error("inspect", &path, e.into()))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(Error::UnsafePath {
                path,
                problem: Unsafe::NotRegularFile,
            });
        }
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o600))
            .map_err(|e| io_error("change the mode of", &path, e.into()))
    }
}

pub(crate) fn io_error(action: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::testing::{mode, problem};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_file_set_aside_never_replaces_one_set_aside_before() {
        let (_tmp, dir) = crate::fs::testing::private_dir();
        std::fs::write(dir.join("s"), b"first").unwrap();
        assert_eq!(dir.set_aside("s", 7).unwrap(), "s.unreadable.7");
        std::fs::write(dir.join("s"), b"second").unwrap();
        // The same second: the first one set aside stays as it was.
        assert_eq!(dir.set_aside("s", 7).unwrap(), "s.unreadable.7.1");
        assert_eq!(std::fs::read(dir.join("s.unreadable.7")).unwrap(), b"first");
        assert_eq!(
            std::fs::read(dir.join("s.unreadable.7.1")).unwrap(),
            b"second"
        );
        assert!(!dir.join("s").exists());
    }

    #[test]
    fn creates_missing_dir_0700_and_reopens_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/b");
        let dir = PrivateDir::create(&path).unwrap();
        assert_eq!(dir.path(), path);
        assert_eq!(mode(&path), 0o700);
        assert!(PrivateDir::open(&path).unwrap().is_some());
    }

    #[test]
    fn missing_dir_opens_as_none() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(
            PrivateDir::open(&tmp.path().join("nope"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn refuses_symlinked_and_group_writable_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = PrivateDir::open(&link).unwrap_err();
        assert_eq!(problem(&err), Some(&Unsafe::Symlink), "{err:?}");
        assert_eq!(err.class(), crate::ErrorClass::UnsafePath);

        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o770)).unwrap();
        let err = PrivateDir::open(&real).unwrap_err();
        assert_eq!(
            problem(&err),
            Some(&Unsafe::WritableByOthers { mode: 0o770 }),
            "{err:?}"
        );
        assert!(err.hint().unwrap().contains("chmod 700"));

        let file = tmp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = PrivateDir::open(&file).unwrap_err();
        assert_eq!(problem(&err), Some(&Unsafe::NotDirectory), "{err:?}");
    }
}
