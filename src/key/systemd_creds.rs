//! The vault key sealed to this host with systemd credentials.
//!
//! The age identity is encrypted by the real `systemd-creds encrypt` (default
//! `--with-key=auto`: the host key in `/var/lib/systemd/credential.secret`, plus a TPM2 when
//! the machine has one) and kept only in that form, as `<credstore>/<name>`. The file name
//! equals the credential name embedded in it, so both `systemd-creds decrypt --name=NAME`
//! and a unit's `LoadCredentialEncrypted=NAME` find it. The plaintext identity goes to
//! `systemd-creds` on standard input only: never on an argument list, never in a file.
//!
//! Loading prefers what systemd delivered: `$CREDENTIALS_DIRECTORY/<name>`, decrypted by the
//! service manager into a directory only the unit's user can read. Otherwise
//! `systemd-creds decrypt` runs, which on systemd v252 works only as root.
//!
//! Every `systemd-creds` call is a child process bounded by the operation's [`Deadline`]: at
//! the deadline its process group is killed and the child reaped. The child gets a clean
//! environment with `PATH` and the variables `systemd-creds` itself reads passed through
//! ([`PASSED_VARS`]), among them `SYSTEMD_CREDENTIAL_SECRET`, the host key's path.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rustix::fs::{Mode, OFlags};
use zeroize::Zeroizing;

use super::{KeyRef, KeyStore, VaultKey};
use crate::config::EnvLookup;
use crate::deadline::Deadline;
use crate::fs::atomic::Replace;
use crate::fs::dir::io_error;
use crate::fs::read::{MAX_FILE_SIZE, read_capped};
use crate::fs::{PrivateDir, mode_bits, my_uid};
use crate::{Error, Unsafe};

/// Where the credential is stored unless `CONTINUUM_VAULT_CREDSTORE` says otherwise: the
/// directory systemd searches for `LoadCredentialEncrypted=NAME` without a path.
pub(crate) const DEFAULT_CREDSTORE: &str = "/etc/credstore.encrypted";

/// The variable systemd sets in a unit that has credentials.
pub(crate) const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// The program.
const PROGRAM: &str = "systemd-creds";

/// Searched when `PATH` is unset (systemd's own default for services).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables passed on to `systemd-creds` when they are set, besides `PATH`: the host key's
/// path, where it may put temporary files, and its log level.
pub(crate) const PASSED_VARS: [&str; 3] =
    ["SYSTEMD_CREDENTIAL_SECRET", "TMPDIR", "SYSTEMD_LOG_LEVEL"];

/// How much of `systemd-creds`' standard error is kept for the message.
const MAX_STDERR: usize = 16 * 1024;

/// How long one message line may be.
const MAX_DETAIL: usize = 200;

/// What `systemd-creds` prints when the key it has cannot open a credential: another host's
/// key, a host key or TPM2 that was reset, or no host key at all on this machine.
const HOST_KEY_FAILURES: [&str; 3] = [
    "Decryption failed",
    "Failed to unseal",
    "Failed to determine local credential key: No such file",
];

/// The credential name of a vault's key: `continuum-vault-<vault id>`.
pub(crate) fn credential_name(vault_id: &str) -> String {
    format!("continuum-vault-{vault_id}")
}

/// The unit line that delivers the credential at `path` as `$CREDENTIALS_DIRECTORY/<name>`.
/// `%` is doubled, since unit files expand `%` specifiers.
pub(crate) fn load_credential_line(name: &str, path: &Path) -> String {
    format!(
        "LoadCredentialEncrypted={name}:{}",
        path.display().to_string().replace('%', "%%")
    )
}

/// A `systemd-creds` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// `systemd-creds encrypt`.
    Encrypt,
    /// `systemd-creds decrypt`.
    Decrypt,
    /// `systemd-creds has-tpm2`.
    HasTpm2,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Encrypt => "encrypt",
            Self::Decrypt => "decrypt",
            Self::HasTpm2 => "has-tpm2",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the key could not be sealed or unsealed with systemd credentials. No variant holds
/// key material: `detail` is one line of `systemd-creds`' standard error, filtered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredsError {
    /// No executable `systemd-creds` in any absolute directory of `PATH`.
    #[error("systemd-creds is not installed: no executable {PROGRAM} in PATH ({path})")]
    NotInstalled {
        /// The `PATH` that was searched.
        path: String,
    },

    /// `systemd-creds` was found but could not be started.
    #[error("cannot start {program}")]
    Start {
        /// The program.
        program: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// The deadline passed; the child was killed and reaped.
    #[error("systemd-creds {operation} did not finish within {} ms; it was stopped", after.as_millis())]
    TimedOut {
        /// The call.
        operation: Operation,
        /// The operation's whole budget.
        after: Duration,
    },

    /// `systemd-creds` failed for another reason.
    #[error("systemd-creds {operation} failed ({status}): {detail}")]
    Failed {
        /// The call.
        operation: Operation,
        /// The exit status, as text.
        status: String,
        /// The first meaningful line of its standard error.
        detail: String,
    },

    /// This host's credential key (or TPM2) cannot open the credential.
    #[error("this host's credential key cannot open {path}: {detail}")]
    HostKeyMismatch {
        /// The credential file.
        path: PathBuf,
        /// The first meaningful line of `systemd-creds`' standard error.
        detail: String,
    },

    /// Not root: on systemd v252 only root can use the host key.
    #[error(
        "a non-root user (uid {uid}) cannot {} a credential with the host key on systemd v252 \
         (the host key is readable by root only): {detail}",
        if *operation == Operation::Encrypt { "encrypt" } else { "decrypt" }
    )]
    NotRoot {
        /// The call.
        operation: Operation,
        /// This process's effective uid.
        uid: u32,
        /// The credential name.
        name: String,
        /// The credential file.
        path: PathBuf,
        /// The first meaningful line of `systemd-creds`' standard error.
        detail: String,
    },

    /// A credential file of that name exists already; it is never replaced.
    #[error("the credential {path} already exists; it was left as it is")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },

    /// The name is not one this vault uses for credentials.
    #[error("invalid credential name {name:?}")]
    InvalidName {
        /// The name as given.
        name: String,
    },

    /// A file or directory problem (the credential store, the delivered credential).
    #[error(transparent)]
    File(Box<Error>),
}

impl From<Error> for CredsError {
    fn from(e: Error) -> Self {
        Self::File(Box::new(e))
    }
}

