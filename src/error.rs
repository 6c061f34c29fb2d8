//! Errors, named by the operation that failed, each with the fix a user can apply.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while resolving or storing a secret.
///
/// Each variant names the operation that failed and carries its context (the path, the
/// underlying cause). The first line ([`Display`](std::fmt::Display)) says what happened;
/// [`Error::hint`] says what to do about it. No variant ever holds a secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The secret's name is not of the form `^[a-z][a-z0-9_]{0,63}$`, or is reserved.
    #[error("invalid secret name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// Both the variable and its `_FILE` variant are set, so the source is ambiguous.
    #[error("both {var} and {file_var} are set; refusing to guess which one is meant")]
    AmbiguousEnv {
        /// The direct variable, e.g. `CONTINUUM_JWT_SECRET`.
        var: String,
        /// The file variable, e.g. `CONTINUUM_JWT_SECRET_FILE`.
        file_var: String,
    },

    /// A configuration variable or option has a value this tool does not understand.
    #[error("invalid value {value:?} for {setting}")]
    InvalidSetting {
        /// The variable or option.
        setting: &'static str,
        /// The value as given (never a secret).
        value: String,
        /// What is accepted.
        reason: &'static str,
    },

    /// The home directory could not be determined, so the default vault dir is unknown.
    #[error("cannot determine the home directory for the default vault location")]
    NoHomeDir,

    /// The file named by a `*_FILE` variable could not be read.
    #[error("cannot read {var} file {path}")]
    ReadEnvFile {
        /// The variable that named the file.
        var: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// The file named by a `*_FILE` variable is not one the vault reads (a directory, a
    /// FIFO, a device, or too large).
    #[error("refusing to read {var} file {path}: {problem}")]
    UnusableEnvFile {
        /// The variable that named the file.
        var: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: Unsafe,
    },

    /// The file named by a `*_FILE` variable is empty after stripping whitespace.
    #[error("{var} file {path} is empty")]
    EmptyEnvFile {
        /// The variable that named the file.
        var: String,
        /// The file.
        path: PathBuf,
    },

    /// The vault dir (or a file in it, or the key file) is unsafe to use as it is.
    #[error("refusing to use {path}: {problem}")]
    UnsafePath {
        /// The path.
        path: PathBuf,
        /// What is wrong with it.
        problem: Unsafe,
    },

    /// A file or directory could not be read, created or inspected.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done, e.g. "read", "create directory".
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// Writing a file failed; the previous content, if any, is intact.
    #[error("cannot write {path}; nothing was changed")]
    Write {
        /// The file that was being replaced or created.
        path: PathBuf,
        /// The cause (for example no space left, or a read-only file system).
        #[source]
        source: io::Error,
    },

    /// The secret does not exist and creating it was not allowed (`--no-create`).
    #[error("no secret at {path}")]
    NotFound {
        /// Where the secret would be.
        path: PathBuf,
    },

    /// The file exists but its content cannot be used. It is left as it is.
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The vault metadata was changed by something other than this tool (its MAC does not
    /// match, or it was edited). Nothing is written while it is so.
    #[error("refusing to use the vault metadata {path}: {reason}")]
    MetadataTampered {
        /// The metadata file.
        path: PathBuf,
        /// What gave it away.
        reason: &'static str,
    },

    /// The file is encrypted but could not be decrypted with this vault's key.
    #[error("cannot decrypt {path}")]
    Decrypt {
        /// The file.
        path: PathBuf,
        /// The cause reported by the age decoder: `NoMatchingKeys` when the file is sealed
        /// to other keys, anything else when it is damaged.
        #[source]
        source: age::DecryptError,
    },

    /// An encrypted secret exists but the vault metadata that names its key does not.
    #[error("{path} is encrypted but the vault metadata {metadata} is missing")]
    MetadataMissing {
        /// The encrypted file.
        path: PathBuf,
        /// Where the metadata should be.
        metadata: PathBuf,
    },

    /// The requested key source contradicts the one recorded when the vault was created.
    #[error("this vault keeps its key in the {recorded}, but the {requested} was requested")]
    KeySourceConflict {
        /// The key source in the metadata.
        recorded: crate::KeySource,
        /// The key source asked for by option or environment.
        requested: crate::KeySource,
    },

    /// The OS keyring could not be reached or refused the request.
    #[error("the OS keyring is unavailable: {reason}")]
    KeyringUnavailable {
        /// What is missing or wrong, in this tool's words.
        reason: String,
        /// The keyring library's own message, for `--verbose` ([`Error::detail`]).
        detail: Option<String>,
    },

    /// The vault key could not be sealed or unsealed with systemd credentials.
    #[error(transparent)]
    SystemdCreds(Box<crate::key::systemd_creds::CredsError>),

    /// A keyring entry for a new key already exists (it is never overwritten).
    #[error("the OS keyring already holds an entry for {account:?}; it was left as it is")]
    KeyringEntryExists {
        /// The keyring account.
        account: String,
    },

    /// The OS keyring (or the vault lock) did not answer before the deadline.
    #[error("timed out after {}ms waiting for {what}", after.as_millis())]
    Timeout {
        /// What was waited for.
        what: &'static str,
        /// The deadline that expired.
        after: Duration,
    },

    /// The vault's identity is not in the keyring (deleted, or the collection is locked).
    #[error(
        "the key of vault {vault_id} is not in the OS keyring (service {service:?}, account {account:?})"
    )]
    IdentityMissing {
        /// The vault id from the metadata.
        vault_id: String,
        /// The keyring service.
        service: &'static str,
        /// The keyring account.
        account: String,
    },

    /// The vault's key file is missing.
    #[error("the key file {path} of this vault is missing")]
    KeyFileMissing {
        /// Where the key file should be.
        path: PathBuf,
    },

    /// The keyring entry or key file does not hold a usable age identity.
    #[error("the vault key in {location} is not a valid age identity{detail}")]
    IdentityInvalid {
        /// The keyring entry or key file.
        location: String,
        /// Further detail, never the key itself.
        detail: &'static str,
    },

    /// Another value is already stored, and `--force` was not given.
    #[error("{path} already holds {what}; refusing to replace it")]
    Conflict {
        /// The secret file.
        path: PathBuf,
        /// "a different value" or "a value that cannot be decrypted".
        what: &'static str,
    },

    /// A value to store cannot be stored (its content is not shown).
    #[error("refusing to store this value: {reason}")]
    InvalidValue {
        /// Why.
        reason: &'static str,
    },

    /// A value to store is too large for the vault to read back once sealed.
    #[error(
        "the value is too large: sealed, it would take {sealed} bytes, more than the {limit} bytes the vault reads"
    )]
    ValueTooLarge {
        /// The size it would have, sealed.
        sealed: usize,
        /// The largest file the vault reads.
        limit: u64,
    },

    /// The vault file is a legacy plaintext file; only `migrate` may encrypt it.
    #[error("{path} holds a plaintext secret that has not been migrated")]
    PlaintextNotMigrated {
        /// The file.
        path: PathBuf,
        /// The secret's name.
        name: String,
    },

    /// The secret's environment variable is set, so it would keep winning over the vault.
    #[error(
        "{var} is set, and it wins over the vault: a new value stored for {name} would not be used"
    )]
    EnvOverrides {
        /// The variable that is set.
        var: String,
        /// The secret's name.
        name: String,
    },

    /// A value to store was empty after stripping whitespace.
    #[error("refusing to store an empty value")]
    EmptyValue,

    /// Encrypting failed (this is a bug or an out-of-memory condition).
    #[error("cannot encrypt: {reason}")]
    Encrypt {
        /// The cause.
        reason: String,
    },

    /// The operating system's random number generator failed.
    #[error("the OS random number generator failed: {reason}")]
    Random {
        /// The cause.
        reason: String,
    },

    /// A backup does not open with the passphrase or identity given; nothing was changed.
    #[error("the backup {path} does not open with {}", backup_opener(identity.as_deref()))]
    BackupKey {
        /// The backup file.
        path: PathBuf,
        /// The identity file that was tried, or `None` for a passphrase.
        identity: Option<PathBuf>,
        /// Why age refused the key.
        #[source]
        source: age::DecryptError,
    },

    /// A file given to `restore` is not a usable continuum-vault backup (of this name);
    /// nothing was changed. What the file holds is never shown.
    #[error("cannot restore from {path}: {reason}")]
    NotABackup {
        /// The file given as the backup.
        path: PathBuf,
        /// What is wrong with it, never its content.
        reason: String,
        /// Why age refused it, when it is not an age file or its header is damaged.
        #[source]
        source: Option<age::DecryptError>,
    },

    /// The shared secret store (OpenBao) failed or refused; what happened is its source's
    /// message (the server's address and the path, never a token or a value).
    #[error("{source}")]
    Store {
        /// The store's error, with its own causes.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
        /// Its class: unreachable, sealed or denied is [`ErrorClass::KeyUnavailable`].
        class: ErrorClass,
        /// What to do about it.
        hint: String,
    },
}

