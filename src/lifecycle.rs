//! Changing a secret without losing one: `set`, `rotate`, `migrate`, and the previous
//! secret kept for a grace window (`<name>_previous`, its expiry in the metadata), read back
//! as a [`KeySet`].
//!
//! Every change is decided first, by [`plan`] (pure, table-tested), from what the vault
//! holds. Then everything it writes is staged (sealed, written to temp files, read back and
//! verified) before the first rename, so a full disk or a value too large changes nothing.
//! The renames go previous, metadata, current: a crash between two of them leaves a vault
//! that decrypts to the old or the new secret.

use std::fmt;
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};

use crate::deadline::Deadline;
use crate::fs::{PrivateDir, check_private};
use crate::key::{Keys, VaultKey};
use crate::metadata::{Metadata, PreviousRecord};
use crate::name::SecretName;
use crate::resolve::{Create, Loaded, Notice, Source};
use crate::seal::Kind;
use crate::store::local::{self, Found};
use crate::text::strip;
use crate::{Error, SetOutcome, Unsafe, Vault};

/// How long a replaced secret stays valid by default: long enough for the server's refresh
/// tokens (30 days).
pub const DEFAULT_GRACE: Duration = Duration::from_hours(30 * 24);

/// The longest grace window accepted: 366 days.
pub const MAX_GRACE: Duration = Duration::from_hours(366 * 24);

/// The file holding the previous value of `name`.
pub(crate) fn previous_file(name: &SecretName) -> String {
    format!("{}_previous", name.as_str())
}

/// The current secret and the previous one while its grace window lasts. A server verifies
/// tokens against both and signs with the current one.
pub struct KeySet {
    /// The current secret as resolved, with its source and notices.
    current: Loaded,
    previous: Option<(SecretString, SystemTime)>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("current", &"[REDACTED]")
            .field(
                "previous",
                &self
                    .previous
                    .as_ref()
                    .map(|(_, until)| ("[REDACTED]", until)),
            )
            .field("source", self.source())
            .finish_non_exhaustive()
    }
}

impl KeySet {
    /// The secret to sign with.
    #[must_use]
    pub fn current(&self) -> &SecretString {
        self.current.secret()
    }

    /// The replaced secret, still valid for verifying until the returned time.
    #[must_use]
    pub fn previous(&self) -> Option<(&SecretString, SystemTime)> {
        self.previous.as_ref().map(|(s, t)| (s, *t))
    }

    /// Where the current secret came from.
    #[must_use]
    pub fn source(&self) -> &Source {
        self.current.source()
    }

    /// What the user should be told.
    #[must_use]
    pub fn notices(&self) -> &[Notice] {
        self.current.notices()
    }
}

/// What [`Vault::rotate`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Rotated {
    /// Until when the old secret stays available as the previous one.
    pub previous_expires: SystemTime,
    /// What the user should be told.
    pub notices: Vec<Notice>,
}

/// What [`Vault::migrate`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Migrated {
    /// `true` when a plaintext file was encrypted; `false` when it already was.
    pub changed: bool,
    /// The file.
    pub path: std::path::PathBuf,
    /// What the user should be told: what changes for readers of the file, and backups.
    pub notices: Vec<Notice>,
}

/// What the vault file holds, judged under the lock.
enum Existing {
    Nothing,
    Sealed(SecretString),
    Plaintext,
    Unreadable(Error),
}

/// The facts [`plan`] decides from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Nothing,
    Sealed { same: bool },
    Plaintext,
    Unreadable,
}

/// What a `set` (or `restore`) will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Nothing to write.
    Unchanged,
    /// Store the value; there was none.
    Create,
    /// Keep the old value as the previous secret, then store the new one.
    Replace,
    /// Set the unreadable file aside (never deleted), then store the new value.
    SetAside,
    /// Write nothing, and say why.
    Refuse(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Different,
    Undecryptable,
    Plaintext,
}

/// Decides a replacement from what the vault holds. Pure: see the table in the tests.
fn plan(held: Held, force: bool) -> Plan {
    match (held, force) {
        (Held::Nothing, _) => Plan::Create,
        (Held::Sealed { same: true }, _) => Plan::Unchanged,
        (Held::Sealed { same: false }, false) => Plan::Refuse(Refusal::Different),
        (Held::Sealed { same: false }, true) => Plan::Replace,
        // Only `migrate` turns a plaintext file into a sealed one: the readers of the file
        // must be switched first, and that is the operator's call.
        (Held::Plaintext, _) => Plan::Refuse(Refusal::Plaintext),
        (Held::Unreadable, false) => Plan::Refuse(Refusal::Undecryptable),
        (Held::Unreadable, true) => Plan::SetAside,
    }
}

