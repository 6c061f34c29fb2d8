//! `status`: what would happen on the next load, without writing anything or printing the
//! secret. Facts are gathered once ([`Facts::gather`], the only part that touches disk or
//! keyring), problems are derived from them by a pure function ([`problems`]), and the
//! command line prints the result.

use std::ffi::OsString;
use std::path::PathBuf;

use serde::Serialize;

use crate::fs::group_or_other_bits;
use crate::key::KeySource;
use crate::metadata::Metadata;
use crate::name::SecretName;
use crate::seal::Kind;
use crate::store::local;
use crate::{Error, ErrorClass, Vault};

/// A report on one secret. It never holds the secret.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Status {
    /// The secret's name.
    pub name: String,
    /// Which source would win: `env`, `env_file`, `credential` (delivered by systemd),
    /// `vault`, or `none` (a load would generate).
    pub source: &'static str,
    /// The file that would be read: the `_FILE` target, else the vault file.
    pub path: PathBuf,
    /// Whether that file exists.
    pub exists: bool,
    /// Its permission bits, in octal.
    pub mode: Option<String>,
    /// Its owner.
    pub owner_uid: Option<u32>,
    /// `encrypted`, `plaintext`, `empty`, `corrupt`, `absent`, `unreadable`, or `env` (the
    /// value is in the environment).
    pub content: &'static str,
    /// The key source recorded in the vault metadata.
    pub key_source: Option<KeySource>,
    /// The key source asked for by option or environment.
    pub requested_key_source: KeySource,
    /// The vault id.
    pub vault_id: Option<String>,
    /// The age recipient of the vault's own key.
    pub recipient: Option<String>,
    /// The other recipients every write also seals to.
    pub recipients: Vec<String>,
    /// Whether the metadata carries its MAC (`false`: written by an earlier version; the
    /// next write adds it).
    pub metadata_authenticated: Option<bool>,
    /// Where the vault key is.
    pub key_location: Option<String>,
    /// What protects the secret at rest: what an attacker needs besides the vault files.
    pub protection: Option<String>,
    /// Until when the previous secret stays valid (RFC 3339, UTC), while it does.
    pub previous_expires: Option<String>,
    /// With the `systemd-creds` key source: the unit line that delivers the vault key.
    pub credential_unit_line: Option<String>,
    /// With the `systemd-creds` key source: whether `systemd-creds has-tpm2` reports a TPM2
    /// (then new credentials are sealed to it as well as to the host key).
    pub tpm2: Option<bool>,
    /// Whether the OS keyring answered (`None` when it was not needed).
    pub keyring_reachable: Option<bool>,
    /// Whether the keyring's default collection, where the vault key is, is locked (`None`
    /// when not needed or not known).
    pub keyring_locked: Option<bool>,
    /// What is wrong, each with its fix; any problem makes the secret not healthy.
    pub problems: Vec<Problem>,
    /// What is weak but works (for example a key file beside the vault in one home).
    pub warnings: Vec<Problem>,
    /// `true` when a load would succeed from the winning source without writing anything.
    pub healthy: bool,
    /// With the OpenBao store, what the server says and the local copy's age.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<crate::StoreStatus>,
}

/// One thing wrong, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Problem {
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub fix: Option<String>,
    /// Its class (the command line's exit code follows from it).
    pub class: ErrorClass,
}

impl From<&Error> for Problem {
    fn from(e: &Error) -> Self {
        Self {
            message: crate::error_chain(e),
            fix: e.hint(),
            class: e.class(),
        }
    }
}

/// Which source wins, from the variables alone.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Winner {
    Env,
    Ambiguous,
    EmptyFileVar,
    EnvFile(PathBuf),
    Credential(PathBuf),
    Vault,
}

/// A file's facts, as a load would see them.
#[derive(Debug)]
struct FileFacts {
    mode: u32,
    uid: u32,
    kind: Kind,
}

impl FileFacts {
    fn of(c: &crate::fs::FileContent) -> Self {
        Self {
            mode: c.mode,
            uid: c.uid,
            kind: crate::seal::classify(&c.bytes),
        }
    }
}