fn backup_opener(identity: Option<&std::path::Path>) -> String {
    match identity {
        None => "this passphrase".into(),
        Some(file) => format!("the identity file {}", file.display()),
    }
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsafe {
    /// It is a symbolic link.
    Symlink,
    /// It is not a regular file (a FIFO, a device, a socket or a directory).
    NotRegularFile,
    /// It is not a directory.
    NotDirectory,
    /// It belongs to another user.
    ForeignOwner {
        /// The owner's uid.
        owner: u32,
        /// This process's effective uid.
        me: u32,
    },
    /// Group or others may write to this directory.
    WritableByOthers {
        /// The permission bits.
        mode: u32,
    },
    /// A plaintext secret or a key that group or others may read or write.
    ReadableByOthers {
        /// The permission bits.
        mode: u32,
    },
    /// A private file (the vault metadata) that group or others may access.
    AccessibleByOthers {
        /// The permission bits.
        mode: u32,
    },
    /// The file is larger than the reader accepts.
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
}

impl std::fmt::Display for Unsafe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Symlink => f.write_str("it is a symbolic link"),
            Self::NotRegularFile => f.write_str("it is not a regular file"),
            Self::NotDirectory => f.write_str("it is not a directory"),
            Self::ForeignOwner { owner, me } => {
                write!(f, "it is owned by uid {owner}, not by this user (uid {me})")
            }
            Self::WritableByOthers { mode } => {
                write!(f, "group or others can write to it (mode {mode:04o})")
            }
            Self::ReadableByOthers { mode } => write!(
                f,
                "it holds a secret (a plaintext value or a key) that group or others can access \
                 (mode {mode:04o})"
            ),
            Self::AccessibleByOthers { mode } => {
                write!(f, "group or others can access it (mode {mode:04o})")
            }
            Self::TooLarge { limit } => write!(f, "it is larger than {limit} bytes"),
        }
    }
}

