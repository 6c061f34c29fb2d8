//! The public face of the library: [`Vault`], a small facade over the modules that own the
//! rules (where the key lives: [`crate::key`]; where secrets are kept: [`crate::store`]; how
//! a secret is resolved: [`crate::resolve`]; changing one: [`crate::lifecycle`]; reporting:
//! [`crate::status`]). Each method here only hands over to one of them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

use crate::config::EnvLookup;
use crate::deadline::Deadline;
use crate::key::Keys;
use crate::lifecycle::{KeySet, Migrated, Rotated};
use crate::name::SecretName;
use crate::recipients::{RecipientsChanged, Rekeyed};
use crate::resolve::{Create, Loaded, Notice};
use crate::status::Status;
use crate::store::StoreKind;
use crate::store::local::LocalStore;
use crate::store::remote::{self, Remote};
use crate::{Error, lifecycle, recipients, resolve, status};

/// A vault: a directory of encrypted secrets and the key they are sealed to.
///
/// Made with [`Vault::builder`]. Cheap to keep for the life of a process; it holds the
/// keyring connection and the loaded key once they were made.
pub struct Vault {
    local: LocalStore,
    keys: Keys,
    timeout: Duration,
    env: EnvLookup,
    /// The OpenBao store, when it is the one selected.
    remote: Option<Remote>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("dir", &self.local.path())
            .field("key_dir", &self.keys.key_dir())
            .field("key_source", &self.keys.requested())
            .field("timeout", &self.timeout)
            .field("store", &self.store())
            .finish_non_exhaustive()
    }
}

/// What [`Vault::set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SetOutcome {
    /// There was no value; the new one is stored.
    Created,
    /// The vault already held this value.
    Unchanged,
    /// A different value was replaced (`force`).
    Replaced,
}

impl Vault {
    pub(crate) fn new(
        dir: PathBuf,
        keys: Keys,
        timeout: Duration,
        env: EnvLookup,
        store: StoreKind,
        cache: bool,
    ) -> Self {
        Self {
            local: LocalStore::new(dir),
            keys,
            timeout,
            env,
            remote: (store == StoreKind::OpenBao).then(|| Remote::new(cache)),
        }
    }

    /// The store that holds the secrets.
    #[must_use]
    pub fn store(&self) -> StoreKind {
        if self.remote.is_some() {
            StoreKind::OpenBao
        } else {
            StoreKind::Local
        }
    }

    /// The OpenBao store, when it is the one selected.
    pub(crate) fn remote(&self) -> Option<&Remote> {
        self.remote.as_ref()
    }

    /// The vault directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.local.path()
    }

    /// The key source asked for (the vault's metadata records the one in use).
    #[must_use]
    pub fn requested_key_source(&self) -> crate::KeySource {
        self.keys.requested()
    }

    pub(crate) fn local(&self) -> &LocalStore {
        &self.local
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    #[cfg(test)]
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A new deadline for one operation.
    pub(crate) fn deadline(&self) -> Deadline {
        Deadline::after(self.timeout)
    }

    /// Reads an environment variable through the configured lookup; empty counts as unset.
    pub(crate) fn var(&self, name: &str) -> Option<OsString> {
        (self.env)(name).filter(|v| !v.is_empty())
    }

    /// Whether the variable is set at all, even to the empty string.
    pub(crate) fn var_is_set(&self, name: &str) -> bool {
        (self.env)(name).is_some()
    }
}

/// The operations. Each hands over to the module that owns its rules.
impl Vault {
    /// Resolves the secret `name` like the server does: its variable, its `_FILE`
    /// variable, the vault file, else a new secret (generated and stored sealed).
    ///
    /// # Errors
    /// Any [`Error`]; a file that exists but cannot be used is never replaced.
    pub fn load(&self, name: &str) -> Result<Loaded, Error> {
        resolve::resolve(self, &SecretName::new(name)?, Create::Yes)
    }

