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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use rustix::fs::{AtFlags, Mode, OFlags};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use crate::deadline::Deadline;
use crate::fs::PrivateDir;
use crate::lifecycle::{DEFAULT_GRACE, previous_file};
use crate::metadata::{METADATA_FILE, Metadata, PreviousRecord};
use crate::name::SecretName;
use crate::seal::Kind;
use crate::store::local::{self, read_secret, write_sealed};
use crate::{Error, KeySource, SetOutcome, Vault};

const FORMAT: &str = "continuum-vault-backup";

/// Who can open a backup. `Debug` shows a passphrase as `[REDACTED]` (secrecy's own).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum BackupKey {
    /// A passphrase (age scrypt).
    Passphrase(SecretString),
    /// One or more age X25519 recipients (`age1...`), e.g. an offline recovery key.
    Recipients(Vec<String>),
}

/// How to open a backup for `restore`. `Debug` shows a passphrase as `[REDACTED]`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RestoreKey {
    /// The backup's passphrase.
    Passphrase(SecretString),
    /// An age identity file (age-keygen format) holding a key the backup was made to.
    IdentityFile(PathBuf),
}

/// The document as written: borrowed, serialized straight into a zeroizing buffer.
#[derive(Serialize)]
struct Document<'a> {
    format: &'a str,
    version: u32,
    name: &'a str,
    created: &'a str,
    current: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_expires: Option<u64>,
}

/// The document as read. The secret fields are taken as raw JSON text borrowed from the
/// (zeroizing) plaintext buffer and unescaped by [`json_string`] into zeroizing strings:
/// `serde_json` would unescape a string with `\"`, `\\` or `\t` in it through a scratch
/// buffer of its own that is never wiped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument<'a> {
    format: String,
    version: u32,
    name: String,
    #[allow(dead_code, reason = "read to check the document's shape; not used")]
    created: String,
    #[serde(borrow)]
    current: &'a RawValue,
    #[serde(default, borrow)]
    previous: Option<&'a RawValue>,
    #[serde(default)]
    previous_expires: Option<u64>,
}

/// A backup opened and checked: its values, stripped, in `SecretString`s.
struct Restored {
    current: SecretString,
    /// The previous secret and when it expires (seconds since the epoch), if the backup has one.
    previous: Option<(SecretString, u64)>,
}

/// The longest a previous secret kept in a backup may still be valid for: a document that
/// claims more was not written by `backup`.
const MAX_PREVIOUS_VALIDITY: Duration = Duration::from_hours(366 * 24);

impl Restored {
    /// Parses the plaintext of a backup of `name`. An error names the file and what is
    /// wrong, never the content: `serde_json`'s messages quote the input, so none of them
    /// is passed on.
    fn parse(plain: &[u8], path: &Path, name: &str) -> Result<Self, Error> {
        let not = |reason: String| Error::NotABackup {
            path: path.to_owned(),
            reason,
            source: None,
        };
        let doc: RawDocument<'_> = serde_json::from_slice(plain).map_err(|e| {
            not(match e.classify() {
                serde_json::error::Category::Data => {
                    "it is not a continuum-vault backup (its content is JSON of another shape)"
                }
                _ => "it is not a continuum-vault backup (its content is not a JSON document)",
            }
            .into())
        })?;
        if doc.format != FORMAT || doc.version != 1 {
            return Err(not(
                "it is not a continuum-vault backup (format or version)".into(),
            ));
        }
        if doc.name != name {
            return Err(not(match SecretName::new(&doc.name) {
                Ok(_) => format!("it is a backup of {:?}, not of {name:?}", doc.name),
                Err(_) => format!("it is a backup of another name, not of {name:?}"),
            }));
        }
        let value = |raw: &RawValue, what: &str| -> Result<SecretString, Error> {
            let text = json_string(raw).ok_or_else(|| {
                not(format!(
                    "it is not a continuum-vault backup (its {what} value is not a string)"
                ))
            })?;
            let value = crate::text::strip(&text);
            if value.is_empty() {
                return Err(not(format!("its {what} value is empty")));
            }
            Ok(SecretString::from(value))
        };
        let current = value(doc.current, "current")?;
        let previous = match (doc.previous, doc.previous_expires) {
            (None, None) => None,
            (Some(raw), Some(expires)) => {
                let limit = SystemTime::now() + MAX_PREVIOUS_VALIDITY;
                let valid = UNIX_EPOCH
                    .checked_add(Duration::from_secs(expires))
                    .is_some_and(|t| t <= limit);
                if !valid {
                    return Err(not(
                        "it is not a continuum-vault backup (previous_expires is out of range)"
                            .into(),
                    ));
                }
                Some((value(raw, "previous")?, expires))
            }
            _ => {
                return Err(not(
                    "it is not a continuum-vault backup (previous and previous_expires go together)"
                        .into(),
                ));
            }
        };
        Ok(Self { current, previous })
    }
}

