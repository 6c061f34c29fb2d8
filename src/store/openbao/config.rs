//! Where the server is and how to log in, read from the environment once.
//!
//! | setting | variables | default |
//! |---|---|---|
//! | address | `BAO_ADDR`, else `VAULT_ADDR` | none: required |
//! | token | `BAO_TOKEN`, else `VAULT_TOKEN`, else `~/.vault-token` | |
//! | AppRole login | `BAO_ROLE_ID` + `BAO_SECRET_ID_FILE` | |
//! | CA certificate | `BAO_CACERT`, else `VAULT_CACERT` | Mozilla's roots |
//! | mount | `CONTINUUM_VAULT_BAO_MOUNT` | `secret` |
//! | prefix | `CONTINUUM_VAULT_BAO_PREFIX` | `continuum` |
//!
//! An empty variable counts as unset, as it does for the `bao` CLI.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::error::BaoError;
use crate::fs::read::{FileContent, read_followed};
use crate::text::strip;

/// The default KV v2 mount.
pub(crate) const DEFAULT_MOUNT: &str = "secret";
/// The default path prefix under the mount.
pub(crate) const DEFAULT_PREFIX: &str = "continuum";
/// Where AppRole is mounted.
pub(crate) const APPROLE_MOUNT: &str = "approle";

/// How the client gets its token.
pub(crate) enum Auth {
    /// A token given directly.
    Token {
        /// The token.
        token: SecretString,
        /// Where it came from, for messages: `BAO_TOKEN`, `VAULT_TOKEN` or the file's path.
        source: String,
    },
    /// An AppRole login at the first call.
    AppRole {
        /// The role id.
        role_id: String,
        /// The secret id, read from `BAO_SECRET_ID_FILE`.
        secret_id: SecretString,
    },
}

/// The store's settings. Its `Debug` never shows the token or the secret id.
pub(crate) struct BaoConfig {
    /// The server's base URL, without a trailing `/`.
    pub(crate) address: String,
    /// The login.
    pub(crate) auth: Auth,
    /// PEM file of the CA(s) to trust instead of Mozilla's roots.
    pub(crate) ca_cert: Option<PathBuf>,
    /// The KV v2 mount.
    pub(crate) mount: String,
    /// The path prefix under the mount.
    pub(crate) prefix: String,
}

