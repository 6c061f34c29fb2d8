//! The local store: a private directory of ASCII-armored age files, one per secret, sealed
//! to the vault key (and any extra recipients) recorded in `.continuum-vault.json`.
//!
//! Reads take no lock and write nothing. Anything that writes (create, tighten, replace)
//! takes the vault lock and looks again under it. A plaintext file left by the server's own
//! loader is used as it is and never rewritten here: only `migrate` encrypts it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::deadline::Deadline;
use crate::fs::atomic::{Replace, Staged};
use crate::fs::{FileContent, PrivateDir, check_owner, check_private, group_or_other_bits};
use crate::key::{KeySource, Keys, VaultKey};
use crate::metadata::{METADATA_FILE, Metadata};
use crate::name::SecretName;
use crate::resolve::{Loaded, Notice, Source};
use crate::seal::{self, Kind};
use crate::text::strip;

/// A secret file read without the lock, and what it turned out to be.
pub(crate) struct Found {
    pub(crate) content: FileContent,
    pub(crate) kind: Kind,
}

/// The vault directory and the key policy it uses.
pub(crate) struct LocalStore {
    dir: PathBuf,
}

impl LocalStore {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// Opens the vault dir; `Ok(None)` when it does not exist.
    pub(crate) fn open(&self) -> Result<Option<PrivateDir>, Error> {
        PrivateDir::open(&self.dir)
    }

    /// Opens the vault dir, creating it (0700) when it does not exist.
    pub(crate) fn create(&self) -> Result<PrivateDir, Error> {
        PrivateDir::create(&self.dir)
    }

    /// The vault dir, or [`Error::NotFound`] naming `what` when there is none.
    pub(crate) fn existing(&self, what: &str) -> Result<PrivateDir, Error> {
        self.open()?.ok_or_else(|| Error::NotFound {
            path: self.dir.join(what),
        })
    }
}

/// Reads the metadata, checking it against the requested key source.
pub(crate) fn metadata(dir: &PrivateDir, keys: &Keys) -> Result<Option<Metadata>, Error> {
    let meta = Metadata::load(dir)?;
    if let Some(meta) = &meta {
        let requested = keys.requested();
        if requested != KeySource::Auto && requested != meta.key_source {
            return Err(Error::KeySourceConflict {
                recorded: meta.key_source,
                requested,
            });
        }
    }
    Ok(meta)
}

/// The metadata, which must exist when a sealed file does.
pub(crate) fn require_metadata(
    dir: &PrivateDir,
    file: &str,
    meta: Option<Metadata>,
) -> Result<Metadata, Error> {
    meta.ok_or_else(|| Error::MetadataMissing {
        path: dir.join(file),
        metadata: dir.join(METADATA_FILE),
    })
}

/// Reads `name` from the vault dir, without lock or write in the common case:
/// `Ok(None)` when there is no vault dir, no file, or only whitespace.
pub(crate) fn read(
    store: &LocalStore,
    keys: &Keys,
    name: &SecretName,
    deadline: &Deadline,
) -> Result<Option<Loaded>, Error> {
    read_as(store, keys, name, deadline, Locked::No)
}

fn read_as(
    store: &LocalStore,
    keys: &Keys,
    name: &SecretName,
    deadline: &Deadline,
    locked: Locked,
) -> Result<Option<Loaded>, Error> {
    let Some(dir) = store.open()? else {
        return Ok(None);
    };
    match read_existing(&dir, keys, name, deadline, locked) {
        // A `rekey` may have switched the key between this read of the file and of the
        // metadata (the old key is already gone): one more read sees the new state.
        Err(e) if is_key_switch(&e) => read_existing(&dir, keys, name, deadline, locked),
        other => other,
    }
}

/// What a read sees when a `rekey` switched the key under it.
fn is_key_switch(e: &Error) -> bool {
    matches!(
        e,
        Error::IdentityMissing { .. }
            | Error::KeyFileMissing { .. }
            | Error::Decrypt {
                source: age::DecryptError::NoMatchingKeys,
                ..
            }
    )
}