/// Unescapes a JSON string (the raw text, quotes included) into a zeroizing string that
/// never reallocates: unescaped text is never longer than its escaped form. `None` when
/// `raw` is not a string or holds an escape JSON does not allow (a lone surrogate).
fn json_string(raw: &RawValue) -> Option<Zeroizing<String>> {
    let body = raw.get().strip_prefix('"')?.strip_suffix('"')?;
    let mut out = Zeroizing::new(String::with_capacity(body.len()));
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => match hex4(&mut chars)? {
                high @ 0xD800..=0xDBFF => {
                    if chars.next()? != '\\' || chars.next()? != 'u' {
                        return None;
                    }
                    let low = hex4(&mut chars)?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return None;
                    }
                    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?
                }
                code => char::from_u32(code)?,
            },
            _ => return None,
        });
    }
    debug_assert!(out.capacity() == body.len(), "the buffer never grows");
    Some(out)
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    (0..4).try_fold(0, |acc, _| Some(acc * 16 + chars.next()?.to_digit(16)?))
}

impl Vault {
    /// Writes a backup of the vault's secret `name` (and its previous value while valid) to
    /// `out`, created 0600 and never overwriting an existing file.
    ///
    /// The backup is written to a temp file next to `out`, fsynced, and then linked into
    /// place (a link never replaces a file), so a failure (a full disk) leaves nothing at
    /// `out` and the same command can be run again.
    ///
    /// # Errors
    /// [`Error::Conflict`] when `out` exists; [`Error::Write`] when it cannot be written;
    /// any error of loading the secret.
    pub fn backup(&self, name: &str, key: &BackupKey, out: &Path) -> Result<(), Error> {
        let secret_name = SecretName::new(name)?;
        // Arguments first: a bad recipient is a usage error whatever the vault holds.
        if let BackupKey::Recipients(list) = key {
            parse_recipients(list)?;
        }
        let (current, previous) = if let Some(remote) = self.remote() {
            crate::store::remote::backup_values(self, remote, &secret_name)?
        } else {
            let current = local::read(self.local(), self.keys(), &secret_name, &self.deadline())?
                .ok_or_else(|| Error::NotFound {
                    path: self.dir().join(name),
                })?
                .into_secret();
            let mut notices = Vec::new();
            let previous = crate::lifecycle::previous(self, &secret_name, &mut notices)?;
            (current, previous)
        };
        let created = crate::lifecycle::rfc3339(SystemTime::now());
        let doc = Document {
            format: FORMAT,
            version: 1,
            name,
            created: &created,
            current: current.expose_secret(),
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
    /// to this vault's key, together with the backup's previous secret while it is valid
    /// (unless the vault keeps a previous secret of its own). A different current value is
    /// replaced only with `force` (and then kept as the previous secret).
    ///
    /// With `force`, a vault whose key is lost (a wiped keyring, a deleted key file) is
    /// repaired: the files sealed to the lost key (`name`, its previous value and the
    /// metadata) are set aside as `<file>.unreadable.<unix time>`, never deleted, and a
    /// new key is made as on a first run.
    ///
    /// # Errors
    /// [`Error::BackupKey`] for a wrong passphrase or identity, [`Error::NotABackup`] for a
    /// file that is not a backup of `name`, [`Error::Conflict`] without `force`; a missing
    /// key ([`Error::IdentityMissing`], [`Error::KeyFileMissing`]) without `force`.
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
        let restored = Restored::parse(&plain, input, name)?;
        drop(plain);
        crate::lifecycle::refuse_if_env_wins(self, &secret_name)?;
        if let Some(remote) = self.remote() {
            let previous = restored
                .previous
                .as_ref()
                .map(|(v, t)| (v, UNIX_EPOCH + Duration::from_secs(*t)));
            return crate::store::remote::restore(
                self,
                remote,
                &secret_name,
                &restored.current,
                previous,
                force,
            );
        }
        let deadline = self.deadline();
        let dir = self.local().create()?;
        let _lock = dir.lock(&deadline)?;
        let mut notices = Vec::new();
        // A lost key is told apart first: without it, an existing file would read as
        // "a value that cannot be decrypted", and `--force` would have nothing to seal to.
        let lost = match local::metadata(&dir, self.keys())? {
            Some(meta) => match self.keys().for_write(&meta.key_ref(), &deadline) {
                Err(e @ (Error::IdentityMissing { .. } | Error::KeyFileMissing { .. })) => Some(e),
                _ => None,
            },
            None => None,
        };
        let (outcome, mut more) = match lost {
            Some(lost) if force => {
                self.restore_with_new_key(&dir, &secret_name, &restored, &lost, &deadline)?
            }
            Some(lost) => return Err(lost),
            None => crate::lifecycle::replace_locked(
                self.keys(),
                &dir,
                &secret_name,
                &restored.current,
                force,
                DEFAULT_GRACE,
                &deadline,
            )?,
        };
        notices.append(&mut more);
        if let Some((value, expires)) = &restored.previous {
            notices.push(self.restore_previous(
                &dir,
                &secret_name,
                &restored.current,
                value,
                *expires,
                &deadline,
            ));
        }
        Ok((outcome, notices))
    }

    /// The repair of a vault whose key is lost: sets aside the files sealed to it (the
    /// secret, its previous value, the metadata), then restores as on a first run, which
    /// makes a new key. When that fails, every file set aside is put back.
    fn restore_with_new_key(
        &self,
        dir: &PrivateDir,
        name: &SecretName,
        restored: &Restored,
        lost: &Error,
        deadline: &Deadline,
    ) -> Result<(SetOutcome, Vec<crate::Notice>), Error> {
        let previous = previous_file(name);
        let recorded = local::metadata(dir, self.keys())?.map(|m| m.key_source);
        let mut aside: Vec<(&str, String)> = Vec::new();
        let mut files: Vec<&str> = Vec::new();
        for file in [name.as_str(), previous.as_str()] {
            if let Some(found) = read_secret(dir, file)?
                && found.kind == Kind::Encrypted
            {
                files.push(file);
            }
        }
        files.push(METADATA_FILE);
        let put_back = |aside: &[(&str, String)]| {
            for (file, to) in aside.iter().rev() {
                let _ = rustix::fs::renameat(dir.fd(), to.as_str(), dir.fd(), *file);
            }
        };
        for file in files {
            match dir.set_aside(file, crate::lifecycle::now_secs()) {
                Ok(to) => aside.push((file, to)),
                Err(e) => {
                    put_back(&aside);
                    return Err(e);
                }
            }
        }
        let (outcome, mut notices) = match crate::lifecycle::replace_locked(
            self.keys(),
            dir,
            name,
            &restored.current,
            true,
            DEFAULT_GRACE,
            deadline,
        ) {
            Ok(done) => done,
            Err(e) => {
                put_back(&aside);
                return Err(e);
            }
        };
        // A keyring vault stays a keyring vault: a key that fell back to a key file (the
        // collection may only be locked, which also reads as "no entry") is undone.
        if recorded == Some(KeySource::Keyring)
            && Metadata::load(dir)?.is_some_and(|m| m.key_source != KeySource::Keyring)
        {
            put_back(&aside);
            return Err(Error::KeyringUnavailable {
                reason: "it did not take the new vault key (is the collection locked?)".into(),
                detail: None,
            });
        }
        if let Err(e) = rustix::fs::fsync(dir.fd()) {
            notices.push(crate::Notice(format!(
                "warning: cannot sync {}: {e}",
                self.dir().display()
            )));
        }
        let kept: Vec<String> = aside
            .iter()
            .map(|(_, to)| dir.join(to).display().to_string())
            .collect();
        notices.insert(
            0,
            crate::Notice(format!(
                "notice: the vault key is lost ({lost}).\n\
                 notice: the files sealed to it were set aside (kept, never deleted): {}\n\
                 notice: a new vault key was made and {} restored with it; make a new backup.",
                kept.join(", "),
                name.as_str()
            )),
        );
        let others = other_sealed_secrets(dir, name)?;
        if !others.is_empty() {
            notices.push(crate::Notice(format!(
                "notice: other secrets sealed to the lost key are left where they are and do not \
                 decrypt: {}; restore each from its backup with \
                 `continuum-vault restore NAME --force --in BACKUP`",
                others.join(", ")
            )));
        }
        Ok((outcome, notices))
    }

    /// Restores a backup's previous secret (`value`, valid until `expires`) under the lock,
    /// after its current one; says what it did. The vault's own valid previous secret (for
    /// example the value `restore --force` just replaced) is newer and is kept instead.
    /// Failing here does not fail the restore, whose current value is in place: it warns.
    fn restore_previous(
        &self,
        dir: &PrivateDir,
        name: &SecretName,
        current: &SecretString,
        value: &SecretString,
        expires: u64,
        deadline: &Deadline,
    ) -> crate::Notice {
        let until = || crate::lifecycle::rfc3339(UNIX_EPOCH + Duration::from_secs(expires));
        let now = crate::lifecycle::now_secs();
        if expires <= now {
            return crate::Notice(format!(
                "notice: the backup's previous secret expired at {} (UTC); it is not restored",
                until()
            ));
        }
        if value.expose_secret() == current.expose_secret() {
            return crate::Notice("notice: the backup's previous secret is its current one".into());
        }
        match self.write_previous(dir, name, value, expires, now, deadline) {
            Ok(true) => crate::Notice(format!(
                "notice: the backup's previous secret is restored too, valid until {} (UTC)",
                until()
            )),
            Ok(false) => crate::Notice(
                "notice: the backup's previous secret is not restored: the vault keeps its own \
                 previous secret, which is newer"
                    .into(),
            ),
            Err(e) => crate::Notice(format!(
                "warning: the backup's previous secret could not be restored ({e}); the current \
                 one is"
            )),
        }
    }

    /// Seals `value` as the previous secret of `name`, valid until `expires`, unless the
    /// vault keeps a valid previous secret of its own (then `Ok(false)`).
    fn write_previous(
        &self,
        dir: &PrivateDir,
        name: &SecretName,
        value: &SecretString,
        expires: u64,
        now: u64,
        deadline: &Deadline,
    ) -> Result<bool, Error> {
        let Some(meta) = local::metadata(dir, self.keys())? else {
            return Ok(false);
        };
        if meta
            .previous
            .get(name.as_str())
            .is_some_and(|r| r.expires > now)
        {
            return Ok(false);
        }
        let (mut meta, key) =
            local::key_for_write(dir, self.keys(), Some(meta), deadline, &mut Vec::new())?;
        write_sealed(dir, &previous_file(name), value, &meta, &key)?;
        meta.previous
            .insert(name.as_str().to_owned(), PreviousRecord { expires });
        meta.store(dir, &key)?;
        Ok(true)
    }
}

/// The names of the other encrypted secrets in the vault dir.
fn other_sealed_secrets(dir: &PrivateDir, name: &SecretName) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    for file in dir.entries()? {
        if file == name.as_str() || SecretName::new(&file).is_err() {
            continue;
        }
        if let Ok(Some(found)) = read_secret(dir, &file)
            && found.kind == Kind::Encrypted
        {
            names.push(file);
        }
    }
    Ok(names)
}

