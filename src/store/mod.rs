//! Where the secrets themselves are kept.
//!
//! - [`local`]: the vault directory (`~/.continuum`) of age-sealed files with its metadata
//!   and lock; every host has one.
//! - [`openbao`]: an OpenBao (or HashiCorp Vault) KV v2 engine, shared by several hosts,
//!   with check-and-set creation and rotation.

pub(crate) mod local;
pub(crate) mod openbao;
pub(crate) mod pending;
