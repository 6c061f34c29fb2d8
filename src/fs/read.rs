//! Capped reads: never through a link (in the private dir), never of a FIFO or device,
//! never more than a limit, into a buffer that is zeroized when dropped.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};
use zeroize::Zeroizing;

use super::dir::io_error;
use super::{PrivateDir, mode_bits};
use crate::{Error, Unsafe};

/// The largest file any reader accepts. Secrets and their ciphertexts are far smaller.
pub(crate) const MAX_FILE_SIZE: u64 = 64 * 1024;

/// A file's bytes and the facts about it that the callers check.
pub(crate) struct FileContent {
    /// The content; may be a plaintext secret, so it is zeroized on drop.
    pub(crate) bytes: Zeroizing<Vec<u8>>,
    /// Permission bits (`st_mode & 0o7777`).
    pub(crate) mode: u32,
    /// Owner.
    pub(crate) uid: u32,
}

impl PrivateDir {
    /// Reads a regular file in this directory; `Ok(None)` when there is none.
    ///
    /// A link at `name` is refused (`O_NOFOLLOW`); `O_NONBLOCK` keeps a FIFO from blocking
    /// the open, and anything but a regular file is refused before a byte is read.
    pub(crate) fn read(&self, name: &str) -> Result<Option<FileContent>, Error> {
        let path = self.join(name);
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(self.fd(), name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP) => {
                return Err(Error::UnsafePath {
                    path,
                    problem: Unsafe::Symlink,
                });
            }
            Err(e) => return Err(io_error("open", &path, e.into())),
        };
        read_capped(File::from(fd), &path).map(Some)
    }
}

/// Reads a file named by the user (a `*_FILE` variable): links are followed and owner and
/// mode are not checked (mounted secrets are often root-owned 0644), but it must be a
/// regular file within the size cap.
pub(crate) fn read_followed(path: &Path) -> Result<FileContent, std::io::Error> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    read_capped(File::from(fd), path).map_err(|e| match e {
        Error::Io { source, .. } => source,
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
    })
}

/// Reads an open file: a regular file within [`MAX_FILE_SIZE`], into a zeroizing buffer.
pub(crate) fn read_capped(mut file: File, path: &Path) -> Result<FileContent, Error> {
    let st = rustix::fs::fstat(&file).map_err(|e| io_error("inspect", path, e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(Error::UnsafePath {
            path: path.to_owned(),
            problem: Unsafe::NotRegularFile,
        });
    }
    let size = u64::try_from(st.st_size).unwrap_or(u64::MAX);
    if size > MAX_FILE_SIZE {
        return Err(Error::UnsafePath {
            path: path.to_owned(),
            problem: Unsafe::TooLarge {
                limit: MAX_FILE_SIZE,
            },
        });
    }
    // One allocation of the final size (plus one byte to notice growth): the buffer never
    // reallocates, so no unzeroized copy of its content is left behind.
    let cap = usize::try_from(size).expect("size is capped") + 1;
    let mut bytes = Zeroizing::new(vec![0u8; cap]);
    let mut filled = 0;
    while filled < cap {
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error("read", path, e)),
        }
    }
    if filled == cap {
        return Err(Error::Corrupt {
            path: path.to_owned(),
            reason: "the file grew while it was being read".into(),
        });
    }
    bytes.truncate(filled);
    Ok(FileContent {
        bytes,
        mode: mode_bits(st.st_mode),
        uid: st.st_uid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> (tempfile::TempDir, PrivateDir) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = PrivateDir::create(&tmp.path().join("v")).unwrap();
        (tmp, dir)
    }

    #[test]
    fn reads_regular_files_and_reports_absence() {
        let (_tmp, dir) = dir();
        assert!(dir.read("x").unwrap().is_none());
        std::fs::write(dir.join("x"), b"hello").unwrap();
        let c = dir.read("x").unwrap().unwrap();
        assert_eq!(&c.bytes[..], b"hello");
        assert_eq!(c.uid, crate::fs::my_uid());
    }

    #[test]
    fn refuses_links_fifos_and_huge_files() {
        let (tmp, dir) = dir();
        let target = tmp.path().join("target");
        std::fs::write(&target, b"x").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("link")).unwrap();
        assert!(matches!(
            dir.read("link"),
            Err(Error::UnsafePath {
                problem: Unsafe::Symlink,
                ..
            })
        ));

        rustix::fs::mknodat(
            dir.fd(),
            "fifo",
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert!(matches!(
            dir.read("fifo"),
            Err(Error::UnsafePath {
                problem: Unsafe::NotRegularFile,
                ..
            })
        ));

        std::fs::write(dir.join("big"), vec![b'a'; 64 * 1024 + 1]).unwrap();
        assert!(matches!(
            dir.read("big"),
            Err(Error::UnsafePath {
                problem: Unsafe::TooLarge { .. },
                ..
            })
        ));
        std::fs::write(dir.join("max"), vec![b'a'; 64 * 1024]).unwrap();
        assert_eq!(dir.read("max").unwrap().unwrap().bytes.len(), 64 * 1024);
    }

    #[test]
    fn followed_reads_accept_links_but_not_fifos() {
        let (tmp, dir) = dir();
        let target = tmp.path().join("target");
        std::fs::write(&target, b"mounted").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("link")).unwrap();
        assert_eq!(
            &read_followed(&dir.join("link")).unwrap().bytes[..],
            b"mounted"
        );
        rustix::fs::mknodat(
            dir.fd(),
            "fifo",
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert!(read_followed(&dir.join("fifo")).is_err());
    }
}
