//! Where the vault's key lives, and the rules for it, in one place.
//!
//! - [`KeyStore`]: the interface every place a key can live implements: create, load,
//!   delete, and say where the key is and what protects it. [`keyring`] (the OS keyring),
//!   [`file`] (a 0600 key file) and [`systemd_creds`] (a credential sealed to the host by
//!   systemd) are behind it; a new key source is one new file.
//! - [`Keys`]: the policy over the stores: the `auto` fallback, reading a new key back
//!   before anything is sealed to it, checking a loaded key against the recorded recipient,
//!   and the per-process cache.
//!
//! The key is an age X25519 identity. Its text form (`AGE-SECRET-KEY-1...`) is only ever
//! held in zeroizing buffers; the parsed identity zeroizes itself on drop.

pub(crate) mod file;
pub(crate) mod keyring;
#[cfg(target_os = "linux")]
mod secret_service;
pub(crate) mod systemd_creds;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use age::x25519;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Error;
use crate::deadline::Deadline;
use crate::resolve::Notice;

/// Where the vault's key is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    /// The OS keyring when it answers, else the key file, with a loud warning.
    #[default]
    Auto,
    /// The OS keyring only (Secret Service on Linux, Keychain on macOS).
    Keyring,
    /// A key file: `$XDG_CONFIG_HOME/continuum-vault/<vault id>.key`, mode 0600.
    File,
    /// A systemd credential sealed to this host (`systemd-creds encrypt`): the file
    /// `$CONTINUUM_VAULT_CREDSTORE/continuum-vault-<vault id>` (default
    /// `/etc/credstore.encrypted`), delivered to a unit by `LoadCredentialEncrypted=`.
    #[serde(rename = "systemd-creds")]
    SystemdCreds,
}

impl KeySource {
    /// The name used on the command line, in the environment and in the metadata.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Keyring => "keyring",
            Self::File => "file",
            Self::SystemdCreds => "systemd-creds",
        }
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "automatic choice (keyring, else key file)",
            Self::Keyring => "OS keyring",
            Self::File => "key file",
            Self::SystemdCreds => "systemd credential",
        })
    }
}

impl FromStr for KeySource {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "keyring" => Ok(Self::Keyring),
            "file" => Ok(Self::File),
            "systemd-creds" => Ok(Self::SystemdCreds),
            other => Err(crate::Error::InvalidSetting {
                setting: "key source",
                value: other.to_owned(),
                reason: "auto, keyring, file or systemd-creds",
            }),
        }
    }
}

/// A loaded vault key.
#[derive(Clone)]
pub(crate) struct VaultKey {
    pub(crate) identity: x25519::Identity,
}

impl VaultKey {
    pub(crate) fn generate() -> Self {
        Self {
            identity: x25519::Identity::generate(),
        }
    }

    /// Parses the text form; `None` when it is not an age X25519 identity.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        x25519::Identity::from_str(crate::text::strip(text))
            .ok()
            .map(|identity| Self { identity })
    }

    /// Parses what a key store returned (`location` names it in the error).
    pub(crate) fn from_stored(
        bytes: &[u8],
        location: impl FnOnce() -> String,
    ) -> Result<Self, Error> {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(Self::parse)
            .ok_or_else(|| Error::IdentityInvalid {
                location: location(),
                detail: "",
            })
    }

    /// The identity's text form, in a zeroizing buffer.
    pub(crate) fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(self.identity.to_string().expose_secret().to_owned())
    }

    pub(crate) fn recipient(&self) -> x25519::Recipient {
        self.identity.to_public()
    }
}

/// Where a vault's key is recorded to be: what the metadata says about it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyRef<'a> {
    /// The vault id: names the keyring account and the key file.
    pub(crate) id: &'a str,
    /// Where the key lives (never `auto`).
    pub(crate) source: KeySource,
    /// The key file, with the file key source.
    pub(crate) file: Option<&'a Path>,
    /// The recipient the key must match.
    pub(crate) recipient: &'a str,
}

/// Where a new key was stored: what the metadata records about it.
pub(crate) struct Placed {
    /// The key source chosen (never `auto`).
    pub(crate) source: KeySource,
    /// The key file, with the file key source.
    pub(crate) file: Option<PathBuf>,
}