/// Whether the variables (or a delivered credential) give a value.
fn from_env(vault: &Vault, name: &SecretName) -> Result<bool, Error> {
    crate::resolve::from_env(vault, name).map(|l| l.is_some())
}

/// Everything `status` knows, gathered once.
struct Facts {
    name: SecretName,
    winner: Winner,
    /// The `_FILE` target, or the vault file.
    path: PathBuf,
    file: Result<Option<FileFacts>, Error>,
    dir_mode: Option<u32>,
    dir_error: Option<Error>,
    meta: Result<Option<Metadata>, Error>,
    /// What a load from the winning source does (`None`: no value there).
    load: Result<bool, Error>,
    key_location: Option<String>,
    protection: Option<String>,
    previous_expires: Option<String>,
    credential: Option<(String, bool)>,
    keyring_reachable: Option<bool>,
    keyring_locked: Option<bool>,
    requested: KeySource,
}

/// Which source wins for `name`: the variables, then a credential systemd delivered.
fn winning(vault: &Vault, name: &SecretName) -> Winner {
    let file_var = name.file_env_var();
    let winner = winner(
        vault.var(&name.env_var()),
        vault
            .var_is_set(&file_var)
            .then(|| vault.var(&file_var).unwrap_or_default()),
    );
    let delivered = vault
        .var(crate::key::systemd_creds::CREDENTIALS_DIRECTORY)
        .map(|d| PathBuf::from(d).join(name.as_str()))
        .filter(|p| std::fs::symlink_metadata(p).is_ok());
    match (winner, delivered) {
        (Winner::Vault, Some(path)) => Winner::Credential(path),
        (winner, _) => winner,
    }
}

/// The previous secret's expiry (RFC 3339) while its window lasts.
fn previous_expires(meta: Option<&Metadata>, name: &SecretName) -> Option<String> {
    meta.and_then(|m| m.previous.get(name.as_str()).copied())
        .filter(|r| !r.expired())
        .map(|r| crate::lifecycle::rfc3339(r.until()))
}

impl Winner {
    /// How `status` and `list` name the source.
    fn source(&self) -> &'static str {
        match self {
            Self::Env | Self::Ambiguous => "env",
            Self::EnvFile(_) | Self::EmptyFileVar => "env_file",
            Self::Credential(_) => "credential",
            Self::Vault => "vault",
        }
    }
}

fn winner(direct: Option<OsString>, file_var: Option<OsString>) -> Winner {
    match (direct, file_var) {
        (Some(_), Some(_)) => Winner::Ambiguous,
        (Some(_), None) => Winner::Env,
        (None, Some(f)) if f.is_empty() => Winner::EmptyFileVar,
        (None, Some(f)) => Winner::EnvFile(PathBuf::from(f)),
        (None, None) => Winner::Vault,
    }
}