impl fmt::Debug for BaoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            Auth::Token { source, .. } => format!("token from {source}"),
            Auth::AppRole { role_id, .. } => format!("AppRole {role_id}"),
        };
        f.debug_struct("BaoConfig")
            .field("address", &self.address)
            .field("auth", &auth)
            .field("ca_cert", &self.ca_cert)
            .field("mount", &self.mount)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl BaoConfig {
    /// Reads the settings through `env` (the vault's environment lookup). Reads the token
    /// file or the secret-id file when they are the configured login.
    pub(crate) fn from_env(env: &dyn Fn(&str) -> Option<OsString>) -> Result<Self, BaoError> {
        let var = |name: &'static str| -> Result<Option<String>, BaoError> {
            match env(name) {
                None => Ok(None),
                Some(v) if v.is_empty() => Ok(None),
                Some(v) => v
                    .into_string()
                    .map(Some)
                    .map_err(|v| BaoError::InvalidSetting {
                        var: name,
                        value: v.to_string_lossy().into_owned(),
                        reason: "valid UTF-8",
                    }),
            }
        };
        let first = |a: &'static str,
                     b: &'static str|
         -> Result<Option<(&'static str, String)>, BaoError> {
            Ok(match var(a)? {
                Some(v) => Some((a, v)),
                None => var(b)?.map(|v| (b, v)),
            })
        };

        let (addr_var, address) = first("BAO_ADDR", "VAULT_ADDR")?.ok_or(BaoError::NoAddress)?;
        let address = parse_address(addr_var, &address)?;

        let token_var = token_var(env);
        let auth = match (var("BAO_ROLE_ID")?, token_var) {
            (Some(_), Some(token_var)) => return Err(BaoError::AmbiguousAuth { token_var }),
            (Some(role_id), None) => {
                let path = env("BAO_SECRET_ID_FILE")
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .ok_or(BaoError::NoSecretIdFile)?;
                let secret_id = read_secret_id(&path)?;
                Auth::AppRole { role_id, secret_id }
            }
            (None, Some(token_var)) => {
                // The lookup's copy of the value is wiped once the token is copied out.
                let raw = Zeroizing::new(env(token_var).unwrap_or_default().into_encoded_bytes());
                let text = std::str::from_utf8(&raw).map_err(|_| BaoError::InvalidSetting {
                    var: token_var,
                    value: "(not shown)".into(),
                    reason: "valid UTF-8",
                })?;
                Auth::Token {
                    token: SecretString::from(strip(text)),
                    source: token_var.into(),
                }
            }
            (None, None) => {
                let Some(home) = env("HOME")
                    .filter(|h| !h.is_empty())
                    .map(PathBuf::from)
                    .or_else(dirs::home_dir)
                else {
                    return Err(BaoError::NoToken {
                        token_file: PathBuf::from("~/.vault-token"),
                    });
                };
                let path = home.join(".vault-token");
                let token = read_token_file(&path)?;
                Auth::Token {
                    token,
                    source: path.display().to_string(),
                }
            }
        };

        let ca_cert = first("BAO_CACERT", "VAULT_CACERT")?.map(|(_, p)| PathBuf::from(p));
        let mount = match var("CONTINUUM_VAULT_BAO_MOUNT")? {
            Some(m) => parse_path("CONTINUUM_VAULT_BAO_MOUNT", &m)?,
            None => DEFAULT_MOUNT.into(),
        };
        let prefix = match var("CONTINUUM_VAULT_BAO_PREFIX")? {
            Some(p) => parse_path("CONTINUUM_VAULT_BAO_PREFIX", &p)?,
            None => DEFAULT_PREFIX.into(),
        };
        Ok(Self {
            address,
            auth,
            ca_cert,
            mount,
            prefix,
        })
    }
}

/// The first token variable that is set and not empty.
fn token_var(env: &dyn Fn(&str) -> Option<OsString>) -> Option<&'static str> {
    ["BAO_TOKEN", "VAULT_TOKEN"]
        .into_iter()
        .find(|v| env(v).is_some_and(|t| !t.is_empty()))
}

fn parse_address(var: &'static str, value: &str) -> Result<String, BaoError> {
    let invalid = |reason| BaoError::InvalidSetting {
        var,
        value: value.into(),
        reason,
    };
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| invalid("an http:// or https:// URL"))?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains(['/', '?', '#', '@']) || host.contains(char::is_whitespace)
    {
        return Err(invalid(
            "a URL of the server itself (scheme, host and port, no path)",
        ));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// A mount or prefix: `/`-separated segments of letters, digits, `_`, `-` and `.`, no `..`.
fn parse_path(var: &'static str, value: &str) -> Result<String, BaoError> {
    let trimmed = value.trim_matches('/');
    let ok = !trimmed.is_empty()
        && trimmed.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        });
    if ok {
        Ok(trimmed.to_owned())
    } else {
        Err(BaoError::InvalidSetting {
            var,
            value: value.into(),
            reason: "a path of letters, digits, '_', '-' and '.', segments separated by '/'",
        })
    }
}

/// Reads `~/.vault-token`, as `bao login` writes it: a regular file of this user, readable
/// by nobody else, at most 64 KiB.
fn read_token_file(path: &Path) -> Result<SecretString, BaoError> {
    let file_error = |reason: String| BaoError::File {
        what: "the token file",
        path: path.to_owned(),
        reason,
    };
    let content = match read_followed(path) {
        Ok(c) => c,
        Err(e) if e.is_not_found() => {
            return Err(BaoError::NoToken {
                token_file: path.to_owned(),
            });
        }
        Err(e) => return Err(file_error(e.to_string())),
    };
    if content.uid != crate::fs::my_uid() {
        return Err(file_error(format!(
            "it belongs to uid {}, not to this user",
            content.uid
        )));
    }
    if crate::fs::group_or_other_bits(content.mode) {
        return Err(file_error(format!(
            "its mode {:04o} lets others read it",
            content.mode
        )));
    }
    stripped_text(&content, file_error)
}

