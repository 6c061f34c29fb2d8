//! The vault's operations with the OpenBao store selected (`--store openbao`), and the
//! local sealed copy that stands in for the store during an outage.
//!
//! The store is the source of truth: every operation reads or writes it through
//! [`BaoClient`] (check-and-set creation, rotation with the previous version recorded in
//! `custom_metadata`). Around it:
//!
//! - **The local copy.** After every successful read or write, the value is also kept as
//!   the local vault file (`~/.continuum/<name>`), sealed to this host's own key exactly
//!   as the local store keeps it, and its modification time marks when the store last
//!   confirmed it (that is the copy's age). A different value already there is kept as
//!   the local previous secret, a file that cannot be decrypted is set aside, and a
//!   plaintext file is left alone: the copy never loses a value. Updating it never fails
//!   the operation: a copy that cannot be written is a warning. `CONTINUUM_VAULT_CACHE=off`
//!   keeps no copy.
//! - **An outage** (the server cannot be reached, does not answer in time, is sealed or
//!   on standby): a load uses the copy, with a warning naming its age. Nothing is ever
//!   generated while the store cannot be reached, and the store is never written from the
//!   copy: `set`, `rotate`, `backup` and `restore` need the store. A refusal (a bad token,
//!   a missing policy) is not an outage: it fails, and the copy is not used.
//!
//! The copy is a normal local vault file: a later run with `--store local` reads it as
//! its own secret (the last value this host saw in the store), and from then on that
//! host's secret and the store's evolve apart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::openbao::{BaoClient, BaoConfig, BaoError, Versioned, previous_record};
use crate::lifecycle::{self, DEFAULT_GRACE, Rotated, rfc3339};
use crate::name::SecretName;
use crate::resolve::{Create, Loaded, Notice, Source};
use crate::status::{Problem, Status};
use crate::store::local;
use crate::{Error, ErrorClass, SetOutcome, Vault};

/// The OpenBao store of one [`Vault`]: the client (made at first use, from the
/// environment) and whether the local copy is kept.
pub(crate) struct Remote {
    cache: bool,
    client: OnceLock<BaoClient>,
    /// Per name, the previous version and its expiry recorded with the last version read,
    /// so that a key set needs no second read of the current version.
    previous: Mutex<BTreeMap<String, Option<(u64, SystemTime)>>>,
}

impl Remote {
    pub(crate) fn new(cache: bool) -> Self {
        Self {
            cache,
            client: OnceLock::new(),
            previous: Mutex::new(BTreeMap::new()),
        }
    }

    /// The client, configured from the vault's environment at the first call.
    fn client(&self, vault: &Vault) -> Result<&BaoClient, Error> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let config = BaoConfig::from_env(&|name| vault.var(name))?;
        let client = BaoClient::new(config)?;
        Ok(self.client.get_or_init(|| client))
    }

    fn remember(&self, name: &SecretName, read: &Versioned) {
        self.previous
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                name.as_str().to_owned(),
                previous_record(read, SystemTime::now()),
            );
    }

    fn remembered(&self, name: &SecretName) -> Option<(u64, SystemTime)> {
        self.previous
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name.as_str())
            .copied()
            .flatten()
    }
}

/// The store's part of `status`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StoreStatus {
    /// The server's address (`BAO_ADDR`), when the store is configured.
    pub address: Option<String>,
    /// The secret's data path, e.g. `secret/data/continuum/jwt_secret`.
    pub path: Option<String>,
    /// The current KV version, when the server answered with one.
    pub version: Option<u64>,
    /// Whether the server answered (`None` when it was not asked: a bad configuration).
    pub reachable: Option<bool>,
    /// Whether the local copy is kept (`CONTINUUM_VAULT_CACHE`).
    pub cache: bool,
    /// The local copy, when there is one.
    pub copy: Option<PathBuf>,
    /// How long ago the store last confirmed the copy, in seconds.
    pub copy_age_secs: Option<u64>,
}