impl CredsError {
    /// The class of the error: an existing credential is a conflict, a bad name a usage
    /// error, everything else means the key cannot be had.
    pub(crate) fn class(&self) -> crate::ErrorClass {
        match self {
            Self::Exists { .. } => crate::ErrorClass::Conflict,
            Self::InvalidName { .. } => crate::ErrorClass::Usage,
            Self::File(e) => e.class(),
            _ => crate::ErrorClass::KeyUnavailable,
        }
    }

    /// What the user can do about it.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::NotInstalled { .. } => "install systemd (systemd-creds is part of it), or \
                 choose another key source with --key-source"
                .into(),
            Self::Start { program, .. } => {
                format!("check that {} is executable", program.display())
            }
            Self::TimedOut { .. } => "check that systemd-creds (and the TPM2, if there is one) \
                 responds, or raise CONTINUUM_VAULT_KEYRING_TIMEOUT_MS"
                .into(),
            Self::Failed { .. } => "check the credential file and the host key \
                 (/var/lib/systemd/credential.secret, or SYSTEMD_CREDENTIAL_SECRET if set); \
                 the message above is systemd-creds' own"
                .into(),
            Self::HostKeyMismatch { .. } => "the credential was sealed on another host, or this \
                 host's key or TPM2 was reset; restore /var/lib/systemd/credential.secret, or \
                 the vault key from a backup; the credential file was left as it is"
                .into(),
            Self::NotRoot {
                operation: Operation::Encrypt,
                ..
            } => "run this command as root: sealing the key needs the host key".into(),
            Self::NotRoot { name, path, .. } => {
                let line = load_credential_line(name, path);
                format!(
                    "let systemd deliver the key: add\n    {line}\nto the [Service] section of \
                     the unit; for a one-off command, as root:\n    systemd-run -p {line} \
                     -p User=$USER --pipe --wait --quiet continuum-vault ..."
                )
            }
            Self::Exists { .. } => "it may hold another vault's key: move it away only when it \
                 is known to be unused, then try again"
                .into(),
            Self::InvalidName { .. } => "use letters, digits, '.', '_' and '-', starting with a \
                 letter or digit, at most 255 characters"
                .into(),
            Self::File(e) => return e.hint(),
        })
    }
}

/// Runs `systemd-creds` with the variables of one environment lookup.
pub(crate) struct SystemdCreds {
    env: EnvLookup,
}

impl std::fmt::Debug for SystemdCreds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemdCreds").finish_non_exhaustive()
    }
}

impl SystemdCreds {
    /// The host key `systemd-creds` uses: `SYSTEMD_CREDENTIAL_SECRET` when set, else
    /// systemd's own place.
    pub(crate) fn host_key(&self) -> PathBuf {
        (self.env)("SYSTEMD_CREDENTIAL_SECRET")
            .filter(|v| !v.is_empty())
            .map_or_else(
                || PathBuf::from("/var/lib/systemd/credential.secret"),
                PathBuf::from,
            )
    }

    /// Reads `PATH`, `CREDENTIALS_DIRECTORY` and [`PASSED_VARS`] through `env`.
    pub(crate) fn new(env: EnvLookup) -> Self {
        Self { env }
    }

    /// Seals `identity_text` with `systemd-creds encrypt --name=NAME - -` and stores it as
    /// `<credstore_dir>/<name>`, mode 0600, never replacing a file. Before it is stored, the
    /// credential is decrypted once more (from memory) to prove this host can open it.
    /// Call with the vault lock held.
    pub(crate) fn encrypt(
        &self,
        name: &str,
        identity_text: &Zeroizing<String>,
        credstore_dir: &Path,
        deadline: &Deadline,
    ) -> Result<PathBuf, CredsError> {
        check_name(name)?;
        let dir = PrivateDir::create(credstore_dir)?;
        let path = dir.join(name);
        match rustix::fs::statat(dir.fd(), name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => return Err(CredsError::Exists { path }),
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(io_error("inspect", &path, e.into()).into()),
        }
        let name_arg = OsString::from(format!("--name={name}"));
        let stdin = Zeroizing::new(identity_text.as_bytes().to_vec());
        let sealed = self.run(
            Operation::Encrypt,
            &[
                OsStr::new("encrypt"),
                &name_arg,
                OsStr::new("-"),
                OsStr::new("-"),
            ],
            Some(stdin),
            deadline,
        )?;
        if !sealed.status.success() {
            return Err(failure(Operation::Encrypt, &sealed, name, &path));
        }
        if sealed.stdout.is_empty() || sealed.overflow {
            return Err(CredsError::Failed {
                operation: Operation::Encrypt,
                status: sealed.status.to_string(),
                detail: "it printed no credential, or more than 64 KiB".into(),
            });
        }
        let ciphertext = sealed.stdout;

        // Prove the credential opens with this host's key before it lands on disk.
        let opened = self.run(
            Operation::Decrypt,
            &[
                OsStr::new("decrypt"),
                &name_arg,
                OsStr::new("--newline=no"),
                OsStr::new("-"),
                OsStr::new("-"),
            ],
            Some(Zeroizing::new(ciphertext.to_vec())),
            deadline,
        )?;
        if !opened.status.success() {
            return Err(failure(Operation::Decrypt, &opened, name, &path));
        }
        if opened.stdout[..] != identity_text.as_bytes()[..] {
            return Err(CredsError::Failed {
                operation: Operation::Decrypt,
                status: opened.status.to_string(),
                detail: "the new credential does not decrypt to the key it was made from".into(),
            });
        }
        dir.write_atomic_verified(name, &ciphertext, Replace::No, |written| {
            if written == &ciphertext[..] {
                Ok(())
            } else {
                Err(Error::Corrupt {
                    path: path.clone(),
                    reason: "the credential read back differs from what was written".into(),
                })
            }
        })?;
        Ok(path)
    }

    /// The identity text in the credential `name`: the copy systemd delivered in
    /// `$CREDENTIALS_DIRECTORY` when there is one (then `systemd-creds` is not run), else
    /// `systemd-creds decrypt --name=NAME PATH -`.
    pub(crate) fn decrypt(
        &self,
        name: &str,
        path: &Path,
        deadline: &Deadline,
    ) -> Result<Zeroizing<Vec<u8>>, CredsError> {
        check_name(name)?;
        if let Some(bytes) = self.delivered(name)? {
            return Ok(bytes);
        }
        if !path.is_absolute() {
            return Err(Error::InvalidSetting {
                setting: "credential path",
                value: path.display().to_string(),
                reason: "an absolute path",
            }
            .into());
        }
        let name_arg = OsString::from(format!("--name={name}"));
        let out = self.run(
            Operation::Decrypt,
            &[
                OsStr::new("decrypt"),
                &name_arg,
                OsStr::new("--newline=no"),
                path.as_os_str(),
                OsStr::new("-"),
            ],
            None,
            deadline,
        )?;
        if !out.status.success() {
            return Err(failure(Operation::Decrypt, &out, name, path));
        }
        if out.overflow {
            return Err(CredsError::Failed {
                operation: Operation::Decrypt,
                status: out.status.to_string(),
                detail: "it printed more than 64 KiB".into(),
            });
        }
        Ok(out.stdout)
    }

