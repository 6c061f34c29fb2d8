//! The vault: encrypted secret files in a private directory, sealed to a key kept in the OS
//! keyring or a key file. Reads take no lock and write nothing; anything that writes
//! (create, migrate, tighten, replace) takes the vault lock and looks again under it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::config::EnvLookup;
use crate::deadline::Deadline;
use crate::fs::atomic::Replace;
use crate::fs::{FileContent, PrivateDir, group_or_other_bits, my_uid};
use crate::key::keyring::{self, Keyring};
use crate::key::{self, KeySource, VaultKey};
use crate::metadata::Metadata;
use crate::name::SecretName;
use crate::resolve::{Create, Loaded, Notice, Source};
use crate::seal::{self, Kind};
use crate::text::{secret_string, strip};
use crate::{Error, Unsafe};
#[cfg(test)]
use keyring_core::Entry;

/// A vault: a directory of encrypted secrets and the key they are sealed to.
///
/// Made with [`Vault::builder`]. Cheap to keep for the life of a process; it holds the
/// keyring connection once one was made.
pub struct Vault {
    pub(crate) dir: PathBuf,
    pub(crate) key_dir: PathBuf,
    pub(crate) key_source: KeySource,
    pub(crate) timeout: Duration,
    pub(crate) env: EnvLookup,
    pub(crate) keyring: Keyring,
    /// The key once loaded, for later reads by this process (writes always fetch it
    /// again, to prove it is still retrievable before anything is encrypted to it).
    pub(crate) key_cache: Mutex<Option<Arc<CachedKey>>>,
}