/// Generates and stores `name` (a first run), under the lock. Another process may have
/// created it while this one waited for the lock: then that value is used.
pub(crate) fn create(
    store: &LocalStore,
    keys: &Keys,
    name: &SecretName,
    deadline: &Deadline,
) -> Result<Loaded, Error> {
    let dir = store.create()?;
    let _lock = dir.lock(deadline)?;
    if let Some(loaded) = read_existing(&dir, keys, name, deadline, Locked::Yes)? {
        return Ok(loaded);
    }
    generate_locked(&dir, keys, name, deadline)
}

/// Opens an age file given from outside the vault (a `_FILE` target) with the vault key.
pub(crate) fn open_given(
    store: &LocalStore,
    keys: &Keys,
    path: &Path,
    bytes: &[u8],
    deadline: &Deadline,
) -> Result<SecretString, Error> {
    let not_ours = || Error::Corrupt {
        path: path.to_owned(),
        reason: "it is an age-encrypted file, and this host has no vault key to open it with \
                 (a secret file variable must name the plain value, or a file sealed to this vault)"
            .into(),
    };
    let dir = store.open()?.ok_or_else(not_ours)?;
    let meta = metadata(&dir, keys)?.ok_or_else(not_ours)?;
    let key = key_for(&dir, keys, &meta, Fresh::No, deadline)?;
    open_sealed(path, bytes, &key)
}

/// How a read may act on what it finds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Locked {
    /// The caller holds the vault lock: a loose file may be tightened.
    Yes,
    /// No lock held: tightening takes it first.
    No,
    /// `status`: nothing is written, not even a mode.
    Probe,
}

/// Loads `name` exactly as a read would, but writes nothing (for `status`).
pub(crate) fn probe(
    store: &LocalStore,
    keys: &Keys,
    name: &SecretName,
    deadline: &Deadline,
) -> Result<Option<Loaded>, Error> {
    read_as(store, keys, name, deadline, Locked::Probe)
}

/// An existing value of `name`: `Ok(None)` when there is no file, or only whitespace.
fn read_existing(
    dir: &PrivateDir,
    keys: &Keys,
    name: &SecretName,
    deadline: &Deadline,
    locked: Locked,
) -> Result<Option<Loaded>, Error> {
    let path = dir.join(name.as_str());
    let found = read_secret(dir, name.as_str())?;
    // Read even when there is no secret: a metadata file that is a link, foreign or
    // damaged is refused before anything is created beside it.
    let meta = metadata(dir, keys)?;
    let Some(found) = found else {
        return Ok(None);
    };
    match found.kind {
        Kind::Empty => Ok(None),
        Kind::Garbage(reason) => Err(Error::Corrupt {
            path,
            reason: reason.into(),
        }),
        Kind::Encrypted => {
            let meta = require_metadata(dir, name.as_str(), meta)?;
            let secret = decrypt(dir, keys, name.as_str(), &meta, &found.content, deadline)?;
            let mut notices = Vec::new();
            if group_or_other_bits(found.content.mode) && locked != Locked::Probe {
                // Only the mode changes, never the content; still a write, so under the lock.
                let _lock = match locked {
                    Locked::No => Some(dir.lock(deadline)?),
                    Locked::Yes | Locked::Probe => None,
                };
                dir.tighten(name.as_str())?;
                notices.push(Notice(format!(
                    "notice: {} was accessible to group or others (mode {:04o}); its mode is now 0600",
                    path.display(),
                    found.content.mode
                )));
            }
            Ok(Some(Loaded {
                secret,
                source: Source::Vault { path },
                notices,
            }))
        }
        Kind::Plaintext => {
            check_private(&path, &found.content)?;
            let notice = plaintext_warning(name, &path);
            Ok(Some(Loaded {
                secret: SecretString::from(plaintext(&found.content)),
                source: Source::Plaintext { path },
                notices: vec![notice],
            }))
        }
    }
}