/// Step 3 of resolution with the OpenBao store: read (creating when allowed), or the copy
/// during an outage.
pub(crate) fn load(
    vault: &Vault,
    remote: &Remote,
    name: &SecretName,
    create: Create,
) -> Result<Loaded, Error> {
    let client = remote.client(vault)?;
    let deadline = vault.deadline();
    let read = match create {
        Create::Yes => client
            .create_or_get(name, crate::generate::token_urlsafe, &deadline)
            .map(|o| Some((o.secret, o.created))),
        Create::No => client
            .read_current(name, &deadline)
            .map(|v| v.map(|v| (v, false))),
    };
    match read {
        Ok(Some((read, created))) => {
            remote.remember(name, &read);
            let mut notices = Vec::new();
            if created {
                notices.push(Notice(format!(
                    "Generated new {what} in OpenBao: {address} {path} (version {version}).\n\
                     Every host and worker using this store gets this same secret.\n\
                     Make a backup that opens without the store (passphrase or recovery key):\n\
                     \x20 continuum-vault --store openbao backup {name} --out {name}.backup.age",
                    what = what(name),
                    address = client.address(),
                    path = client.data_path(name),
                    version = read.version,
                    name = name.as_str(),
                )));
            }
            refresh_copy(vault, remote, name, &read.value, &mut notices);
            Ok(Loaded {
                source: Source::Store {
                    address: client.address().to_owned(),
                    path: client.data_path(name),
                    version: read.version,
                    created,
                },
                secret: read.value,
                notices,
            })
        }
        Ok(None) => Err(Error::NotFound {
            path: PathBuf::from(client.data_path(name)),
        }),
        Err(e) if e.is_outage() => from_copy(vault, remote, client, name, e),
        Err(e) => Err(e.into()),
    }
}

fn what(name: &SecretName) -> String {
    if name.as_str() == crate::name::DEFAULT_NAME {
        "JWT secret".to_owned()
    } else {
        format!("secret {}", name.as_str())
    }
}

/// The copy, when the store cannot be reached; else the store's error, saying why the
/// copy could not stand in.
fn from_copy(
    vault: &Vault,
    remote: &Remote,
    client: &BaoClient,
    name: &SecretName,
    outage: BaoError,
) -> Result<Loaded, Error> {
    let path = vault.local().path().join(name.as_str());
    if !remote.cache {
        return Err(with_note(
            outage,
            "no local copy is kept (CONTINUUM_VAULT_CACHE=off), and no secret is generated \
             while the store cannot be reached",
        ));
    }
    match local::read(vault.local(), vault.keys(), name, &vault.deadline()) {
        Ok(Some(copy)) if matches!(copy.source, Source::Vault { .. }) => {
            let mut notices = copy.notices;
            notices.push(Notice(format!(
                "warning: {}; using the local copy {} instead, last confirmed by the store {} \
                 (nothing is generated or written to the store until it answers again)",
                crate::error_chain(&outage),
                path.display(),
                age_text(copy_age(&path)),
            )));
            Ok(Loaded {
                secret: copy.secret,
                source: Source::StoreCopy {
                    path,
                    address: client.address().to_owned(),
                },
                notices,
            })
        }
        Ok(Some(_)) => Err(with_note(
            outage,
            &format!(
                "{} is a plaintext file, not a copy kept by the store: it is not used",
                path.display()
            ),
        )),
        Ok(None) => Err(with_note(
            outage,
            "this host has no local copy yet (one is kept after the first successful read), \
             and no secret is generated while the store cannot be reached",
        )),
        Err(e) => Err(with_note(
            outage,
            &format!(
                "the local copy cannot be used either: {}",
                crate::error_chain(&e)
            ),
        )),
    }
}

/// The store's error, its hint followed by `note`.
fn with_note(e: BaoError, note: &str) -> Error {
    Error::Store {
        class: e.class(),
        hint: format!("{}\n{note}", e.hint()),
        source: Box::new(e),
    }
}

/// How long ago the copy at `path` was last confirmed by the store (its modification time).
fn copy_age(path: &Path) -> Option<Duration> {
    let modified = std::fs::symlink_metadata(path).ok()?.modified().ok()?;
    Some(
        SystemTime::now()
            .duration_since(modified)
            .unwrap_or(Duration::ZERO),
    )
}

fn age_text(age: Option<Duration>) -> String {
    match age {
        Some(age) => format!(
            "{} ago",
            humantime::format_duration(Duration::from_secs(age.as_secs()))
        ),
        None => "at an unknown time".into(),
    }
}

/// Keeps `value` as the local copy of `name`, unless the copy is off. A failure is a
/// warning: the store already answered.
fn refresh_copy(
    vault: &Vault,
    remote: &Remote,
    name: &SecretName,
    value: &SecretString,
    notices: &mut Vec<Notice>,
) {
    if !remote.cache {
        return;
    }
    if let Err(e) = write_copy(vault, name, value, notices) {
        notices.push(Notice(format!(
            "warning: the local copy of {} (used when the store cannot be reached) was not \
             updated: {}",
            name.as_str(),
            crate::error_chain(&e)
        )));
    }
}

