//! `status`: what would happen on the next load, without writing anything or printing the secret.

use std::path::PathBuf;

use serde::Serialize;

use crate::fs::PrivateDir;
use crate::key::KeySource;
use crate::metadata::Metadata;
use crate::name::SecretName;
use crate::resolve::Source;
use crate::seal::Kind;
use crate::{Error, Vault};

/// A report on one secret. It never holds the secret.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Status {
    /// The secret's name.
    pub name: String,
    /// Which source would win: `env`, `env_file`, `vault`, or `none` (a load would generate).
    pub source: &'static str,
    /// The file that would be read (the vault file, or the `_FILE` target).
    pub path: PathBuf,
    /// Whether the vault file exists.
    pub exists: bool,
    /// The vault file's permission bits, in octal.
    pub mode: Option<String>,
    /// The vault file's owner.
    pub owner_uid: Option<u32>,
    /// `encrypted`, `plaintext`, `empty`, `corrupt`, `absent` or `unreadable`.
    pub content: &'static str,
    /// The key source recorded in the vault metadata.
    pub key_source: Option<KeySource>,
    /// The key source asked for by option or environment.
    pub requested_key_source: KeySource,
    /// The vault id.
    pub vault_id: Option<String>,
    /// The age recipient the vault encrypts to.
    pub recipient: Option<String>,
    /// Whether the OS keyring answered (`None` when it was not needed).
    pub keyring_reachable: Option<bool>,
    /// What is wrong, each with its fix.
    pub problems: Vec<Problem>,
    /// `true` when a load without creating would succeed without writing anything.
    pub healthy: bool,
    /// The exit code `continuum-vault status` uses: 0 when healthy, else the first problem's.
    pub exit_code: u8,
}

/// One thing wrong, and what to do about it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Problem {
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub fix: Option<String>,
    /// The exit code this problem maps to.
    pub exit_code: u8,
}

impl From<&Error> for Problem {
    fn from(e: &Error) -> Self {
        Self {
            message: crate::error_chain(e),
            fix: e.hint(),
            exit_code: e.exit_code(),
        }
    }
}

impl Vault {
    /// Reports on the secret `name` without writing anything.
    ///
    /// # Errors
    /// Only [`Error::InvalidName`]; everything else is reported as a [`Problem`].
    pub fn status(&self, name: &str) -> Result<Status, Error> {
        let name = SecretName::new(name)?;
        let mut status = Status {
            name: name.as_str().to_owned(),
            source: "vault",
            path: self.dir.join(name.as_str()),
            exists: false,
            mode: None,
            owner_uid: None,
            content: "absent",
            key_source: None,
            requested_key_source: self.key_source,
            vault_id: None,
            recipient: None,
            keyring_reachable: None,
            problems: Vec::new(),
            healthy: false,
            exit_code: 0,
        };
        match self.resolve_env(&name) {
            Ok(Some(loaded)) => {
                match loaded.source() {
                    Source::EnvFile { path, .. } => {
                        status.source = "env_file";
                        status.path.clone_from(path);
                    }
                    _ => status.source = "env",
                }
                self.inspect_vault(&name, &mut status, false);
            }
            Ok(None) => self.inspect_vault(&name, &mut status, true),
            Err(e) => {
                status.source = "env";
                status.problems.push(Problem::from(&e));
                self.inspect_vault(&name, &mut status, false);
            }
        }
        status.exit_code = status.problems.first().map_or(0, |p| p.exit_code);
        status.healthy = status.problems.is_empty();
        Ok(status)
    }

    /// Fills in the vault part. Problems are recorded only when the vault is what a load
    /// would use (`decides`).
    #[allow(clippy::too_many_lines)] // one linear walk through the checks reads best
    fn inspect_vault(&self, name: &SecretName, status: &mut Status, decides: bool) {
        let problem = |status: &mut Status, e: &Error| {
            if decides {
                status.problems.push(Problem::from(e));
            }
        };
        let dir = match PrivateDir::open(&self.dir) {
            Ok(Some(dir)) => dir,
            Ok(None) => {
                if decides {
                    status.source = "none";
                    problem(
                        status,
                        &Error::NotFound {
                            path: status.path.clone(),
                        },
                    );
                }
                self.probe_keyring(status, None);
                return;
            }
            Err(e) => return problem(status, &e),
        };
        let meta = match Metadata::load(&dir) {
            Ok(meta) => meta,
            Err(e) => return problem(status, &e),
        };
        if let Some(meta) = &meta {
            status.key_source = Some(meta.key_source);
            status.vault_id = Some(meta.id.clone());
            status.recipient = Some(meta.recipient.clone());
        }
        if let Err(e) = self.metadata(&dir) {
            problem(status, &e);
        }
        let content = match dir.read(name.as_str()) {
            Ok(Some(content)) => content,
            Ok(None) => {
                if decides {
                    status.source = "none";
                    problem(
                        status,
                        &Error::NotFound {
                            path: status.path.clone(),
                        },
                    );
                }
                self.probe_keyring(status, meta.as_ref());
                return;
            }
            Err(e) => {
                status.exists = true;
                status.content = "unreadable";
                return problem(status, &e);
            }
        };
        status.exists = true;
        status.mode = Some(format!("{:04o}", content.mode));
        status.owner_uid = Some(content.uid);
        match crate::seal::classify(&content.bytes) {
            Kind::Encrypted => {
                status.content = "encrypted";
                if crate::fs::group_or_other_bits(content.mode) {
                    if decides {
                        status.problems.push(Problem {
                            message: format!(
                                "{} is accessible to group or others (mode {:04o}); the next load sets it to 0600",
                                status.path.display(),
                                content.mode
                            ),
                            fix: Some(format!("run `chmod 600 {}`", status.path.display())),
                            exit_code: crate::error::exit::UNSAFE,
                        });
                    }
                } else if decides {
                    // With tight permissions a load takes the read-only path: it writes
                    // nothing, and answers every remaining question (metadata, key, decryption).
                    if let Err(e) = self.resolve_vault(name, crate::resolve::Create::No) {
                        problem(status, &e);
                    }
                }
            }
            Kind::Plaintext => {
                status.content = "plaintext";
                if crate::fs::group_or_other_bits(content.mode) {
                    let e = Error::UnsafePath {
                        path: status.path.clone(),
                        problem: crate::Unsafe::ReadableByOthers { mode: content.mode },
                    };
                    problem(status, &e);
                } else if decides {
                    status.problems.push(Problem {
                        message: format!(
                            "{} holds the secret in plaintext; the next load encrypts it in place",
                            status.path.display()
                        ),
                        fix: Some("run `continuum-vault get` once to encrypt it".into()),
                        exit_code: crate::error::exit::OTHER,
                    });
                }
            }
            Kind::Empty => {
                status.content = "empty";
                problem(
                    status,
                    &Error::NotFound {
                        path: status.path.clone(),
                    },
                );
            }
            Kind::Garbage(reason) => {
                status.content = "corrupt";
                problem(
                    status,
                    &Error::Corrupt {
                        path: status.path.clone(),
                        reason: reason.into(),
                    },
                );
            }
        }
        self.probe_keyring(status, meta.as_ref());
    }

    fn probe_keyring(&self, status: &mut Status, meta: Option<&Metadata>) {
        let relevant = match meta {
            Some(meta) => meta.key_source == KeySource::Keyring,
            None => self.key_source != KeySource::File,
        };
        if relevant {
            status.keyring_reachable = Some(self.keyring.store(&self.deadline()).is_ok());
        }
    }
}