impl Facts {
    fn gather(vault: &Vault, name: SecretName) -> Self {
        let file_var = name.file_env_var();
        let winner = winning(vault, &name);
        let vault_path = vault.dir().join(name.as_str());
        let (dir_mode, dir_error, meta) = match vault.local().open() {
            Ok(Some(dir)) => {
                let mode = rustix::fs::fstat(dir.fd())
                    .ok()
                    .map(|st| crate::fs::mode_bits(st.st_mode));
                (mode, None, local::metadata(&dir, vault.keys()))
            }
            Ok(None) => (None, None, Ok(None)),
            Err(e) => (None, Some(e), Ok(None)),
        };
        let (path, file, load) = match &winner {
            Winner::EnvFile(path) => {
                let file = crate::fs::read_followed(path)
                    .map(|c| Some(FileFacts::of(&c)))
                    .map_err(|e| e.into_error(&file_var, path));
                (path.clone(), file, from_env(vault, &name))
            }
            Winner::Vault => {
                let file = vault.local().open().and_then(|dir| match dir {
                    Some(dir) => dir
                        .read(name.as_str())
                        .map(|c| c.as_ref().map(FileFacts::of)),
                    None => Ok(None),
                });
                let load = local::probe(vault.local(), vault.keys(), &name, &vault.deadline())
                    .map(|l| l.is_some());
                (vault_path, file, load)
            }
            Winner::Credential(path) => (path.clone(), Ok(None), from_env(vault, &name)),
            Winner::Env | Winner::Ambiguous | Winner::EmptyFileVar => {
                (vault_path, Ok(None), from_env(vault, &name))
            }
        };
        let meta_ref = meta.as_ref().ok().and_then(Option::as_ref);
        let key_location = meta_ref.map(|m| vault.keys().describe(&m.key_ref()));
        let protection = meta_ref.map(|m| vault.keys().protection(&m.key_ref()));
        let previous_expires = previous_expires(meta_ref, &name);
        let credential = meta_ref
            .filter(|m| m.key_source == KeySource::SystemdCreds)
            .map(|m| {
                let facts = vault
                    .keys()
                    .systemd_creds()
                    .facts(&m.key_ref(), &vault.deadline());
                (facts.unit_line, facts.tpm2)
            });
        let keyring_needed = match meta_ref {
            Some(m) => m.key_source == KeySource::Keyring,
            None => vault.keys().requested() != KeySource::File,
        };
        let keyring_reachable =
            keyring_needed.then(|| vault.keys().keyring().store(&vault.deadline()).is_ok());
        let keyring_locked = if keyring_reachable == Some(true) {
            vault
                .keys()
                .keyring()
                .default_collection_locked(&vault.deadline())
        } else {
            None
        };
        Self {
            name,
            winner,
            path,
            file,
            dir_mode,
            dir_error,
            meta,
            load,
            key_location,
            protection,
            previous_expires,
            credential,
            keyring_reachable,
            keyring_locked,
            requested: vault.keys().requested(),
        }
    }

    fn into_status(self) -> Status {
        let (problems, warnings) = problems(&self);
        let meta = self.meta.as_ref().ok().and_then(Option::as_ref);
        let file = self.file.as_ref().ok().and_then(Option::as_ref);
        let content = match (&self.winner, &self.file, file) {
            (Winner::Env | Winner::Ambiguous | Winner::EmptyFileVar, _, _) => "env",
            (Winner::Credential(_), _, _) => "credential",
            (_, Err(_), _) => "unreadable",
            (_, _, Some(f)) => match f.kind {
                Kind::Encrypted => "encrypted",
                Kind::Plaintext => "plaintext",
                Kind::Empty => "empty",
                Kind::Garbage(_) => "corrupt",
            },
            (_, Ok(_), None) => "absent",
        };
        let source = match (&self.winner, &self.load) {
            (Winner::Vault, Ok(false)) => "none",
            (winner, _) => winner.source(),
        };
        Status {
            name: self.name.as_str().to_owned(),
            source,
            path: self.path.clone(),
            exists: matches!(self.file, Ok(Some(_)) | Err(_)),
            mode: file.map(|f| format!("{:04o}", f.mode)),
            owner_uid: file.map(|f| f.uid),
            content,
            key_source: meta.map(|m| m.key_source),
            requested_key_source: self.requested,
            vault_id: meta.map(|m| m.id.clone()),
            recipient: meta.map(|m| m.recipient.clone()),
            recipients: meta.map(|m| m.recipients.clone()).unwrap_or_default(),
            metadata_authenticated: meta.map(Metadata::is_authenticated),
            key_location: self.key_location.clone(),
            protection: self.protection.clone(),
            previous_expires: self.previous_expires.clone(),
            credential_unit_line: self.credential.as_ref().map(|c| c.0.clone()),
            tpm2: self.credential.as_ref().map(|c| c.1),
            keyring_reachable: self.keyring_reachable,
            keyring_locked: self.keyring_locked,
            healthy: problems.is_empty(),
            problems,
            warnings,
            store: None,
        }
    }
}

