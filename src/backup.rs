//! Backups that standard tools can open: an ASCII-armored age file, to a passphrase (scrypt)
//! or to age recipients, whose plaintext is a small JSON document:
//!
//! ```json
//! {
//!   "format": "continuum-vault-backup",
//!   "version": 1,
//!   "name": "jwt_secret",
//!   "created": "2026-11-27T18:00:00Z",
//!   "current": "<the secret>",
//!   "previous": "<the previous secret, while it is valid>",
//!   "previous_expires": 1767225600
//! }
//! ```
//!
//! `age -d backup.age | jq -r .current` recovers the value by hand.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use rustix::fs::{Mode, OFlags};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::lifecycle::DEFAULT_GRACE;
use crate::name::SecretName;
use crate::{Error, SetOutcome, Vault};

const FORMAT: &str = "continuum-vault-backup";

/// Who can open a backup.
#[derive(Clone)]
#[non_exhaustive]
pub enum BackupKey {
    /// A passphrase (age scrypt).
    Passphrase(SecretString),
    /// One or more age X25519 recipients (`age1...`), e.g. an offline recovery key.
    Recipients(Vec<String>),
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Passphrase(_) => f.write_str("Passphrase([REDACTED])"),
            Self::Recipients(r) => f.debug_tuple("Recipients").field(r).finish(),
        }
    }
}

/// How to open a backup for `restore`.
#[derive(Clone)]
#[non_exhaustive]
pub enum RestoreKey {
    /// The backup's passphrase.
    Passphrase(SecretString),
    /// An age identity file (age-keygen format) holding a key the backup was made to.
    IdentityFile(PathBuf),
}

impl std::fmt::Debug for RestoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Passphrase(_) => f.write_str("Passphrase([REDACTED])"),
            Self::IdentityFile(p) => f.debug_tuple("IdentityFile").field(p).finish(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document<'a> {
    format: &'a str,
    version: u32,
    name: &'a str,
    created: &'a str,
    current: &'a str,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous: Option<&'a str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_expires: Option<u64>,
}

fn backup_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

impl Vault {
    /// Writes a backup of the vault's secret `name` (and its previous value while valid) to
    /// `out`, created 0600 and never overwriting an existing file.
    ///
    /// # Errors
    /// [`Error::Conflict`] when `out` exists; any error of loading the secret.
    pub fn backup(&self, name: &str, key: &BackupKey, out: &Path) -> Result<(), Error> {
        let secret_name = SecretName::new(name)?;
        let current =
            crate::store::local::read(self.local(), self.keys(), &secret_name, &self.deadline())?
                .ok_or_else(|| Error::NotFound {
                path: self.dir().join(name),
            })?;
        let mut notices = Vec::new();
        let previous = crate::lifecycle::previous(self, &secret_name, &mut notices)?;
        let created = crate::lifecycle::rfc3339(SystemTime::now());
        let doc = Document {
            format: FORMAT,
            version: 1,
            name,
            created: &created,
            current: current.secret().expose_secret(),
            previous: previous.as_ref().map(|(s, _)| s.expose_secret()),
            previous_expires: previous
                .as_ref()
                .map(|(_, t)| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())),
        };
        // JSON escapes at most 6 bytes per input byte: size the buffer so it never grows.
        let secrets_len = doc.current.len() + doc.previous.map_or(0, str::len);
        let mut json = Zeroizing::new(Vec::with_capacity(secrets_len * 6 + 512));
        serde_json::to_writer_pretty(&mut *json, &doc).map_err(|e| Error::Encrypt {
            reason: e.to_string(),
        })?;
        json.push(b'\n');