/// What every load of a legacy plaintext file says.
fn plaintext_warning(name: &SecretName, path: &Path) -> Notice {
    Notice(format!(
        "warning: {p} holds the secret in plaintext; it was used as it is and left unchanged.\n\
         warning: anyone who can read {p} or a copy of it (a home backup) can sign sessions.\n\
         warning: once every process that reads {p} directly goes through continuum-vault\n\
         warning: (`continuum-vault run`, the library or the Python package), encrypt it with\n\
         warning:   continuum-vault migrate {name}\n\
         warning: (after that, a reader of the file itself would get ciphertext).",
        p = path.display(),
        name = name.as_str(),
    ))
}

/// Generates and stores a new secret. Call with the vault lock held, after looking again.
fn generate_locked(
    dir: &PrivateDir,
    keys: &Keys,
    name: &SecretName,
    deadline: &Deadline,
) -> Result<Loaded, Error> {
    let path = dir.join(name.as_str());
    let mut notices = Vec::new();
    if matches!(
        read_secret(dir, name.as_str())?,
        Some(Found {
            kind: Kind::Empty,
            ..
        })
    ) {
        notices.push(Notice(format!(
            "warning: {} was empty; a new secret is generated in its place",
            path.display()
        )));
    }
    let secret = crate::generate::token_urlsafe()?;
    let meta = metadata(dir, keys)?;
    let (meta, key) = key_for_write(dir, keys, meta, deadline, &mut notices)?;
    write_sealed(dir, name.as_str(), &secret, &meta, &key)?;
    notices.push(first_run_notice(
        name,
        &path,
        &keys.describe(&meta.key_ref()),
    ));
    Ok(Loaded {
        secret,
        source: Source::Generated { path },
        notices,
    })
}

/// Decrypts a sealed file of the vault (owned by this user) with the key `meta` names.
pub(crate) fn decrypt(
    dir: &PrivateDir,
    keys: &Keys,
    file: &str,
    meta: &Metadata,
    content: &FileContent,
    deadline: &Deadline,
) -> Result<SecretString, Error> {
    let path = dir.join(file);
    check_owner(&path, content)?;
    let key = key_for(dir, keys, meta, Fresh::No, deadline)?;
    open_sealed(&path, &content.bytes, &key)
}

/// Whether a key must be fetched again (writes) or may come from the cache (reads).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fresh {
    Yes,
    No,
}

/// The key `meta` names, which must also vouch for the metadata (its MAC) before anything
/// else in the metadata is used.
pub(crate) fn key_for(
    dir: &PrivateDir,
    keys: &Keys,
    meta: &Metadata,
    fresh: Fresh,
    deadline: &Deadline,
) -> Result<Arc<VaultKey>, Error> {
    let key = match fresh {
        Fresh::Yes => keys.for_write(&meta.key_ref(), deadline)?,
        Fresh::No => keys.for_read(&meta.key_ref(), deadline)?,
    };
    meta.verify(dir, &key, &keys.default_key_file(&meta.id))?;
    Ok(key)
}

/// Opens sealed bytes with `key` into the stripped secret.
pub(crate) fn open_sealed(
    path: &Path,
    bytes: &[u8],
    key: &VaultKey,
) -> Result<SecretString, Error> {
    let plain = seal::open(bytes, &key.identity).map_err(|source| Error::Decrypt {
        path: path.to_owned(),
        source,
    })?;
    let text = std::str::from_utf8(&plain).map_err(|_| Error::Corrupt {
        path: path.to_owned(),
        reason: "the decrypted value is not UTF-8 text".into(),
    })?;
    let value = strip(text);
    if value.is_empty() {
        return Err(Error::Corrupt {
            path: path.to_owned(),
            reason: "it decrypts to an empty value".into(),
        });
    }
    Ok(SecretString::from(value))
}

