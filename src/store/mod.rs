//! Where the secrets themselves are kept.
//!
//! - [`local`]: the vault directory (`~/.continuum`) of age-sealed files with its metadata
//!   and lock; every host has one.
//! - [`openbao`]: an OpenBao (or HashiCorp Vault) KV v2 engine, shared by several hosts,
//!   with check-and-set creation and rotation.
//! - [`remote`]: the vault's operations with the OpenBao store selected, and the local
//!   sealed copy kept for outages.

pub(crate) mod local;
pub(crate) mod openbao;
pub(crate) mod pending;
pub(crate) mod remote;

use std::fmt;
use std::str::FromStr;

/// Which store holds the secrets (`--store`, `CONTINUUM_VAULT_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StoreKind {
    /// The vault directory on this host (`~/.continuum`): the default.
    #[default]
    Local,
    /// An OpenBao (or HashiCorp Vault) KV v2 engine shared by several hosts, with a local
    /// sealed copy for outages.
    #[serde(rename = "openbao")]
    OpenBao,
}

impl StoreKind {
    /// The name used by `--store` and `CONTINUUM_VAULT_STORE`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::OpenBao => "openbao",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StoreKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "local" => Ok(Self::Local),
            "openbao" => Ok(Self::OpenBao),
            _ => Err(()),
        }
    }
}