    /// Like [`load`](Self::load), but fails with [`Error::NotFound`] instead of generating.
    ///
    /// # Errors
    /// Any [`Error`].
    pub fn load_existing(&self, name: &str) -> Result<Loaded, Error> {
        resolve::resolve(self, &SecretName::new(name)?, Create::No)
    }

    /// Resolves `name` like [`load`](Self::load) (creating it if absent), together with the
    /// previous secret while it is valid. With the environment as the source, the previous
    /// secret is `CONTINUUM_<NAME>_PREVIOUS` when set (what `run` exports).
    ///
    /// # Errors
    /// As [`load`](Self::load). A previous file that cannot be decrypted is left out, with a notice.
    pub fn load_key_set(&self, name: &str) -> Result<KeySet, Error> {
        lifecycle::key_set(self, &SecretName::new(name)?)
    }

    /// Stores `value` (stripped) as the secret `name`. A different value, or a file that
    /// cannot be decrypted, is replaced only with `force`; a replaced value is kept as the
    /// previous secret for [`DEFAULT_GRACE`](crate::DEFAULT_GRACE), and an undecryptable
    /// file is kept aside as `<name>.unreadable.<time>`, so no value is ever lost.
    ///
    /// # Errors
    /// [`Error::EmptyValue`], [`Error::Conflict`], [`Error::PlaintextNotMigrated`],
    /// [`Error::EnvOverrides`], or any error of reading and writing.
    pub fn set(
        &self,
        name: &str,
        value: &SecretString,
        force: bool,
    ) -> Result<(SetOutcome, Vec<Notice>), Error> {
        let name = SecretName::new(name)?;
        match &self.remote {
            None => lifecycle::set(self, &name, value, force),
            Some(r) => remote::set(self, r, &name, value, force),
        }
    }

    /// Generates a new secret for `name` and makes it current; the old one stays available
    /// as the previous secret for `grace` (more than zero, at most
    /// [`MAX_GRACE`](crate::MAX_GRACE)). The secret must exist in the vault.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for a grace out of range (checked before anything is
    /// written), [`Error::NotFound`] when there is no secret to rotate, or any error of
    /// reading and writing.
    pub fn rotate(&self, name: &str, grace: Duration) -> Result<Rotated, Error> {
        let name = SecretName::new(name)?;
        match &self.remote {
            None => lifecycle::rotate(self, &name, grace),
            Some(r) => remote::rotate(self, r, &name, grace),
        }
    }

    /// Encrypts a legacy plaintext vault file in place, keeping its value. Loads never do
    /// this: every process that reads the file itself must go through continuum-vault
    /// first, and only the operator knows when that is so.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::UnsafePath`] for a plaintext file others could read,
    /// or any error of reading and writing.
    pub fn migrate(&self, name: &str) -> Result<Migrated, Error> {
        lifecycle::migrate(self, &SecretName::new(name)?)
    }

    /// Reports on the secret `name` without writing anything.
    ///
    /// # Errors
    /// Only [`Error::InvalidName`]; everything else is reported as a [`Problem`](crate::Problem).
    pub fn status(&self, name: &str) -> Result<Status, Error> {
        Ok(status::status(self, SecretName::new(name)?))
    }

    /// The secrets the vault holds (names only, never values), with the source a load
    /// would use and the previous secret's expiry.
    ///
    /// # Errors
    /// Any error of opening the vault dir or reading its metadata.
    pub fn list(&self) -> Result<Vec<crate::Listed>, Error> {
        status::list(self)
    }

    /// This vault's age recipient (`age1...`): what other hosts add to share secrets with
    /// it. On a fresh host the vault key and metadata are made first (no secret), with a
    /// notice.
    ///
    /// # Errors
    /// Any error of making or loading the key.
    pub fn recipient(&self) -> Result<(String, Vec<Notice>), Error> {
        recipients::recipient(self)
    }

    /// The other recipients every secret is also encrypted to.
    ///
    /// # Errors
    /// [`Error::NotFound`] before the vault exists.
    pub fn recipients(&self) -> Result<Vec<String>, Error> {
        recipients::list(self)
    }