/// Reads the AppRole secret id. Like `*_FILE` secrets, the file may be a mounted secret
/// owned by root: owner and mode are not checked, only that it is a small regular file.
fn read_secret_id(path: &Path) -> Result<SecretString, BaoError> {
    let file_error = |reason: String| BaoError::File {
        what: "the secret-id file",
        path: path.to_owned(),
        reason,
    };
    let content = read_followed(path).map_err(|e| file_error(e.to_string()))?;
    stripped_text(&content, file_error)
}

/// A credential file's value: UTF-8 text, surrounding white space stripped, not empty.
fn stripped_text(
    content: &FileContent,
    file_error: impl Fn(String) -> BaoError,
) -> Result<SecretString, BaoError> {
    let text = std::str::from_utf8(&content.bytes)
        .map_err(|_| file_error("it is not UTF-8 text".into()))?;
    let value = strip(text);
    if value.is_empty() {
        return Err(file_error("it is empty".into()));
    }
    Ok(SecretString::from(value))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    use secrecy::ExposeSecret;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<BaoConfig, BaoError> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        BaoConfig::from_env(&move |name| map.get(name).cloned())
    }

    fn token_of(c: &BaoConfig) -> (&str, &str) {
        match &c.auth {
            Auth::Token { token, source } => (token.expose_secret(), source),
            Auth::AppRole { .. } => panic!("expected a token login"),
        }
    }

    #[test]
    fn bao_variables_win_over_vault_ones_and_defaults_apply() {
        let c = from(&[
            ("BAO_ADDR", "https://bao.example:8200/"),
            ("VAULT_ADDR", "https://vault.example"),
            ("BAO_TOKEN", "s.bao\n"),
            ("VAULT_TOKEN", "s.vault"),
            ("VAULT_CACERT", "/etc/ca.pem"),
        ])
        .unwrap();
        assert_eq!(c.address, "https://bao.example:8200");
        assert_eq!(token_of(&c), ("s.bao", "BAO_TOKEN"));
        assert_eq!(c.ca_cert.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert_eq!(
            (c.mount.as_str(), c.prefix.as_str()),
            ("secret", "continuum")
        );

        let c = from(&[
            ("BAO_ADDR", ""),
            ("VAULT_ADDR", "http://127.0.0.1:8200"),
            ("BAO_TOKEN", ""),
            ("VAULT_TOKEN", "s.vault"),
            ("CONTINUUM_VAULT_BAO_MOUNT", "/kv/"),
            ("CONTINUUM_VAULT_BAO_PREFIX", "teams/api"),
        ])
        .unwrap();
        assert_eq!(c.address, "http://127.0.0.1:8200");
        assert_eq!(token_of(&c), ("s.vault", "VAULT_TOKEN"));
        assert_eq!((c.mount.as_str(), c.prefix.as_str()), ("kv", "teams/api"));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = from(&[("BAO_ADDR", "http://h:1"), ("BAO_TOKEN", "s.very-secret")]).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("token from BAO_TOKEN"), "{shown}");
    }

    #[test]
    fn bad_settings_are_refused_with_hints() {
        let err = from(&[("BAO_TOKEN", "t")]).unwrap_err();
        assert!(matches!(err, BaoError::NoAddress));
        assert!(err.hint().contains("set BAO_ADDR"));

        for addr in [
            "bao:8200",
            "ftp://h",
            "https://",
            "https://h/v1",
            "https://u@h",
        ] {
            let err = from(&[("BAO_ADDR", addr), ("BAO_TOKEN", "t")]).unwrap_err();
            assert!(
                matches!(
                    err,
                    BaoError::InvalidSetting {
                        var: "BAO_ADDR",
                        ..
                    }
                ),
                "{addr}: {err}"
            );
        }
        for prefix in ["a/../b", "a b", "..", "/", "a//b", "x?y"] {
            let err = from(&[
                ("BAO_ADDR", "http://h"),
                ("BAO_TOKEN", "t"),
                ("CONTINUUM_VAULT_BAO_PREFIX", prefix),
            ])
            .unwrap_err();
            assert!(
                matches!(
                    err,
                    BaoError::InvalidSetting {
                        var: "CONTINUUM_VAULT_BAO_PREFIX",
                        ..
                    }
                ),
                "{prefix}: {err}"
            );
        }

        let err = from(&[
            ("BAO_ADDR", "http://h"),
            ("VAULT_TOKEN", "t"),
            ("BAO_ROLE_ID", "r"),
        ])
        .unwrap_err();
        assert!(matches!(
            err,
            BaoError::AmbiguousAuth {
                token_var: "VAULT_TOKEN"
            }
        ));
        assert_eq!(err.hint(), "unset VAULT_TOKEN or BAO_ROLE_ID");

        let err = from(&[("BAO_ADDR", "http://h"), ("BAO_ROLE_ID", "r")]).unwrap_err();
        assert!(matches!(err, BaoError::NoSecretIdFile));
    }

    #[test]
    fn approle_reads_the_secret_id_file() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("secret-id");
        std::fs::write(&file, "sid-123\n").unwrap();
        // Mounted secret files are often world-readable; that is accepted here.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let c = from(&[
            ("BAO_ADDR", "http://h"),
            ("BAO_ROLE_ID", "role-1"),
            ("BAO_SECRET_ID_FILE", file.to_str().unwrap()),
        ])
        .unwrap();
        match &c.auth {
            Auth::AppRole { role_id, secret_id } => {
                assert_eq!(role_id, "role-1");
                assert_eq!(secret_id.expose_secret(), "sid-123");
            }
            Auth::Token { .. } => panic!("expected AppRole"),
        }
        assert!(!format!("{c:?}").contains("sid-123"));

        std::fs::write(&file, "  \n").unwrap();
        let err = from(&[
            ("BAO_ADDR", "http://h"),
            ("BAO_ROLE_ID", "role-1"),
            ("BAO_SECRET_ID_FILE", file.to_str().unwrap()),
        ])
        .unwrap_err();
        assert_eq!(err.refused_file(), Some("the secret-id file"), "{err}");
    }

    #[test]
    fn the_token_file_must_be_private() {
        let home = tempfile::tempdir().unwrap();
        let home_str = home.path().to_str().unwrap();
        let err = from(&[("BAO_ADDR", "http://h"), ("HOME", home_str)]).unwrap_err();
        assert!(matches!(err, BaoError::NoToken { .. }), "{err}");
        assert!(err.hint().contains("bao login"));

        let file = home.path().join(".vault-token");
        std::fs::write(&file, "s.from-file\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = from(&[("BAO_ADDR", "http://h"), ("HOME", home_str)]).unwrap_err();
        assert!(
            err.to_string().contains("mode 0644 lets others read it"),
            "{err}"
        );
        assert!(err.hint().contains("chmod 600"), "{}", err.hint());
        assert!(!err.to_string().contains("s.from-file"));

        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = from(&[("BAO_ADDR", "http://h"), ("HOME", home_str)]).unwrap();
        assert_eq!(token_of(&c).0, "s.from-file");
        assert_eq!(token_of(&c).1, file.display().to_string());

        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &file).unwrap();
        let err = from(&[("BAO_ADDR", "http://h"), ("HOME", home_str)]).unwrap_err();
        assert_eq!(err.refused_file(), Some("the token file"), "{err}");
    }
}
