//! The OS keyring: Secret Service on Linux (pure-Rust zbus client, [`super::secret_service`]),
//! Keychain on macOS.
//!
//! The store is created on the first call that needs it and kept only once it works, so a
//! keyring that comes up later is found by a later call, and the real connection error
//! reaches the user (not a generic "no default store"). Every call runs on a worker thread
//! that is abandoned at the deadline: a frozen daemon cannot hang the caller.

use std::sync::{Arc, Mutex, mpsc};

use keyring_core::{CredentialStore, Entry};
use zeroize::Zeroizing;

use super::{KeyRef, KeyStore, VaultKey};
use crate::Error;
use crate::deadline::Deadline;

/// The keyring service under which vault keys are stored.
pub(crate) const SERVICE: &str = "continuum-vault";

/// The keyring account of a vault's key.
pub(crate) fn account(vault_id: &str) -> String {
    format!("vault:{vault_id}")
}

type StoreResult = Result<Arc<CredentialStore>, keyring_core::Error>;

/// How the store is made: the platform's, or (in unit tests) a given one.
enum Backend {
    Platform,
    #[cfg(test)]
    Fixed(Arc<CredentialStore>),
}

/// A handle on the OS keyring.
pub(crate) struct Keyring {
    backend: Backend,
    store: Mutex<Option<Arc<CredentialStore>>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").finish_non_exhaustive()
    }
}

impl Keyring {
    pub(crate) fn platform() -> Self {
        Self {
            backend: Backend::Platform,
            store: Mutex::new(None),
        }
    }

    #[cfg(test)]
    pub(crate) fn with_store(store: Arc<CredentialStore>) -> Self {
        Self {
            backend: Backend::Fixed(store),
            store: Mutex::new(None),
        }
    }