    /// Whether `systemd-creds has-tpm2` reports full TPM2 support (then `--with-key=auto`
    /// seals to the TPM2 as well as to the host key). Any failure counts as no.
    pub(crate) fn has_tpm2(&self, deadline: &Deadline) -> bool {
        self.run(
            Operation::HasTpm2,
            &[OsStr::new("has-tpm2"), OsStr::new("--quiet")],
            None,
            deadline,
        )
        .is_ok_and(|out| out.status.success())
    }

    /// `$CREDENTIALS_DIRECTORY/<name>`, read without following links, within the size cap,
    /// when it exists. The directory must belong to this user or to root (systemd makes it
    /// root's with an ACL for the unit's user on file systems that have ACLs) and be
    /// writable by its owner only; the file likewise, and readable by no one else. On a
    /// root-owned file the group bits are the ACL mask, so only the other bits are checked.
    pub(crate) fn delivered(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CredsError> {
        check_name(name)?;
        let Some(dir) = (self.env)(CREDENTIALS_DIRECTORY).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let dir = PathBuf::from(dir);
        if !dir.is_absolute() {
            return Err(Error::InvalidSetting {
                setting: CREDENTIALS_DIRECTORY,
                value: dir.display().to_string(),
                reason: "an absolute path (systemd always sets one)",
            }
            .into());
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let dir_fd = match rustix::fs::open(&dir, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                return Err(unsafe_path(&dir, Unsafe::NotDirectory));
            }
            Err(e) => return Err(io_error("open directory", &dir, e.into()).into()),
        };
        let st = rustix::fs::fstat(&dir_fd).map_err(|e| io_error("inspect", &dir, e.into()))?;
        if let Some(problem) = delivered_problem(st.st_uid, mode_bits(st.st_mode), my_uid(), true) {
            return Err(unsafe_path(&dir, problem));
        }
        let path = dir.join(name);
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&dir_fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP) => return Err(unsafe_path(&path, Unsafe::Symlink)),
            Err(e) => return Err(io_error("open", &path, e.into()).into()),
        };
        let content =
            read_capped(File::from(fd)).map_err(|e| CredsError::from(e.into_vault_error(&path)))?;
        if let Some(problem) = delivered_problem(content.uid, content.mode, my_uid(), false) {
            return Err(unsafe_path(&path, problem));
        }
        Ok(Some(content.bytes))
    }

    fn path_var(&self) -> OsString {
        (self.env)("PATH")
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| DEFAULT_PATH.into())
    }

    /// Runs `systemd-creds ARGS` with `stdin` fed on a thread, its output read on threads,
    /// and the child killed (with its process group) and reaped at the deadline.
    fn run(
        &self,
        operation: Operation,
        args: &[&OsStr],
        stdin: Option<Zeroizing<Vec<u8>>>,
        deadline: &Deadline,
    ) -> Result<Finished, CredsError> {
        let timed_out = || CredsError::TimedOut {
            operation,
            after: deadline.budget(),
        };
        let path_var = self.path_var();
        let program = find_program(&path_var).ok_or_else(|| CredsError::NotInstalled {
            path: path_var.to_string_lossy().into_owned(),
        })?;
        if deadline.remaining().is_zero() {
            return Err(timed_out());
        }
        let mut cmd = Command::new(&program);
        cmd.args(args).env_clear().env("PATH", &path_var);
        for var in PASSED_VARS {
            if let Some(value) = (self.env)(var) {
                cmd.env(var, value);
            }
        }
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that the deadline kills whatever it started too.
        .process_group(0);
        let start_error = |source| CredsError::Start {
            program: program.clone(),
            source,
        };
        let mut child = cmd.spawn().map_err(start_error)?;
        let started = (|| {
            if let (Some(mut pipe), Some(data)) = (child.stdin.take(), stdin) {
                // A child that exits early closes the pipe; its status tells why.
                spawn("continuum-vault-creds-in", move || {
                    let _ = pipe.write_all(&data);
                })?;
            }
            let stdout = child.stdout.take().map(|pipe| {
                on_thread("continuum-vault-creds-out", move || {
                    read_pipe(pipe, usize::try_from(MAX_FILE_SIZE).unwrap_or(usize::MAX))
                })
            });
            let stderr = child.stderr.take().map(|pipe| {
                on_thread("continuum-vault-creds-err", move || {
                    read_pipe(pipe, MAX_STDERR)
                })
            });
            match (stdout, stderr) {
                (Some(out), Some(err)) => Ok((out?, err?)),
                _ => Err(io::Error::other("the child's pipes are missing")),
            }
        })();
        let (stdout, stderr) = match started {
            Ok(readers) => readers,
            Err(e) => {
                kill(&mut child);
                return Err(start_error(e));
            }
        };

        let status = match wait_until(&mut child, deadline) {
            Ok(Some(status)) => status,
            Ok(None) => {
                kill(&mut child);
                return Err(timed_out());
            }
            Err(e) => {
                kill(&mut child);
                return Err(start_error(e));
            }
        };
        // The child is gone; a process it started could still hold the pipes open.
        let collect = |rx: &mpsc::Receiver<io::Result<Captured>>| match rx
            .recv_timeout(deadline.remaining())
        {
            Ok(Ok(captured)) => Ok(captured),
            Ok(Err(e)) => Err(CredsError::Failed {
                operation,
                status: status.to_string(),
                detail: format!("cannot read its output: {e}"),
            }),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                kill_group(&child);
                Err(timed_out())
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(CredsError::Failed {
                operation,
                status: status.to_string(),
                detail: "its output could not be read".into(),
            }),
        };
        let out = collect(&stdout)?;
        let err = collect(&stderr)?;
        Ok(Finished {
            status,
            stdout: out.bytes,
            overflow: out.overflow,
            stderr: err.bytes,
        })
    }
}

/// A finished `systemd-creds` run.
struct Finished {
    status: ExitStatus,
    /// May hold the identity (decrypt), hence zeroizing.
    stdout: Zeroizing<Vec<u8>>,
    /// Whether stdout went past the cap (the rest was discarded).
    overflow: bool,
    stderr: Zeroizing<Vec<u8>>,
}

/// Bytes read from a pipe, up to a cap.
struct Captured {
    bytes: Zeroizing<Vec<u8>>,
    overflow: bool,
}

