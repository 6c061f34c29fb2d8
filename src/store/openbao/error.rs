//! What can go wrong talking to OpenBao, each case with the fix a user can apply.
//!
//! No variant holds a secret, a token or a response body: bodies may carry the secret, so a
//! response the client does not understand is described by what was wrong with it, never
//! by its text.

use std::path::PathBuf;
use std::time::Duration;

use crate::ErrorClass;

/// A failure of the OpenBao store: its configuration, the connection or the server's answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum BaoError {
    /// Neither `BAO_ADDR` nor `VAULT_ADDR` is set.
    #[error("no OpenBao address: neither BAO_ADDR nor VAULT_ADDR is set")]
    NoAddress,

    /// A setting has a value the client does not accept.
    #[error("invalid value {value:?} for {var}: {reason}")]
    InvalidSetting {
        /// The variable.
        var: &'static str,
        /// The value as given (never a token or a secret id).
        value: String,
        /// What is accepted.
        reason: &'static str,
    },

    /// No token anywhere: not in the variables, not in `~/.vault-token`, no AppRole login.
    #[error("no OpenBao token: BAO_TOKEN, VAULT_TOKEN and BAO_ROLE_ID are unset and {} does not exist", token_file.display())]
    NoToken {
        /// Where the token file was looked for.
        token_file: PathBuf,
    },

    /// Both a token variable and an AppRole login are configured.
    #[error("both {token_var} and BAO_ROLE_ID are set; refusing to guess which login is meant")]
    AmbiguousAuth {
        /// `BAO_TOKEN` or `VAULT_TOKEN`.
        token_var: &'static str,
    },

    /// `BAO_ROLE_ID` is set without `BAO_SECRET_ID_FILE`.
    #[error("BAO_ROLE_ID is set but BAO_SECRET_ID_FILE is not")]
    NoSecretIdFile,

    /// The token file, the secret-id file or the CA file could not be used.
    #[error("cannot use {what} {}: {reason}", path.display())]
    File {
        /// Which file: "the token file", "the secret-id file", "the CA certificate file".
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why (never its content).
        reason: String,
    },

    /// The server could not be reached: no route, connection refused, name not found.
    #[error("cannot reach OpenBao at {address}")]
    Unreachable {
        /// The server's address.
        address: String,
        /// The transport's error.
        #[source]
        source: ureq::Error,
    },

    /// The operation's deadline passed before the server answered.
    #[error("OpenBao at {address} did not answer within {budget:?}")]
    Timeout {
        /// The server's address.
        address: String,
        /// The budget of the whole operation.
        budget: Duration,
    },

    /// The TLS handshake failed: unknown CA, wrong name, or not a TLS server.
    #[error("TLS with OpenBao at {address} failed")]
    Tls {
        /// The server's address.
        address: String,
        /// The TLS error.
        #[source]
        source: ureq::Error,
    },

    /// The server is sealed.
    #[error("OpenBao at {address} is sealed")]
    Sealed {
        /// The server's address.
        address: String,
    },

    /// The server answered that it cannot serve now (uninitialized, standby, overloaded).
    #[error("OpenBao at {address} is unavailable (HTTP {status})")]
    Unavailable {
        /// The server's address.
        address: String,
        /// The HTTP status.
        status: u16,
    },

    /// The server does not accept the token (unknown, expired or revoked).
    #[error("OpenBao rejected the token from {token_source}")]
    BadToken {
        /// Where the token came from (`BAO_TOKEN`, `~/.vault-token`, `AppRole login`, ...).
        token_source: String,
    },

    /// The AppRole login was refused.
    #[error("OpenBao refused the AppRole login of role id {role_id} (HTTP {status})")]
    LoginRefused {
        /// The role id (an identifier, not a credential by itself).
        role_id: String,
        /// The HTTP status.
        status: u16,
    },

    /// The token is valid but its policies do not allow this operation.
    #[error("permission denied: the token may not {operation} {path}")]
    PermissionDenied {
        /// What was attempted ("read", "write", "read the metadata of", ...).
        operation: &'static str,
        /// The API path that was refused, e.g. `secret/data/continuum/jwt_secret`.
        path: String,
        /// The mount, for the policy in the hint.
        mount: String,
        /// The prefix, for the policy in the hint.
        prefix: String,
    },

    /// There is no KV v2 engine at the mount.
    #[error("OpenBao has no KV v2 secrets engine at {mount}/")]
    NoMount {
        /// The mount.
        mount: String,
    },

    /// A check-and-set write lost: the secret's current version is not the expected one.
    #[error("check-and-set conflict at {path}: its version is no longer {expected}")]
    CasConflict {
        /// The data path.
        path: String,
        /// The version the write expected (0: that none exists).
        expected: u64,
    },

    /// The secret or the requested version does not exist.
    #[error("{path} (version {version}) does not exist in OpenBao")]
    NotFound {
        /// The data path.
        path: String,
        /// The version asked for.
        version: u64,
    },

    /// The version exists but was deleted or destroyed, so it has no value to read.
    #[error("version {version} of {path} was {how}")]
    Deleted {
        /// The data path.
        path: String,
        /// The version.
        version: u64,
        /// "deleted" (recoverable with undelete) or "destroyed".
        how: &'static str,
    },

    /// The server's answer is not what the KV v2 API returns. The body is never shown.
    #[error("unexpected answer from OpenBao for {path} (HTTP {status}): {reason}")]
    Malformed {
        /// The API path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// What was wrong with it.
        reason: &'static str,
    },

    /// Generating a new secret failed.
    #[error("cannot generate a new secret")]
    Generate(#[source] Box<crate::Error>),
}

