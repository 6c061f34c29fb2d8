//! Configuration: where the vault is, where its key is, how long to wait. Read from the
//! builder first, then from the environment through an injectable lookup.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::key::keyring::Keyring;
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
/// | [`timeout`](Self::timeout) | `CONTINUUM_VAULT_KEYRING_TIMEOUT_MS` | 5000 |
///
/// The key file, with the file key source, is `$XDG_CONFIG_HOME/continuum-vault/<id>.key`
/// (`~/.config/continuum-vault/` when `XDG_CONFIG_HOME` is unset).
#[must_use]
pub struct VaultBuilder {
    dir: Option<PathBuf>,
    key_source: Option<KeySource>,
    timeout: Option<Duration>,
    env: EnvLookup,
    keyring: Option<Keyring>,
}

impl Default for VaultBuilder {
    fn default() -> Self {
        Self {
            dir: None,
            key_source: None,
            timeout: None,
            env: Arc::new(|name| std::env::var_os(name)),
            keyring: None,
        }
    }
}

impl std::fmt::Debug for VaultBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultBuilder")
            .field("dir", &self.dir)
            .field("key_source", &self.key_source)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl VaultBuilder {
    /// Uses this vault directory instead of `CONTINUUM_VAULT_DIR` or `~/.continuum`.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
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
    /// [`Error::InvalidSetting`] for a variable with a value that is not understood, and
    /// [`Error::NoHomeDir`] when a default location is needed but `HOME` is unknown.
    pub fn build(self) -> Result<Vault, Error> {
        let env = self.env;
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        let home = || {
            var("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(dirs::home_dir)
                .ok_or(Error::NoHomeDir)
        };
        let dir = match self
            .dir
            .or_else(|| var("CONTINUUM_VAULT_DIR").map(PathBuf::from))
        {
            Some(dir) => absolute(dir)?,
            None => home()?.join(".continuum"),
        };
        let key_source = match self.key_source {
            Some(s) => s,
            None => match var("CONTINUUM_VAULT_KEY_SOURCE") {
                Some(v) => v
                    .to_str()
                    .unwrap_or("")
                    .parse()
                    .map_err(|_| Error::InvalidSetting {
                        setting: "CONTINUUM_VAULT_KEY_SOURCE",
                        value: v.to_string_lossy().into_owned(),
                        reason: "auto, keyring or file",
                    })?,
                None => KeySource::Auto,
            },
        };
        let timeout = match self.timeout {
            Some(t) => t,
            None => match var("CONTINUUM_VAULT_KEYRING_TIMEOUT_MS") {
                Some(v) => v
                    .to_str()
                    .and_then(|s| s.parse::<u64>().ok())
                    .filter(|ms| *ms > 0)
                    .map(Duration::from_millis)
                    .ok_or_else(|| Error::InvalidSetting {
                        setting: "CONTINUUM_VAULT_KEYRING_TIMEOUT_MS",
                        value: v.to_string_lossy().into_owned(),
                        reason: "a positive number of milliseconds",
                    })?,
                None => DEFAULT_TIMEOUT,
            },
        };
        let key_dir = config_home(&var, home)?.join("continuum-vault");
        if key_dir.starts_with(&dir) {
            return Err(Error::InvalidSetting {
                setting: "XDG_CONFIG_HOME",
                value: key_dir.display().to_string(),
                reason: "a directory outside the vault dir (the key must not sit beside the secrets)",
            });
        }
        Ok(Vault {
            dir,
            key_dir,
            key_source,
            timeout,
            env,
            keyring: self.keyring.unwrap_or_else(Keyring::platform),
            key_cache: std::sync::Mutex::new(None),
        })
    }
}

fn absolute(dir: PathBuf) -> Result<PathBuf, Error> {
    std::path::absolute(&dir).map_err(|source| Error::Io {
        action: "resolve",
        path: dir,
        source,
    })
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

    /// The vault directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key source asked for (the vault's metadata records the one in use).
    #[must_use]
    pub fn requested_key_source(&self) -> KeySource {
        self.key_source
    }

    /// Reads an environment variable through the configured lookup; empty counts as unset.
    pub(crate) fn var(&self, name: &str) -> Option<OsString> {
        (self.env)(name).filter(|v| !v.is_empty())
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
        assert_eq!(v.key_dir, Path::new("/home/u/.config/continuum-vault"));
        assert_eq!(v.requested_key_source(), KeySource::Auto);
        assert_eq!(v.timeout, DEFAULT_TIMEOUT);
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
        assert_eq!(v.key_dir, Path::new("/cfg/continuum-vault"));
        assert_eq!(v.requested_key_source(), KeySource::File);
        assert_eq!(v.timeout, Duration::from_millis(250));
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
        assert_eq!(err.exit_code(), 2);
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
                    setting: "XDG_CONFIG_HOME",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