/// Reads a pipe to its end into one buffer allocated up front (so no reallocation leaves an
/// unzeroized copy behind), keeping at most `cap` bytes and draining the rest so the writer
/// never blocks.
fn read_pipe(mut pipe: impl Read, cap: usize) -> io::Result<Captured> {
    let mut bytes = Zeroizing::new(vec![0u8; cap]);
    let mut scratch = Zeroizing::new([0u8; 4096]);
    let mut filled = 0;
    let mut overflow = false;
    loop {
        let keep = filled < cap;
        let buf: &mut [u8] = if keep {
            &mut bytes[filled..]
        } else {
            &mut scratch[..]
        };
        match pipe.read(buf) {
            Ok(0) => break,
            Ok(n) if keep => filled += n,
            Ok(_) => overflow = true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(filled);
    Ok(Captured { bytes, overflow })
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
}

/// Runs `f` on a thread; its result arrives on the returned channel.
fn on_thread<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<mpsc::Receiver<T>> {
    let (tx, rx) = mpsc::sync_channel(1);
    spawn(name, move || {
        // The receiver is gone when the deadline passed; the result is then dropped.
        let _ = tx.send(f());
    })?;
    Ok(rx)
}

/// Waits for the child until the deadline; `Ok(None)` when it is still running then.
/// `std` has no timed wait, so this polls, with pauses growing from 1 ms to 20 ms.
fn wait_until(child: &mut Child, deadline: &Deadline) -> io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let left = deadline.remaining();
        if left.is_zero() {
            return Ok(None);
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Kills the child's process group and the child, and reaps the child.
fn kill(child: &mut Child) {
    kill_group(child);
    let _ = child.kill();
    let _ = child.wait();
}

fn kill_group(child: &Child) {
    // The group may be gone already; nothing else to do then.
    let _ = rustix::process::kill_process_group(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::KILL,
    );
}

/// The first executable `systemd-creds` in the absolute directories of `path_var`. Relative
/// entries (`""`, `.`) are skipped: they would make the current directory's file the program.
fn find_program(path_var: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path_var)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(PROGRAM))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The error for a failed run, from its standard error and who is asking.
fn failure(operation: Operation, out: &Finished, name: &str, path: &Path) -> CredsError {
    classify(
        operation,
        &out.status.to_string(),
        &out.stderr,
        my_uid(),
        name,
        path,
    )
}

fn classify(
    operation: Operation,
    status: &str,
    stderr: &[u8],
    uid: u32,
    name: &str,
    path: &Path,
) -> CredsError {
    let detail = summarize(stderr);
    if uid != 0 && operation != Operation::HasTpm2 {
        return CredsError::NotRoot {
            operation,
            uid,
            name: name.to_owned(),
            path: path.to_owned(),
            detail,
        };
    }
    let text = String::from_utf8_lossy(stderr);
    if operation == Operation::Decrypt && HOST_KEY_FAILURES.iter().any(|m| text.contains(m)) {
        return CredsError::HostKeyMismatch {
            path: path.to_owned(),
            detail,
        };
    }
    CredsError::Failed {
        operation,
        status: status.to_owned(),
        detail,
    }
}

/// The first line of `systemd-creds`' standard error worth showing: not its notice about
/// the host key not being on encrypted media, never a line that could hold key text, without
/// control characters, at most [`MAX_DETAIL`] characters.
fn summarize(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .map(str::trim)
        .find(|line| {
            !line.is_empty()
                && !line.contains("is not located on encrypted media")
                && !line.contains("AGE-SECRET-KEY-")
        })
        .map_or_else(
            || "no message".to_owned(),
            |line| {
                line.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_DETAIL)
                    .collect()
            },
        )
}

/// Names this vault uses: `[A-Za-z0-9][A-Za-z0-9._-]*`, at most 255 bytes (a file name, and
/// safe on an argument list and in a unit line).
fn check_name(name: &str) -> Result<(), CredsError> {
    let mut bytes = name.bytes();
    let valid = name.len() <= 255
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(CredsError::InvalidName {
            name: name.to_owned(),
        })
    }
}

/// What is wrong with a delivered credential (or its directory) owned by `owner` with
/// permission bits `mode`, read by `me`; `None` when it is fine.
fn delivered_problem(owner: u32, mode: u32, me: u32, is_dir: bool) -> Option<Unsafe> {
    if owner != me && owner != 0 {
        return Some(Unsafe::ForeignOwner { owner, me });
    }
    if mode & 0o022 != 0 {
        return Some(Unsafe::WritableByOthers { mode });
    }
    // A root-owned file read by another user: its group bits are the ACL mask.
    let others = if owner == me { 0o077 } else { 0o007 };
    if !is_dir && mode & others != 0 {
        return Some(Unsafe::ReadableByOthers { mode });
    }
    None
}

fn unsafe_path(path: &Path, problem: Unsafe) -> CredsError {
    Error::UnsafePath {
        path: path.to_owned(),
        problem,
    }
    .into()
}

/// The vault key as a systemd credential: `<credstore>/continuum-vault-<id>`.
pub(crate) struct CredsStore {
    creds: SystemdCreds,
    credstore: PathBuf,
}

impl CredsStore {
    pub(crate) fn new(env: EnvLookup, credstore: PathBuf) -> Self {
        Self {
            creds: SystemdCreds::new(env),
            credstore,
        }
    }

    /// The credential file `at` names: the recorded one, else the default place for its id.
    fn path(&self, at: &KeyRef<'_>) -> PathBuf {
        at.file.map_or_else(
            || self.credstore.join(credential_name(at.id)),
            Path::to_path_buf,
        )
    }

    /// What `status` shows: the credential's file, name, the unit line that delivers it,
    /// and whether a TPM2 seals it too.
    pub(crate) fn facts(&self, at: &KeyRef<'_>, deadline: &Deadline) -> CredentialFacts {
        let name = credential_name(at.id);
        let path = self.path(at);
        CredentialFacts {
            unit_line: load_credential_line(&name, &path),
            tpm2: self.creds.has_tpm2(deadline),
            path,
            name,
        }
    }

    /// The runner, for reading a delivered secret (`$CREDENTIALS_DIRECTORY/<name>`).
    pub(crate) fn creds(&self) -> &SystemdCreds {
        &self.creds
    }
}

/// A credential, as `status` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct CredentialFacts {
    pub(crate) path: PathBuf,
    pub(crate) name: String,
    pub(crate) unit_line: String,
    pub(crate) tpm2: bool,
}

/// The crate's error for a systemd-credential failure.
pub(crate) fn into_error(e: CredsError) -> Error {
    creds_error(e)
}

