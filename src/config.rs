//! Configuration: where the vault is, where its key is, how long to wait. Read from the
//! builder first, then from the environment through an injectable lookup.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::key::keyring::Keyring;
use crate::key::{KeyPlaces, Keys};
use crate::store::StoreKind;
use crate::{Error, KeySource, Vault};

/// Reads one environment variable. The default reads the process environment; tests and
/// embedding applications can pass their own (`set_var` is `unsafe` in edition 2024).
pub(crate) type EnvLookup = Arc<dyn Fn(&str) -> Option<OsString> + Send + Sync>;

/// The default deadline for keyring calls and the vault lock together.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds a [`Vault`]. Anything not set here comes from the environment:
///
/// | setting | variable | default |
/// |---|---|---|
/// | [`dir`](Self::dir) | `CONTINUUM_VAULT_DIR` | `~/.continuum` |
/// | [`key_source`](Self::key_source) | `CONTINUUM_VAULT_KEY_SOURCE` | `auto` |
/// | [`key_dir`](Self::key_dir) | `CONTINUUM_VAULT_KEY_DIR` | `$XDG_CONFIG_HOME/continuum-vault` |
/// | [`credstore`](Self::credstore) | `CONTINUUM_VAULT_CREDSTORE` | `/etc/credstore.encrypted` |
/// | [`timeout`](Self::timeout) | `CONTINUUM_VAULT_KEYRING_TIMEOUT_MS` | 5000 |
/// | [`store`](Self::store) | `CONTINUUM_VAULT_STORE` | `local` |
/// | [`cache`](Self::cache) | `CONTINUUM_VAULT_CACHE` (`on` or `off`) | on |
///
/// The key file, with the file key source, is `<key dir>/<vault id>.key`
/// (`~/.config/continuum-vault/` when `XDG_CONFIG_HOME` is unset). Every directory must be
/// absolute, and the key dir must not lie inside the vault dir (compared after resolving
/// links and `..`).
#[must_use]
pub struct VaultBuilder {
    dir: Option<PathBuf>,
    key_dir: Option<PathBuf>,
    credstore: Option<PathBuf>,
    key_source: Option<KeySource>,
    timeout: Option<Duration>,
    store: Option<StoreKind>,
    cache: Option<bool>,
    env: EnvLookup,
    keyring: Option<Keyring>,
}

impl Default for VaultBuilder {
    fn default() -> Self {
        Self {
            dir: None,
            key_dir: None,
            credstore: None,
            key_source: None,
            timeout: None,
            store: None,
            cache: None,
            env: Arc::new(|name| std::env::var_os(name)),
            keyring: None,
        }
    }
}

