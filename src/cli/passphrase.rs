//! Passphrases for backups: from a file (automation) or typed at the terminal with echo off.
//!
//! Either way the bytes go straight into one zeroizing buffer that never reallocates (no
//! `BufReader`, whose buffer would keep a copy), and from there into a `SecretString`.

use std::io::{Read, Write};
use std::path::Path;

use continuum_vault::secrecy::{ExposeSecret, SecretString};
use continuum_vault::{Error, MAX_FILE_SIZE};
use rustix::fs::{FileType, Mode, OFlags};
use zeroize::Zeroizing;

use super::Failure;

/// The longest passphrase line typed at the terminal, in bytes.
const MAX_TYPED: usize = 1024;

/// Reads the passphrase from `file` (its first line), or prompts on the terminal.
pub(crate) fn read(file: Option<&Path>, confirm: bool) -> Result<SecretString, Failure> {
    let passphrase = if let Some(path) = file {
        from_file(path)?
    } else {
        let first = prompt("Passphrase: ")?;
        if confirm && first.expose_secret() != prompt("Passphrase (again): ")?.expose_secret() {
            return Err(Failure::Vault(Error::InvalidSetting {
                setting: "passphrase",
                value: "(not shown)".into(),
                reason: "the same passphrase twice",
            }));
        }
        first
    };
    if passphrase.expose_secret().is_empty() {
        return Err(Failure::Vault(Error::InvalidSetting {
            setting: "passphrase",
            value: String::new(),
            reason: "a non-empty passphrase",
        }));
    }
    Ok(passphrase)
}

/// The first line of a passphrase file, read like every file the vault reads: the open
/// cannot block (`O_NONBLOCK`: a FIFO), anything but a regular file within
/// [`MAX_FILE_SIZE`] is refused before a byte is read (a FIFO, `/dev/zero`, a terminal).
fn from_file(path: &Path) -> Result<SecretString, Failure> {
    let refused = || {
        Failure::Vault(Error::InvalidSetting {
            setting: "--passphrase-file",
            value: path.display().to_string(),
            reason: "a regular file of at most 64 KiB (not a FIFO or a device) whose first line \
                     is the passphrase",
        })
    };
    let io = |source: std::io::Error| {
        Failure::Vault(Error::Io {
            action: "read passphrase file",
            path: path.to_owned(),
            source,
        })
    };
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(e.into()))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| io(e.into()))?;
    let size = u64::try_from(st.st_size).unwrap_or(u64::MAX);
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile || size > MAX_FILE_SIZE {
        return Err(refused());
    }
    // One byte more than the file holds, to notice growth.
    let cap = usize::try_from(size).map_err(|_| refused())? + 1;
    let mut buf = Zeroizing::new(vec![0u8; cap]);
    let filled = read_into(&mut std::fs::File::from(fd), &mut buf, false).map_err(io)?;
    if filled == cap {
        return Err(refused());
    }
    first_line(&buf[..filled])
}

/// Prompts on /dev/tty with echo off and reads one line; fails (instead of blocking) when
/// there is no terminal. Also how `set` reads a value typed at a terminal.
pub(crate) fn prompt(text: &str) -> Result<SecretString, Failure> {
    let no_tty = |e: std::io::Error| Failure::Usage {
        message: format!("there is no terminal to type a secret at ({e})"),
        hint: "pass the passphrase with --passphrase-file FILE (backup, restore), or pipe the \
               value on standard input (set)"
            .into(),
    };
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(no_tty)?;
    let saved = rustix::termios::tcgetattr(&tty).map_err(|e| no_tty(e.into()))?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
    rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Flush, &quiet)
        .map_err(|e| no_tty(e.into()))?;
    let mut out = &tty;
    let _ = out.write_all(text.as_bytes());
    let mut buf = Zeroizing::new([0u8; MAX_TYPED]);
    let read = read_into(&mut &tty, &mut buf[..], true);
    let _ = rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Flush, &saved);
    let _ = out.write_all(b"\n");
    let filled = read.map_err(Failure::Stdin)?;
    first_line(&buf[..filled])
}