/// What a load from the winning source would fail with: a locked keyring collection is
/// said as such (its key then reads as missing, which is said once). Pure.
fn load_problems(f: &Facts) -> Vec<Problem> {
    let mut problems = Vec::new();
    if f.keyring_locked == Some(true) {
        problems.push(Problem {
            message: "the OS keyring's collection is locked: the vault key cannot be read \
                      (a locked collection answers as if the key were not there)"
                .into(),
            fix: Some(
                "unlock it (log in to the desktop session, or unlock it in Seahorse), then try again"
                    .into(),
            ),
            class: ErrorClass::KeyUnavailable,
        });
    }
    match &f.load {
        // Said once: the locked collection is why the key is "missing".
        Err(Error::IdentityMissing { .. }) if f.keyring_locked == Some(true) => {}
        Err(e) => problems.push(Problem::from(e)),
        Ok(_) => {}
    }
    problems
}

/// Derives what is wrong (and what is merely weak) from the facts. Pure.
fn problems(f: &Facts) -> (Vec<Problem>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let name = f.name.as_str();
    let path = f.path.display();
    problems.extend(load_problems(f));
    if f.winner != Winner::Vault {
        return (problems, warnings);
    }
    if let Some(e) = &f.dir_error
        && f.load.is_ok()
    {
        problems.push(Problem::from(e));
    }
    if let Some(mode) = f.dir_mode
        && group_or_other_bits(mode)
    {
        problems.push(Problem {
            message: format!(
                "the vault dir {} is open to group or others (mode {mode:04o}); its file names \
                 and metadata should be private",
                f.path
                    .parent()
                    .map_or(path.to_string(), |p| p.display().to_string())
            ),
            fix: Some(format!(
                "run `chmod 700 {}` (the next write also tightens it)",
                f.path
                    .parent()
                    .map_or(path.to_string(), |p| p.display().to_string())
            )),
            class: ErrorClass::UnsafePath,
        });
    }
    match f
        .file
        .as_ref()
        .ok()
        .and_then(Option::as_ref)
        .map(|f| &f.kind)
    {
        None | Some(Kind::Empty) if f.load.is_ok() => problems.push(Problem {
            message: format!("no secret yet at {path}"),
            fix: Some(format!(
                "`continuum-vault get {name}` (or the server's first start) generates one; \
                 `continuum-vault set {name}` stores a given value"
            )),
            class: ErrorClass::NotFound,
        }),
        Some(Kind::Plaintext) if f.load.is_ok() => problems.push(Problem {
            message: format!(
                "{path} holds the secret in plaintext at rest: anyone who can read it, or a copy \
                 of it (a home backup), can sign sessions"
            ),
            fix: Some(format!(
                "make every reader of the file go through continuum-vault, then run \
                 `continuum-vault migrate {name}`"
            )),
            class: ErrorClass::UnsafePath,
        }),
        Some(Kind::Encrypted)
            if f.file
                .as_ref()
                .ok()
                .and_then(Option::as_ref)
                .is_some_and(|file| group_or_other_bits(file.mode))
                && f.load.is_ok() =>
        {
            problems.push(Problem {
                message: format!(
                    "{path} is accessible to group or others; the next load sets it to 0600"
                ),
                fix: Some(format!("run `chmod 600 {path}`")),
                class: ErrorClass::UnsafePath,
            });
        }
        _ => {}
    }
    if let Some(protection) = &f.protection
        && protection.contains("same home directory")
    {
        warnings.push(Problem {
            message: protection.clone(),
            fix: Some(
                "on a server, as root: `continuum-vault rekey --to systemd-creds` (the key sealed \
                 to the host); on a desktop: `continuum-vault rekey --to keyring`"
                    .into(),
            ),
            class: ErrorClass::UnsafePath,
        });
    }
    (problems, warnings)
}

/// One secret of the vault, as `list` shows it. Never a value.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Listed {
    /// The secret's name.
    pub name: String,
    /// Which source a load would use: `env`, `env_file`, `credential` or `vault`.
    pub source: &'static str,
    /// The vault's key source.
    pub key_source: Option<KeySource>,
    /// Until when the previous secret stays valid (RFC 3339, UTC), while it does.
    pub previous_expires: Option<String>,
}