/// A loaded key and the metadata it was loaded for.
pub(crate) struct CachedKey {
    id: String,
    recipient: String,
    key: VaultKey,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("dir", &self.dir)
            .field("key_dir", &self.key_dir)
            .field("key_source", &self.key_source)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What [`Vault::set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetOutcome {
    /// There was no value; the new one is stored.
    Created,
    /// The vault already held this value (now encrypted, if it was plaintext).
    Unchanged,
    /// A different value was replaced (`force`).
    Replaced,
}

/// A secret file read without the lock, and what it turned out to be.
pub(crate) struct Found {
    pub(crate) content: FileContent,
    pub(crate) kind: Kind,
}

impl Vault {
    pub(crate) fn deadline(&self) -> Deadline {
        Deadline::after(self.timeout)
    }

    /// Step 3 and 4 of the resolution: the vault file, else a new secret.
    pub(crate) fn resolve_vault(&self, name: &SecretName, create: Create) -> Result<Loaded, Error> {
        let deadline = self.deadline();
        let path = self.dir.join(name.as_str());
        let Some(dir) = PrivateDir::open(&self.dir)? else {
            if create == Create::No {
                return Err(Error::NotFound { path });
            }
            let dir = PrivateDir::create(&self.dir)?;
            return self.resolve_vault_locked(&dir, name, create, &deadline);
        };
        // The common case, without lock or write: an encrypted file with tight permissions.
        // The secret file is read before the metadata: writers store the metadata first, so
        // a file seen here always has its metadata (a concurrent first run cannot slip between).
        let found = read_secret(&dir, name.as_str())?;
        let meta = self.metadata(&dir)?;
        if let Some(found) = found
            && found.kind == Kind::Encrypted
            && !group_or_other_bits(found.content.mode)
        {
            let secret = self.decrypt(
                &dir,
                name.as_str(),
                meta.as_ref(),
                &found.content,
                &deadline,
            )?;
            return Ok(Loaded {
                secret,
                source: Source::Vault { path },
                notices: Vec::new(),
            });
        }
        // Something must change (or fail): decide again under the lock.
        self.resolve_vault_locked(&dir, name, create, &deadline)
    }

    fn resolve_vault_locked(
        &self,
        dir: &PrivateDir,
        name: &SecretName,
        create: Create,
        deadline: &Deadline,
    ) -> Result<Loaded, Error> {
        let path = dir.join(name.as_str());
        let found = read_secret(dir, name.as_str())?;
        if found.is_none() && create == Create::No {
            return Err(Error::NotFound { path });
        }
        let _lock = dir.lock(deadline)?;
        let meta = self.metadata(dir)?;
        let mut notices = Vec::new();
        match read_secret(dir, name.as_str())? {
            Some(Found {
                content,
                kind: Kind::Encrypted,
            }) => {
                let secret = self.decrypt(dir, name.as_str(), meta.as_ref(), &content, deadline)?;
                if group_or_other_bits(content.mode) {
                    dir.tighten(name.as_str())?;
                    notices.push(Notice(format!(
                        "notice: {} was accessible to group or others (mode {:04o}); its mode is now 0600",
                        path.display(),
                        content.mode
                    )));
                }
                Ok(Loaded {
                    secret,
                    source: Source::Vault { path },
                    notices,
                })
            }
            Some(Found {
                kind: Kind::Garbage(reason),
                ..
            }) => Err(Error::Corrupt {
                path,
                reason: reason.into(),
            }),
            Some(Found {
                content,
                kind: Kind::Plaintext,
            }) => {
                check_owner(&path, &content)?;
                if group_or_other_bits(content.mode) {
                    return Err(Error::UnsafePath {
                        path,
                        problem: Unsafe::ReadableByOthers { mode: content.mode },
                    });
                }
                let secret = secret_string(plaintext(&content));
                let (meta, key) = self.key_for_write(dir, meta, deadline, &mut notices)?;
                write_sealed(dir, name.as_str(), &secret, &meta, &key)?;
                notices.push(Notice(format!(
                    "notice: {p} held the secret in plaintext; the same value is now encrypted in place \
                     (a server that reads {p} directly, not through `continuum-vault run` or the library, \
                     would now read ciphertext)",
                    p = path.display()
                )));
                Ok(Loaded {
                    secret,
                    source: Source::Migrated { path },
                    notices,
                })
            }
            found @ (None
            | Some(Found {
                kind: Kind::Empty, ..
            })) => {
                if create == Create::No {
                    return Err(Error::NotFound { path });
                }
                if found.is_some() {
                    notices.push(Notice(format!(
                        "warning: {} was empty; a new secret is generated in its place",
                        path.display()
                    )));
                }
                let secret = crate::generate::token_urlsafe()?;
                let (meta, key) = self.key_for_write(dir, meta, deadline, &mut notices)?;
                write_sealed(dir, name.as_str(), &secret, &meta, &key)?;
                notices.push(first_run_notice(name, &path, &self.key_location(dir)?));
                Ok(Loaded {
                    secret,
                    source: Source::Generated { path },
                    notices,
                })
            }
        }
    }

    pub(crate) fn metadata(&self, dir: &PrivateDir) -> Result<Option<Metadata>, Error> {
        let meta = Metadata::load(dir)?;
        if let Some(meta) = &meta
            && self.key_source != KeySource::Auto
            && self.key_source != meta.key_source
        {
            return Err(Error::KeySourceConflict {
                recorded: meta.key_source,
                requested: self.key_source,
            });
        }
        Ok(meta)
    }

    pub(crate) fn decrypt(
        &self,
        dir: &PrivateDir,
        file: &str,
        meta: Option<&Metadata>,
        content: &FileContent,
        deadline: &Deadline,
    ) -> Result<SecretString, Error> {
        let path = dir.join(file);
        check_owner(&path, content)?;
        let meta = meta.ok_or_else(|| Error::MetadataMissing {
            path: path.clone(),
            metadata: dir.join(crate::metadata::METADATA_FILE),
        })?;
        let key = self.cached_key(meta, deadline)?;
        let plain =
            seal::open(&content.bytes, &key.key.identity).map_err(|reason| Error::Decrypt {
                path: path.clone(),
                reason,
            })?;
        let text = std::str::from_utf8(&plain).map_err(|_| Error::Corrupt {
            path: path.clone(),
            reason: "the decrypted value is not UTF-8 text".into(),
        })?;
        let value = strip(text);
        if value.is_empty() {
            return Err(Error::Corrupt {
                path,
                reason: "it decrypts to an empty value".into(),
            });
        }
        Ok(secret_string(value))
    }

    /// The key for `meta`, from this process's cache or else loaded (and then cached).
    fn cached_key(&self, meta: &Metadata, deadline: &Deadline) -> Result<Arc<CachedKey>, Error> {
        let mut cache = self
            .key_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(cached) = cache.as_ref()
            && cached.id == meta.id
            && cached.recipient == meta.recipient
        {
            return Ok(cached.clone());
        }
        let cached = Arc::new(CachedKey {
            id: meta.id.clone(),
            recipient: meta.recipient.clone(),
            key: self.load_key(meta, deadline)?,
        });
        *cache = Some(cached.clone());
        Ok(cached)
    }

    /// Caches a key just loaded for writing, and hands it back.
    fn remember(&self, meta: &Metadata, key: VaultKey) -> VaultKey {
        let copy = VaultKey {
            identity: key.identity.clone(),
        };
        *self
            .key_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(CachedKey {
            id: meta.id.clone(),
            recipient: meta.recipient.clone(),
            key: copy,
        }));
        key
    }

    /// Loads the key the metadata names, and checks it matches the recorded recipient.
    pub(crate) fn load_key(&self, meta: &Metadata, deadline: &Deadline) -> Result<VaultKey, Error> {
        let (key, location) = match meta.key_source {
            KeySource::Keyring => {
                let account = keyring::account(&meta.id);
                let location = format!("OS keyring entry {account:?}");
                let Some(bytes) = self.keyring.get(&account, deadline)? else {
                    return Err(Error::IdentityMissing {
                        vault_id: meta.id.clone(),
                        service: keyring::SERVICE,
                        account,
                    });
                };
                let key = std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(VaultKey::parse)
                    .ok_or_else(|| Error::IdentityInvalid {
                        location: location.clone(),
                        detail: "",
                    })?;
                (key, location)
            }
            KeySource::File | KeySource::Auto => {
                let path = self.key_file(meta);
                let key = key::file::read(path.parent().expect("key file has a dir"), &meta.id)?
                    .ok_or_else(|| Error::KeyFileMissing { path: path.clone() })?;
                (key, format!("key file {}", path.display()))
            }
        };
        if key.recipient().to_string() != meta.recipient {
            return Err(Error::IdentityInvalid {
                location,
                detail: " (it does not match the recipient recorded in the vault metadata)",
            });
        }
        Ok(key)
    }

    pub(crate) fn key_file(&self, meta: &Metadata) -> PathBuf {
        meta.identity_file
            .clone()
            .unwrap_or_else(|| self.key_dir.join(key::file::file_name(&meta.id)))
    }

    /// The key to encrypt to: the recorded one, or (first run) a new one, stored and read
    /// back before anything is encrypted to it. Call with the vault lock held.
    pub(crate) fn key_for_write(
        &self,
        dir: &PrivateDir,
        meta: Option<Metadata>,
        deadline: &Deadline,
        notices: &mut Vec<Notice>,
    ) -> Result<(Metadata, VaultKey), Error> {
        if let Some(mut meta) = meta {
            let key = self.remember(&meta, self.load_key(&meta, deadline)?);
            Self::drop_expired(dir, &mut meta)?;
            return Ok((meta, key));
        }
        dir.remove_stale_temps()?;
        let id = crate::metadata::new_id();
        let key = VaultKey::generate();
        let recipient = key.recipient().to_string();
        let meta = match self.key_source {
            KeySource::Keyring => {
                self.store_in_keyring(&id, &key, deadline)?;
                Metadata::new(id, KeySource::Keyring, recipient, None)
            }
            KeySource::File => {
                let path = key::file::create(&self.key_dir, &id, &key)?;
                Metadata::new(id, KeySource::File, recipient, Some(path))
            }
            KeySource::Auto => match self.store_in_keyring(&id, &key, deadline) {
                Ok(()) => Metadata::new(id, KeySource::Keyring, recipient, None),
                Err(e) => {
                    let path = key::file::create(&self.key_dir, &id, &key)?;
                    notices.push(Notice(format!(
                        "WARNING: the OS keyring is not usable ({e}).\n\
                         WARNING: the vault key was written to the key file {} instead (mode 0600).\n\
                         WARNING: anyone who can read both that file and the vault can decrypt the secret.\n\
                         WARNING: to harden, run with a Secret Service (e.g. gnome-keyring) unlocked before the first run,\n\
                         WARNING: and set CONTINUUM_VAULT_KEY_SOURCE=keyring to forbid this fallback.",
                        path.display()
                    )));
                    Metadata::new(id, KeySource::File, recipient, Some(path))
                }
            },
        };
        meta.store(dir)?;
        // The key as it will be read from now on, proving it is retrievable.
        let key = self.remember(&meta, self.load_key(&meta, deadline)?);
        Ok((meta, key))
    }

    pub(crate) fn store_in_keyring(
        &self,
        id: &str,
        key: &VaultKey,
        deadline: &Deadline,
    ) -> Result<(), Error> {
        let account = keyring::account(id);
        let text = key.to_text();
        self.keyring.add(&account, text.as_bytes(), deadline)?;
        match self.keyring.get(&account, deadline)? {
            Some(back) if back.as_slice() == text.as_bytes() => Ok(()),
            _ => Err(Error::KeyringUnavailable {
                reason: "the key just stored could not be read back".into(),
            }),
        }
    }

    /// Where this vault's key is, for messages.
    fn key_location(&self, dir: &PrivateDir) -> Result<String, Error> {
        Ok(match Metadata::load(dir)? {
            Some(meta) if meta.key_source == KeySource::Keyring => format!(
                "this machine's OS keyring (service {:?}, account {:?})",
                keyring::SERVICE,
                keyring::account(&meta.id)
            ),
            Some(meta) => format!("the key file {}", self.key_file(&meta).display()),
            None => "an unknown place".into(),
        })
    }
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
    let sealed = seal::seal(
        secret.expose_secret().as_bytes(),
        &meta.all_recipients(dir)?,
    )
    .map_err(|reason| Error::Encrypt { reason })?;
    dir.remove_stale_temps()?;
    dir.write_atomic_verified(file, &sealed, Replace::Yes, |written| {
        let back = seal::open(written, &key.identity).map_err(|reason| Error::Encrypt {
            reason: format!("the new file does not decrypt with the vault key: {reason}"),
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

pub(crate) fn read_secret(dir: &PrivateDir, file: &str) -> Result<Option<Found>, Error> {
    Ok(dir.read(file)?.map(|content| {
        let kind = seal::classify(&content.bytes);
        Found { content, kind }
    }))
}

fn check_owner(path: &std::path::Path, content: &FileContent) -> Result<(), Error> {
    if content.uid == my_uid() {
        Ok(())
    } else {
        Err(Error::UnsafePath {
            path: path.to_owned(),
            problem: Unsafe::ForeignOwner {
                owner: content.uid,
                me: my_uid(),
            },
        })
    }
}

fn first_run_notice(name: &SecretName, path: &std::path::Path, key_location: &str) -> Notice {
    let what = if name.as_str() == crate::name::DEFAULT_NAME {
        "JWT secret".to_owned()
    } else {
        format!("secret {}", name.as_str())
    };
    Notice(format!(
        "Generated new {what}: {}\n\
         It is encrypted with this machine's key, held in {key_location}.\n\
         IMPORTANT: copying this file alone is NOT a backup: it cannot be decrypted without that key.\n\
         Make a backup that opens without this machine (passphrase or recovery key):\n\
         \x20 continuum-vault backup {name} --out {name}.backup.age\n\
         For production: set {var}, or {file_var} for a mounted secret.",
        path.display(),
        name = name.as_str(),
        var = name.env_var(),
        file_var = name.file_env_var(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VaultBuilder;
    use std::collections::HashMap;
    use std::ffi::OsString;
    use std::os::unix::fs::PermissionsExt;

    /// A vault in a temp HOME with an in-memory keyring and only the given variables.
    struct Fixture {
        home: tempfile::TempDir,
        store: Arc<keyring_core::CredentialStore>,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                home: tempfile::tempdir().unwrap(),
                store: keyring_core::mock::Store::new().unwrap(),
            }
        }

        fn builder(&self, vars: &[(&str, &str)]) -> VaultBuilder {
            let mut map: HashMap<String, OsString> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
                .collect();
            map.insert("HOME".into(), self.home.path().into());
            Vault::builder()
                .env(move |k| map.get(k).cloned())
                .keyring(Keyring::with_store(self.store.clone()))
        }

        fn vault(&self, source: KeySource) -> Vault {
            self.builder(&[]).key_source(source).build().unwrap()
        }

        fn path(&self) -> PathBuf {
            self.home.path().join(".continuum/jwt_secret")
        }
    }

    #[test]
    fn generates_once_then_reads_back_with_the_keyring() {
        let f = Fixture::new();
        let v = f.vault(KeySource::Keyring);
        let first = v.load("jwt_secret").unwrap();
        assert!(matches!(first.source(), Source::Generated { .. }));
        assert!(first.notices().iter().any(|n| n.0.contains("NOT a backup")));
        assert!(first.notices().iter().any(|n| n.0.contains("OS keyring")));
        let again = v.load("jwt_secret").unwrap();
        assert!(matches!(again.source(), Source::Vault { .. }));
        assert!(again.notices().is_empty());
        assert_eq!(
            first.secret().expose_secret(),
            again.secret().expose_secret()
        );
        assert_eq!(first.secret().expose_secret().len(), 43);
        let bytes = std::fs::read(f.path()).unwrap();
        assert!(bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
        let meta = std::fs::read_to_string(f.home.path().join(".continuum/.continuum-vault.json"))
            .unwrap();
        assert!(meta.contains("\"keyring\""), "{meta}");
        // No key file exists with the keyring key source.
        assert!(!f.home.path().join(".config/continuum-vault").exists());
    }

    #[test]
    fn env_wins_and_both_env_sources_conflict() {
        let f = Fixture::new();
        let v = f
            .builder(&[("CONTINUUM_JWT_SECRET", " from env ")])
            .build()
            .unwrap();
        let loaded = v.load("jwt_secret").unwrap();
        assert_eq!(
            loaded.secret().expose_secret(),
            " from env ",
            "env values are used as given"
        );
        assert!(matches!(loaded.source(), Source::Env { .. }));
        assert!(!f.path().exists(), "nothing is written when env wins");

        let file = f.home.path().join("mounted");
        std::fs::write(&file, "  mounted-secret\n").unwrap();
        let file_str = file.to_str().unwrap();
        let v = f
            .builder(&[
                ("CONTINUUM_JWT_SECRET_FILE", file_str),
                ("CONTINUUM_JWT_SECRET", ""),
            ])
            .build()
            .unwrap();
        assert_eq!(
            v.load("jwt_secret").unwrap().secret().expose_secret(),
            "mounted-secret"
        );

        let v = f
            .builder(&[
                ("CONTINUUM_JWT_SECRET_FILE", file_str),
                ("CONTINUUM_JWT_SECRET", "x"),
            ])
            .build()
            .unwrap();
        let err = v.load("jwt_secret").unwrap_err();
        assert!(matches!(err, Error::AmbiguousEnv { .. }), "{err:?}");
        assert_eq!(err.exit_code(), 7);

        std::fs::write(&file, " \n").unwrap();
        let v = f
            .builder(&[("CONTINUUM_JWT_SECRET_FILE", file_str)])
            .build()
            .unwrap();
        assert!(matches!(
            v.load("jwt_secret").unwrap_err(),
            Error::EmptyEnvFile { .. }
        ));
        let missing = f.home.path().join("missing");
        let v = f
            .builder(&[("CONTINUUM_JWT_SECRET_FILE", missing.to_str().unwrap())])
            .build()
            .unwrap();
        let err = v.load("jwt_secret").unwrap_err();
        assert!(matches!(err, Error::ReadEnvFile { .. }), "{err:?}");
        assert!(
            !f.path().exists(),
            "a broken _FILE never falls through to the vault"
        );
    }

    #[test]
    fn migrates_plaintext_keeping_the_value() {
        let f = Fixture::new();
        let dir = f.home.path().join(".continuum");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(f.path(), "legacy-value\n").unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
        let v = f.vault(KeySource::Auto);
        let loaded = v.load("jwt_secret").unwrap();
        assert!(matches!(loaded.source(), Source::Migrated { .. }));
        assert_eq!(loaded.secret().expose_secret(), "legacy-value");
        assert!(
            loaded
                .notices()
                .iter()
                .any(|n| n.0.contains("would now read ciphertext"))
        );
        assert!(
            std::fs::read(f.path())
                .unwrap()
                .starts_with(seal::ARMOR_BEGIN)
        );
        assert_eq!(
            v.load("jwt_secret").unwrap().secret().expose_secret(),
            "legacy-value"
        );
    }

    #[test]
    fn refuses_loose_plaintext_and_leaves_it() {
        let f = Fixture::new();
        let v = f.vault(KeySource::Keyring);
        v.load("jwt_secret").unwrap(); // creates the dir
        std::fs::write(f.path(), "leaked\n").unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = v.load("jwt_secret").unwrap_err();
        assert_eq!(err.exit_code(), 4);
        assert!(
            err.hint()
                .unwrap()
                .contains(&format!("chmod 600 {}", f.path().display()))
        );
        assert!(err.hint().unwrap().contains("rotate"));
        assert_eq!(std::fs::read(f.path()).unwrap(), b"leaked\n");
    }

    #[test]
    fn tightens_loose_ciphertext() {
        let f = Fixture::new();
        let v = f.vault(KeySource::Keyring);
        let first = v.load("jwt_secret").unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let again = v.load("jwt_secret").unwrap();
        assert_eq!(
            first.secret().expose_secret(),
            again.secret().expose_secret()
        );
        assert!(again.notices().iter().any(|n| n.0.contains("now 0600")));
        assert_eq!(
            std::fs::metadata(f.path()).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn empty_file_is_regenerated_with_a_warning() {
        let f = Fixture::new();
        let v = f.vault(KeySource::Keyring);
        v.load("jwt_secret").unwrap();
        std::fs::write(f.path(), "  \n").unwrap();
        let loaded = v.load("jwt_secret").unwrap();
        assert!(matches!(loaded.source(), Source::Generated { .. }));
        assert!(loaded.notices().iter().any(|n| n.0.contains("was empty")));
    }

    #[test]
    fn undecryptable_files_are_never_replaced() {
        let f = Fixture::new();
        let v = f.vault(KeySource::Keyring);
        v.load("jwt_secret").unwrap();
        let good = std::fs::read(f.path()).unwrap();
        let cases: Vec<(&str, Vec<u8>, u8)> = vec![
            ("truncated", good[..good.len() / 2].to_vec(), 5),
            (
                "armor header only",
                b"-----BEGIN AGE ENCRYPTED FILE-----\n".to_vec(),
                5,
            ),
            ("binary garbage", vec![0xff, 0x00, 0x13], 5),
            (
                "other key",
                seal::seal(b"x", &[VaultKey::generate().recipient()]).unwrap(),
                5,
            ),
        ];
        for (what, bytes, code) in cases {
            std::fs::write(f.path(), &bytes).unwrap();
            let err = v.load("jwt_secret").unwrap_err();
            assert_eq!(err.exit_code(), code, "{what}: {err}");
            assert!(
                err.hint().unwrap().contains("restore"),
                "{what}: {:?}",
                err.hint()
            );
            assert_eq!(
                std::fs::read(f.path()).unwrap(),
                bytes,
                "{what}: file changed"
            );
            let err = v
                .set("jwt_secret", &SecretString::from("new"), false)
                .unwrap_err();
            assert_eq!(err.exit_code(), 7, "{what}: {err}");
            assert_eq!(
                std::fs::read(f.path()).unwrap(),
                bytes,
                "{what}: file changed by set"
            );
        }
    }

    #[test]
    fn missing_identity_is_a_keyring_error_not_a_first_run() {
        let f = Fixture::new();
        let v = f.vault(KeySource::Keyring);
        v.load("jwt_secret").unwrap();
        let before = std::fs::read(f.path()).unwrap();
        let meta = Metadata::load(
            &PrivateDir::open(&f.home.path().join(".continuum"))
                .unwrap()
                .unwrap(),
        )
        .unwrap()
        .unwrap();
        Entry::new_in_store(&f.store, keyring::SERVICE, &keyring::account(&meta.id))
            .unwrap()
            .delete_credential()
            .unwrap();
        // A new process (a fresh Vault); this one keeps the key it already loaded.
        assert!(v.load("jwt_secret").is_ok());
        let v = f.vault(KeySource::Keyring);
        let err = v.load("jwt_secret").unwrap_err();
        assert!(matches!(err, Error::IdentityMissing { .. }), "{err:?}");
        assert_eq!(err.exit_code(), 6);
        assert!(err.hint().unwrap().contains("unlock"));
        assert_eq!(std::fs::read(f.path()).unwrap(), before);
        // Deleting the secret file (but not the metadata) must not make a new identity either.
        std::fs::remove_file(f.path()).unwrap();
        assert!(matches!(
            v.load("jwt_secret").unwrap_err(),
            Error::IdentityMissing { .. }
        ));
        assert!(!f.path().exists());
    }

    #[test]
    fn garbage_in_the_keyring_entry_is_reported_without_leaking_it() {
        let f = Fixture::new();
        let v = f.vault(KeySource::Keyring);
        v.load("jwt_secret").unwrap();
        let meta = Metadata::load(
            &PrivateDir::open(&f.home.path().join(".continuum"))
                .unwrap()
                .unwrap(),
        )
        .unwrap()
        .unwrap();
        let entry =
            Entry::new_in_store(&f.store, keyring::SERVICE, &keyring::account(&meta.id)).unwrap();
        entry.set_password("AGE-SECRET-KEY-1GARBAGE").unwrap();
        let v = f.vault(KeySource::Keyring);
        let err = v.load("jwt_secret").unwrap_err();
        assert!(matches!(err, Error::IdentityInvalid { .. }), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("GARBAGE"));
        entry.set_password(&VaultKey::generate().to_text()).unwrap();
        let v = f.vault(KeySource::Keyring);
        let err = v.load("jwt_secret").unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn key_source_record_is_followed_and_contradictions_refused() {
        let f = Fixture::new();
        f.vault(KeySource::File).load("jwt_secret").unwrap();
        assert!(f.vault(KeySource::Auto).load("jwt_secret").is_ok());
        let err = f.vault(KeySource::Keyring).load("jwt_secret").unwrap_err();
        assert!(
            matches!(
                err,
                Error::KeySourceConflict {
                    recorded: KeySource::File,
                    requested: KeySource::Keyring
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 7);
    }

    #[test]
    fn no_create_reports_not_found_and_writes_nothing() {
        let f = Fixture::new();
        let err = f
            .vault(KeySource::Keyring)
            .load_existing("jwt_secret")
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));
        assert_eq!(err.exit_code(), 3);
        assert!(!f.home.path().join(".continuum").exists());
    }

    #[test]
    fn set_refuses_a_different_value_without_force() {
        let f = Fixture::new();
        let v = f.vault(KeySource::Keyring);
        let (outcome, _) = v
            .set("api_token", &SecretString::from(" one \n"), false)
            .unwrap();
        assert_eq!(outcome, SetOutcome::Created);
        assert_eq!(v.load("api_token").unwrap().secret().expose_secret(), "one");
        assert_eq!(
            v.set("api_token", &SecretString::from("one"), false)
                .unwrap()
                .0,
            SetOutcome::Unchanged
        );
        let err = v
            .set("api_token", &SecretString::from("two"), false)
            .unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }));
        assert!(err.hint().unwrap().contains("--force"));
        assert_eq!(
            v.set("api_token", &SecretString::from("two"), true)
                .unwrap()
                .0,
            SetOutcome::Replaced
        );
        assert_eq!(v.load("api_token").unwrap().secret().expose_secret(), "two");
        assert!(matches!(
            v.set("api_token", &SecretString::from(" \n"), true),
            Err(Error::EmptyValue)
        ));
    }

    #[test]
    fn stale_temp_files_are_removed_on_the_next_write() {
        let f = Fixture::new();
        let v = f.vault(KeySource::Keyring);
        v.load("jwt_secret").unwrap();
        let stale = f
            .home
            .path()
            .join(".continuum/.jwt_secret.tmp.AbCdEf123456");
        std::fs::write(&stale, "half").unwrap();
        v.load("jwt_secret").unwrap();
        assert!(stale.exists(), "reads never write");
        v.set("jwt_secret", &SecretString::from("new-value"), true)
            .unwrap();
        assert!(!stale.exists());
    }

    #[test]
    fn errors_and_debug_never_show_the_secret() {
        let f = Fixture::new();
        let v = f.vault(KeySource::Keyring);
        let loaded = v.load("jwt_secret").unwrap();
        let secret = loaded.secret().expose_secret().to_owned();
        assert!(!format!("{loaded:?} {v:?}").contains(&secret));
        let err = v
            .set("jwt_secret", &SecretString::from("other"), false)
            .unwrap_err();
        assert!(!format!("{err} {err:?} {:?}", err.hint()).contains(&secret));
        let status = v.status("jwt_secret").unwrap();
        assert!(status.healthy, "{status:?}");
        assert!(!format!("{status:?}").contains(&secret));
    }
}