    /// Reads the secret stored under `account`; `Ok(None)` when there is no entry.
    pub(crate) fn get(
        &self,
        account: &str,
        deadline: &Deadline,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let store = self.store(deadline)?;
        let account = account.to_owned();
        let result = on_worker(deadline, move || {
            entry(&store, &account)
                .and_then(|e| e.get_secret())
                .map(Zeroizing::new)
        })?;
        match result {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            // The item was deleted between being found and being read (a `rekey` removing
            // the old key): as good as no entry, which the caller may look at again.
            Err(keyring_core::Error::PlatformFailure(inner)) if vanished(&inner.to_string()) => {
                Ok(None)
            }
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Stores a new secret under `account`, labelled `label` where the store keeps labels
    /// (Seahorse and Keychain Access show it). An existing entry is never overwritten.
    pub(crate) fn add(
        &self,
        account: &str,
        label: &str,
        secret: &[u8],
        deadline: &Deadline,
    ) -> Result<(), Error> {
        if self.get(account, deadline)?.is_some() {
            return Err(Error::KeyringEntryExists {
                account: account.to_owned(),
            });
        }
        let store = self.store(deadline)?;
        let account = account.to_owned();
        let label = label.to_owned();
        let secret = Zeroizing::new(secret.to_vec());
        on_worker(deadline, move || {
            let modifiers = std::collections::HashMap::from([("label", label.as_str())]);
            let labelled =
                Entry::new_in_store_with_modifiers(&store, SERVICE, &account, &modifiers);
            let entry = match labelled {
                // Stores without labels (the unit tests' mock) take the plain entry.
                Err(keyring_core::Error::NotSupportedByStore(_)) => entry(&store, &account),
                other => other,
            };
            entry.and_then(|e| e.set_secret(&secret))
        })?
        .map_err(|e| unavailable(&e))
    }

    /// Deletes the entry under `account`; an absent entry is not an error.
    pub(crate) fn delete(&self, account: &str, deadline: &Deadline) -> Result<(), Error> {
        let store = self.store(deadline)?;
        let account = account.to_owned();
        match on_worker(deadline, move || {
            entry(&store, &account).and_then(|e| e.delete_credential())
        })? {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Whether the default collection (where the vault keys are) is locked: a locked one
    /// answers "no entry" for every key. `None` when that cannot be told (no Secret
    /// Service, the deadline, or another platform).
    pub(crate) fn default_collection_locked(&self, deadline: &Deadline) -> Option<bool> {
        if !matches!(self.backend, Backend::Platform) {
            return None;
        }
        on_worker(deadline, collection_locked).ok().flatten()
    }

    /// Connects (once it works, the connection is kept).
    pub(crate) fn store(&self, deadline: &Deadline) -> Result<Arc<CredentialStore>, Error> {
        let mut cached = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(store) = cached.as_ref() {
            return Ok(store.clone());
        }
        let store = match &self.backend {
            Backend::Platform => on_worker(deadline, connect)?.map_err(|e| unavailable(&e))?,
            #[cfg(test)]
            Backend::Fixed(store) => store.clone(),
        };
        *cached = Some(store.clone());
        Ok(store)
    }
}

/// The OS keyring as a place for vault keys: one entry per vault, service
/// [`SERVICE`], account `vault:<id>`.
pub(crate) struct KeyringStore {
    keyring: Keyring,
    vault_dir: std::path::PathBuf,
}

impl KeyringStore {
    pub(crate) fn new(keyring: Keyring, vault_dir: std::path::PathBuf) -> Self {
        Self { keyring, vault_dir }
    }

    pub(crate) fn keyring(&self) -> &Keyring {
        &self.keyring
    }
}

impl KeyStore for KeyringStore {
    fn create(
        &self,
        id: &str,
        key: &VaultKey,
        deadline: &Deadline,
    ) -> Result<Option<std::path::PathBuf>, Error> {
        let account = account(id);
        let text = key.to_text();
        let label = format!(
            "continuum-vault key for {} (vault {id})",
            self.vault_dir.display()
        );
        self.keyring
            .add(&account, &label, text.as_bytes(), deadline)?;
        Ok(None)
    }

    fn load(&self, at: &KeyRef<'_>, deadline: &Deadline) -> Result<VaultKey, Error> {
        let account = account(at.id);
        let Some(bytes) = self.keyring.get(&account, deadline)? else {
            return Err(Error::IdentityMissing {
                vault_id: at.id.to_owned(),
                service: SERVICE,
                account,
            });
        };
        VaultKey::from_stored(&bytes, || self.describe(at))
    }

    fn delete(&self, at: &KeyRef<'_>, deadline: &Deadline) -> Result<(), Error> {
        self.keyring.delete(&account(at.id), deadline)
    }

    fn describe(&self, at: &KeyRef<'_>) -> String {
        format!(
            "the OS keyring (service {SERVICE:?}, account {:?})",
            account(at.id)
        )
    }

    fn protection(&self, _at: &KeyRef<'_>, _home: Option<&std::path::Path>) -> String {
        "the key is in the OS keyring, not in the vault's files: a copy of the vault dir \
         alone cannot decrypt the secret; the keyring's own store is protected by its unlock \
         (login) password"
            .into()
    }
}

fn entry(store: &Arc<CredentialStore>, account: &str) -> Result<Entry, keyring_core::Error> {
    Entry::new_in_store(store, SERVICE, account)
}

#[cfg(target_os = "linux")]
fn connect() -> StoreResult {
    let store: Arc<CredentialStore> = super::secret_service::Store::new()?;
    Ok(store)
}

#[cfg(target_os = "linux")]
fn collection_locked() -> Option<bool> {
    let service = super::secret_service::connect(secret_service::EncryptionType::Plain).ok()?;
    service
        .get_default_collection()
        .and_then(|c| c.is_locked())
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn collection_locked() -> Option<bool> {
    None
}

#[cfg(target_os = "macos")]
fn connect() -> StoreResult {
    let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
    Ok(store)
}

/// Runs a blocking keyring call on a worker thread, giving up at the deadline. The thread
/// is then abandoned: it ends whenever the call returns, and its result is dropped.
fn on_worker<T: Send + 'static>(
    deadline: &Deadline,
    call: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("continuum-vault-keyring".into())
        .spawn(move || {
            // The receiver may be gone (deadline passed); then the result is just dropped.
            let _ = tx.send(call());
        })
        .map_err(|e| Error::KeyringUnavailable {
            reason: format!("cannot start a worker thread: {e}"),
            detail: None,
        })?;
    rx.recv_timeout(deadline.remaining()).map_err(|e| match e {
        mpsc::RecvTimeoutError::Timeout => Error::Timeout {
            what: "OS keyring",
            after: deadline.budget(),
        },
        mpsc::RecvTimeoutError::Disconnected => Error::KeyringUnavailable {
            reason: "the keyring call panicked".into(),
            detail: None,
        },
    })
}

/// Describes a keyring error without ever printing secret bytes (keyring-core's
/// `BadEncoding` and `BadDataFormat` carry them), in this tool's words; the library's own
/// message is kept as the detail that `--verbose` shows.
fn unavailable(e: &keyring_core::Error) -> Error {
    use keyring_core::Error as K;
    let (reason, detail) = match e {
        K::PlatformFailure(inner) | K::NoStorageAccess(inner) => {
            let text = inner.to_string();
            (summarize(&text), Some(text))
        }
        K::NoEntry => ("no entry".into(), None),
        K::BadEncoding(_) | K::BadDataFormat(..) => {
            ("the entry holds data in an unexpected format".into(), None)
        }
        K::Ambiguous(items) => (
            format!("{} entries match; remove the extra ones", items.len()),
            None,
        ),
        K::NoDefaultStore => ("no keyring store is available".into(), None),
        other => (
            "the keyring refused the request".into(),
            Some(other.to_string()),
        ),
    };
    Error::KeyringUnavailable { reason, detail }
}

/// Whether a Secret Service error says the item it was reading no longer exists.
fn vanished(text: &str) -> bool {
    (text.contains("UnknownMethod") && text.contains("org.freedesktop.Secret.Item"))
        || text.contains("Object does not exist at path")
        || text.contains("UnknownObject")
}

/// What a platform failure means, from the message of the D-Bus or Keychain library.
fn summarize(text: &str) -> String {
    let has = |needle: &str| text.contains(needle);
    if has("Failed to connect") || has("DBUS_SESSION_BUS_ADDRESS") || has("Address") {
        "no session bus is reachable (DBUS_SESSION_BUS_ADDRESS is unset, or names no running bus)"
            .into()
    } else if has("ServiceUnknown")
        || has("org.freedesktop.secrets")
        || has("not provided")
        || has("not returned from SS API")
    {
        "the session bus has no Secret Service (org.freedesktop.secrets): no keyring daemon \
         such as gnome-keyring is running"
            .into()
    } else if has("NoReply") && has("disconnected") {
        "the keyring daemon exited while answering (it may have crashed; a restarted \
         gnome-keyring may start locked)"
            .into()
    } else if has("ocked") {
        "the keyring collection is locked".into()
    } else if has("imed out") || has("imeout") {
        "the Secret Service did not answer".into()
    } else {
        "the Secret Service refused the request".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn mock() -> Keyring {
        Keyring::with_store(keyring_core::mock::Store::new().unwrap())
    }

    fn soon() -> Deadline {
        Deadline::after(Duration::from_secs(5))
    }

    #[test]
    fn add_then_get_and_never_overwrite() {
        let k = mock();
        assert!(k.get("vault:a", &soon()).unwrap().is_none());
        k.add("vault:a", "label", b"one", &soon()).unwrap();
        assert_eq!(&k.get("vault:a", &soon()).unwrap().unwrap()[..], b"one");
        let err = k.add("vault:a", "label", b"two", &soon()).unwrap_err();
        assert!(matches!(err, Error::KeyringEntryExists { .. }), "{err:?}");
        assert_eq!(&k.get("vault:a", &soon()).unwrap().unwrap()[..], b"one");
    }

    #[test]
    fn a_stuck_call_times_out() {
        let start = std::time::Instant::now();
        let err = on_worker(&Deadline::after(Duration::from_millis(50)), || {
            std::thread::sleep(Duration::from_secs(2));
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Timeout {
                    what: "OS keyring",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_daemon_that_exits_mid_request_is_named() {
        let text = "zbus error: org.freedesktop.DBus.Error.NoReply: Message recipient \
                    disconnected from message bus without replying";
        assert!(summarize(text).starts_with("the keyring daemon exited"));
        assert_eq!(
            summarize("zbus error: org.freedesktop.DBus.Error.Failed: no"),
            "the Secret Service refused the request"
        );
    }

    #[test]
    fn errors_never_show_entry_bytes() {
        let e = unavailable(&keyring_core::Error::BadEncoding(
            b"AGE-SECRET-KEY-1LEAK".to_vec(),
        ));
        assert!(!format!("{e} {e:?}").contains("LEAK"));
    }
}