impl std::fmt::Debug for VaultBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultBuilder")
            .field("dir", &self.dir)
            .field("key_dir", &self.key_dir)
            .field("key_source", &self.key_source)
            .field("timeout", &self.timeout)
            .field("store", &self.store)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl VaultBuilder {
    /// Keeps the secrets in this store instead of `CONTINUUM_VAULT_STORE` or `local`.
    /// With [`StoreKind::OpenBao`], the server and the login come from `BAO_ADDR`,
    /// `BAO_TOKEN` and the other variables of the OpenBao CLI.
    pub fn store(mut self, store: StoreKind) -> Self {
        self.store = Some(store);
        self
    }

    /// With the OpenBao store, whether to keep the local sealed copy used during an outage
    /// (instead of `CONTINUUM_VAULT_CACHE`; on by default).
    pub fn cache(mut self, cache: bool) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Uses this vault directory instead of `CONTINUUM_VAULT_DIR` or `~/.continuum`.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Puts new key files (file key source) in this directory instead of
    /// `CONTINUUM_VAULT_KEY_DIR` or `$XDG_CONFIG_HOME/continuum-vault`: for example a
    /// root-only directory outside the home of a service's user.
    pub fn key_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.key_dir = Some(dir.into());
        self
    }

    /// Keeps a systemd-credential key (key source `systemd-creds`) in this directory instead
    /// of `CONTINUUM_VAULT_CREDSTORE` or `/etc/credstore.encrypted`.
    pub fn credstore(mut self, dir: impl Into<PathBuf>) -> Self {
        self.credstore = Some(dir.into());
        self
    }

    /// Asks for this key source instead of `CONTINUUM_VAULT_KEY_SOURCE` or `auto`.
    pub fn key_source(mut self, source: KeySource) -> Self {
        self.key_source = Some(source);
        self
    }

    /// Waits at most this long for the keyring and the vault lock, per operation.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Reads environment variables through `lookup` instead of the process environment.
    /// This covers the secrets' own variables (`CONTINUUM_JWT_SECRET`, ...) as well as the
    /// settings and `HOME` / `XDG_CONFIG_HOME`.
    pub fn env(
        mut self,
        lookup: impl Fn(&str) -> Option<OsString> + Send + Sync + 'static,
    ) -> Self {
        self.env = Arc::new(lookup);
        self
    }

    #[cfg(test)]
    pub(crate) fn keyring(mut self, keyring: Keyring) -> Self {
        self.keyring = Some(keyring);
        self
    }

    /// Resolves the configuration. Nothing is read or written on disk yet.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for a variable with a value that is not understood or a
    /// relative directory, and [`Error::NoHomeDir`] when a default location is needed but
    /// `HOME` is unknown.
    pub fn build(self) -> Result<Vault, Error> {
        let env = self.env;
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        let home = var("HOME")
            .map(|h| absolute_dir("HOME", PathBuf::from(h)))
            .transpose()?
            .or_else(dirs::home_dir);
        let need_home = || home.clone().ok_or(Error::NoHomeDir);
        let dir = match setting(self.dir, &var, "CONTINUUM_VAULT_DIR", |v| {
            Ok(PathBuf::from(v))
        })? {
            Some(dir) => absolute_dir("CONTINUUM_VAULT_DIR", dir)?,
            None => need_home()?.join(".continuum"),
        };
        let key_source = setting(self.key_source, &var, "CONTINUUM_VAULT_KEY_SOURCE", |v| {
            v.to_str()
                .and_then(|s| s.parse().ok())
                .ok_or("auto, keyring, file or systemd-creds")
        })?
        .unwrap_or_default();
        let timeout = setting(
            self.timeout,
            &var,
            "CONTINUUM_VAULT_KEYRING_TIMEOUT_MS",
            |v| {
                v.to_str()
                    .and_then(|s| s.parse::<u64>().ok())
                    .filter(|ms| (1..=MAX_TIMEOUT_MS).contains(ms))
                    .map(Duration::from_millis)
                    .ok_or("a number of milliseconds from 1 to 600000")
            },
        )?
        .unwrap_or(DEFAULT_TIMEOUT);
        let store = setting(self.store, &var, "CONTINUUM_VAULT_STORE", |v| {
            v.to_str()
                .and_then(|s| s.parse().ok())
                .ok_or("local or openbao")
        })?
        .unwrap_or_default();
        let cache = setting(self.cache, &var, "CONTINUUM_VAULT_CACHE", |v| {
            match v.to_str() {
                Some("on") => Ok(true),
                Some("off") => Ok(false),
                _ => Err("on or off"),
            }
        })?
        .unwrap_or(true);
        let key_dir = match setting(self.key_dir, &var, "CONTINUUM_VAULT_KEY_DIR", |v| {
            Ok(PathBuf::from(v))
        })? {
            Some(dir) => absolute_dir("CONTINUUM_VAULT_KEY_DIR", dir)?,
            None => config_home(&var, need_home)?.join("continuum-vault"),
        };
        if canonical(&key_dir).starts_with(canonical(&dir)) {
            return Err(Error::InvalidSetting {
                setting: "key dir (CONTINUUM_VAULT_KEY_DIR or XDG_CONFIG_HOME)",
                value: key_dir.display().to_string(),
                reason: "a directory outside the vault dir (the key must not sit beside the secrets)",
            });
        }
        let credstore = match setting(self.credstore, &var, "CONTINUUM_VAULT_CREDSTORE", |v| {
            Ok(PathBuf::from(v))
        })? {
            Some(dir) => absolute_dir("CONTINUUM_VAULT_CREDSTORE", dir)?,
            None => PathBuf::from(crate::key::systemd_creds::DEFAULT_CREDSTORE),
        };
        let keys = Keys::new(
            key_source,
            KeyPlaces {
                keyring: self.keyring.unwrap_or_else(Keyring::platform),
                vault_dir: dir.clone(),
                key_dir,
                credstore,
                env: env.clone(),
                home,
            },
        );
        Ok(Vault::new(dir, keys, timeout, env, store, cache))
    }
}

/// The longest deadline accepted: ten minutes.
const MAX_TIMEOUT_MS: u64 = 600_000;

/// A setting: the builder's value, else the variable (parsed), else `None` for the default.
fn setting<T>(
    given: Option<T>,
    var: &dyn Fn(&str) -> Option<OsString>,
    name: &'static str,
    parse: impl FnOnce(&OsString) -> Result<T, &'static str>,
) -> Result<Option<T>, Error> {
    if given.is_some() {
        return Ok(given);
    }
    var(name)
        .map(|v| {
            parse(&v).map_err(|reason| Error::InvalidSetting {
                setting: name,
                value: v.to_string_lossy().into_owned(),
                reason,
            })
        })
        .transpose()
}

/// A directory setting must be absolute: a relative one would be recorded relative to
/// wherever the first run happened to start.
fn absolute_dir(setting: &'static str, dir: PathBuf) -> Result<PathBuf, Error> {
    if dir.is_absolute() {
        Ok(dir)
    } else {
        Err(Error::InvalidSetting {
            setting,
            value: dir.display().to_string(),
            reason: "an absolute path",
        })
    }
}

