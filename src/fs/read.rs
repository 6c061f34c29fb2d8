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

/// Why a capped read refused a file. `fs` speaks in these; the caller decides which
/// top-level [`Error`] they become (a vault file and a `_FILE` target differ).
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Opening, inspecting or reading failed.
    Io(&'static str, std::io::Error),
    /// Not a regular file (a FIFO, a device, a socket, a directory).
    NotRegularFile,
    /// Larger than [`MAX_FILE_SIZE`].
    TooLarge,
    /// The file grew while it was read.
    Grew,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(action, e) => write!(f, "cannot {action} it: {e}"),
            Self::NotRegularFile => f.write_str("it is not a regular file"),
            Self::TooLarge => write!(f, "it is larger than {MAX_FILE_SIZE} bytes"),
            Self::Grew => f.write_str("it grew while it was being read"),
        }
    }
}

impl ReadError {
    /// Whether the file does not exist.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Self::Io(_, e) if e.kind() == std::io::ErrorKind::NotFound)
    }

    /// The error for a file of the vault or key dir.
    pub(crate) fn into_vault_error(self, path: &Path) -> Error {
        let path = path.to_owned();
        match self {
            Self::Io(action, source) => Error::Io {
                action,
                path,
                source,
            },
            Self::NotRegularFile => Error::UnsafePath {
                path,
                problem: Unsafe::NotRegularFile,
            },
            Self::TooLarge => Error::UnsafePath {
                path,
                problem: Unsafe::TooLarge {
                    limit: MAX_FILE_SIZE,
                },
            },
            Self::Grew => Error::Corrupt {
                path,
                reason: "the file grew while it was being read".into(),
            },
        }
    }

    /// The error for a file the user named in the variable `var`.
    pub(crate) fn into_error(self, var: &str, path: &Path) -> Error {
        let unusable = |problem| Error::UnusableEnvFile {
            var: var.to_owned(),
            path: path.to_owned(),
            problem,
        };
        match self {
            Self::Io(_, source) => Error::ReadEnvFile {
                var: var.to_owned(),
                path: path.to_owned(),
                source,
            },
            Self::NotRegularFile => unusable(Unsafe::NotRegularFile),
            Self::TooLarge => unusable(Unsafe::TooLarge {
                limit: MAX_FILE_SIZE,
            }),
            Self::Grew => self.into_vault_error(path),
        }
    }

    /// The error for a file named on the command line (`--in`, `--identity`, ...).
    pub(crate) fn into_named_error(self, action: &'static str, path: &Path) -> Error {
        match self {
            Self::Io(_, source) => Error::Io {
                action,
                path: path.to_owned(),
                source,
            },
            other => other.into_vault_error(path),
        }
    }
}

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
        read_capped(File::from(fd))
            .map(Some)
            .map_err(|e| e.into_vault_error(&path))
    }
}

/// Reads a file named by the user (a `*_FILE` variable): links are followed and owner and
/// mode are not checked (mounted secrets are often root-owned 0644), but it must be a
/// regular file within the size cap.
pub(crate) fn read_followed(path: &Path) -> Result<FileContent, ReadError> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ReadError::Io("open", e.into()))?;
    read_capped(File::from(fd))
}

/// Reads from `input` straight into `buf` until it is full or the input ends; returns how
/// many bytes it read. The one read loop of the library: every caller passes a zeroizing
/// buffer allocated at its final size, so nothing is ever copied or reallocated.
pub(crate) fn fill(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads an open file: a regular file within [`MAX_FILE_SIZE`], into a zeroizing buffer.
pub(crate) fn read_capped(mut file: File) -> Result<FileContent, ReadError> {
    let st = rustix::fs::fstat(&file).map_err(|e| ReadError::Io("inspect", e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(ReadError::NotRegularFile);
    }
    let size = u64::try_from(st.st_size).unwrap_or(u64::MAX);
    if size > MAX_FILE_SIZE {
        return Err(ReadError::TooLarge);
    }
    // One allocation of the final size (plus one byte to notice growth): the buffer never
    // reallocates, so no unzeroized copy of its content is left behind.
    let cap = usize::try_from(size).expect("size is capped") + 1;
    let mut bytes = Zeroizing::new(vec![0u8; cap]);
    let filled = fill(&mut file, &mut bytes).map_err(|e| ReadError::Io("read", e))?;
    if filled == cap {
        return Err(ReadError::Grew);
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
    use crate::fs::testing::{private_dir, refusal};

    fn fifo(dir: &PrivateDir) {
        rustix::fs::mknodat(
            dir.fd(),
            "fifo",
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
    }

    /// A private dir holding `link`, a symbolic link to a file outside it holding `content`.
    fn with_link(content: &[u8]) -> (tempfile::TempDir, PrivateDir) {
        let (tmp, dir) = private_dir();
        let target = tmp.path().join("target");
        std::fs::write(&target, content).unwrap();
        std::os::unix::fs::symlink(&target, dir.join("link")).unwrap();
        (tmp, dir)
    }

    #[test]
    fn reads_regular_files_and_reports_absence() {
        let (_tmp, dir) = private_dir();
        assert!(dir.read("x").unwrap().is_none());
        std::fs::write(dir.join("x"), b"hello").unwrap();
        let c = dir.read("x").unwrap().unwrap();
        assert_eq!(&c.bytes[..], b"hello");
        assert_eq!(c.uid, crate::fs::my_uid());
    }

    #[test]
    fn refuses_links_fifos_and_huge_files() {
        let (_tmp, dir) = with_link(b"x");
        assert_eq!(refusal(&dir.read("link")), Some(&Unsafe::Symlink));

        fifo(&dir);
        assert_eq!(refusal(&dir.read("fifo")), Some(&Unsafe::NotRegularFile));

        std::fs::write(dir.join("big"), vec![b'a'; 64 * 1024 + 1]).unwrap();
        assert_eq!(
            refusal(&dir.read("big")),
            Some(&Unsafe::TooLarge { limit: 64 * 1024 })
        );
        std::fs::write(dir.join("max"), vec![b'a'; 64 * 1024]).unwrap();
        assert_eq!(dir.read("max").unwrap().unwrap().bytes.len(), 64 * 1024);
    }

    #[test]
    fn followed_reads_accept_links_but_not_fifos() {
        let (tmp, dir) = with_link(b"mounted");
        assert_eq!(
            &read_followed(&dir.join("link")).unwrap().bytes[..],
            b"mounted"
        );
        fifo(&dir);
        assert!(matches!(
            read_followed(&dir.join("fifo")),
            Err(ReadError::NotRegularFile)
        ));
        assert!(matches!(
            read_followed(tmp.path()),
            Err(ReadError::NotRegularFile)
        ));
    }
}