/// Reads from `input` straight into `buf` (no intermediate buffer) until it is full, the
/// input ends, or, with `line`, a newline has been read (a terminal returns a line per
/// read). Returns the number of bytes read.
pub(crate) fn read_into(
    input: &mut impl Read,
    buf: &mut [u8],
    line: bool,
) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                if line && buf[filled - n..filled].contains(&b'\n') {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The first line of `bytes` without its line ending, as a `SecretString` of exact size.
fn first_line(bytes: &[u8]) -> Result<SecretString, Failure> {
    let end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    let line = bytes[..end].strip_suffix(b"\r").unwrap_or(&bytes[..end]);
    let text = std::str::from_utf8(line).map_err(|_| {
        Failure::Vault(Error::InvalidSetting {
            setting: "passphrase",
            value: "(not shown)".into(),
            reason: "UTF-8 text",
        })
    })?;
    let mut owned = String::with_capacity(text.len());
    owned.push_str(text);
    Ok(SecretString::from(owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that checks every buffer it is asked to fill lies inside `allowed`: a
    /// buffering reader between it and the caller would hand it a buffer of its own.
    struct Checked<'a> {
        data: &'a [u8],
        allowed: std::ops::Range<usize>,
    }

    impl Read for Checked<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let (start, end) = (buf.as_ptr() as usize, buf.as_ptr() as usize + buf.len());
            assert!(
                self.allowed.start <= start && end <= self.allowed.end,
                "read into a buffer other than the caller's zeroizing one"
            );
            // Like a terminal in canonical mode: at most one line per read.
            let line = self
                .data
                .iter()
                .position(|&b| b == b'\n')
                .map_or(self.data.len(), |i| i + 1);
            let n = line.min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn reads_only_into_the_callers_buffer_and_stops_at_the_line() {
        let mut buf = Zeroizing::new([0u8; MAX_TYPED]);
        let allowed = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        let mut input = Checked {
            data: b"correct horse\nnext line\n",
            allowed,
        };
        let n = read_into(&mut input, &mut buf[..], true).unwrap();
        assert_eq!(&buf[..n], b"correct horse\n");
        assert_eq!(
            input.data, b"next line\n",
            "nothing past the line is consumed"
        );
        assert_eq!(
            first_line(&buf[..n]).unwrap().expose_secret(),
            "correct horse"
        );
    }

    #[test]
    fn first_line_drops_the_line_ending_only() {
        for (bytes, want) in [
            (&b"pass\r\nrest"[..], "pass"),
            (b" spaced pass \n", " spaced pass "),
            (b"no newline", "no newline"),
            (b"\n", ""),
        ] {
            assert_eq!(first_line(bytes).unwrap().expose_secret(), want);
        }
        assert!(first_line(&[0xff, b'\n']).is_err());
    }

    #[test]
    fn refuses_fifos_devices_and_huge_files_without_reading_them() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // A writer that would feed the FIFO if it were read (then the test would see a
        // passphrase instead of a refusal); it stays blocked when nobody reads.
        let writer = fifo.clone();
        std::thread::spawn(move || {
            if let Ok(mut w) = std::fs::OpenOptions::new().write(true).open(writer) {
                let _ = w.write_all(b"from the fifo\n");
            }
        });
        let big = tmp.path().join("big");
        std::fs::write(&big, vec![b'a'; 64 * 1024 + 1]).unwrap();
        for path in [fifo.as_path(), Path::new("/dev/zero"), &big] {
            match from_file(path) {
                Err(Failure::Vault(e @ Error::InvalidSetting { .. })) => {
                    assert_eq!(
                        e.class(),
                        continuum_vault::ErrorClass::Usage,
                        "{}",
                        path.display()
                    );
                }
                Err(other) => panic!("{}: {other:?}", path.display()),
                Ok(_) => panic!("{}: read", path.display()),
            }
        }
        let ok = tmp.path().join("ok");
        std::fs::write(&ok, b"the passphrase\nignored\n").unwrap();
        assert_eq!(from_file(&ok).unwrap().expose_secret(), "the passphrase");
    }
}