fn creds_error(e: CredsError) -> Error {
    match e {
        CredsError::File(e) => *e,
        other => Error::SystemdCreds(Box::new(other)),
    }
}

impl KeyStore for CredsStore {
    fn create(
        &self,
        id: &str,
        key: &VaultKey,
        deadline: &Deadline,
    ) -> Result<Option<PathBuf>, Error> {
        self.creds
            .encrypt(
                &credential_name(id),
                &key.to_text(),
                &self.credstore,
                deadline,
            )
            .map(Some)
            .map_err(creds_error)
    }

    fn load(&self, at: &KeyRef<'_>, deadline: &Deadline) -> Result<VaultKey, Error> {
        let path = self.path(at);
        let name = credential_name(at.id);
        let delivered = self.creds.delivered(&name).map_err(creds_error)?;
        if delivered.is_none()
            && let Err(rustix::io::Errno::NOENT) = rustix::fs::stat(&path)
        {
            return Err(Error::KeyFileMissing { path });
        }
        let bytes = match delivered {
            Some(bytes) => bytes,
            None => self
                .creds
                .decrypt(&name, &path, deadline)
                .map_err(creds_error)?,
        };
        VaultKey::from_stored(&bytes, || self.describe(at))
    }

    fn delete(&self, at: &KeyRef<'_>, _deadline: &Deadline) -> Result<(), Error> {
        PrivateDir::remove_path(&self.path(at))
    }

    fn describe(&self, at: &KeyRef<'_>) -> String {
        format!(
            "the systemd credential {} (name {})",
            self.path(at).display(),
            credential_name(at.id)
        )
    }

    fn protection(&self, _at: &KeyRef<'_>, _home: Option<&Path>) -> String {
        format!(
            "the key is sealed by systemd-creds to this host's credential key ({}, readable by \
             root only; also to the TPM2 when the host has one): a copy of the home directory or \
             of the vault cannot decrypt the secret; root on this host, or a copy of the whole \
             disk holding the host key (without a TPM2), can",
            self.creds.host_key().display()
        )
    }
}

#[cfg(test)]
mod tests {
    //! Against the real `systemd-creds`, each test with its own throwaway host key
    //! (`SYSTEMD_CREDENTIAL_SECRET`, made by `systemd-creds setup`), set on the child only.

    use super::*;
    use std::collections::HashMap;
    use std::sync::Arc;

    use crate::fs::testing::{mode, problem};
    use crate::key::VaultKey;

    /// Makes a missing `systemd-creds` a failure instead of a skip (the test script sets it).
    const REQUIRE_ENV: &str = "CONTINUUM_TEST_REQUIRE_KEYRING";

    /// `true` when `met`; otherwise a skip, or a failure naming `needs` under `REQUIRE_ENV`.
    fn met_or_skip(test: &str, met: bool, needs: &str, skipped: &str) -> bool {
        if met {
            return true;
        }
        assert!(
            std::env::var_os(REQUIRE_ENV).is_none_or(|v| v != "1"),
            "{test} needs {needs}"
        );
        eprintln!("SKIPPED {test}: {skipped}");
        false
    }

    fn installed_or_skip(test: &str) -> bool {
        met_or_skip(
            test,
            find_program(OsStr::new(DEFAULT_PATH)).is_some(),
            "systemd-creds (Debian package systemd)",
            "systemd-creds is not installed",
        )
    }

    fn root_or_skip(test: &str) -> bool {
        met_or_skip(
            test,
            my_uid() == 0,
            "root; the full suite runs as root",
            "needs root",
        )
    }

    fn soon() -> Deadline {
        Deadline::after(Duration::from_secs(30))
    }

    /// A runner that sees exactly these variables.
    fn runner(vars: &[(&str, &OsStr)]) -> SystemdCreds {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        SystemdCreds::new(Arc::new(move |name| map.get(name).cloned()))
    }

    /// A throwaway host: a temp dir with its own host key, a credstore and a TMPDIR.
    struct Host {
        tmp: tempfile::TempDir,
    }

    impl Host {
        /// A new host, or `None` (a skip) where `systemd-creds` is not installed.
        fn or_skip(test: &str) -> Option<Self> {
            installed_or_skip(test).then(Self::new)
        }

        fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            let host = Self { tmp };
            std::fs::create_dir(host.tmpdir()).unwrap();
            let status = Command::new(PROGRAM)
                .arg("setup")
                .env("SYSTEMD_CREDENTIAL_SECRET", host.secret())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "systemd-creds setup: {status}");
            assert!(host.secret().metadata().unwrap().len() >= 4096);
            host
        }

        fn root(&self) -> &Path {
            self.tmp.path()
        }

        fn secret(&self) -> PathBuf {
            self.root().join("credential.secret")
        }

        fn credstore(&self) -> PathBuf {
            self.root().join("credstore.encrypted")
        }

        fn tmpdir(&self) -> PathBuf {
            self.root().join("tmp")
        }

        fn creds(&self) -> SystemdCreds {
            let secret = self.secret();
            let tmpdir = self.tmpdir();
            runner(&[
                ("PATH", OsStr::new(DEFAULT_PATH)),
                ("SYSTEMD_CREDENTIAL_SECRET", secret.as_os_str()),
                ("TMPDIR", tmpdir.as_os_str()),
            ])
        }

        /// A new identity sealed into this host's credstore.
        fn seal(&self, name: &str) -> (Zeroizing<String>, PathBuf) {
            let identity = VaultKey::generate().to_text();
            let path = self
                .creds()
                .encrypt(name, &identity, &self.credstore(), &soon())
                .unwrap();
            (identity, path)
        }
    }

    /// Every regular file under `dir`, recursively.
    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut todo = vec![dir.to_owned()];
        while let Some(dir) = todo.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                let kind = entry.file_type().unwrap();
                if kind.is_dir() {
                    todo.push(entry.path());
                } else if kind.is_file() {
                    found.push(entry.path());
                }
            }
        }
        found
    }

    /// Whether process `pid` is gone, dead (a zombie), exiting, or has SIGKILL pending.
    fn killed(pid: &str) -> bool {
        const PF_EXITING: u64 = 0x4;
        const SIGKILL_BIT: u64 = 1 << (9 - 1);
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return true;
        };
        // After "pid (comm) ": state, ppid, pgrp, session, tty, tpgid, flags, ...
        let fields: Vec<&str> = stat
            .rsplit_once(") ")
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let flags: u64 = fields.get(6).and_then(|f| f.parse().ok()).unwrap_or(0);
        if matches!(fields.first(), Some(&("Z" | "X"))) || flags & PF_EXITING != 0 {
            return true;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return true;
        };
        status.lines().any(|line| {
            ["ShdPnd:", "SigPnd:"].iter().any(|key| {
                line.strip_prefix(key)
                    .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
                    .is_some_and(|pending| pending & SIGKILL_BIT != 0)
            })
        })
    }

    /// Writes an executable by way of a child process: a file this (multi-threaded) test
    /// process had open for writing could be inherited by a concurrent fork and make the
    /// exec fail with ETXTBSY.
    fn write_executable(path: &Path, script: &str) {
        let status = Command::new("sh")
            .args(["-c", r#"printf '%s' "$1" > "$2" && chmod 755 "$2""#, "sh"])
            .arg(script)
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn seals_into_a_0600_file_named_for_the_credential_and_opens_it() {
        let Some(host) = Host::or_skip("round trip") else {
            return;
        };
        let name = credential_name("0123abcd");
        let (identity, path) = host.seal(&name);
        assert_eq!(path, host.credstore().join(&name));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(host.credstore()), 0o700);
        let back = host.creds().decrypt(&name, &path, &soon()).unwrap();
        assert_eq!(&back[..], identity.as_bytes());
        assert!(VaultKey::parse(std::str::from_utf8(&back).unwrap()).is_some());

        // The embedded name is checked: the same file under another name does not open.
        let renamed = host.root().join("renamed");
        std::fs::copy(&path, &renamed).unwrap();
        let err = host
            .creds()
            .decrypt("renamed", &renamed, &soon())
            .unwrap_err();
        assert!(
            matches!(err, CredsError::Failed { operation: Operation::Decrypt, ref detail, .. }
                if detail.contains("does not match")),
            "{err:?}"
        );

        // Never replaced.
        let before = std::fs::read(&path).unwrap();
        let err = host
            .creds()
            .encrypt(
                &name,
                &VaultKey::generate().to_text(),
                &host.credstore(),
                &soon(),
            )
            .unwrap_err();
        assert!(matches!(err, CredsError::Exists { .. }), "{err:?}");
        assert!(err.hint().unwrap().contains("another vault's key"));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(std::fs::read_dir(host.credstore()).unwrap().count(), 1);
    }

    #[test]
    fn the_plaintext_identity_is_in_no_file_written() {
        let Some(host) = Host::or_skip("no plaintext on disk") else {
            return;
        };
        let (identity, path) = host.seal(&credential_name("feed"));
        // The bech32 payload alone, in case of a change of case or prefix.
        let payload = identity
            .strip_prefix("AGE-SECRET-KEY-1")
            .unwrap()
            .to_ascii_lowercase();
        let files = files_under(host.root());
        assert!(files.contains(&path), "{files:?}");
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            let text = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
            assert!(
                !text.contains(&payload) && !text.contains("age-secret-key-"),
                "{} holds the identity",
                file.display()
            );
        }
    }

    #[test]
    fn another_host_key_cannot_open_it_and_the_file_stays() {
        let Some(here) = Host::or_skip("another host key") else {
            return;
        };
        let elsewhere = Host::new();
        let name = credential_name("abc");
        let (_identity, path) = here.seal(&name);
        let before = std::fs::read(&path).unwrap();
        let err = elsewhere
            .creds()
            .decrypt(&name, &path, &soon())
            .unwrap_err();
        assert!(
            matches!(err, CredsError::HostKeyMismatch { ref detail, .. }
                if detail.starts_with("Decryption failed")),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(err.hint().unwrap().contains("another host"));
        assert_eq!(std::fs::read(&path).unwrap(), before);

        // A host without any host key: the same class of error.
        let missing = here.root().join("no-such.secret");
        let err = runner(&[("SYSTEMD_CREDENTIAL_SECRET", missing.as_os_str())])
            .decrypt(&name, &path, &soon())
            .unwrap_err();
        assert!(matches!(err, CredsError::HostKeyMismatch { .. }), "{err:?}");
        assert!(!missing.exists());
    }

    #[test]
    fn a_delivered_credential_is_used_without_running_systemd_creds() {
        let Some(host) = Host::or_skip("delivered credential") else {
            return;
        };
        let name = credential_name("d1");
        let (identity, path) = host.seal(&name);
        // Deliver it the way the service manager does: decrypted into a 0700 directory.
        let delivered = host.root().join("credentials");
        std::fs::create_dir(&delivered).unwrap();
        std::fs::set_permissions(&delivered, std::fs::Permissions::from_mode(0o700)).unwrap();
        let status = Command::new(PROGRAM)
            .args(["decrypt", &format!("--name={name}"), "--newline=no"])
            .arg(&path)
            .arg(delivered.join(&name))
            .env("SYSTEMD_CREDENTIAL_SECRET", host.secret())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::set_permissions(
            delivered.join(&name),
            std::fs::Permissions::from_mode(0o400),
        )
        .unwrap();

        // No systemd-creds on this PATH: whatever is returned was not decrypted by it.
        let empty = host.root().join("empty-bin");
        std::fs::create_dir(&empty).unwrap();
        let creds = runner(&[
            ("PATH", empty.as_os_str()),
            (CREDENTIALS_DIRECTORY, delivered.as_os_str()),
        ]);
        let back = creds.decrypt(&name, &path, &soon()).unwrap();
        assert_eq!(&back[..], identity.as_bytes());
        // The same runner has no systemd-creds to fall back on for another name.
        let err = creds.decrypt("other", &path, &soon()).unwrap_err();
        assert!(matches!(err, CredsError::NotInstalled { .. }), "{err:?}");

        // Others may not read it, and a link is not followed.
        std::fs::set_permissions(
            delivered.join(&name),
            std::fs::Permissions::from_mode(0o440),
        )
        .unwrap();
        let err = creds.decrypt(&name, &path, &soon()).unwrap_err();
        assert!(
            matches!(&err, CredsError::File(e)
                if problem(e) == Some(&Unsafe::ReadableByOthers { mode: 0o440 })),
            "{err:?}"
        );
        std::fs::set_permissions(
            delivered.join(&name),
            std::fs::Permissions::from_mode(0o400),
        )
        .unwrap();
        std::os::unix::fs::symlink(delivered.join(&name), delivered.join("link")).unwrap();
        let err = creds.delivered("link").unwrap_err();
        assert!(
            matches!(&err, CredsError::File(e) if problem(e) == Some(&Unsafe::Symlink)),
            "{err:?}"
        );
        let relative = runner(&[(CREDENTIALS_DIRECTORY, OsStr::new("credentials"))]);
        assert!(matches!(
            relative.delivered(&name),
            Err(CredsError::File(e)) if matches!(*e, Error::InvalidSetting { .. })
        ));
    }

    #[test]
    fn a_missing_program_is_not_installed() {
        let tmp = tempfile::tempdir().unwrap();
        // An executable systemd-creds in a relative PATH entry is not taken either.
        let here = tmp.path().join("bin");
        std::fs::create_dir(&here).unwrap();
        write_executable(&here.join(PROGRAM), "#!/bin/sh\nexit 0\n");
        // `bin` relative to the current directory, by way of `..` up to `/`.
        let cwd = std::env::current_dir().unwrap();
        let mut relative = PathBuf::new();
        for _ in cwd.components().skip(1) {
            relative.push("..");
        }
        relative.push(here.strip_prefix("/").unwrap());
        assert_eq!(
            std::fs::canonicalize(&relative).unwrap(),
            std::fs::canonicalize(&here).unwrap()
        );
        let path_var = format!(
            "{}:{}:",
            tmp.path().join("nothing").display(),
            relative.display()
        );
        let creds = runner(&[("PATH", OsStr::new(&path_var))]);
        let err = creds
            .decrypt("x", Path::new("/etc/credstore.encrypted/x"), &soon())
            .unwrap_err();
        assert!(
            matches!(err, CredsError::NotInstalled { ref path } if *path == path_var),
            "{err:?}"
        );
        assert!(err.hint().unwrap().contains("install systemd"));
        let err = creds
            .encrypt(
                "x",
                &Zeroizing::new("k".into()),
                &tmp.path().join("store"),
                &soon(),
            )
            .unwrap_err();
        assert!(matches!(err, CredsError::NotInstalled { .. }), "{err:?}");
        assert!(!creds.has_tpm2(&soon()));
    }

    #[test]
    fn the_deadline_kills_the_child_and_what_it_started() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let pids = tmp.path().join("pids");
        // A stand-in that never answers, with a grandchild holding the output pipes open.
        write_executable(
            &bin.join(PROGRAM),
            &format!(
                "#!/bin/sh\n/bin/sleep 600 &\necho $$ $! > {0}.tmp && /bin/mv {0}.tmp {0}\nwait\n",
                pids.display()
            ),
        );
        let creds = runner(&[("PATH", bin.as_os_str())]);
        let budget = Duration::from_secs(2);
        let err = creds
            .decrypt("x", Path::new("/nonexistent/x"), &Deadline::after(budget))
            .unwrap_err();
        assert!(
            matches!(err, CredsError::TimedOut { operation: Operation::Decrypt, after } if after == budget),
            "{err:?}"
        );
        assert!(
            err.hint()
                .unwrap()
                .contains("CONTINUUM_VAULT_KEYRING_TIMEOUT_MS")
        );
        let pids = std::fs::read_to_string(&pids).expect("the stand-in started");
        let mut pids = pids.split_whitespace();
        let (shell, sleeper) = (pids.next().unwrap(), pids.next().unwrap());
        // The child was killed and reaped: its pid is gone.
        assert!(
            !Path::new(&format!("/proc/{shell}")).exists(),
            "child {shell} is left"
        );
        // The grandchild was sent SIGKILL: it is dying, dead, or gone (its new parent may
        // not have reaped it, and dying is not instant).
        assert!(killed(sleeper), "grandchild {sleeper} still runs");
        // An expired deadline starts nothing.
        let err = creds
            .decrypt(
                "x",
                Path::new("/nonexistent/x"),
                &Deadline::after(Duration::ZERO),
            )
            .unwrap_err();
        assert!(matches!(err, CredsError::TimedOut { .. }), "{err:?}");
    }

    #[test]
    fn has_tpm2_agrees_with_systemd_creds() {
        if !installed_or_skip("has-tpm2") {
            return;
        }
        let direct = Command::new(PROGRAM)
            .args(["has-tpm2", "--quiet"])
            .status()
            .unwrap()
            .success();
        let path = OsStr::new(DEFAULT_PATH);
        assert_eq!(runner(&[("PATH", path)]).has_tpm2(&soon()), direct);
    }

    /// Only root can use the host key on v252. Runs this test binary again as `nobody`
    /// ([`as_nobody`]) on a credential `nobody` can read, and on a delivered copy.
    #[test]
    fn a_non_root_user_is_told_to_let_systemd_deliver_the_key() {
        if !installed_or_skip("non-root") || !root_or_skip("non-root") {
            return;
        }
        let host = Host::new();
        let name = credential_name("n0b0dy");
        let (identity, sealed) = host.seal(&name);
        // A world-traversable place for `nobody`: the credential (it is ciphertext), its
        // delivered plaintext in a 0700 dir it owns, and a copy of this test binary.
        let shared = tempfile::Builder::new()
            .prefix("cv-creds-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let cred = shared.path().join(&name);
        std::fs::copy(&sealed, &cred).unwrap();
        std::fs::set_permissions(&cred, std::fs::Permissions::from_mode(0o644)).unwrap();
        let delivered = shared.path().join("credentials");
        std::fs::create_dir(&delivered).unwrap();
        std::fs::write(delivered.join(&name), identity.as_bytes()).unwrap();
        std::fs::set_permissions(
            delivered.join(&name),
            std::fs::Permissions::from_mode(0o400),
        )
        .unwrap();
        std::fs::set_permissions(&delivered, std::fs::Permissions::from_mode(0o700)).unwrap();
        for path in [delivered.join(&name), delivered.clone()] {
            rustix::fs::chown(
                &path,
                Some(rustix::fs::Uid::from_raw(65534)),
                Some(rustix::fs::Gid::from_raw(65534)),
            )
            .unwrap();
        }
        let exe = shared.path().join("tests");
        if std::fs::hard_link(std::env::current_exe().unwrap(), &exe).is_err() {
            std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
        }
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&exe)
            .args([
                "--exact",
                "key::systemd_creds::tests::as_nobody",
                "--ignored",
            ])
            .args(["--nocapture", "--test-threads=1"])
            .env_clear()
            .env("PATH", DEFAULT_PATH)
            .env("SYSTEMD_CREDENTIAL_SECRET", host.secret())
            .env("CV_NOBODY_NAME", &name)
            .env("CV_NOBODY_CRED", &cred)
            .env("CV_NOBODY_DELIVERED", &delivered)
            .env(
                "CV_NOBODY_IDENTITY_PUBLIC",
                VaultKey::parse(&identity).unwrap().recipient().to_string(),
            )
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "as nobody: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The part of the test above that runs as `nobody`; on its own (without the variables
    /// that test sets) it has nothing to check and returns.
    #[test]
    #[ignore = "run as nobody by a_non_root_user_is_told_to_let_systemd_deliver_the_key"]
    fn as_nobody() {
        let Some(name) = std::env::var_os("CV_NOBODY_NAME") else {
            return;
        };
        assert_eq!(my_uid(), 65534);
        let name = name.into_string().unwrap();
        let cred = PathBuf::from(std::env::var_os("CV_NOBODY_CRED").unwrap());
        let process_env = SystemdCreds::new(Arc::new(|name| std::env::var_os(name)));

        let err = process_env.decrypt(&name, &cred, &soon()).unwrap_err();
        assert!(
            matches!(
                err,
                CredsError::NotRoot {
                    operation: Operation::Decrypt,
                    uid: 65534,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("cannot decrypt a credential with the host key on systemd v252")
        );
        let hint = err.hint().unwrap();
        let line = format!("LoadCredentialEncrypted={name}:{}", cred.display());
        assert!(hint.contains(&format!("\n    {line}\n")), "{hint}");
        assert!(hint.contains(&format!("systemd-run -p {line}")), "{hint}");

        // Delivered by the unit, nobody reads it (and no systemd-creds is there to run).
        let delivered = std::env::var_os("CV_NOBODY_DELIVERED").unwrap();
        let creds = runner(&[
            ("PATH", OsStr::new("/nonexistent")),
            (CREDENTIALS_DIRECTORY, &delivered),
        ]);
        let back = creds.decrypt(&name, &cred, &soon()).unwrap();
        let key = VaultKey::parse(std::str::from_utf8(&back).unwrap()).unwrap();
        assert_eq!(
            key.recipient().to_string(),
            std::env::var("CV_NOBODY_IDENTITY_PUBLIC").unwrap()
        );
    }

    #[test]
    fn failures_are_classified_from_stderr_and_uid() {
        let path = Path::new("/etc/credstore.encrypted/n");
        let media =
            "Credential secret file '/x' is not located on encrypted media, using anyway.\n";
        let cases: [(Operation, &str, u32, &str); 6] = [
            (
                Operation::Decrypt,
                "Decryption failed (incorrect key?): error:00000000\n",
                0,
                "mismatch",
            ),
            (
                Operation::Decrypt,
                "Failed to unseal HMAC key in TPM: x\n",
                0,
                "mismatch",
            ),
            (
                Operation::Decrypt,
                "Failed to determine local credential key: No such file or directory\n",
                0,
                "mismatch",
            ),
            (
                Operation::Decrypt,
                "Failed to determine local credential key: Permission denied\n",
                1000,
                "root",
            ),
            (
                Operation::Encrypt,
                "Failed to determine local credential host secret: Permission denied\n",
                1000,
                "root",
            ),
            (
                Operation::Encrypt,
                "Invalid credential name: x\n",
                0,
                "failed",
            ),
        ];
        for (operation, stderr, uid, expected) in cases {
            let stderr = format!("{media}{stderr}");
            let err = classify(
                operation,
                "exit status: 1",
                stderr.as_bytes(),
                uid,
                "n",
                path,
            );
            let got = match &err {
                CredsError::HostKeyMismatch { .. } => "mismatch",
                CredsError::NotRoot { .. } => "root",
                CredsError::Failed { .. } => "failed",
                other => panic!("{other:?}"),
            };
            assert_eq!(got, expected, "{stderr}");
            assert!(!err.to_string().contains("encrypted media"), "{err}");
            assert!(err.hint().is_some());
        }
        let err = classify(Operation::Encrypt, "exit status: 1", b"", 1000, "n", path);
        assert!(err.to_string().contains("cannot encrypt"), "{err}");
        assert!(err.hint().unwrap().contains("as root"));
    }

    #[test]
    fn messages_never_carry_key_text_or_control_characters() {
        assert_eq!(summarize(b""), "no message");
        assert_eq!(summarize(b"\n  \nAGE-SECRET-KEY-1QQQ\nsecond\n"), "second");
        assert_eq!(summarize(b"a\x1b[31mred\n"), "a[31mred");
        assert_eq!(summarize(&[b'x'; 500]).len(), MAX_DETAIL);
        assert_eq!(summarize(&[0xff, b'o', b'k']), "\u{fffd}ok");
    }

    #[test]
    fn names_and_unit_lines() {
        let name = credential_name("0123456789abcdef0123456789abcdef");
        assert_eq!(name, "continuum-vault-0123456789abcdef0123456789abcdef");
        assert!(check_name(&name).is_ok());
        for bad in [
            "",
            ".hidden",
            "-x",
            "a/b",
            "a b",
            "..",
            "é",
            &"a".repeat(256),
        ] {
            let err = check_name(bad).unwrap_err();
            assert!(matches!(err, CredsError::InvalidName { .. }), "{bad:?}");
            assert!(err.hint().is_some());
        }
        assert!(check_name(&"a".repeat(255)).is_ok());
        assert_eq!(
            load_credential_line(&name, &Path::new(DEFAULT_CREDSTORE).join(&name)),
            format!("LoadCredentialEncrypted={name}:/etc/credstore.encrypted/{name}")
        );
        assert_eq!(
            load_credential_line("n", Path::new("/srv/100%/n")),
            "LoadCredentialEncrypted=n:/srv/100%%/n"
        );
    }

    #[test]
    fn delivered_files_belong_to_this_user_or_root_and_no_one_else_reads_them() {
        let me = 1000;
        let cases: [(u32, u32, bool, Option<&str>); 9] = [
            (me, 0o400, false, None),
            (me, 0o600, false, None),
            (me, 0o440, false, Some("readable")),
            (me, 0o404, false, Some("readable")),
            (me, 0o620, false, Some("writable")),
            (0, 0o440, false, None), // root's, with an ACL for this user: group bits are the mask
            (0, 0o444, false, Some("readable")),
            (42, 0o400, false, Some("foreign")),
            (0, 0o550, true, None),
        ];
        for (owner, mode, is_dir, expected) in cases {
            let got = delivered_problem(owner, mode, me, is_dir).map(|p| match p {
                Unsafe::ReadableByOthers { .. } => "readable",
                Unsafe::WritableByOthers { .. } => "writable",
                Unsafe::ForeignOwner { .. } => "foreign",
                other => panic!("{other:?}"),
            });
            assert_eq!(got, expected, "owner {owner} mode {mode:o}");
        }
    }

    #[test]
    fn pipes_are_read_up_to_the_cap_and_drained() {
        let captured = read_pipe(&[7u8; 10_000][..], 4096).unwrap();
        assert_eq!(captured.bytes.len(), 4096);
        assert!(captured.overflow);
        let captured = read_pipe(&b"exact"[..], 5).unwrap();
        assert_eq!(&captured.bytes[..], b"exact");
        assert!(!captured.overflow);
    }
}
