//! `Vault`, `KeySet` and the module-level loaders, each a thin wrapper over the core's public API.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use continuum_vault::secrecy::{ExposeSecret, SecretString};
use continuum_vault::{DEFAULT_GRACE, DEFAULT_SECRET, Error, KeySource, SetOutcome};
use pyo3::prelude::*;
use pyo3::types::{PyDelta, PyString};

use crate::emit;
use crate::errors::{to_py, usage};

// The signatures below spell the default name out, so that Python's `inspect` shows it.
const _: () = assert!(
    DEFAULT_SECRET.len() == 10 && matches!(DEFAULT_SECRET.as_bytes(), b"jwt_secret"),
    "update the default name in the #[pyo3(signature)]s and in continuum_vault/_native.pyi"
);

/// Every variable that [`continuum_vault::VaultBuilder::build`] reads (and the bus address
/// that the keyring connection, kept by the vault once made, was made for).
const CONFIG_VARS: [&str; 6] = [
    "HOME",
    "XDG_CONFIG_HOME",
    "CONTINUUM_VAULT_DIR",
    "CONTINUUM_VAULT_KEY_SOURCE",
    "CONTINUUM_VAULT_KEYRING_TIMEOUT_MS",
    "DBUS_SESSION_BUS_ADDRESS",
];

/// The vault of the module-level functions, and the configuration it was built from.
type DefaultVault = (Vec<Option<OsString>>, Arc<continuum_vault::Vault>);

static DEFAULT: Mutex<Option<DefaultVault>> = Mutex::new(None);

/// The vault configured by the environment, kept between calls so that its key is fetched
/// from the keyring once per process, and built again when the configuration changed.
fn default_vault() -> Result<Arc<continuum_vault::Vault>, Error> {
    let config: Vec<Option<OsString>> = CONFIG_VARS.iter().map(std::env::var_os).collect();
    let mut slot = DEFAULT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((built_for, vault)) = slot.as_ref()
        && *built_for == config
    {
        return Ok(vault.clone());
    }
    let vault = Arc::new(continuum_vault::Vault::builder().build()?);
    *slot = Some((config, vault.clone()));
    Ok(vault)
}

/// Runs `f` with the GIL released, then turns its error into the Python exception.
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T, Error> + Send) -> PyResult<T> {
    py.detach(f).map_err(|e| to_py(py, &e))
}

/// `datetime.datetime` (aware, UTC) for `time`.
fn aware_datetime(py: Python<'_>, time: SystemTime) -> PyResult<Bound<'_, PyAny>> {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let datetime = py.import("datetime")?;
    let utc = datetime.getattr("timezone")?.getattr("utc")?;
    datetime
        .getattr("datetime")?
        .call_method1("fromtimestamp", (seconds, utc))
}

/// The secret as a Python `str`: a copy Python owns, which cannot be wiped.
fn py_str<'py>(py: Python<'py>, secret: &SecretString) -> Bound<'py, PyString> {
    PyString::new(py, secret.expose_secret())
}

/// Resolves the JWT secret like the CONTINUUM API server's own
/// `get_or_generate_jwt_secret()`: `CONTINUUM_JWT_SECRET`, else the file named by
/// `CONTINUUM_JWT_SECRET_FILE`, else the vault file `~/.continuum/jwt_secret`, else a new
/// `secrets.token_urlsafe(32)`-style secret stored there encrypted.
///
/// Notices (the first-run notice, warnings) go to `sys.stderr`. The returned `str` is
/// Python's own copy and cannot be wiped; the vault's buffers are.
#[pyfunction]
pub(crate) fn get_or_generate_jwt_secret(py: Python<'_>) -> PyResult<Bound<'_, PyString>> {
    let loaded = detached(py, || default_vault()?.load(DEFAULT_SECRET))?;
    emit(py, loaded.notices())?;
    Ok(py_str(py, loaded.secret()))
}

/// The secrets a verifier should accept for `name`: the current one, then the previous one
/// while its grace window lasts. Sign with the first.
#[pyfunction]
#[pyo3(signature = (name = "jwt_secret"))]
pub(crate) fn keys<'py>(py: Python<'py>, name: &str) -> PyResult<Vec<Bound<'py, PyString>>> {
    let set = detached(py, || default_vault()?.load_key_set(name))?;
    emit(py, set.notices())?;
    let mut keys = vec![py_str(py, set.current())];
    if let Some((previous, _)) = set.previous() {
        keys.push(py_str(py, previous));
    }
    Ok(keys)
}