        let encryptor = match key {
            BackupKey::Passphrase(p) => {
                if p.expose_secret().is_empty() {
                    return Err(Error::EmptyValue);
                }
                age::Encryptor::with_user_passphrase(p.clone())
            }
            BackupKey::Recipients(list) => {
                let recipients = parse_recipients(list)?;
                age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                    .map_err(|e| Error::Encrypt {
                        reason: e.to_string(),
                    })?
            }
        };
        let mut sealed = Vec::with_capacity(json.len() * 2 + 1024);
        let enc = |e: std::io::Error| Error::Encrypt {
            reason: e.to_string(),
        };
        let armor = ArmoredWriter::wrap_output(&mut sealed, Format::AsciiArmor).map_err(enc)?;
        let mut writer = encryptor.wrap_output(armor).map_err(enc)?;
        writer.write_all(&json).map_err(enc)?;
        writer
            .finish()
            .and_then(ArmoredWriter::finish)
            .map_err(enc)?;
        create_new(out, &sealed)
    }

    /// Restores the secret `name` from a backup made by [`backup`](Self::backup), encrypted
    /// to this vault's key. A different current value is replaced only with `force` (and then
    /// kept as the previous secret).
    ///
    /// # Errors
    /// [`Error::Decrypt`] for a wrong passphrase or identity, [`Error::Corrupt`] for a file
    /// that is not a backup of `name`, [`Error::Conflict`] without `force`.
    pub fn restore(
        &self,
        name: &str,
        key: &RestoreKey,
        input: &Path,
        force: bool,
    ) -> Result<(SetOutcome, Vec<crate::Notice>), Error> {
        let secret_name = SecretName::new(name)?;
        let content = crate::fs::read_followed(input)
            .map_err(|e| e.into_named_error("read backup", input))?;
        let plain = open_backup(&content.bytes, key, input)?;
        let doc: Document<'_> = serde_json::from_slice(&plain)
            .map_err(|e| backup_error(input, format!("not a continuum-vault backup: {e}")))?;
        if doc.format != FORMAT || doc.version != 1 {
            return Err(backup_error(
                input,
                "not a continuum-vault backup (format or version)",
            ));
        }
        if doc.name != name {
            return Err(backup_error(
                input,
                format!("it is a backup of {:?}, not of {name:?}", doc.name),
            ));
        }
        let current = SecretString::from(crate::text::strip(doc.current));
        if current.expose_secret().is_empty() {
            return Err(backup_error(input, "its current value is empty"));
        }
        let deadline = self.deadline();
        let dir = self.local().create()?;
        let _lock = dir.lock(&deadline)?;
        crate::lifecycle::replace_locked(
            self.keys(),
            &dir,
            &secret_name,
            &current,
            force,
            DEFAULT_GRACE,
            &deadline,
        )
    }
}

fn open_backup(bytes: &[u8], key: &RestoreKey, path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    let decrypt_err = |source: age::DecryptError| Error::Decrypt {
        path: path.to_owned(),
        source,
    };
    let decryptor = age::Decryptor::new(ArmoredReader::new(bytes)).map_err(decrypt_err)?;
    let reader = match key {
        RestoreKey::Passphrase(p) => {
            let identity = age::scrypt::Identity::new(p.clone());
            decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity))
        }
        RestoreKey::IdentityFile(file) => {
            let content = crate::fs::read_followed(file)
                .map_err(|e| e.into_named_error("read identity file", file))?;
            let text = std::str::from_utf8(&content.bytes)
                .map_err(|_| backup_error(file, "the identity file is not UTF-8"))?;
            let identities: Vec<age::x25519::Identity> = text
                .lines()
                .map(crate::text::strip)
                .filter(|l| l.starts_with("AGE-SECRET-KEY-"))
                .filter_map(|l| l.parse().ok())
                .collect();
            if identities.is_empty() {
                return Err(backup_error(
                    file,
                    "no AGE-SECRET-KEY- line in the identity file",
                ));
            }
            decryptor.decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        }
    }
    .map_err(decrypt_err)?;
    crate::seal::read_plaintext(reader, bytes.len()).map_err(decrypt_err)
}

/// Parses `age1...` X25519 recipients.
pub(crate) fn parse_recipients(list: &[String]) -> Result<Vec<age::x25519::Recipient>, Error> {
    if list.is_empty() {
        return Err(Error::InvalidSetting {
            setting: "recipient",
            value: String::new(),
            reason: "at least one age1... recipient",
        });
    }
    list.iter()
        .map(|r| {
            r.parse().map_err(|_| Error::InvalidSetting {
                setting: "recipient",
                value: r.clone(),
                reason: "an age X25519 recipient (age1...)",
            })
        })
        .collect()
}

/// Creates `path` with `O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600, writes and fsyncs it.
fn create_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let fd = rustix::fs::open(
        path,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| match e {
        rustix::io::Errno::EXIST => Error::Conflict {
            path: path.to_owned(),
            what: "a file",
        },
        e => Error::Write {
            path: path.to_owned(),
            source: e.into(),
        },
    })?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|source| Error::Write {
            path: path.to_owned(),
            source,
        })
}