/// Writes the copy as `set --force` would locally (so a different value is kept as the
/// previous one, an unreadable file is set aside, a plaintext file is refused), or, when
/// it already holds `value`, marks it as confirmed now.
fn write_copy(
    vault: &Vault,
    name: &SecretName,
    value: &SecretString,
    notices: &mut Vec<Notice>,
) -> Result<(), Error> {
    let deadline = vault.deadline();
    let dir = vault.local().create()?;
    let _lock = dir.lock(&deadline)?;
    let (outcome, more) = lifecycle::replace_locked(
        vault.keys(),
        &dir,
        name,
        value,
        true,
        DEFAULT_GRACE,
        &deadline,
    )?;
    // The local previous secret of a copy is only a value kept from loss; the store's own
    // previous secret is what `run` exports, so the local store's words about it are left out.
    notices.extend(
        more.into_iter()
            .filter(|n| !n.0.starts_with("notice: the replaced value stays valid")),
    );
    match outcome {
        SetOutcome::Unchanged => touch(&dir, name.as_str()),
        SetOutcome::Created => {
            notices.push(Notice(format!(
                "notice: a sealed copy of {} is kept in {} for when the store cannot be reached \
                 (CONTINUUM_VAULT_CACHE=off keeps none)",
                name.as_str(),
                dir.join(name.as_str()).display()
            )));
            Ok(())
        }
        SetOutcome::Replaced => Ok(()),
    }
}

