//! How a secret is resolved, in the server's order: the variable itself, then its `_FILE`
//! variable, then the vault file, then a newly generated secret. And what the caller learns.

use std::fmt;
use std::path::PathBuf;

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::name::SecretName;
use crate::text::{secret_string, strip};
use crate::{Error, Vault};

/// Where a resolved secret came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// The secret's own environment variable, used exactly as given.
    Env {
        /// The variable, e.g. `CONTINUUM_JWT_SECRET`.
        var: String,
    },
    /// The file named by the `_FILE` variable (a Docker or Kubernetes secret), stripped.
    EnvFile {
        /// The variable, e.g. `CONTINUUM_JWT_SECRET_FILE`.
        var: String,
        /// The file it names.
        path: PathBuf,
    },
    /// The vault's encrypted file.
    Vault {
        /// The file.
        path: PathBuf,
    },
    /// Nothing existed: a new secret was generated and stored encrypted.
    Generated {
        /// The new file.
        path: PathBuf,
    },
    /// A plaintext file was found; its value was kept and encrypted in place.
    Migrated {
        /// The file, now encrypted.
        path: PathBuf,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env { var } => write!(f, "environment variable {var}"),
            Self::EnvFile { var, path } => write!(f, "file {} (from {var})", path.display()),
            Self::Vault { path } => write!(f, "vault file {}", path.display()),
            Self::Generated { path } => write!(f, "newly generated, stored in {}", path.display()),
            Self::Migrated { path } => {
                write!(f, "plaintext file {}, now encrypted", path.display())
            }
        }
    }
}

/// Something the user should be told, on standard error, about what just happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice(pub(crate) String);

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A resolved secret, where it came from, and the notices for the user.
///
/// `Debug` shows the source but never the secret.
pub struct Loaded {
    pub(crate) secret: SecretString,
    pub(crate) source: Source,
    pub(crate) notices: Vec<Notice>,
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("secret", &"[REDACTED]")
            .field("source", &self.source)
            .field("notices", &self.notices)
            .finish()
    }
}

impl Loaded {
    /// The secret. Call `expose_secret()` on it only where the value is consumed.
    #[must_use]
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// Takes the secret, dropping the rest.
    #[must_use]
    pub fn into_secret(self) -> SecretString {
        self.secret
    }

    /// Which source won.
    #[must_use]
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// What the user should be told (first-run notice, migration, warnings).
    #[must_use]
    pub fn notices(&self) -> &[Notice] {
        &self.notices
    }
}

/// Whether a missing secret may be generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    Yes,
    No,
}

impl Vault {
    /// Resolves the secret `name` like the server does, generating and storing it when it
    /// does not exist yet.
    ///
    /// # Errors
    /// Any [`Error`]; a file that exists but cannot be used is never replaced.
    pub fn load(&self, name: &str) -> Result<Loaded, Error> {
        self.resolve(&SecretName::new(name)?, Create::Yes)
    }

    /// Like [`load`](Self::load), but fails with [`Error::NotFound`] instead of generating.
    ///
    /// # Errors
    /// Any [`Error`].
    pub fn load_existing(&self, name: &str) -> Result<Loaded, Error> {
        self.resolve(&SecretName::new(name)?, Create::No)
    }

    fn resolve(&self, name: &SecretName, create: Create) -> Result<Loaded, Error> {
        if let Some(loaded) = self.resolve_env(name)? {
            return Ok(loaded);
        }
        self.resolve_vault(name, create)
    }

    /// Steps 1 and 2: the variable itself, then its `_FILE` variable.
    pub(crate) fn resolve_env(&self, name: &SecretName) -> Result<Option<Loaded>, Error> {
        let (var, file_var) = (name.env_var(), name.file_env_var());
        let direct = self.var(&var);
        let file = self.var(&file_var);
        if direct.is_some() && file.is_some() {
            return Err(Error::AmbiguousEnv { var, file_var });
        }
        if let Some(value) = direct {
            let value = Zeroizing::new(value.into_string().map_err(|_| Error::InvalidSetting {
                setting: "secret environment variable",
                value: var.clone(),
                reason: "valid UTF-8",
            })?);
            return Ok(Some(Loaded {
                secret: secret_string(&value),
                source: Source::Env { var },
                notices: Vec::new(),
            }));
        }
        let Some(path) = file.map(PathBuf::from) else {
            return Ok(None);
        };
        let content = crate::fs::read_followed(&path).map_err(|source| Error::ReadEnvFile {
            var: file_var.clone(),
            path: path.clone(),
            source,
        })?;
        let text = std::str::from_utf8(&content.bytes).map_err(|_| Error::Corrupt {
            path: path.clone(),
            reason: "it is not UTF-8 text".into(),
        })?;
        let value = strip(text);
        if value.is_empty() {
            return Err(Error::EmptyEnvFile {
                var: file_var,
                path,
            });
        }
        Ok(Some(Loaded {
            secret: secret_string(value),
            source: Source::EnvFile {
                var: file_var,
                path,
            },
            notices: Vec::new(),
        }))
    }
}

/// The drop-in replacement for the CONTINUUM API server's loader.
///
/// Resolves `jwt_secret` with the default configuration (environment, `~/.continuum`, key
/// source `auto`), prints any notice (such as the first-run notice) on standard error, and
/// returns the secret.
///
/// # Errors
/// Any [`Error`]; see [`Error::hint`] for what to do.
pub fn get_or_generate_jwt_secret() -> Result<SecretString, Error> {
    let loaded = Vault::builder().build()?.load(crate::name::DEFAULT_NAME)?;
    for notice in loaded.notices() {
        eprintln!("{notice}");
    }
    Ok(loaded.into_secret())
}