/// Opens an age backup with `key`; then wipes the stack the cipher used (as
/// [`crate::seal::open`] does).
fn open_backup(bytes: &[u8], key: &RestoreKey, path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    let opened = open_backup_inner(bytes, key, path);
    zeroize::zeroize_stack::<{ 64 * 1024 }>();
    opened
}

#[inline(never)]
fn open_backup_inner(
    bytes: &[u8],
    key: &RestoreKey,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let not_a_backup = |reason: &str, source| Error::NotABackup {
        path: path.to_owned(),
        reason: reason.into(),
        source: Some(source),
    };
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(bytes))
        .map_err(|e| not_a_backup("it is not a continuum-vault backup (not an age file)", e))?;
    let (reader, identity) = match key {
        RestoreKey::Passphrase(p) => {
            let identity = age::scrypt::Identity::new(p.clone());
            let reader = decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity));
            (reader, None)
        }
        RestoreKey::IdentityFile(file) => {
            let identities = read_identities(file)?;
            let reader = decryptor.decrypt(identities.iter().map(|i| &**i as &dyn age::Identity));
            (reader, Some(file.clone()))
        }
    };
    let reader = reader.map_err(|e| match e {
        age::DecryptError::InvalidHeader
        | age::DecryptError::InvalidMac
        | age::DecryptError::UnknownFormat
        | age::DecryptError::Io(_) => {
            not_a_backup("it is damaged (its age header does not verify)", e)
        }
        source => Error::BackupKey {
            path: path.to_owned(),
            identity,
            source,
        },
    })?;
    crate::seal::read_plaintext(reader, bytes.len()).map_err(|_| Error::NotABackup {
        path: path.to_owned(),
        reason: "it is damaged (its content does not decrypt: truncated or altered)".into(),
        source: None,
    })
}