/// The current secret and the previous one while its window lasts. The values stay in
/// zeroizing memory on the Rust side; each attribute read makes a new Python `str`.
#[pyclass(module = "continuum_vault", frozen)]
pub(crate) struct KeySet {
    current: SecretString,
    previous: Option<(SecretString, SystemTime)>,
}

#[pymethods]
impl KeySet {
    /// The secret to sign with.
    #[getter]
    fn current<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        py_str(py, &self.current)
    }

    /// The replaced secret, still valid for verifying until `previous_expires`; or None.
    #[getter]
    fn previous<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyString>> {
        self.previous.as_ref().map(|(s, _)| py_str(py, s))
    }

    /// When the previous secret stops being valid (an aware UTC datetime), or None.
    #[getter]
    fn previous_expires<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.previous
            .as_ref()
            .map(|(_, until)| aware_datetime(py, *until))
            .transpose()
    }

    /// The current secret, then the previous one if any: what a verifier accepts.
    fn secrets<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyString>> {
        std::iter::once(&self.current)
            .chain(self.previous.as_ref().map(|(s, _)| s))
            .map(|s| py_str(py, s))
            .collect()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(match &self.previous {
            Some((_, until)) => format!(
                "KeySet(current=<redacted>, previous=<redacted>, previous_expires={})",
                aware_datetime(py, *until)?.repr()?
            ),
            None => "KeySet(current=<redacted>, previous=None, previous_expires=None)".into(),
        })
    }
}

/// A vault: a directory of encrypted secrets and the key they are sealed to.
///
/// `dir`, `key_source` and `timeout` default to `CONTINUUM_VAULT_DIR` (else `~/.continuum`),
/// `CONTINUUM_VAULT_KEY_SOURCE` (else `"auto"`) and `CONTINUUM_VAULT_KEYRING_TIMEOUT_MS`
/// (else 5 seconds), as for the command line. `timeout` (seconds, or a `timedelta`) bounds
/// each keyring call and the wait for the vault lock. Every method releases the GIL while it
/// reads files or talks to the keyring.
#[pyclass(module = "continuum_vault", frozen, name = "Vault")]
pub(crate) struct Vault {
    inner: Arc<continuum_vault::Vault>,
}

/// A duration from a `timedelta` or a number of seconds; zero only with `allow_zero`.
fn duration(
    py: Python<'_>,
    value: &Bound<'_, PyAny>,
    setting: &'static str,
    allow_zero: bool,
) -> PyResult<Duration> {
    let reason = if allow_zero {
        "a number of seconds (0 or more) or a datetime.timedelta"
    } else {
        "a positive number of seconds or a datetime.timedelta"
    };
    let bad = || {
        let repr = value
            .repr()
            .map_or_else(|_| "?".to_owned(), |r| r.to_string());
        usage(py, setting, repr, reason)
    };
    let parsed = if value.is_instance_of::<PyDelta>() {
        value.extract::<Duration>().ok()
    } else {
        value
            .extract::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
    };
    parsed
        .filter(|d| allow_zero || !d.is_zero())
        .ok_or_else(bad)
}