    /// Adds a recipient and re-encrypts every secret (and previous secret) to this vault's
    /// key plus all recipients, so the files can be copied to the other host.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for something that is not an `age1...` recipient, or this
    /// vault's own.
    pub fn add_recipient(&self, recipient: &str) -> Result<RecipientsChanged, Error> {
        recipients::add(self, recipient)
    }

    /// Removes a recipient and re-encrypts every secret without it. (Copies already made
    /// for that host still open with its key: rotate if it must lose access.)
    ///
    /// # Errors
    /// As [`add_recipient`](Self::add_recipient).
    pub fn remove_recipient(&self, recipient: &str) -> Result<RecipientsChanged, Error> {
        recipients::remove(self, recipient)
    }

    /// Moves the vault to another key source: a new key is made there, every file is sealed
    /// to both keys, the metadata switches, every file is sealed to the new key alone and
    /// shown to open with it, and only then is the old key removed.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for `auto`; any keyring or file error.
    pub fn rekey(&self, to: crate::KeySource) -> Result<Rekeyed, Error> {
        recipients::rekey(self, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VaultBuilder;
    use crate::fs::PrivateDir;
    use crate::key::keyring::{self, Keyring};
    use crate::key::{KeySource, VaultKey};
    use crate::metadata::Metadata;
    use crate::{Source, seal};
    use keyring_core::Entry;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;
    use std::ffi::OsString;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

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

        /// A keyring vault whose `jwt_secret` a first load generated.
        fn with_secret() -> (Self, Vault) {
            let f = Self::new();
            let v = f.vault(KeySource::Keyring);
            v.load("jwt_secret").unwrap();
            (f, v)
        }

        fn path(&self) -> PathBuf {
            self.home.path().join(".continuum/jwt_secret")
        }

        fn metadata(&self) -> Metadata {
            let dir = PrivateDir::open(&self.home.path().join(".continuum"))
                .unwrap()
                .unwrap();
            Metadata::load(&dir).unwrap().unwrap()
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
        assert_eq!(err.class(), crate::ErrorClass::Conflict);

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
    fn plaintext_is_used_as_is_until_an_explicit_migrate() {
        let f = Fixture::new();
        let dir = f.home.path().join(".continuum");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(f.path(), "legacy-value\n").unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
        let v = f.vault(KeySource::Keyring);
        for _ in 0..2 {
            let loaded = v.load("jwt_secret").unwrap();
            assert!(matches!(loaded.source(), Source::Plaintext { .. }));
            assert_eq!(loaded.secret().expose_secret(), "legacy-value");
            assert!(
                loaded
                    .notices()
                    .iter()
                    .any(|n| n.0.contains("continuum-vault migrate jwt_secret")),
                "{:?}",
                loaded.notices()
            );
            assert_eq!(std::fs::read(f.path()).unwrap(), b"legacy-value\n");
        }
        assert!(
            !dir.join(".continuum-vault.json").exists(),
            "no key is made by a load"
        );
        assert!(!v.status("jwt_secret").unwrap().healthy);
        // Writes refuse it: only migrate encrypts it.
        let err = v
            .set("jwt_secret", &SecretString::from("legacy-value"), true)
            .unwrap_err();
        assert!(matches!(err, Error::PlaintextNotMigrated { .. }), "{err:?}");
        assert!(v.rotate("jwt_secret", Duration::from_mins(1)).is_err());
        assert_eq!(std::fs::read(f.path()).unwrap(), b"legacy-value\n");

        let migrated = v.migrate("jwt_secret").unwrap();
        assert!(migrated.changed);
        let text: String = migrated.notices.iter().map(|n| n.0.clone()).collect();
        assert!(text.contains("now gets ciphertext"), "{text}");
        assert!(text.contains("NOT a backup"), "{text}");
        assert!(text.contains("continuum-vault backup jwt_secret"), "{text}");
        assert!(
            std::fs::read(f.path())
                .unwrap()
                .starts_with(seal::ARMOR_BEGIN)
        );
        let loaded = v.load("jwt_secret").unwrap();
        assert!(matches!(loaded.source(), Source::Vault { .. }));
        assert_eq!(loaded.secret().expose_secret(), "legacy-value");
        assert!(v.status("jwt_secret").unwrap().healthy);
        assert!(!v.migrate("jwt_secret").unwrap().changed);
    }

    #[test]
    fn refuses_loose_plaintext_and_leaves_it() {
        let (f, v) = Fixture::with_secret();
        std::fs::write(f.path(), "leaked\n").unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = v.load("jwt_secret").unwrap_err();
        assert_eq!(err.class(), crate::ErrorClass::UnsafePath);
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
        assert_eq!(crate::fs::testing::mode(f.path()), 0o600);
    }

    #[test]
    fn empty_file_is_regenerated_with_a_warning() {
        let (f, v) = Fixture::with_secret();
        std::fs::write(f.path(), "  \n").unwrap();
        let loaded = v.load("jwt_secret").unwrap();
        assert!(matches!(loaded.source(), Source::Generated { .. }));
        assert!(loaded.notices().iter().any(|n| n.0.contains("was empty")));
    }

    #[test]
    fn undecryptable_files_are_never_replaced() {
        let (f, v) = Fixture::with_secret();
        let good = std::fs::read(f.path()).unwrap();
        let cases: Vec<(&str, Vec<u8>, crate::ErrorClass)> = vec![
            (
                "truncated",
                good[..good.len() / 2].to_vec(),
                crate::ErrorClass::Corrupt,
            ),
            (
                "armor header only",
                b"-----BEGIN AGE ENCRYPTED FILE-----\n".to_vec(),
                crate::ErrorClass::Corrupt,
            ),
            (
                "binary garbage",
                vec![0xff, 0x00, 0x13],
                crate::ErrorClass::Corrupt,
            ),
            (
                "other key",
                seal::seal(b"x", &[VaultKey::generate().recipient()]).unwrap(),
                crate::ErrorClass::Corrupt,
            ),
        ];
        for (what, bytes, code) in cases {
            std::fs::write(f.path(), &bytes).unwrap();
            let err = v.load("jwt_secret").unwrap_err();
            assert_eq!(err.class(), code, "{what}: {err}");
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
            assert_eq!(err.class(), crate::ErrorClass::Conflict, "{what}: {err}");
            assert_eq!(
                std::fs::read(f.path()).unwrap(),
                bytes,
                "{what}: file changed by set"
            );
        }
    }

    #[test]
    fn missing_identity_is_a_keyring_error_not_a_first_run() {
        let (f, v) = Fixture::with_secret();
        let before = std::fs::read(f.path()).unwrap();
        let meta = f.metadata();
        Entry::new_in_store(&f.store, keyring::SERVICE, &keyring::account(&meta.id))
            .unwrap()
            .delete_credential()
            .unwrap();
        // A new process (a fresh Vault); this one keeps the key it already loaded.
        assert!(v.load("jwt_secret").is_ok());
        let v = f.vault(KeySource::Keyring);
        let err = v.load("jwt_secret").unwrap_err();
        assert!(matches!(err, Error::IdentityMissing { .. }), "{err:?}");
        assert_eq!(err.class(), crate::ErrorClass::KeyUnavailable);
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
        let (f, _) = Fixture::with_secret();
        let meta = f.metadata();
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
        assert_eq!(err.class(), crate::ErrorClass::Conflict);
    }

    #[test]
    fn no_create_reports_not_found_and_writes_nothing() {
        let f = Fixture::new();
        let err = f
            .vault(KeySource::Keyring)
            .load_existing("jwt_secret")
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));
        assert_eq!(err.class(), crate::ErrorClass::NotFound);
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
        let (f, v) = Fixture::with_secret();
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