/// The class of an error: what a script or caller can act on. The library speaks in classes;
/// the command line maps each class to its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorClass {
    /// Anything else (I/O, a full disk, the random number generator).
    Other,
    /// A bad argument, name, setting or value.
    Usage,
    /// The secret (or the vault) does not exist.
    NotFound,
    /// A path is unsafe to use: permissions, owner, symbolic link, file type.
    UnsafePath,
    /// A file is corrupt, tampered with, or cannot be decrypted with the vault's key.
    Corrupt,
    /// The key is unavailable: the keyring is absent, locked or timed out, or the key is missing.
    KeyUnavailable,
    /// A conflict: a different value is stored, or the configuration is ambiguous.
    Conflict,
}

impl Error {
    /// The class of this error: what a caller can act on (the command line maps each class
    /// to its exit code).
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidName { .. }
            | Self::InvalidSetting { .. }
            | Self::EmptyValue
            | Self::EmptyEnvFile { .. }
            | Self::InvalidValue { .. }
            | Self::ValueTooLarge { .. } => ErrorClass::Usage,
            Self::NotFound { .. } => ErrorClass::NotFound,
            Self::ReadEnvFile { source, .. } | Self::Io { source, .. } => match source.kind() {
                io::ErrorKind::NotFound => ErrorClass::NotFound,
                io::ErrorKind::PermissionDenied => ErrorClass::UnsafePath,
                _ => ErrorClass::Other,
            },
            Self::UnsafePath { .. } | Self::UnusableEnvFile { .. } => ErrorClass::UnsafePath,
            Self::Corrupt { .. }
            | Self::Decrypt { .. }
            | Self::MetadataMissing { .. }
            | Self::MetadataTampered { .. }
            | Self::KeyFileMissing { .. }
            | Self::BackupKey { .. }
            | Self::NotABackup { .. } => ErrorClass::Corrupt,
            Self::KeyringUnavailable { .. }
            | Self::KeyringEntryExists { .. }
            | Self::Timeout { .. }
            | Self::IdentityMissing { .. }
            | Self::IdentityInvalid { .. } => ErrorClass::KeyUnavailable,
            Self::SystemdCreds(e) => e.class(),
            Self::AmbiguousEnv { .. }
            | Self::KeySourceConflict { .. }
            | Self::Conflict { .. }
            | Self::PlaintextNotMigrated { .. }
            | Self::EnvOverrides { .. } => ErrorClass::Conflict,
            Self::NoHomeDir | Self::Write { .. } | Self::Encrypt { .. } | Self::Random { .. } => {
                ErrorClass::Other
            }
            Self::Store { class, .. } => *class,
        }
    }

    /// The underlying library's own words, kept out of the message (the command line shows
    /// them with `--verbose`). Never a secret.
    #[must_use]
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::KeyringUnavailable { detail, .. } => detail.as_deref(),
            _ => None,
        }
    }

    /// What the user can do about this error, when there is something to do.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        let restore = "restore the file from a backup, or delete it knowingly (a new secret \
                       will be generated and every signed-in admin is logged out)";
        Some(match self {
            Self::InvalidName { .. } => {
                "use lowercase letters, digits and '_', starting with a letter, at most 64 \
                 characters; names ending in _file or _previous or starting with vault are reserved"
                    .into()
            }
            Self::AmbiguousEnv { var, file_var } => {
                format!("unset one of {var} and {file_var}")
            }
            Self::InvalidSetting { reason, .. } => format!("accepted: {reason}"),
            Self::NoHomeDir => "set HOME, or choose the vault dir with --dir or CONTINUUM_VAULT_DIR".into(),
            Self::ReadEnvFile { var, .. } => {
                format!("make the file readable, or unset {var} to use the vault")
            }
            Self::EmptyEnvFile { var, .. } => {
                format!("put the secret in the file, or unset {var} to use the vault")
            }
            Self::UnsafePath { path, problem } => unsafe_hint(path, problem),
            Self::UnusableEnvFile { var, .. } => {
                format!("point {var} at a regular file that holds only the secret, or unset it to use the vault")
            }
            Self::Io { path, .. } => format!("check that {} is accessible to this user", path.display()),
            Self::Write { path, .. } => format!(
                "free some space or make {} writable, then try again",
                path.parent().unwrap_or(path).display()
            ),
            Self::NotFound { .. } => "it does not exist yet: `continuum-vault get NAME` (or the server's \
                                      first start) generates it; `continuum-vault set NAME` stores a given value"
                .into(),
            Self::Decrypt {
                source: age::DecryptError::NoMatchingKeys,
                ..
            } => format!(
                "the file is sealed to other keys, not to this vault's: it was made by another \
                 vault (another host, or before a `rekey`); put back this vault's own file, or \
                 {restore}"
            ),
            Self::Corrupt { .. } | Self::Decrypt { .. } => restore.into(),
            Self::MetadataMissing { .. } => {
                format!("restore the vault metadata from a backup; otherwise {restore}")
            }
            Self::MetadataTampered { path, .. } => format!(
                "someone or something changed {} (an added recipient would receive every later \
                 secret): compare it with a backup; if the secrets themselves are intact, restore the \
                 metadata from that backup, or `continuum-vault restore --force` each secret from \
                 its backup",
                path.display()
            ),
            Self::KeySourceConflict { recorded, .. } => format!(
                "drop the option (later runs follow the record), or ask for the {recorded} explicitly"
            ),
            Self::KeyringUnavailable { .. }
            | Self::KeyringEntryExists { .. }
            | Self::Timeout { .. }
            | Self::IdentityMissing { .. }
            | Self::KeyFileMissing { .. }
            | Self::IdentityInvalid { .. } => return Some(self.key_hint(restore)),
            Self::BackupKey { .. } | Self::NotABackup { .. } => return Some(self.backup_hint()),
            Self::SystemdCreds(e) => return e.hint(),
            Self::Conflict { what: "a file", .. } => {
                "choose another path: backups are never overwritten".into()
            }
            Self::Conflict {
                what: "a value that cannot be decrypted",
                ..
            } => "pass --force to replace it (the file that cannot be decrypted is kept aside as \
                  <name>.unreadable.<time>, never deleted)"
                .into(),
            Self::Conflict { .. } => {
                "pass --force to replace it (the replaced value stays valid as the previous secret)".into()
            }
            Self::EmptyValue => "pipe the value on standard input".into(),
            Self::InvalidValue { .. } => "store the value as text without NUL bytes".into(),
            Self::ValueTooLarge { .. } => {
                "store a smaller value (secrets are short; a file this large is not one)".into()
            }
            Self::PlaintextNotMigrated { path, name } => format!(
                "first make every process that reads {} itself go through continuum-vault \
                 (`continuum-vault run`, the library or the Python package), then run \
                 `continuum-vault migrate {name}`, then try again",
                path.display()
            ),
            Self::EnvOverrides { var, .. } => format!(
                "unset {var} where the server runs (it wins over the vault), or change the value there"
            ),
            Self::Store { hint, .. } => hint.clone(),
            Self::Encrypt { .. } | Self::Random { .. } => return None,
        })
    }

    /// The fix for a key that cannot be had (keyring, key file).
    fn key_hint(&self, restore: &str) -> String {
        let restore_lost_key = "restore each secret from its backup with \
                                `continuum-vault restore --force --in BACKUP` (it sets the files \
                                that no longer decrypt aside and makes a new key)";
        match self {
            Self::KeyringUnavailable { .. } => {
                "start and unlock the OS keyring (Secret Service, e.g. gnome-keyring) in this session; \
                 a new vault can instead keep its key in a file (`--key-source file`), an existing \
                 one moves there with `continuum-vault rekey --to file` once the keyring answers"
                    .into()
            }
            Self::KeyringEntryExists { account } => format!(
                "an earlier run was interrupted, or another vault uses this id: check the entry \
                 with `secret-tool search service continuum-vault username {account}` and remove it \
                 if no vault metadata names it"
            ),
            Self::Timeout { what, .. } => format!(
                "check that the {what} is responsive, or raise CONTINUUM_VAULT_KEYRING_TIMEOUT_MS"
            ),
            Self::IdentityMissing { .. } => format!(
                "if the keyring collection is locked, unlock it and try again (a locked collection \
                 answers as if the key were not there; `continuum-vault status` tells); if the key \
                 was deleted, {restore_lost_key}"
            ),
            Self::KeyFileMissing { .. } => {
                format!("put the key file back from a backup; if it is lost, {restore_lost_key}")
            }
            Self::IdentityInvalid { .. } => {
                format!("restore the key from a backup; otherwise {restore}")
            }
            _ => String::new(),
        }
    }

    /// The fix for a backup that does not open.
    fn backup_hint(&self) -> String {
        match self {
            Self::BackupKey {
                source: age::DecryptError::ExcessiveWork { .. },
                ..
            } => "this backup's passphrase needs more work than this machine allows; open it \
                  with `age -d` and store the value with `continuum-vault set --force`"
                .into(),
            Self::BackupKey { identity: None, .. } => {
                "check the passphrase (the one given to `backup`); a backup made with --recipient \
                 opens only with --identity FILE"
                    .into()
            }
            Self::BackupKey {
                identity: Some(_), ..
            } => "use the identity the backup was made to (the key of a --recipient given to \
                  `backup`); a backup made to a passphrase opens without --identity"
                .into(),
            Self::NotABackup { .. } => {
                "pass a file written by `continuum-vault backup` as --in; the vault was not changed"
                    .into()
            }
            _ => String::new(),
        }
    }
}

fn unsafe_hint(path: &std::path::Path, problem: &Unsafe) -> String {
    let p = path.display();
    match problem {
        Unsafe::Symlink => format!(
            "replace the link with the file itself; for a mounted secret (Docker, Kubernetes) \
             point the secret's CONTINUUM_<NAME>_FILE variable at {p} instead"
        ),
        Unsafe::NotRegularFile | Unsafe::NotDirectory => {
            format!("move {p} out of the way, or choose another vault dir with --dir")
        }
        Unsafe::ForeignOwner { .. } => {
            format!("run as the owner of {p}, or `chown` it to this user")
        }
        Unsafe::WritableByOthers { .. } => format!("run `chmod 700 {p}`"),
        Unsafe::AccessibleByOthers { .. } => {
            format!("run `chmod 600 {p}` once you have checked that its content is what you expect")
        }
        Unsafe::ReadableByOthers { .. } => {
            format!("run `chmod 600 {p}`; others could read it, so rotate the secret afterwards")
        }
        Unsafe::TooLarge { .. } => {
            format!("{p} is not a secret written by this tool; move it away")
        }
    }
}