impl Refusal {
    fn error(self, name: &SecretName, path: std::path::PathBuf) -> Error {
        match self {
            Self::Different => Error::Conflict {
                path,
                what: "a different value",
            },
            Self::Undecryptable => Error::Conflict {
                path,
                what: "a value that cannot be decrypted",
            },
            Self::Plaintext => Error::PlaintextNotMigrated {
                path,
                name: name.as_str().to_owned(),
            },
        }
    }
}

/// Puts a file set aside back under its name unless the change it made room for went through.
struct Aside<'d> {
    dir: &'d PrivateDir,
    name: String,
    moved_to: String,
    keep: bool,
}

impl<'d> Aside<'d> {
    fn new(dir: &'d PrivateDir, name: &str) -> Result<Self, Error> {
        let aside = dir.set_aside(name, now_secs())?;
        Ok(Self {
            dir,
            name: name.to_owned(),
            moved_to: aside,
            keep: false,
        })
    }

    fn keep(mut self) -> String {
        self.keep = true;
        std::mem::take(&mut self.moved_to)
    }
}

impl Drop for Aside<'_> {
    fn drop(&mut self) {
        if !self.keep {
            let _ = rustix::fs::renameat(
                self.dir.fd(),
                self.moved_to.as_str(),
                self.dir.fd(),
                self.name.as_str(),
            );
        }
    }
}

/// Refuses a write that the environment would override anyway.
pub(crate) fn refuse_if_env_wins(vault: &Vault, name: &SecretName) -> Result<(), Error> {
    for var in [name.env_var(), name.file_env_var()] {
        if vault.var(&var).is_some() {
            return Err(Error::EnvOverrides {
                var,
                name: name.as_str().to_owned(),
            });
        }
    }
    Ok(())
}

