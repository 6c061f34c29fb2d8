//! Where secrets are kept besides the local vault directory.
//!
//! - [`openbao`]: an OpenBao (or HashiCorp Vault) KV v2 engine, shared by several hosts.

pub(crate) mod openbao;