impl BaoError {
    /// What the user can do about it.
    pub(crate) fn hint(&self) -> String {
        match self {
            Self::NoAddress => {
                "set BAO_ADDR (or VAULT_ADDR) to the server's URL, e.g. https://bao.example.com:8200"
                    .into()
            }
            Self::InvalidSetting { var, reason, .. } => format!("set {var} to {reason}"),
            Self::NoToken { .. } => "set BAO_TOKEN (or VAULT_TOKEN), run `bao login`, or configure \
                 an AppRole login with BAO_ROLE_ID and BAO_SECRET_ID_FILE"
                .into(),
            Self::AmbiguousAuth { token_var } => format!("unset {token_var} or BAO_ROLE_ID"),
            Self::NoSecretIdFile => {
                "set BAO_SECRET_ID_FILE to a file holding the AppRole secret id".into()
            }
            Self::File {
                what: "the token file",
                path,
                ..
            } => format!(
                "make {} a regular file of yours with mode 0600 (`chmod 600 {}`), or run `bao login` again",
                path.display(),
                path.display()
            ),
            Self::File { what, path, .. } => {
                format!("make {what} {} readable and valid", path.display())
            }
            Self::Unreachable { address, .. } => format!(
                "check that OpenBao runs and that {address} (BAO_ADDR) is right and reachable from this host"
            ),
            Self::Timeout { .. } => "check that OpenBao is responsive, or raise \
                 CONTINUUM_VAULT_KEYRING_TIMEOUT_MS (the deadline of every store call)"
                .into(),
            Self::Tls { .. } => "check the https:// address, and give the CA that signed the \
                 server's certificate in BAO_CACERT (or VAULT_CACERT)"
                .into(),
            Self::Sealed { .. } => {
                "unseal it (`bao operator unseal`) or ask its operators to".into()
            }
            Self::Unavailable { .. } => {
                "check the server's health (`bao status`); point BAO_ADDR at an active node".into()
            }
            Self::BadToken { token_source } => format!(
                "get a valid token (`bao login`, or a new one in {token_source}); it may have expired"
            ),
            Self::LoginRefused { .. } => {
                "check BAO_ROLE_ID and the secret id in BAO_SECRET_ID_FILE (secret ids expire and \
                 may be single-use)"
                    .into()
            }
            Self::PermissionDenied { mount, prefix, .. } => format!(
                "grant the token a policy with at least:\n{}",
                policy_hcl(mount, prefix)
            ),
            Self::NoMount { mount } => format!(
                "enable it (`bao secrets enable -path={mount} kv-v2`) or set CONTINUUM_VAULT_BAO_MOUNT"
            ),
            Self::CasConflict { .. } => {
                "another host changed the secret at the same moment; run the command again".into()
            }
            Self::NotFound { .. } => "check the name, the mount and the prefix \
                 (CONTINUUM_VAULT_BAO_MOUNT, CONTINUUM_VAULT_BAO_PREFIX)"
                .into(),
            Self::Deleted {
                path,
                version,
                how: "deleted",
            } => format!(
                "undelete it (`bao kv undelete -versions={version} {}`); a new secret is never \
                 generated over a deleted one",
                path.replacen("/data/", "/", 1)
            ),
            Self::Deleted { .. } => "its value is gone for good: restore it from a backup with \
                 `continuum-vault restore`, or store a new one with `continuum-vault set --force`"
                .into(),
            Self::Malformed { .. } => {
                "check that the address points at OpenBao (or Vault) and the mount is a KV v2 \
                 engine"
                    .into()
            }
            Self::Generate(e) => e
                .hint()
                .unwrap_or_else(|| "check the system's random source".into()),
        }
    }
}

/// The smallest policy that lets a token create, read and rotate every secret under
/// `<mount>/<prefix>/`.
pub(crate) fn policy_hcl(mount: &str, prefix: &str) -> String {
    format!(
        "path \"{mount}/data/{prefix}/*\" {{\n  capabilities = [\"create\", \"read\", \"update\"]\n}}\n\
         path \"{mount}/metadata/{prefix}/*\" {{\n  capabilities = [\"create\", \"read\", \"update\"]\n}}"
    )
}