/// The identities of an age identity file (age-keygen format), parsed by age itself
/// (`IdentityFile` zeroizes every line it reads, and names a bad line by number, never by
/// content), from one capped, zeroizing read.
fn read_identities(file: &Path) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>, Error> {
    let content = crate::fs::read_followed(file)
        .map_err(|e| e.into_named_error("read identity file", file))?;
    let unusable = || Error::InvalidSetting {
        setting: "--identity",
        value: file.display().to_string(),
        reason: "an age identity file with an AGE-SECRET-KEY-1... line (as age-keygen writes)",
    };
    let identities = age::IdentityFile::from_buffer(&content.bytes[..])
        .ok()
        .and_then(|f| f.into_identities().ok())
        .ok_or_else(unusable)?;
    if identities.is_empty() {
        return Err(unusable());
    }
    Ok(identities)
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

/// Creates `path` (mode 0600) holding `bytes`, never replacing a file: the bytes go to a
/// temp file in the same directory (`O_CREAT|O_EXCL|O_NOFOLLOW`), which is fsynced and then
/// hard-linked to `path` (a link fails if `path` exists, even as a dangling link); the temp
/// name is removed and the directory fsynced. On any failure nothing is left at `path`.
fn create_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let write_err = |source: std::io::Error| Error::Write {
        path: path.to_owned(),
        source,
    };
    let conflict = || Error::Conflict {
        path: path.to_owned(),
        what: "a file",
    };
    let Some(base) = path.file_name() else {
        return Err(Error::InvalidSetting {
            setting: "--out",
            value: path.display().to_string(),
            reason: "the path of a file to create",
        });
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = rustix::fs::open(
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| write_err(e.into()))?;
    // Refused before anything is written (the link below is what guarantees it).
    match rustix::fs::statat(&dir, base, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => return Err(conflict()),
        Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(write_err(e.into())),
    }
    let mut temp = std::ffi::OsString::from(".");
    temp.push(base);
    temp.push(format!(".tmp.{}", crate::metadata::new_id()));
    let fd = rustix::fs::openat(
        &dir,
        temp.as_os_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| write_err(e.into()))?;
    let mut file = std::fs::File::from(fd);
    let linked = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(write_err)
        .and_then(|()| {
            link_new(&dir, temp.as_os_str(), base).map_err(|e| match e {
                rustix::io::Errno::EXIST => conflict(),
                e => write_err(e.into()),
            })
        });
    let _ = rustix::fs::unlinkat(&dir, temp.as_os_str(), AtFlags::empty());
    linked?;
    if let Err(e) = rustix::fs::fsync(&dir) {
        // Reported as a failure, so nothing may stay at `path`: remove it if it is ours.
        let ours = rustix::fs::fstat(&file).ok();
        let there = rustix::fs::statat(&dir, base, AtFlags::SYMLINK_NOFOLLOW).ok();
        if let (Some(a), Some(b)) = (ours, there)
            && (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
        {
            let _ = rustix::fs::unlinkat(&dir, base, AtFlags::empty());
        }
        return Err(write_err(e.into()));
    }
    Ok(())
}

/// Gives the temp file its final name without ever replacing a file: a hard link, or, on
/// a file system without hard links, a rename that refuses to replace.
fn link_new(
    dir: &rustix::fd::OwnedFd,
    temp: &std::ffi::OsStr,
    base: &std::ffi::OsStr,
) -> Result<(), rustix::io::Errno> {
    match rustix::fs::linkat(dir, temp, dir, base, AtFlags::empty()) {
        Err(rustix::io::Errno::PERM | rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {
            rustix::fs::renameat_with(dir, temp, dir, base, rustix::fs::RenameFlags::NOREPLACE)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn debug_never_shows_a_passphrase() {
        let pass = SecretString::from("correct horse battery");
        for shown in [
            format!("{:?}", BackupKey::Passphrase(pass.clone())),
            format!("{:?}", RestoreKey::Passphrase(pass)),
        ] {
            assert!(shown.starts_with("Passphrase("), "{shown}");
            assert!(shown.contains("[REDACTED]"), "{shown}");
            assert!(!shown.contains("horse"), "{shown}");
        }
        let shown = format!("{:?}", BackupKey::Recipients(vec!["age1abc".into()]));
        assert_eq!(shown, r#"Recipients(["age1abc"])"#);
    }

    #[test]
    fn unescapes_every_json_escape() {
        let cases = [
            (r#""plain""#, "plain"),
            (
                r#""q\"b\\s\/t\tn\nr\rb\bf\f""#,
                "q\"b\\s/t\tn\nr\rb\u{8}f\u{c}",
            ),
            (r#""\u00e9\u20ac\ud83d\ude00 \u0000""#, "é€😀 \0"),
            (r#""été""#, "été"),
        ];
        for (json, want) in cases {
            assert_eq!(json_string(&raw(json)).unwrap().as_str(), want, "{json}");
        }
        for json in [
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\ud83dx""#,
            "5",
            "null",
            "[]",
        ] {
            assert!(json_string(&raw(json)).is_none(), "{json}");
        }
    }

    fn document(fields: &str) -> Vec<u8> {
        format!(
            r#"{{"format": "continuum-vault-backup", "version": 1, "name": "jwt_secret", "created": "2026-01-01T00:00:00Z"{fields}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn parses_values_with_escapes_and_a_previous_secret() {
        let in_a_day = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 86_400;
        let plain = document(&format!(
            r#", "current": " a\"b\\c\td ", "previous": "old\u0022", "previous_expires": {in_a_day}"#
        ));
        let doc = Restored::parse(&plain, Path::new("b.age"), "jwt_secret").unwrap();
        assert_eq!(doc.current.expose_secret(), "a\"b\\c\td");
        let (previous, expires) = doc.previous.unwrap();
        assert_eq!(previous.expose_secret(), "old\"");
        assert_eq!(expires, in_a_day);
    }

    #[test]
    fn errors_never_show_what_the_file_holds() {
        let marker = "MARKER-0123456789";
        let cases = [
            marker.to_owned(),
            format!(r#""{marker}""#),
            format!(r#"{{"{marker}": 1}}"#),
            format!(r#"{{"format": "{marker}"}}"#),
            String::from_utf8(document(&format!(r#", "current": 5, "x{marker}": 1"#))).unwrap(),
            String::from_utf8(document(&format!(r#", "current": ["{marker}"]"#))).unwrap(),
            String::from_utf8(document(&format!(r#", "current": "{marker}\""#))).unwrap(),
            String::from_utf8(document(&format!(
                r#", "current": "x", "previous": "{marker}""#
            )))
            .unwrap(),
            String::from_utf8(document(&format!(
                r#", "current": "x", "previous": "{marker}", "previous_expires": 18446744073709551615"#
            )))
            .unwrap(),
        ];
        for plain in cases {
            let err = Restored::parse(plain.as_bytes(), Path::new("b.age"), "jwt_secret")
                .err()
                .unwrap_or_else(|| panic!("accepted: {plain}"));
            let shown = format!("{err} {err:?} {:?}", err.hint());
            assert!(!shown.contains("MARKER"), "{plain}: {shown}");
            assert!(shown.contains("b.age"), "{shown}");
            assert!(matches!(err, Error::NotABackup { .. }), "{shown}");
            assert_eq!(err.class(), crate::ErrorClass::Corrupt);
            assert!(!shown.contains("delete it knowingly"), "{shown}");
        }
    }

    #[test]
    fn another_name_is_named_only_when_it_is_a_name() {
        let plain = document(r#", "current": "x""#);
        let err = Restored::parse(&plain, Path::new("b.age"), "api_key")
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains(r#"a backup of "jwt_secret", not of "api_key""#),
            "{err}"
        );
        let plain = String::from_utf8(plain)
            .unwrap()
            .replace(r#""jwt_secret""#, r#""Not A Name""#);
        let err = Restored::parse(plain.as_bytes(), Path::new("b.age"), "api_key")
            .err()
            .unwrap();
        assert!(!err.to_string().contains("Not A Name"), "{err}");
    }

    proptest! {
        #[test]
        fn any_string_round_trips_through_the_writer_and_the_reader(s in any::<String>()) {
            let json = serde_json::to_string(&s).unwrap();
            let back = json_string(&raw(&json)).unwrap();
            prop_assert_eq!(back.as_str(), s.as_str());
            let pretty = serde_json::to_string_pretty(&s).unwrap();
            let back = json_string(&raw(&pretty)).unwrap();
            prop_assert_eq!(back.as_str(), s.as_str());
        }

        #[test]
        fn no_document_makes_the_parser_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Restored::parse(&bytes, Path::new("b.age"), "jwt_secret");
        }
    }
}