/// Sets the file's times to now: the store confirmed the copy.
fn touch(dir: &crate::fs::PrivateDir, file: &str) -> Result<(), Error> {
    let now = rustix::fs::Timespec {
        tv_sec: 0,
        tv_nsec: rustix::fs::UTIME_NOW,
    };
    rustix::fs::utimensat(
        dir.fd(),
        file,
        &rustix::fs::Timestamps {
            last_access: now,
            last_modification: now,
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| Error::Write {
        path: dir.join(file),
        source: e.into(),
    })
}

/// The previous secret of `name` after a load from the store returned its current
/// version: read when the version read recorded one still valid. A previous version that
/// cannot be read (deleted, or the server went away in between) is left out, with a warning.
pub(crate) fn previous(
    vault: &Vault,
    name: &SecretName,
    notices: &mut Vec<Notice>,
) -> Result<Option<(SecretString, SystemTime)>, Error> {
    let Some(remote) = vault.remote() else {
        return Ok(None);
    };
    let Some((version, expires)) = remote.remembered(name) else {
        return Ok(None);
    };
    let client = remote.client(vault)?;
    match client.read_version(name, version, &vault.deadline()) {
        Ok(previous) => Ok(Some((previous.value, expires))),
        Err(e)
            if e.is_outage()
                || matches!(e, BaoError::Deleted { .. } | BaoError::NotFound { .. }) =>
        {
            notices.push(Notice(format!(
                "warning: the previous secret (version {version}) is unusable: {}",
                crate::error_chain(&e)
            )));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// `Vault::set` with the store: create with `cas=0`, or with `force` replace a different
/// value as a rotation does (it stays valid as the previous secret).
pub(crate) fn set(
    vault: &Vault,
    remote: &Remote,
    name: &SecretName,
    value: &SecretString,
    force: bool,
) -> Result<(SetOutcome, Vec<Notice>), Error> {
    let value = lifecycle::checked_value(value)?;
    lifecycle::refuse_if_env_wins(vault, name)?;
    let client = remote.client(vault)?;
    let (outcome, mut notices) = put(client, name, &value, force, None, &vault.deadline())?;
    refresh_copy(vault, remote, name, &value, &mut notices);
    Ok((outcome, notices))
}

/// The common path of `set` and `restore`: decide from the store's current version, then
/// write with check-and-set. `previous` (from a backup) is written first when the store has
/// no value yet, so that it becomes the previous secret until its expiry.
fn put(
    client: &BaoClient,
    name: &SecretName,
    value: &SecretString,
    force: bool,
    previous: Option<(&SecretString, SystemTime)>,
    deadline: &crate::deadline::Deadline,
) -> Result<(SetOutcome, Vec<Notice>), Error> {
    let path = client.data_path(name);
    let mut notices = Vec::new();
    let outcome = match client.read_current(name, deadline)? {
        None => {
            let now = SystemTime::now();
            match previous.filter(|(_, until)| *until > now) {
                Some((old, until)) => {
                    client.write(name, old, 0, deadline)?;
                    let grace = until.duration_since(now).unwrap_or(Duration::from_secs(1));
                    let rotation = client.rotate(name, value, grace, deadline)?;
                    notices.push(Notice(format!(
                        "notice: the backup's previous secret is version {} of {path}, valid \
                         until {} (UTC)",
                        rotation.previous_version,
                        rfc3339(rotation.previous_expires)
                    )));
                }
                None => {
                    client.write(name, value, 0, deadline)?;
                }
            }
            SetOutcome::Created
        }
        Some(current) if current.value.expose_secret() == value.expose_secret() => {
            SetOutcome::Unchanged
        }
        Some(_) if !force => {
            return Err(Error::Conflict {
                path: PathBuf::from(path),
                what: "a different value",
            });
        }
        Some(_) => {
            let rotation = client.rotate(name, value, DEFAULT_GRACE, deadline)?;
            notices.push(Notice(format!(
                "notice: the replaced value (version {} of {path}) stays valid as the previous \
                 secret until {} (UTC), on every host (CONTINUUM_{}_PREVIOUS under `run`)",
                rotation.previous_version,
                rfc3339(rotation.previous_expires),
                name.as_str().to_ascii_uppercase(),
            )));
            SetOutcome::Replaced
        }
    };
    Ok((outcome, notices))
}

/// `Vault::rotate` with the store: version n+1 with `cas=n`, version n the previous
/// secret for `grace` on every host.
pub(crate) fn rotate(
    vault: &Vault,
    remote: &Remote,
    name: &SecretName,
    grace: Duration,
) -> Result<Rotated, Error> {
    lifecycle::check_grace(grace)?;
    lifecycle::refuse_if_env_wins(vault, name)?;
    let client = remote.client(vault)?;
    let new = crate::generate::token_urlsafe()?;
    let rotation = client
        .rotate(name, &new, grace, &vault.deadline())
        .map_err(|e| match e {
            BaoError::NotFound { path, .. } => Error::NotFound {
                path: PathBuf::from(path),
            },
            e => e.into(),
        })?;
    let mut notices = vec![Notice(format!(
        "Rotated {name} in OpenBao: {path} version {version} is the new secret.\n\
         Restart (or reload) every worker on every host: each keeps the secret it loaded at start,\n\
         so only restarted workers sign with the new one.\n\
         The old secret (version {previous}) stays available as the previous one until {until} (UTC)\n\
         on every host ({var}_PREVIOUS under `continuum-vault run`).",
        name = name.as_str(),
        path = client.data_path(name),
        version = rotation.version,
        previous = rotation.previous_version,
        until = rfc3339(rotation.previous_expires),
        var = name.env_var(),
    ))];
    refresh_copy(vault, remote, name, &new, &mut notices);
    Ok(Rotated {
        previous_expires: rotation.previous_expires,
        notices,
    })
}

/// What `backup` saves with the store: the current secret and the previous one while it
/// is valid. Needs the store (a backup is never made from the copy).
pub(crate) fn backup_values(
    vault: &Vault,
    remote: &Remote,
    name: &SecretName,
) -> Result<(SecretString, Option<(SecretString, SystemTime)>), Error> {
    let client = remote.client(vault)?;
    let set = client
        .key_set(name, &vault.deadline())?
        .ok_or_else(|| Error::NotFound {
            path: PathBuf::from(client.data_path(name)),
        })?;
    Ok((set.current.value, set.previous))
}

/// `restore` with the store: like `set` (`force` replaces a different value, kept as the
/// previous secret); into an empty store, the backup's previous secret is restored too.
pub(crate) fn restore(
    vault: &Vault,
    remote: &Remote,
    name: &SecretName,
    current: &SecretString,
    previous: Option<(&SecretString, SystemTime)>,
    force: bool,
) -> Result<(SetOutcome, Vec<Notice>), Error> {
    let client = remote.client(vault)?;
    let (outcome, mut notices) = put(client, name, current, force, previous, &vault.deadline())?;
    if outcome == SetOutcome::Replaced && previous.is_some() {
        notices.push(Notice(
            "notice: the backup's previous secret was not restored: the store keeps the value \
             it replaced as the previous one"
                .into(),
        ));
    }
    refresh_copy(vault, remote, name, current, &mut notices);
    Ok((outcome, notices))
}

/// The store's part of `status`, when the store wins over the variables: what the server
/// says, and the copy's age. Reads only.
pub(crate) fn status(vault: &Vault, remote: &Remote, name: &SecretName, status: &mut Status) {
    let copy_path = vault.local().path().join(name.as_str());
    let copy_age = remote.cache.then(|| copy_age(&copy_path)).flatten();
    let mut report = StoreStatus {
        address: None,
        path: None,
        version: None,
        reachable: None,
        cache: remote.cache,
        copy: copy_age.map(|_| copy_path.clone()),
        copy_age_secs: copy_age.map(|a| a.as_secs()),
    };
    // The local facts are about the copy: a missing one is no problem of the store's.
    let mut problems: Vec<Problem> = status
        .problems
        .drain(..)
        .filter(|p| p.class != ErrorClass::NotFound && copy_age.is_some())
        .collect();
    match remote.client(vault) {
        Err(e) => problems.insert(0, Problem::from(&e)),
        Ok(client) => {
            report.address = Some(client.address().to_owned());
            report.path = Some(client.data_path(name));
            match client.read_current(name, &vault.deadline()) {
                Ok(Some(read)) => {
                    report.reachable = Some(true);
                    report.version = Some(read.version);
                }
                Ok(None) => {
                    report.reachable = Some(true);
                    problems.insert(
                        0,
                        Problem {
                            message: format!(
                                "no secret yet at {} in OpenBao {}",
                                client.data_path(name),
                                client.address()
                            ),
                            fix: Some(format!(
                                "`continuum-vault --store openbao get {n}` (or the server's \
                                 first start) generates one; `continuum-vault --store openbao \
                                 set {n}` stores a given value",
                                n = name.as_str()
                            )),
                            class: ErrorClass::NotFound,
                        },
                    );
                }
                Err(e) => {
                    report.reachable = Some(!e.is_outage());
                    let outage = e.is_outage();
                    let mut problem = Problem::from(&Error::from(e));
                    if outage {
                        let then = match copy_age {
                            Some(age) => format!(
                                "; a load would use the local copy {}, last confirmed {}",
                                copy_path.display(),
                                age_text(Some(age))
                            ),
                            None => "; there is no local copy, so a load would fail".into(),
                        };
                        problem.message.push_str(&then);
                    }
                    problems.insert(0, problem);
                }
            }
        }
    }
    status.source = "openbao";
    status.healthy = problems.is_empty();
    status.problems = problems;
    status.store = Some(report);
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use crate::{Error, StoreKind, Vault};

    fn build(vars: &'static [(&'static str, &'static str)]) -> Result<Vault, Error> {
        Vault::builder()
            .env(move |name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            })
            .build()
    }

    #[test]
    fn the_store_and_the_copy_are_settings() {
        let v = build(&[("HOME", "/h")]).unwrap();
        assert_eq!(v.store(), StoreKind::Local);
        assert!(v.remote().is_none());
        let v = build(&[("HOME", "/h"), ("CONTINUUM_VAULT_STORE", "openbao")]).unwrap();
        assert_eq!(v.store(), StoreKind::OpenBao);
        assert!(v.remote().unwrap().cache);
        let v = build(&[
            ("HOME", "/h"),
            ("CONTINUUM_VAULT_STORE", "openbao"),
            ("CONTINUUM_VAULT_CACHE", "off"),
        ])
        .unwrap();
        assert!(!v.remote().unwrap().cache);
        let v = Vault::builder()
            .env(|name| (name == "CONTINUUM_VAULT_STORE").then(|| "local".into()))
            .dir("/h/.continuum")
            .key_dir("/k")
            .store(StoreKind::OpenBao)
            .cache(false)
            .build()
            .unwrap();
        assert_eq!(v.store(), StoreKind::OpenBao, "the builder wins");
        assert!(!v.remote().unwrap().cache);

        for (var, value) in [
            ("CONTINUUM_VAULT_STORE", "bao"),
            ("CONTINUUM_VAULT_CACHE", "0"),
        ] {
            let vars: &'static [(&'static str, &'static str)] =
                Box::leak(vec![("HOME", "/h"), (var, value)].into_boxed_slice());
            let err = build(vars).unwrap_err();
            assert!(
                matches!(err, Error::InvalidSetting { setting, .. } if setting == var),
                "{err:?}"
            );
            assert_eq!(err.class(), crate::ErrorClass::Usage);
        }
    }

    #[test]
    fn a_missing_address_is_a_usage_error_that_writes_nothing() {
        let home = tempfile::tempdir().unwrap();
        let home_path = home.path().to_owned();
        let v = Vault::builder()
            .env(move |name| match name {
                "HOME" => Some(home_path.clone().into()),
                "CONTINUUM_VAULT_STORE" => Some("openbao".into()),
                "BAO_TOKEN" => Some("s.token".into()),
                _ => None,
            })
            .build()
            .unwrap();
        let err = v.load("jwt_secret").unwrap_err();
        assert_eq!(err.class(), crate::ErrorClass::Usage, "{err}");
        assert!(err.hint().unwrap().contains("set BAO_ADDR"));
        assert!(!format!("{err} {err:?}").contains("s.token"));
        assert!(!home.path().join(".continuum").exists());
    }
}