impl BaoError {
    /// The class of the vault error this becomes. A store that cannot be reached, does not
    /// answer, is sealed, or refuses the login or the path leaves the secret unavailable
    /// like a locked keyring does ([`ErrorClass::KeyUnavailable`]); a lost check-and-set is
    /// a [`ErrorClass::Conflict`]; a setting the client cannot use is
    /// [`ErrorClass::Usage`]; an answer it cannot read, or a version whose value is gone,
    /// is [`ErrorClass::Corrupt`].
    pub(crate) fn class(&self) -> ErrorClass {
        match self {
            Self::NoAddress
            | Self::InvalidSetting { .. }
            | Self::NoToken { .. }
            | Self::AmbiguousAuth { .. }
            | Self::NoSecretIdFile
            | Self::File { .. }
            | Self::NoMount { .. } => ErrorClass::Usage,
            Self::Unreachable { .. }
            | Self::Timeout { .. }
            | Self::Tls { .. }
            | Self::Sealed { .. }
            | Self::Unavailable { .. }
            | Self::BadToken { .. }
            | Self::LoginRefused { .. }
            | Self::PermissionDenied { .. } => ErrorClass::KeyUnavailable,
            Self::CasConflict { .. } => ErrorClass::Conflict,
            Self::NotFound { .. } => ErrorClass::NotFound,
            Self::Deleted { .. } | Self::Malformed { .. } => ErrorClass::Corrupt,
            Self::Generate(e) => e.class(),
        }
    }

    /// Whether the server could not serve at all (down, silent, sealed, standby): the case
    /// where the local copy may stand in. A refusal (bad token, missing policy) is not one.
    pub(crate) fn is_outage(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::Timeout { .. }
                | Self::Sealed { .. }
                | Self::Unavailable { .. }
        )
    }
}

impl From<BaoError> for crate::Error {
    fn from(e: BaoError) -> Self {
        match e {
            BaoError::Generate(inner) => *inner,
            e => Self::Store {
                class: e.class(),
                hint: e.hint(),
                source: Box::new(e),
            },
        }
    }
}

/// For tests: the file a [`BaoError::File`] refusal names (`"the token file"`, ...);
/// `None` for any other error.
#[cfg(test)]
impl BaoError {
    pub(crate) fn refused_file(&self) -> Option<&'static str> {
        match self {
            Self::File { what, .. } => Some(what),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_what_a_caller_can_do() {
        let addr = || "http://h:1".to_owned();
        let table: Vec<(BaoError, ErrorClass, bool)> = vec![
            (BaoError::NoAddress, ErrorClass::Usage, false),
            (
                BaoError::Timeout {
                    address: addr(),
                    budget: Duration::from_secs(5),
                },
                ErrorClass::KeyUnavailable,
                true,
            ),
            (
                BaoError::Sealed { address: addr() },
                ErrorClass::KeyUnavailable,
                true,
            ),
            (
                BaoError::Unavailable {
                    address: addr(),
                    status: 503,
                },
                ErrorClass::KeyUnavailable,
                true,
            ),
            (
                BaoError::BadToken {
                    token_source: "BAO_TOKEN".into(),
                },
                ErrorClass::KeyUnavailable,
                false,
            ),
            (
                BaoError::PermissionDenied {
                    operation: "read",
                    path: "secret/data/continuum/jwt_secret".into(),
                    mount: "secret".into(),
                    prefix: "continuum".into(),
                },
                ErrorClass::KeyUnavailable,
                false,
            ),
            (
                BaoError::CasConflict {
                    path: "p".into(),
                    expected: 0,
                },
                ErrorClass::Conflict,
                false,
            ),
            (
                BaoError::Malformed {
                    path: "p".into(),
                    status: 200,
                    reason: "r",
                },
                ErrorClass::Corrupt,
                false,
            ),
            (
                BaoError::NoMount {
                    mount: "secret".into(),
                },
                ErrorClass::Usage,
                false,
            ),
        ];
        for (e, class, outage) in table {
            assert_eq!(e.class(), class, "{e}");
            assert_eq!(e.is_outage(), outage, "{e}");
            let hint = e.hint();
            let vault_error = crate::Error::from(e);
            assert_eq!(vault_error.class(), class);
            assert_eq!(vault_error.hint().as_deref(), Some(hint.as_str()));
        }
        // A failed generation is the generator's own error, not a store error.
        let e = BaoError::Generate(Box::new(crate::Error::Random { reason: "r".into() }));
        assert!(matches!(crate::Error::from(e), crate::Error::Random { .. }));
    }
}