/// `Vault::list`: the secrets the vault dir holds, in name order.
pub(crate) fn list(vault: &Vault) -> Result<Vec<Listed>, Error> {
    let Some(dir) = vault.local().open()? else {
        return Ok(Vec::new());
    };
    let meta = local::metadata(&dir, vault.keys())?;
    let mut listed = Vec::new();
    for file in dir.entries()? {
        let Ok(name) = SecretName::new(&file) else {
            continue;
        };
        let source = winning(vault, &name).source();
        let previous_expires = previous_expires(meta.as_ref(), &name);
        listed.push(Listed {
            name: file,
            source,
            key_source: meta.as_ref().map(|m| m.key_source),
            previous_expires,
        });
    }
    Ok(listed)
}

/// `Vault::status`.
pub(crate) fn status(vault: &Vault, name: SecretName) -> Status {
    let facts = Facts::gather(vault, name);
    let store_wins = facts.winner == Winner::Vault;
    let name = facts.name.clone();
    let mut status = facts.into_status();
    if let Some(remote) = vault.remote().filter(|_| store_wins) {
        crate::store::remote::status(vault, remote, &name, &mut status);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_winner_follows_the_variables() {
        let s = |v: &str| Some(OsString::from(v));
        assert_eq!(winner(None, None), Winner::Vault);
        assert_eq!(winner(s("x"), None), Winner::Env);
        assert_eq!(winner(s("x"), s("/f")), Winner::Ambiguous);
        assert_eq!(winner(s("x"), s("")), Winner::Ambiguous);
        assert_eq!(winner(None, s("")), Winner::EmptyFileVar);
        assert_eq!(winner(None, s("/f")), Winner::EnvFile("/f".into()));
    }

    fn facts(kind: Option<Kind>, mode: u32, load: Result<bool, Error>) -> Facts {
        Facts {
            name: SecretName::new("jwt_secret").unwrap(),
            winner: Winner::Vault,
            path: "/h/.continuum/jwt_secret".into(),
            file: Ok(kind.map(|kind| FileFacts { mode, uid: 0, kind })),
            dir_mode: Some(0o700),
            dir_error: None,
            meta: Ok(None),
            load,
            key_location: None,
            protection: None,
            previous_expires: None,
            credential: None,
            keyring_reachable: None,
            keyring_locked: None,
            requested: KeySource::Auto,
        }
    }

    #[test]
    fn problems_from_facts() {
        let classes = |f: &Facts| problems(f).0.iter().map(|p| p.class).collect::<Vec<_>>();
        assert_eq!(classes(&facts(Some(Kind::Encrypted), 0o600, Ok(true))), []);
        assert_eq!(classes(&facts(None, 0, Ok(false))), [ErrorClass::NotFound]);
        assert_eq!(
            classes(&facts(Some(Kind::Plaintext), 0o600, Ok(true))),
            [ErrorClass::UnsafePath],
            "plaintext at rest is never healthy"
        );
        assert_eq!(
            classes(&facts(Some(Kind::Encrypted), 0o644, Ok(true))),
            [ErrorClass::UnsafePath]
        );
        let err = Error::MetadataTampered {
            path: "/m".into(),
            reason: "x",
        };
        assert_eq!(
            classes(&facts(Some(Kind::Encrypted), 0o600, Err(err))),
            [ErrorClass::Corrupt],
            "one problem, reported once"
        );
        let mut loose_dir = facts(Some(Kind::Encrypted), 0o600, Ok(true));
        loose_dir.dir_mode = Some(0o755);
        assert_eq!(classes(&loose_dir), [ErrorClass::UnsafePath]);
        let mut same_home = facts(Some(Kind::Encrypted), 0o600, Ok(true));
        same_home.protection = Some("the key file /h/k is in the same home directory".into());
        let (p, w) = problems(&same_home);
        assert!(p.is_empty());
        assert_eq!(w.len(), 1);
    }
}
