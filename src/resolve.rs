//! How a secret is resolved: the server's contract, top to bottom.
//!
//! 1. `CONTINUUM_<NAME>`: the value itself, used exactly as given.
//! 2. `CONTINUUM_<NAME>_FILE`: a file holding it (a Docker or Kubernetes secret), stripped.
//! 3. `$CREDENTIALS_DIRECTORY/<name>`: the secret itself, delivered to a systemd unit by
//!    `LoadCredentialEncrypted=` or `LoadCredential=`, stripped.
//! 4. The selected store: the vault file `~/.continuum/<name>` (a legacy plaintext file is
//!    used as it is and left unchanged: only `migrate` encrypts it), or OpenBao
//!    ([`crate::store::remote`], with its local copy during an outage).
//! 5. Nothing anywhere: a new `secrets.token_urlsafe(32)`-style secret, stored sealed (in
//!    OpenBao: created with check-and-set, only once the server answered there is none).
//!
//! And what the caller learns: the [`Source`] that won and the [`Notice`]s to print.

use std::fmt;
use std::path::PathBuf;

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::name::SecretName;
use crate::seal::Kind;
use crate::store::local;
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
    /// A credential systemd delivered to the unit: `$CREDENTIALS_DIRECTORY/<name>`.
    Credential {
        /// The file.
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
    /// A legacy plaintext file, used as it is and left unchanged (`migrate` encrypts it).
    Plaintext {
        /// The file.
        path: PathBuf,
    },
    /// The OpenBao store (KV v2).
    Store {
        /// The server's address.
        address: String,
        /// The secret's data path, e.g. `secret/data/continuum/jwt_secret`.
        path: String,
        /// The KV version read (or written).
        version: u64,
        /// Whether this load created it (the first start of any host).
        created: bool,
    },
    /// The local sealed copy of the OpenBao store's value, used because the server could
    /// not be reached.
    StoreCopy {
        /// The copy (the local vault file).
        path: PathBuf,
        /// The server that could not be reached.
        address: String,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env { var } => write!(f, "environment variable {var}"),
            Self::EnvFile { var, path } => write!(f, "file {} (from {var})", path.display()),
            Self::Credential { path } => write!(f, "systemd credential {}", path.display()),
            Self::Vault { path } => write!(f, "vault file {}", path.display()),
            Self::Generated { path } => write!(f, "newly generated, stored in {}", path.display()),
            Self::Plaintext { path } => write!(
                f,
                "plaintext file {} (not encrypted; see `continuum-vault migrate`)",
                path.display()
            ),
            Self::Store {
                address,
                path,
                version,
                created,
            } => write!(
                f,
                "OpenBao {address} {path} version {version}{}",
                if *created { ", newly generated" } else { "" }
            ),
            Self::StoreCopy { path, address } => write!(
                f,
                "local copy {} (OpenBao {address} unreachable)",
                path.display()
            ),
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

/// Resolves `name` in the contract's order; see the module docs.
pub(crate) fn resolve(vault: &Vault, name: &SecretName, create: Create) -> Result<Loaded, Error> {
    if let Some(loaded) = from_env_var(vault, name)? {
        return Ok(loaded);
    }
    if let Some(loaded) = from_env_file(vault, name)? {
        return Ok(loaded);
    }
    if let Some(loaded) = from_credential(vault, name)? {
        return Ok(loaded);
    }
    if let Some(remote) = vault.remote() {
        return crate::store::remote::load(vault, remote, name, create);
    }
    let deadline = vault.deadline();
    if let Some(loaded) = local::read(vault.local(), vault.keys(), name, &deadline)? {
        return Ok(loaded);
    }
    match create {
        Create::No => Err(Error::NotFound {
            path: vault.local().path().join(name.as_str()),
        }),
        Create::Yes => local::create(vault.local(), vault.keys(), name, &deadline),
    }
}

/// Steps 1 to 3 together: `Ok(None)` when neither variable nor a delivered credential applies.
pub(crate) fn from_env(vault: &Vault, name: &SecretName) -> Result<Option<Loaded>, Error> {
    if let Some(loaded) = from_env_var(vault, name)? {
        return Ok(Some(loaded));
    }
    if let Some(loaded) = from_env_file(vault, name)? {
        return Ok(Some(loaded));
    }
    from_credential(vault, name)
}

/// The secret in a file given from outside the vault (a `_FILE` target, a delivered
/// credential): its stripped text, or an age file sealed to this vault, opened with its key.
fn file_value(
    vault: &Vault,
    path: &std::path::Path,
    bytes: &[u8],
    empty: impl FnOnce() -> Error,
) -> Result<SecretString, Error> {
    match crate::seal::classify(bytes) {
        Kind::Plaintext => Ok(SecretString::from(crate::text::strip(
            std::str::from_utf8(bytes).unwrap_or_default(),
        ))),
        Kind::Empty => Err(empty()),
        Kind::Encrypted => {
            local::open_given(vault.local(), vault.keys(), path, bytes, &vault.deadline())
        }
        Kind::Garbage(reason) => Err(Error::Corrupt {
            path: path.to_owned(),
            reason: reason.into(),
        }),
    }
}

/// Step 3: the secret delivered by systemd as `$CREDENTIALS_DIRECTORY/<name>`, read with the
/// same checks as a delivered vault key. Stripped; empty is an error, never a fall-through.
fn from_credential(vault: &Vault, name: &SecretName) -> Result<Option<Loaded>, Error> {
    let creds = vault.keys().systemd_creds().creds();
    let Some(bytes) = creds
        .delivered(name.as_str())
        .map_err(crate::key::systemd_creds::into_error)?
    else {
        return Ok(None);
    };
    let dir = vault
        .var(crate::key::systemd_creds::CREDENTIALS_DIRECTORY)
        .map(PathBuf::from)
        .unwrap_or_default();
    let path = dir.join(name.as_str());
    let secret = file_value(vault, &path, &bytes, || Error::EmptyEnvFile {
        var: crate::key::systemd_creds::CREDENTIALS_DIRECTORY.to_owned(),
        path: path.clone(),
    })?;
    Ok(Some(Loaded {
        secret,
        source: Source::Credential { path },
        notices: Vec::new(),
    }))
}

/// Step 1: the variable itself. Set together with `_FILE`, the source is ambiguous.
fn from_env_var(vault: &Vault, name: &SecretName) -> Result<Option<Loaded>, Error> {
    let (var, file_var) = (name.env_var(), name.file_env_var());
    let Some(value) = vault.var(&var) else {
        return Ok(None);
    };
    if vault.var_is_set(&file_var) {
        return Err(Error::AmbiguousEnv { var, file_var });
    }
    let value = Zeroizing::new(value.into_string().map_err(|_| Error::InvalidSetting {
        setting: "secret environment variable",
        value: var.clone(),
        reason: "valid UTF-8",
    })?);
    Ok(Some(Loaded {
        secret: SecretString::from(value.as_str()),
        source: Source::Env { var },
        notices: Vec::new(),
    }))
}

/// Step 2: the file the `_FILE` variable names. Set but empty, it is a mistake, not a
/// request for the vault; a file that cannot be used never falls through to the vault.
fn from_env_file(vault: &Vault, name: &SecretName) -> Result<Option<Loaded>, Error> {
    let file_var = name.file_env_var();
    if !vault.var_is_set(&file_var) {
        return Ok(None);
    }
    let Some(path) = vault.var(&file_var).map(PathBuf::from) else {
        return Err(Error::InvalidSetting {
            setting: "secret file variable",
            value: file_var,
            reason: "the path of a file holding the secret (it is set but empty; unset it to use the vault)",
        });
    };
    let content = crate::fs::read_followed(&path).map_err(|e| e.into_error(&file_var, &path))?;
    let source = Source::EnvFile {
        var: file_var.clone(),
        path: path.clone(),
    };
    let secret = file_value(vault, &path, &content.bytes, || Error::EmptyEnvFile {
        var: file_var.clone(),
        path: path.clone(),
    })?;
    Ok(Some(Loaded {
        secret,
        source,
        notices: Vec::new(),
    }))
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
