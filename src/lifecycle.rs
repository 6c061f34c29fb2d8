//! Changing a secret without losing one: `set`, `rotate`, and the previous secret kept for a
//! grace window (`<name>_previous`, its expiry in the metadata), read back as a [`KeySet`].
//!
//! Order of a replacement, so that a crash at any step leaves a vault that decrypts to the
//! old or the new secret: (1) the old value is sealed into `<name>_previous` and its expiry
//! recorded; (2) the new value is sealed into a temp file, read back and decrypted with the
//! vault key; (3) only then is it renamed over `<name>`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};

use crate::deadline::Deadline;
use crate::fs::PrivateDir;
use crate::key::VaultKey;
use crate::metadata::{Metadata, PreviousRecord};
use crate::name::SecretName;
use crate::resolve::{Create, Notice, Source};
use crate::seal::Kind;
use crate::text::{secret_string, strip};
use crate::vault::{Found, plaintext, read_secret, write_sealed};
use crate::{Error, SetOutcome, Unsafe, Vault};

/// How long a replaced secret stays valid by default: long enough for the server's refresh
/// tokens (30 days).
pub const DEFAULT_GRACE: Duration = Duration::from_hours(30 * 24);

/// The file holding the previous value of `name`.
pub(crate) fn previous_file(name: &SecretName) -> String {
    format!("{}_previous", name.as_str())
}