/// `path` with links and `..` resolved as far as it exists, and `..` folded lexically in
/// the part that does not exist yet. A link whose target does not exist yet (a dangling
/// link) is followed too: it is where the directory would be made.
fn canonical(path: &Path) -> PathBuf {
    canonical_within(path, 0)
}

fn canonical_within(path: &Path, depth: u8) -> PathBuf {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if depth < 40
            && std::fs::symlink_metadata(existing).is_ok_and(|m| m.file_type().is_symlink())
            && std::fs::canonicalize(existing).is_err()
            && let Ok(target) = std::fs::read_link(existing)
        {
            // A dangling link: continue from its target, then add back what followed it.
            let mut target = existing.parent().unwrap_or(Path::new("/")).join(target);
            for part in rest.iter().rev() {
                target.push(part);
            }
            return canonical_within(&target, depth + 1);
        }
        if let Ok(real) = std::fs::canonicalize(existing) {
            let mut out = real;
            for part in rest.iter().rev() {
                match part {
                    std::path::Component::ParentDir => {
                        out.pop();
                    }
                    std::path::Component::Normal(p) => out.push(p),
                    _ => {}
                }
            }
            return out;
        }
        let Some(parent) = existing.parent() else {
            return path.to_owned();
        };
        if let Some(last) = existing.components().next_back() {
            rest.push(last);
        }
        existing = parent;
    }
}

#[cfg(target_os = "macos")]
fn config_home(
    _var: &dyn Fn(&str) -> Option<OsString>,
    _home: impl FnOnce() -> Result<PathBuf, Error>,
) -> Result<PathBuf, Error> {
    dirs::config_dir().ok_or(Error::NoHomeDir)
}

#[cfg(not(target_os = "macos"))]
fn config_home(
    var: &dyn Fn(&str) -> Option<OsString>,
    home: impl FnOnce() -> Result<PathBuf, Error>,
) -> Result<PathBuf, Error> {
    match var("XDG_CONFIG_HOME").map(PathBuf::from) {
        Some(p) if p.is_absolute() => Ok(p),
        _ => Ok(home()?.join(".config")),
    }
}

impl Vault {
    /// Starts configuring a vault.
    pub fn builder() -> VaultBuilder {
        VaultBuilder::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with_env(pairs: &[(&str, &str)]) -> VaultBuilder {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        Vault::builder().env(move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_home_and_xdg() {
        let v = with_env(&[("HOME", "/home/u")]).build().unwrap();
        assert_eq!(v.dir(), Path::new("/home/u/.continuum"));
        assert_eq!(
            v.keys().key_dir(),
            Path::new("/home/u/.config/continuum-vault")
        );
        assert_eq!(v.requested_key_source(), KeySource::Auto);
        assert_eq!(v.timeout(), DEFAULT_TIMEOUT);
        let v = with_env(&[
            ("HOME", "/home/u"),
            ("XDG_CONFIG_HOME", "/cfg"),
            ("CONTINUUM_VAULT_DIR", "/v"),
            ("CONTINUUM_VAULT_KEY_SOURCE", "file"),
            ("CONTINUUM_VAULT_KEYRING_TIMEOUT_MS", "250"),
        ])
        .build()
        .unwrap();
        assert_eq!(v.dir(), Path::new("/v"));
        assert_eq!(v.keys().key_dir(), Path::new("/cfg/continuum-vault"));
        assert_eq!(v.requested_key_source(), KeySource::File);
        assert_eq!(v.timeout(), Duration::from_millis(250));
    }

    #[test]
    fn builder_wins_over_env_and_bad_values_are_named() {
        let v = with_env(&[("HOME", "/h"), ("CONTINUUM_VAULT_KEY_SOURCE", "file")])
            .key_source(KeySource::Keyring)
            .dir("/x")
            .build()
            .unwrap();
        assert_eq!(v.requested_key_source(), KeySource::Keyring);
        assert_eq!(v.dir(), Path::new("/x"));
        let err = with_env(&[("HOME", "/h"), ("CONTINUUM_VAULT_KEY_SOURCE", "tpm")])
            .build()
            .unwrap_err();
        assert!(
            err.to_string().contains("CONTINUUM_VAULT_KEY_SOURCE"),
            "{err}"
        );
        assert_eq!(err.class(), crate::ErrorClass::Usage);
        let err = with_env(&[
            ("HOME", "/h"),
            ("CONTINUUM_VAULT_KEYRING_TIMEOUT_MS", "soon"),
        ])
        .build()
        .unwrap_err();
        assert!(err.to_string().contains("TIMEOUT_MS"), "{err}");
    }

    #[test]
    fn key_dir_inside_vault_dir_is_refused() {
        let err = with_env(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "/h/.continuum/cfg")])
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidSetting {
                    setting: "key dir (CONTINUUM_VAULT_KEY_DIR or XDG_CONFIG_HOME)",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