#[pymethods]
impl Vault {
    #[new]
    #[pyo3(signature = (dir = None, key_source = None, timeout = None))]
    fn new(
        py: Python<'_>,
        dir: Option<PathBuf>,
        key_source: Option<&str>,
        timeout: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut builder = continuum_vault::Vault::builder();
        if let Some(dir) = dir {
            builder = builder.dir(dir);
        }
        if let Some(source) = key_source {
            builder = builder.key_source(
                source
                    .parse::<KeySource>()
                    .map_err(|e: Error| to_py(py, &e))?,
            );
        }
        if let Some(timeout) = timeout {
            builder = builder.timeout(duration(py, &timeout, "timeout", false)?);
        }
        let inner = builder.build().map_err(|e| to_py(py, &e))?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Resolves `name` like the server does (variable, `_FILE` variable, vault file), and
    /// generates and stores it when it does not exist yet.
    #[pyo3(signature = (name = "jwt_secret"))]
    fn load<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyString>> {
        let loaded = detached(py, || self.inner.load(name))?;
        emit(py, loaded.notices())?;
        Ok(py_str(py, loaded.secret()))
    }

    /// Like `load`, but raises `NotFoundError` instead of generating a missing secret.
    #[pyo3(signature = (name = "jwt_secret"))]
    fn load_existing<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyString>> {
        let loaded = detached(py, || self.inner.load_existing(name))?;
        emit(py, loaded.notices())?;
        Ok(py_str(py, loaded.secret()))
    }

    /// Like `load`, together with the previous secret while its grace window lasts.
    #[pyo3(signature = (name = "jwt_secret"))]
    fn key_set(&self, py: Python<'_>, name: &str) -> PyResult<KeySet> {
        let set = detached(py, || self.inner.load_key_set(name))?;
        emit(py, set.notices())?;
        Ok(KeySet {
            current: set.current().clone(),
            previous: set.previous().map(|(s, until)| (s.clone(), until)),
        })
    }

    /// What the next load of `name` would do, without writing anything: the report that
    /// `continuum-vault status --json` prints, without the command line's `version` and
    /// `command` envelope. It never holds the secret.
    #[pyo3(signature = (name = "jwt_secret"))]
    fn status<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let status = detached(py, || self.inner.status(name))?;
        let text = serde_json::to_string(&status)
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        py.import("json")?.call_method1("loads", (text,))
    }

    /// Stores `value` (stripped) as `name`, encrypted. A different stored value is replaced
    /// only with `force=True` (and kept as the previous secret). Returns `"created"`,
    /// `"unchanged"` or `"replaced"`.
    ///
    /// The vault copies `value` into memory it wipes; the `str` passed in is Python's and
    /// cannot be wiped.
    #[pyo3(signature = (name, value, force = false))]
    fn set(&self, py: Python<'_>, name: &str, value: &str, force: bool) -> PyResult<&'static str> {
        let value = SecretString::from(value.to_owned());
        let (outcome, notices) = detached(py, || self.inner.set(name, &value, force))?;
        emit(py, &notices)?;
        Ok(match outcome {
            SetOutcome::Created => "created",
            SetOutcome::Unchanged => "unchanged",
            _ => "replaced",
        })
    }

    /// Generates a new secret for `name` and makes it current; the old one stays available
    /// as the previous secret for `grace` (seconds or a `timedelta`; more than zero, at most
    /// the vault's maximum; default 30 days). Returns when the previous secret expires (an
    /// aware UTC datetime).
    #[pyo3(signature = (name = "jwt_secret", grace = None))]
    fn rotate<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        grace: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let grace = match grace {
            Some(grace) => duration(py, &grace, "grace", true)?,
            None => DEFAULT_GRACE,
        };
        let rotated = detached(py, || self.inner.rotate(name, grace))?;
        emit(py, &rotated.notices)?;
        aware_datetime(py, rotated.previous_expires)
    }

    /// Encrypts a legacy plaintext vault file in place, keeping its value; returns True when
    /// it did, False when the file was encrypted already. Loads never do this: migrate once
    /// every process that reads the file goes through continuum-vault.
    #[pyo3(signature = (name = "jwt_secret"))]
    fn migrate(&self, py: Python<'_>, name: &str) -> PyResult<bool> {
        let migrated = detached(py, || self.inner.migrate(name))?;
        emit(py, &migrated.notices)?;
        Ok(migrated.changed)
    }

    fn __repr__(&self) -> String {
        format!(
            "Vault(dir={:?}, key_source={:?})",
            self.inner.dir().display().to_string(),
            self.inner.requested_key_source().as_str()
        )
    }
}