/// One place a vault key can live.
pub(crate) trait KeyStore {
    /// Stores a new key under `id`, never replacing one; returns the file to record, if any.
    fn create(
        &self,
        id: &str,
        key: &VaultKey,
        deadline: &Deadline,
    ) -> Result<Option<PathBuf>, Error>;
    /// Loads the key `at` names; a missing key is an error that says where it should be.
    fn load(&self, at: &KeyRef<'_>, deadline: &Deadline) -> Result<VaultKey, Error>;
    /// Deletes the key `at` names; an absent key is not an error.
    fn delete(&self, at: &KeyRef<'_>, deadline: &Deadline) -> Result<(), Error>;
    /// Where the key is, for messages: "the OS keyring entry ...", "the key file ...".
    fn describe(&self, at: &KeyRef<'_>) -> String;
    /// What an attacker needs besides the vault files to decrypt the secrets.
    fn protection(&self, at: &KeyRef<'_>, home: Option<&Path>) -> String;
}

/// Where keys can be put, for [`Keys::new`].
pub(crate) struct KeyPlaces {
    pub(crate) keyring: keyring::Keyring,
    pub(crate) vault_dir: PathBuf,
    pub(crate) key_dir: PathBuf,
    pub(crate) credstore: PathBuf,
    pub(crate) env: crate::config::EnvLookup,
    pub(crate) home: Option<PathBuf>,
}

/// A loaded key and the vault it was loaded for.
struct CachedKey {
    id: String,
    recipient: String,
    key: Arc<VaultKey>,
}

/// The key policy: which store, the `auto` fallback, read-back, recipient match, cache.
pub(crate) struct Keys {
    requested: KeySource,
    keyring: keyring::KeyringStore,
    file: file::FileStore,
    creds: systemd_creds::CredsStore,
    home: Option<PathBuf>,
    /// The key once loaded, for later reads by this process (writes always fetch it again,
    /// to prove it is still retrievable before anything is sealed to it).
    cache: Mutex<Option<CachedKey>>,
}

impl Keys {
    pub(crate) fn new(requested: KeySource, places: KeyPlaces) -> Self {
        let KeyPlaces {
            keyring,
            vault_dir,
            key_dir,
            credstore,
            env,
            home,
        } = places;
        Self {
            requested,
            keyring: keyring::KeyringStore::new(keyring, vault_dir),
            file: file::FileStore::new(key_dir),
            creds: systemd_creds::CredsStore::new(env, credstore),
            home,
            cache: Mutex::new(None),
        }
    }

    /// The key source asked for by option or environment.
    pub(crate) fn requested(&self) -> KeySource {
        self.requested
    }

    /// The directory new key files go to.
    pub(crate) fn key_dir(&self) -> &Path {
        self.file.dir()
    }

    /// The OS keyring, for the reachability probe of `status`.
    pub(crate) fn keyring(&self) -> &keyring::Keyring {
        self.keyring.keyring()
    }

    fn store(&self, source: KeySource) -> &dyn KeyStore {
        match source {
            KeySource::Keyring => &self.keyring,
            KeySource::File | KeySource::Auto => &self.file,
            KeySource::SystemdCreds => &self.creds,
        }
    }

    /// The systemd-credential store (for `status`, and secrets delivered by systemd).
    pub(crate) fn systemd_creds(&self) -> &systemd_creds::CredsStore {
        &self.creds
    }

    /// The key for reading: from this process's cache, else loaded (and then cached).
    pub(crate) fn for_read(
        &self,
        at: &KeyRef<'_>,
        deadline: &Deadline,
    ) -> Result<Arc<VaultKey>, Error> {
        {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(c) = cache.as_ref()
                && c.id == at.id
                && c.recipient == at.recipient
            {
                return Ok(c.key.clone());
            }
        }
        self.for_write(at, deadline)
    }

    /// The key for writing: always loaded again (proving it is still retrievable), checked
    /// against the recorded recipient, and cached.
    pub(crate) fn for_write(
        &self,
        at: &KeyRef<'_>,
        deadline: &Deadline,
    ) -> Result<Arc<VaultKey>, Error> {
        let store = self.store(at.source);
        let key = store.load(at, deadline)?;
        if key.recipient().to_string() != at.recipient {
            return Err(Error::IdentityInvalid {
                location: store.describe(at),
                detail: " (it does not match the recipient recorded in the vault metadata)",
            });
        }
        let key = Arc::new(key);
        *self.cache.lock().unwrap_or_else(PoisonError::into_inner) = Some(CachedKey {
            id: at.id.to_owned(),
            recipient: at.recipient.to_owned(),
            key: key.clone(),
        });
        Ok(key)
    }

    /// Makes a new key for vault `id` in `to` (`auto`: the keyring, else a key file, with a
    /// loud warning in `notices`), and reads it back before anything is sealed to it.
    pub(crate) fn create(
        &self,
        to: KeySource,
        id: &str,
        deadline: &Deadline,
        notices: &mut Vec<Notice>,
    ) -> Result<(Placed, Arc<VaultKey>), Error> {
        let key = VaultKey::generate();
        let (source, file) = match to {
            KeySource::Keyring | KeySource::File | KeySource::SystemdCreds => {
                (to, self.store(to).create(id, &key, deadline)?)
            }
            KeySource::Auto => match self.keyring.create(id, &key, deadline) {
                Ok(file) => (KeySource::Keyring, file),
                Err(e) => {
                    let file = self.file.create(id, &key, deadline)?;
                    notices.push(self.fallback_warning(&e, id, file.as_deref()));
                    (KeySource::File, file)
                }
            },
        };
        let recipient = key.recipient().to_string();
        let at = KeyRef {
            id,
            source,
            file: file.as_deref(),
            recipient: &recipient,
        };
        // The key as it will be read from now on, proving it is retrievable.
        let key = self.for_write(&at, deadline)?;
        Ok((Placed { source, file }, key))
    }

    fn fallback_warning(&self, e: &Error, id: &str, path: Option<&Path>) -> Notice {
        let at = KeyRef {
            id,
            source: KeySource::File,
            file: path,
            recipient: "",
        };
        let file = self.file.describe(&at);
        Notice(format!(
            "WARNING: the OS keyring is not usable ({e}).\n\
             WARNING: the vault key was written to {file} instead (mode 0600).\n\
             WARNING: {}\n\
             WARNING: to harden: on a server, as root, `continuum-vault rekey --to systemd-creds` (the key sealed to the host);\n\
             WARNING: on a desktop, `continuum-vault rekey --to keyring` once a Secret Service is unlocked;\n\
             WARNING: set CONTINUUM_VAULT_KEY_SOURCE to keyring or systemd-creds to forbid this fallback.",
            self.file.protection(&at, self.home.as_deref())
        ))
    }

    /// Deletes the key `at` names (for `rekey`, once nothing is sealed to it alone), but
    /// only when what is there now is `expected`, the key that was read and verified.
    pub(crate) fn delete(
        &self,
        at: &KeyRef<'_>,
        expected: &VaultKey,
        deadline: &Deadline,
    ) -> Result<String, Error> {
        let store = self.store(at.source);
        let there = store.load(at, deadline)?;
        if there.recipient().to_string() != expected.recipient().to_string() {
            return Err(Error::IdentityInvalid {
                location: store.describe(at),
                detail: " (it changed since it was read; it was not deleted)",
            });
        }
        store.delete(at, deadline)?;
        self.forget();
        Ok(store.describe(at))
    }

    /// Deletes the key `at` names without reading it first: a key of an interrupted run,
    /// which no metadata names (an absent one is not an error). Returns where it was.
    pub(crate) fn delete_orphan(
        &self,
        at: &KeyRef<'_>,
        deadline: &Deadline,
    ) -> Result<String, Error> {
        let store = self.store(at.source);
        store.delete(at, deadline)?;
        Ok(store.describe(at))
    }

    /// Where a key file of vault `id` goes by default (what an unauthenticated, older
    /// metadata file may name).
    pub(crate) fn default_key_file(&self, id: &str) -> PathBuf {
        self.file.dir().join(file::file_name(id))
    }

    /// Where the key is, for messages.
    pub(crate) fn describe(&self, at: &KeyRef<'_>) -> String {
        self.store(at.source).describe(at)
    }

    /// What protects the key, for `status` and notices.
    pub(crate) fn protection(&self, at: &KeyRef<'_>) -> String {
        self.store(at.source).protection(at, self.home.as_deref())
    }

    /// Drops the cached key (after the vault's key changed).
    pub(crate) fn forget(&self) {
        *self.cache.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}