/// The current secret and the previous one while its grace window lasts. A server verifies
/// tokens against both and signs with the current one.
pub struct KeySet {
    current: SecretString,
    previous: Option<(SecretString, SystemTime)>,
    source: Source,
    notices: Vec<Notice>,
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
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl KeySet {
    /// The secret to sign with.
    #[must_use]
    pub fn current(&self) -> &SecretString {
        &self.current
    }

    /// The replaced secret, still valid for verifying until the returned time.
    #[must_use]
    pub fn previous(&self) -> Option<(&SecretString, SystemTime)> {
        self.previous.as_ref().map(|(s, t)| (s, *t))
    }

    /// Where the current secret came from.
    #[must_use]
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// What the user should be told.
    #[must_use]
    pub fn notices(&self) -> &[Notice] {
        &self.notices
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

/// What an existing vault file holds, judged under the lock.
enum Existing {
    Nothing,
    Value(SecretString, bool),
    Unreadable(Error),
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Vault {
    /// Resolves `name` like [`load`](Self::load) (creating it if absent), together with the
    /// previous secret while it is valid. With the environment as the source, the previous
    /// secret is `CONTINUUM_<NAME>_PREVIOUS` when set (what `run` exports).
    ///
    /// # Errors
    /// As [`load`](Self::load). A previous file that cannot be decrypted is left out, with a notice.
    pub fn load_key_set(&self, name: &str) -> Result<KeySet, Error> {
        let loaded = self.load(name)?;
        let name = SecretName::new(name)?;
        let mut notices = loaded.notices.clone();
        let previous = match &loaded.source {
            Source::Env { .. } | Source::EnvFile { .. } => self
                .var(&format!("{}_PREVIOUS", name.env_var()))
                .and_then(|v| v.into_string().ok())
                .map(|v| {
                    (
                        secret_string(&zeroize::Zeroizing::new(v)),
                        SystemTime::now() + DEFAULT_GRACE,
                    )
                }),
            _ => self.previous_from_vault(&name, &mut notices)?,
        };
        Ok(KeySet {
            current: loaded.secret,
            previous,
            source: loaded.source,
            notices,
        })
    }

    pub(crate) fn previous_from_vault(
        &self,
        name: &SecretName,
        notices: &mut Vec<Notice>,
    ) -> Result<Option<(SecretString, SystemTime)>, Error> {
        let Some(dir) = PrivateDir::open(&self.dir)? else {
            return Ok(None);
        };
        let Some(meta) = self.metadata(&dir)? else {
            return Ok(None);
        };
        let Some(record) = meta.previous.get(name.as_str()) else {
            return Ok(None);
        };
        if record.expires <= now_secs() {
            return Ok(None);
        }
        let file = previous_file(name);
        let Some(Found {
            content,
            kind: Kind::Encrypted,
        }) = read_secret(&dir, &file)?
        else {
            return Ok(None);
        };
        match self.decrypt(&dir, &file, Some(&meta), &content, &self.deadline()) {
            Ok(secret) => Ok(Some((
                secret,
                UNIX_EPOCH + Duration::from_secs(record.expires),
            ))),
            Err(e) => {
                notices.push(Notice(format!(
                    "warning: the previous secret is unusable: {e}"
                )));
                Ok(None)
            }
        }
    }

    /// Stores `value` (stripped) as the secret `name`. A different value, or a file that
    /// cannot be decrypted, is replaced only with `force`; a replaced value is kept as the
    /// previous secret for [`DEFAULT_GRACE`], and an undecryptable file is kept aside as
    /// `<name>.unreadable.<time>`, so no value is ever lost.
    ///
    /// # Errors
    /// [`Error::EmptyValue`], [`Error::Conflict`], or any error of reading and writing.
    pub fn set(
        &self,
        name: &str,
        value: &SecretString,
        force: bool,
    ) -> Result<(SetOutcome, Vec<Notice>), Error> {
        let name = SecretName::new(name)?;
        let value = strip(value.expose_secret());
        if value.is_empty() {
            return Err(Error::EmptyValue);
        }
        let value = secret_string(value);
        let deadline = self.deadline();
        let dir = PrivateDir::create(&self.dir)?;
        let _lock = dir.lock(&deadline)?;
        self.replace_locked(&dir, &name, &value, force, DEFAULT_GRACE, &deadline)
    }

    /// The common path of `set` and `restore`: decide under the lock, keep what is replaced.
    pub(crate) fn replace_locked(
        &self,
        dir: &PrivateDir,
        name: &SecretName,
        value: &SecretString,
        force: bool,
        grace: Duration,
        deadline: &Deadline,
    ) -> Result<(SetOutcome, Vec<Notice>), Error> {
        let meta = self.metadata(dir)?;
        let path = dir.join(name.as_str());
        let conflict = |what| Error::Conflict {
            path: path.clone(),
            what,
        };
        let existing = self.existing(dir, name, meta.as_ref(), deadline)?;
        // Decide before anything is written (a refusal must leave every file as it was).
        match &existing {
            Existing::Value(old, true) if old.expose_secret() == value.expose_secret() => {
                return Ok((SetOutcome::Unchanged, Vec::new()));
            }
            Existing::Value(old, _) if !force && old.expose_secret() != value.expose_secret() => {
                return Err(conflict("a different value"));
            }
            Existing::Unreadable(_) if !force => {
                return Err(conflict("a value that cannot be decrypted"));
            }
            _ => {}
        }
        let mut notices = Vec::new();
        let (meta, key) = self.key_for_write(dir, meta, deadline, &mut notices)?;
        let mut aside_name: Option<String> = None;
        let outcome = match existing {
            Existing::Nothing => SetOutcome::Created,
            // A plaintext file with this value: encrypted in place.
            Existing::Value(old, _) if old.expose_secret() == value.expose_secret() => {
                SetOutcome::Unchanged
            }
            Existing::Value(old, _) => {
                let until = Self::keep_previous(dir, name, &old, grace, meta.clone(), &key)?;
                notices.push(Notice(format!(
                    "notice: the replaced value is kept as the previous secret until {} (UTC)",
                    crate::key::file::rfc3339(until)
                )));
                SetOutcome::Replaced
            }
            Existing::Unreadable(e) => {
                let aside = format!("{}.unreadable.{}", name.as_str(), now_secs());
                rustix::fs::renameat(dir.fd(), name.as_str(), dir.fd(), aside.as_str()).map_err(
                    |err| Error::Write {
                        path: path.clone(),
                        source: err.into(),
                    },
                )?;
                notices.push(Notice(format!(
                    "notice: the replaced file could not be read ({e}); it was kept as {}",
                    dir.join(&aside).display()
                )));
                aside_name = Some(aside);
                SetOutcome::Replaced
            }
        };
        let meta = Metadata::load(dir)?.unwrap_or(meta);
        if let Err(e) = write_sealed(dir, name.as_str(), value, &meta, &key) {
            // A file set aside must not stay aside when its replacement failed.
            if let Some(aside) = &aside_name {
                let _ = rustix::fs::renameat(dir.fd(), aside.as_str(), dir.fd(), name.as_str());
            }
            return Err(e);
        }
        Ok((outcome, notices))
    }

    fn existing(
        &self,
        dir: &PrivateDir,
        name: &SecretName,
        meta: Option<&Metadata>,
        deadline: &Deadline,
    ) -> Result<Existing, Error> {
        Ok(match read_secret(dir, name.as_str()) {
            Ok(
                None
                | Some(Found {
                    kind: Kind::Empty, ..
                }),
            ) => Existing::Nothing,
            Ok(Some(Found {
                content,
                kind: Kind::Encrypted,
            })) => {
                match self.decrypt(dir, name.as_str(), meta, &content, deadline) {
                    Ok(old) => Existing::Value(old, true),
                    // Without the key nothing can be written anyway: report why.
                    // Without the key nothing can be written anyway, and a file that is not
                    // ours (owner, type) is never replaced: report why.
                    Err(e)
                        if e.exit_code() == crate::error::exit::KEYRING
                            || matches!(e, Error::UnsafePath { .. }) =>
                    {
                        return Err(e);
                    }
                    Err(e) => Existing::Unreadable(e),
                }
            }
            Ok(Some(Found {
                content,
                kind: Kind::Plaintext,
            })) => Existing::Value(secret_string(plaintext(&content)), false),
            Ok(Some(Found {
                kind: Kind::Garbage(reason),
                ..
            })) => Existing::Unreadable(Error::Corrupt {
                path: dir.join(name.as_str()),
                reason: reason.into(),
            }),
            Err(
                e @ Error::UnsafePath {
                    problem: Unsafe::TooLarge { .. },
                    ..
                },
            ) => Existing::Unreadable(e),
            Err(e) => return Err(e),
        })
    }

    /// Seals `old` into `<name>_previous` and records its expiry. Returns the expiry.
    fn keep_previous(
        dir: &PrivateDir,
        name: &SecretName,
        old: &SecretString,
        grace: Duration,
        mut meta: Metadata,
        key: &VaultKey,
    ) -> Result<SystemTime, Error> {
        let expires = now_secs().saturating_add(grace.as_secs());
        write_sealed(dir, &previous_file(name), old, &meta, key)?;
        meta.previous
            .insert(name.as_str().to_owned(), PreviousRecord { expires });
        meta.store(dir)?;
        Ok(UNIX_EPOCH + Duration::from_secs(expires))
    }

    /// Generates a new secret for `name` and makes it current; the old one stays available
    /// as the previous secret for `grace`. The secret must exist in the vault.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no secret to rotate, or any error of reading and writing.
    pub fn rotate(&self, name: &str, grace: Duration) -> Result<Rotated, Error> {
        let name = SecretName::new(name)?;
        let deadline = self.deadline();
        let path = self.dir.join(name.as_str());
        let dir =
            PrivateDir::open(&self.dir)?.ok_or_else(|| Error::NotFound { path: path.clone() })?;
        // Resolve first (this also migrates a plaintext file), then take the lock.
        self.resolve_vault(&name, Create::No)?;
        let _lock = dir.lock(&deadline)?;
        let meta = self.metadata(&dir)?;
        let old = match self.existing(&dir, &name, meta.as_ref(), &deadline)? {
            Existing::Value(old, _) => old,
            Existing::Nothing => return Err(Error::NotFound { path }),
            Existing::Unreadable(e) => return Err(e),
        };
        let mut notices = Vec::new();
        let (meta, key) = self.key_for_write(&dir, meta, &deadline, &mut notices)?;
        let new = crate::generate::token_urlsafe()?;
        let until = Self::keep_previous(&dir, &name, &old, grace, meta, &key)?;
        let meta = Metadata::load(&dir)?.ok_or_else(|| Error::NotFound {
            path: dir.join(crate::metadata::METADATA_FILE),
        })?;
        write_sealed(&dir, name.as_str(), &new, &meta, &key)?;
        notices.push(Notice(format!(
            "Rotated {name}: new sessions are signed with the new secret.\n\
             The old secret stays available as the previous one until {until} (UTC).\n\
             Sessions signed with the old secret stop working after that, or right away if the\n\
             server does not also check the previous secret ({var}_PREVIOUS under `continuum-vault run`).",
            name = name.as_str(),
            until = crate::key::file::rfc3339(until),
            var = name.env_var(),
        )));
        Ok(Rotated {
            previous_expires: until,
            notices,
        })
    }

    /// Drops previous secrets whose window has ended (file and record). Call with the lock held.
    pub(crate) fn drop_expired(dir: &PrivateDir, meta: &mut Metadata) -> Result<(), Error> {
        let now = now_secs();
        let expired: Vec<String> = meta
            .previous
            .iter()
            .filter(|(_, r)| r.expires <= now)
            .map(|(n, _)| n.clone())
            .collect();
        if expired.is_empty() {
            return Ok(());
        }
        for name in &expired {
            meta.previous.remove(name);
        }
        meta.store(dir)?;
        for name in &expired {
            let file = format!("{name}_previous");
            match rustix::fs::unlinkat(dir.fd(), file.as_str(), rustix::fs::AtFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) => {
                    return Err(Error::Write {
                        path: dir.join(&file),
                        source: e.into(),
                    });
                }
            }
        }
        Ok(())
    }
}