/// The key to seal to: the recorded one, or (first write) a new one, stored and read back
/// before anything is sealed to it, with the metadata written first. Call with the lock held.
pub(crate) fn key_for_write(
    dir: &PrivateDir,
    keys: &Keys,
    meta: Option<Metadata>,
    deadline: &Deadline,
    notices: &mut Vec<Notice>,
) -> Result<(Metadata, Arc<VaultKey>), Error> {
    if let Some(old) = dir.tighten_self()? {
        notices.push(Notice(format!(
            "notice: the vault dir was open to group or others (mode {old:04o}); its mode is now 0700"
        )));
    }
    crate::store::pending::clean(dir, keys, meta.as_ref(), deadline, notices)?;
    if let Some(mut meta) = meta {
        let key = key_for(dir, keys, &meta, Fresh::Yes, deadline)?;
        crate::lifecycle::drop_expired(dir, &mut meta, &key)?;
        notices.extend(crate::recipients::sealed_to_notice(&meta));
        return Ok((meta, key));
    }
    dir.remove_stale_temps()?;
    let id = crate::metadata::new_id();
    crate::store::pending::announce(dir, &id, keys.requested(), None)?;
    let (placed, key) = keys
        .create(keys.requested(), &id, deadline, notices)
        .inspect_err(|_| {
            // Nothing was stored: there is no key to clean up later.
            let _ = crate::store::pending::settle(dir);
        })?;
    let meta = Metadata::new(id, placed.source, key.recipient().to_string(), placed.file);
    meta.store(dir, &key)?;
    crate::store::pending::settle(dir)?;
    Ok((meta, key))
}

/// The stripped value of a file classified as [`Kind::Plaintext`] (valid UTF-8).
pub(crate) fn plaintext(content: &FileContent) -> &str {
    strip(std::str::from_utf8(&content.bytes).unwrap_or_default())
}

/// Seals `secret` to every recipient of the vault and replaces `file` atomically, after
/// reading the new ciphertext back and decrypting it with the vault key. Call with the
/// vault lock held.
pub(crate) fn write_sealed(
    dir: &PrivateDir,
    file: &str,
    secret: &SecretString,
    meta: &Metadata,
    key: &VaultKey,
) -> Result<(), Error> {
    dir.remove_stale_temps()?;
    stage_sealed(dir, file, secret, meta, key)?.commit()
}

/// The first half of [`write_sealed`]: sealed, written to a temp file, read back and
/// verified, not yet in place.
pub(crate) fn stage_sealed<'d>(
    dir: &'d PrivateDir,
    file: &str,
    secret: &SecretString,
    meta: &Metadata,
    key: &VaultKey,
) -> Result<Staged<'d>, Error> {
    let sealed = seal::seal(
        secret.expose_secret().as_bytes(),
        &meta.all_recipients(dir)?,
    )?;
    dir.stage(file, &sealed, Replace::Yes, |written| {
        let back = seal::open(written, &key.identity).map_err(|e| Error::Encrypt {
            reason: format!("the new file does not decrypt with the vault key: {e}"),
        })?;
        if back.as_slice() == secret.expose_secret().as_bytes() {
            Ok(())
        } else {
            Err(Error::Encrypt {
                reason: "the new file decrypts to something else".into(),
            })
        }
    })
}

/// Reads a file of the vault dir and classifies it; `Ok(None)` when there is none.
pub(crate) fn read_secret(dir: &PrivateDir, file: &str) -> Result<Option<Found>, Error> {
    Ok(dir.read(file)?.map(|content| {
        let kind = seal::classify(&content.bytes);
        Found { content, kind }
    }))
}

/// Printed once, when a secret is first generated (or migrated) into the vault.
pub(crate) fn first_run_notice(name: &SecretName, path: &Path, key_location: &str) -> Notice {
    let what = if name.as_str() == crate::name::DEFAULT_NAME {
        "JWT secret".to_owned()
    } else {
        format!("secret {}", name.as_str())
    };
    Notice(format!(
        "Generated new {what}: {}\n{}",
        path.display(),
        backup_warning(name, key_location)
    ))
}

/// Why a copy of the vault file is not a backup, and the command that makes one.
pub(crate) fn backup_warning(name: &SecretName, key_location: &str) -> String {
    format!(
        "It is encrypted with this machine's key, held in {key_location}.\n\
         IMPORTANT: copying this file alone is NOT a backup: it cannot be decrypted without that key.\n\
         Make a backup that opens without this machine (passphrase or recovery key):\n\
         \x20 continuum-vault backup {name} --out {name}.backup.age\n\
         For production: set {var}, or {file_var} for a mounted secret.",
        name = name.as_str(),
        var = name.env_var(),
        file_var = name.file_env_var(),
    )
}