/// A value to store: stripped, not empty, no NUL (no process environment can hold one).
pub(crate) fn checked_value(value: &SecretString) -> Result<SecretString, Error> {
    let value = strip(value.expose_secret());
    if value.is_empty() {
        return Err(Error::EmptyValue);
    }
    if value.contains('\0') {
        return Err(Error::InvalidValue {
            reason: "it contains a NUL byte, which no environment variable can hold",
        });
    }
    Ok(SecretString::from(value))
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `Vault::load_key_set`: the current secret, and the previous one while it is valid.
pub(crate) fn key_set(vault: &Vault, name: &SecretName) -> Result<KeySet, Error> {
    let mut loaded = crate::resolve::resolve(vault, name, Create::Yes)?;
    let notices = &mut loaded.notices;
    let previous = match &loaded.source {
        Source::Env { .. } | Source::EnvFile { .. } => vault
            .var(&format!("{}_PREVIOUS", name.env_var()))
            .and_then(|v| v.into_string().ok())
            .map(|v| {
                (
                    SecretString::from(zeroize::Zeroizing::new(v).as_str()),
                    SystemTime::now() + DEFAULT_GRACE,
                )
            }),
        Source::Store { .. } => crate::store::remote::previous(vault, name, notices)?,
        // During an outage only the current secret is known.
        Source::StoreCopy { .. } => None,
        _ => previous(vault, name, notices)?,
    };
    Ok(KeySet {
        current: loaded,
        previous,
    })
}

/// The previous secret of `name` from the vault, while its window lasts.
pub(crate) fn previous(
    vault: &Vault,
    name: &SecretName,
    notices: &mut Vec<Notice>,
) -> Result<Option<(SecretString, SystemTime)>, Error> {
    let Some(dir) = vault.local().open()? else {
        return Ok(None);
    };
    let Some(meta) = local::metadata(&dir, vault.keys())? else {
        return Ok(None);
    };
    let Some(record) = meta.previous.get(name.as_str()).copied() else {
        return Ok(None);
    };
    if record.expired() {
        return Ok(None);
    }
    let file = previous_file(name);
    let Some(Found {
        content,
        kind: Kind::Encrypted,
    }) = local::read_secret(&dir, &file)?
    else {
        return Ok(None);
    };
    match local::decrypt(
        &dir,
        vault.keys(),
        &file,
        &meta,
        &content,
        &vault.deadline(),
    ) {
        Ok(secret) => Ok(Some((secret, record.until()))),
        Err(e) => {
            notices.push(Notice(format!(
                "warning: the previous secret is unusable: {}",
                crate::error_chain(&e)
            )));
            Ok(None)
        }
    }
}

/// `Vault::set`.
pub(crate) fn set(
    vault: &Vault,
    name: &SecretName,
    value: &SecretString,
    force: bool,
) -> Result<(SetOutcome, Vec<Notice>), Error> {
    let value = checked_value(value)?;
    refuse_if_env_wins(vault, name)?;
    let deadline = vault.deadline();
    let dir = vault.local().create()?;
    let _lock = dir.lock(&deadline)?;
    replace_locked(
        vault.keys(),
        &dir,
        name,
        &value,
        force,
        DEFAULT_GRACE,
        &deadline,
    )
}

/// The common path of `set` and `restore`: decide under the lock, keep what is replaced.
pub(crate) fn replace_locked(
    keys: &Keys,
    dir: &PrivateDir,
    name: &SecretName,
    value: &SecretString,
    force: bool,
    grace: Duration,
    deadline: &Deadline,
) -> Result<(SetOutcome, Vec<Notice>), Error> {
    let meta = local::metadata(dir, keys)?;
    let path = dir.join(name.as_str());
    let existing = existing(dir, keys, name, meta.as_ref(), deadline)?;
    let held = match &existing {
        Existing::Nothing => Held::Nothing,
        Existing::Sealed(old) => Held::Sealed {
            same: old.expose_secret() == value.expose_secret(),
        },
        Existing::Plaintext => Held::Plaintext,
        Existing::Unreadable(_) => Held::Unreadable,
    };
    let plan = plan(held, force);
    match plan {
        Plan::Refuse(why) => return Err(why.error(name, path)),
        Plan::Unchanged => return Ok((SetOutcome::Unchanged, Vec::new())),
        Plan::Create | Plan::Replace | Plan::SetAside => {}
    }
    // Nothing is created (not even a first key) for a value the vault could not store.
    crate::seal::check_size(
        value.expose_secret().len(),
        1 + meta.as_ref().map_or(0, |m| m.recipients.len()),
    )?;
    let mut notices = Vec::new();
    let (meta, key) = local::key_for_write(dir, keys, meta, deadline, &mut notices)?;
    let outcome = match existing {
        Existing::Sealed(old) => {
            let until = commit_replace(dir, name, Some(&old), value, grace, meta, &key)?;
            notices.push(Notice(format!(
                "notice: the replaced value stays valid as the previous secret until {} (UTC); \
                 sessions signed with it keep working until then where the server checks \
                 {}_PREVIOUS",
                rfc3339(until),
                name.env_var()
            )));
            SetOutcome::Replaced
        }
        Existing::Unreadable(e) => {
            let staged = local::stage_sealed(dir, name.as_str(), value, &meta, &key)?;
            let aside = Aside::new(dir, name.as_str())?;
            staged.commit()?;
            let aside = aside.keep();
            notices.push(Notice(format!(
                "notice: the replaced file could not be read ({}); it was kept as {}",
                crate::error_chain(&e),
                dir.join(&aside).display()
            )));
            SetOutcome::Replaced
        }
        Existing::Nothing | Existing::Plaintext => {
            commit_replace(dir, name, None, value, grace, meta, &key)?;
            SetOutcome::Created
        }
    };
    Ok((outcome, notices))
}

/// Stages the previous secret (when there is an old value), the metadata and the new
/// current value, then renames them in that order. Returns the previous secret's expiry.
fn commit_replace(
    dir: &PrivateDir,
    name: &SecretName,
    old: Option<&SecretString>,
    new: &SecretString,
    grace: Duration,
    mut meta: Metadata,
    key: &VaultKey,
) -> Result<SystemTime, Error> {
    dir.remove_stale_temps()?;
    let record = PreviousRecord {
        expires: now_secs().saturating_add(grace.as_secs()),
    };
    let previous = match old {
        Some(old) => {
            meta.previous.insert(name.as_str().to_owned(), record);
            Some(local::stage_sealed(
                dir,
                &previous_file(name),
                old,
                &meta,
                key,
            )?)
        }
        None => None,
    };
    let metadata = match previous {
        Some(_) => Some(meta.stage(dir, key)?),
        None => None,
    };
    let current = local::stage_sealed(dir, name.as_str(), new, &meta, key)?;
    if let Some(previous) = previous {
        previous.commit()?;
    }
    if let Some(metadata) = metadata {
        metadata.commit()?;
    }
    current.commit()?;
    Ok(record.until())
}

/// What the vault file of `name` holds. Errors that mean "nothing can be written" (no key,
/// a file that is not ours) are returned; an unreadable file is a fact for the plan.
fn existing(
    dir: &PrivateDir,
    keys: &Keys,
    name: &SecretName,
    meta: Option<&Metadata>,
    deadline: &Deadline,
) -> Result<Existing, Error> {
    let path = dir.join(name.as_str());
    let found = match local::read_secret(dir, name.as_str()) {
        Ok(found) => found,
        Err(
            e @ Error::UnsafePath {
                problem: Unsafe::TooLarge { .. },
                ..
            },
        ) => return Ok(Existing::Unreadable(e)),
        Err(e) => return Err(e),
    };
    Ok(match found {
        None
        | Some(Found {
            kind: Kind::Empty, ..
        }) => Existing::Nothing,
        Some(Found {
            content,
            kind: Kind::Encrypted,
        }) => {
            // Without metadata the key it was sealed to is unknown: an unreadable file (that
            // `--force` sets aside), never one to guess a key for.
            let meta = match local::require_metadata(dir, name.as_str(), meta.cloned()) {
                Ok(meta) => meta,
                Err(e) => return Ok(Existing::Unreadable(e)),
            };
            match local::decrypt(dir, keys, name.as_str(), &meta, &content, deadline) {
                Ok(old) => Existing::Sealed(old),
                Err(e) if e.class() == crate::ErrorClass::Corrupt && !is_metadata_error(&e) => {
                    Existing::Unreadable(e)
                }
                Err(e) => return Err(e),
            }
        }
        Some(Found {
            content,
            kind: Kind::Plaintext,
        }) => {
            // A plaintext secret others could read is exposed: refused like `get` does.
            check_private(&path, &content)?;
            Existing::Plaintext
        }
        Some(Found {
            kind: Kind::Garbage(reason),
            ..
        }) => Existing::Unreadable(Error::Corrupt {
            path,
            reason: reason.into(),
        }),
    })
}

/// A tampered metadata file is never a reason to set a secret file aside.
fn is_metadata_error(e: &Error) -> bool {
    matches!(e, Error::MetadataTampered { .. })
}

/// `Vault::rotate`.
pub(crate) fn rotate(vault: &Vault, name: &SecretName, grace: Duration) -> Result<Rotated, Error> {
    check_grace(grace)?;
    refuse_if_env_wins(vault, name)?;
    let deadline = vault.deadline();
    let dir = vault.local().existing(name.as_str())?;
    let _lock = dir.lock(&deadline)?;
    let meta = local::metadata(&dir, vault.keys())?;
    let old = match existing(&dir, vault.keys(), name, meta.as_ref(), &deadline)? {
        Existing::Sealed(old) => old,
        Existing::Nothing => {
            return Err(Error::NotFound {
                path: dir.join(name.as_str()),
            });
        }
        Existing::Plaintext => return Err(Refusal::Plaintext.error(name, dir.join(name.as_str()))),
        Existing::Unreadable(e) => return Err(e),
    };
    let mut notices = Vec::new();
    let (meta, key) = local::key_for_write(&dir, vault.keys(), meta, &deadline, &mut notices)?;
    let new = crate::generate::token_urlsafe()?;
    let until = commit_replace(&dir, name, Some(&old), &new, grace, meta, &key)?;
    notices.push(Notice(format!(
        "Rotated {name}: the vault now holds a new secret.\n\
         Restart (or reload) every worker of the server: each keeps the secret it loaded at start,\n\
         so only restarted workers sign with the new one.\n\
         The old secret stays available as the previous one until {until} (UTC).\n\
         Sessions signed with the old secret stop working after that, or right away if the\n\
         server does not also check the previous secret ({var}_PREVIOUS under `continuum-vault run`).",
        name = name.as_str(),
        until = rfc3339(until),
        var = name.env_var(),
    )));
    Ok(Rotated {
        previous_expires: until,
        notices,
    })
}

/// A grace window must be positive and at most [`MAX_GRACE`].
pub(crate) fn check_grace(grace: Duration) -> Result<(), Error> {
    if grace.is_zero() || grace > MAX_GRACE {
        return Err(Error::InvalidSetting {
            setting: "grace",
            value: humantime::format_duration(grace).to_string(),
            reason: "a duration longer than zero and at most 366 days (e.g. 30d, 12h, 1h30m, 2w)",
        });
    }
    Ok(())
}

/// `Vault::migrate`: encrypts a legacy plaintext file in place, keeping its value.
pub(crate) fn migrate(vault: &Vault, name: &SecretName) -> Result<Migrated, Error> {
    let deadline = vault.deadline();
    let path = vault.local().path().join(name.as_str());
    let dir = vault.local().existing(name.as_str())?;
    let _lock = dir.lock(&deadline)?;
    let found = local::read_secret(&dir, name.as_str())?;
    let content = match found {
        None
        | Some(Found {
            kind: Kind::Empty, ..
        }) => return Err(Error::NotFound { path }),
        Some(Found {
            kind: Kind::Garbage(reason),
            ..
        }) => {
            return Err(Error::Corrupt {
                path,
                reason: reason.into(),
            });
        }
        Some(Found {
            content,
            kind: Kind::Encrypted,
        }) => {
            // Already sealed: prove it opens, and change nothing.
            let meta = local::metadata(&dir, vault.keys())?;
            let meta = local::require_metadata(&dir, name.as_str(), meta)?;
            local::decrypt(
                &dir,
                vault.keys(),
                name.as_str(),
                &meta,
                &content,
                &deadline,
            )?;
            return Ok(Migrated {
                changed: false,
                path,
                notices: vec![Notice(format!(
                    "{} is already encrypted; nothing to do",
                    dir.join(name.as_str()).display()
                ))],
            });
        }
        Some(Found {
            content,
            kind: Kind::Plaintext,
        }) => content,
    };
    check_private(&path, &content)?;
    let value = SecretString::from(local::plaintext(&content));
    let meta = local::metadata(&dir, vault.keys())?;
    crate::seal::check_size(
        value.expose_secret().len(),
        1 + meta.as_ref().map_or(0, |m| m.recipients.len()),
    )?;
    let mut notices = Vec::new();
    let (meta, key) = local::key_for_write(&dir, vault.keys(), meta, &deadline, &mut notices)?;
    local::write_sealed(&dir, name.as_str(), &value, &meta, &key)?;
    let location = vault.keys().describe(&meta.key_ref());
    notices.push(Notice(format!(
        "Migrated {p}: the same value is now encrypted in place.\n\
         What changes: a process that reads {p} itself now gets ciphertext; every reader must go\n\
         through continuum-vault (`continuum-vault run`, the library, or the Python package).\n\
         {}",
        local::backup_warning(name, &location),
        p = path.display(),
    )));
    Ok(Migrated {
        changed: true,
        path,
        notices,
    })
}

/// Drops previous secrets whose window has ended (file and record). Call with the lock held.
pub(crate) fn drop_expired(
    dir: &PrivateDir,
    meta: &mut Metadata,
    key: &VaultKey,
) -> Result<(), Error> {
    let expired: Vec<String> = meta
        .previous
        .iter()
        .filter(|(_, r)| r.expired())
        .map(|(n, _)| n.clone())
        .collect();
    if expired.is_empty() {
        return Ok(());
    }
    for name in &expired {
        meta.previous.remove(name);
    }
    meta.store(dir, key)?;
    for name in &expired {
        dir.remove(&format!("{name}_previous"))?;
    }
    Ok(())
}

/// A UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_table() {
        use Held::{Nothing, Plaintext, Sealed, Unreadable};
        let table = [
            (Nothing, false, Plan::Create),
            (Nothing, true, Plan::Create),
            (Sealed { same: true }, false, Plan::Unchanged),
            (Sealed { same: true }, true, Plan::Unchanged),
            (
                Sealed { same: false },
                false,
                Plan::Refuse(Refusal::Different),
            ),
            (Sealed { same: false }, true, Plan::Replace),
            (Plaintext, false, Plan::Refuse(Refusal::Plaintext)),
            (Plaintext, true, Plan::Refuse(Refusal::Plaintext)),
            (Unreadable, false, Plan::Refuse(Refusal::Undecryptable)),
            (Unreadable, true, Plan::SetAside),
        ];
        for (held, force, want) in table {
            assert_eq!(plan(held, force), want, "{held:?} force={force}");
        }
    }

    #[test]
    fn grace_bounds() {
        assert!(check_grace(Duration::ZERO).is_err());
        assert!(check_grace(Duration::from_secs(1)).is_ok());
        assert!(check_grace(MAX_GRACE).is_ok());
        let err = check_grace(MAX_GRACE + Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.class(), crate::ErrorClass::Usage);
        assert!(check_grace(Duration::from_secs(u64::MAX)).is_err());
    }

    #[test]
    fn values_are_checked() {
        assert!(matches!(
            checked_value(&SecretString::from(" \n")),
            Err(Error::EmptyValue)
        ));
        let err = checked_value(&SecretString::from("a\0b")).unwrap_err();
        assert_eq!(err.class(), crate::ErrorClass::Usage);
        assert!(!format!("{err} {err:?}").contains("a\0b"));
        assert_eq!(
            checked_value(&SecretString::from(" v \n"))
                .unwrap()
                .expose_secret(),
            "v"
        );
    }

    #[test]
    fn dates_are_rfc3339() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_hours(490_032);
        assert_eq!(rfc3339(t), "2025-11-26T00:00:00Z");
    }
}
