//! The Secret Service (Linux) as a keyring-core credential store, on a D-Bus connection
//! opened here so that its first call to the daemon is a harmless one.
//!
//! gnome-keyring (42.1 on Debian 12, and later releases: upstream issues 190, 196 and 199)
//! registers a caller from an idle callback that its message filter queues; when the
//! daemon is busy (another client creating or deleting items), a caller's first request
//! can run before that registration, and an `OpenSession` from an unregistered caller
//! aborts the daemon. Every secret of the session is then gone until the daemon restarts,
//! locked. `zbus-secret-service-keyring-store` opens its own connection with `OpenSession`
//! as its first request; this store first reads the service's `Collections` property,
//! which needs no registration, so the registration has run before `OpenSession` arrives.
//! The scripts/keyring-first-call check reproduces the abort with `OpenSession` first and
//! shows it gone with this order.
//!
//! Items are stored as that crate stores them (attributes `service` and `username`, the
//! `default` collection, content type `application/octet-stream`), so keys made by earlier
//! versions are found.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use keyring_core::api::{CredentialApi, CredentialStoreApi};
use keyring_core::{Credential, Entry, Error, Result};
use secret_service::EncryptionType;
use secret_service::blocking::SecretService;
use zbus::zvariant::OwnedObjectPath;

const BUS_NAME: &str = "org.freedesktop.secrets";
const SERVICE_PATH: &str = "/org/freedesktop/secrets";
const CONTENT_TYPE: &str = "application/octet-stream";

/// Opens a session bus connection and the Secret Service session on it (see [`connect_on`]).
pub(crate) fn connect(encryption: EncryptionType) -> Result<SecretService<'static>> {
    connect_on(
        zbus::blocking::Connection::session().map_err(zbus_failure)?,
        encryption,
    )
}

/// Makes the first request on `conn` one the daemon answers without knowing the caller,
/// then opens the Secret Service session on it.
pub(crate) fn connect_on(
    conn: zbus::blocking::Connection,
    encryption: EncryptionType,
) -> Result<SecretService<'static>> {
    conn.call_method(
        Some(BUS_NAME),
        SERVICE_PATH,
        Some("org.freedesktop.DBus.Properties"),
        "Get",
        &("org.freedesktop.Secret.Service", "Collections"),
    )
    .map_err(zbus_failure)?;
    SecretService::connect_with_existing(encryption, conn).map_err(decode)
}

/// The Secret Service as a keyring-core store.
pub(crate) struct Store {
    ss: Arc<Mutex<SecretService<'static>>>,
}

impl Store {
    /// Connects (see [`connect`]) with an encrypted (Diffie-Hellman) session.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Ok(Arc::new(Self {
            ss: Arc::new(Mutex::new(connect(EncryptionType::Dh)?)),
        }))
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("secret_service::Store")
            .finish_non_exhaustive()
    }
}

impl CredentialStoreApi for Store {
    fn vendor(&self) -> String {
        "continuum-vault Secret Service store".into()
    }

    fn id(&self) -> String {
        "continuum-vault Secret Service store".into()
    }

    fn build(
        &self,
        service: &str,
        user: &str,
        modifiers: Option<&HashMap<&str, &str>>,
    ) -> Result<Entry> {
        let mut label = format!("keyring:{user}@{service}");
        for (key, value) in modifiers.into_iter().flatten() {
            match *key {
                "label" if value.is_empty() => {
                    return Err(Error::Invalid("label".into(), "cannot be empty".into()));
                }
                "label" => (*value).clone_into(&mut label),
                _ => return Err(Error::Invalid((*key).to_owned(), "not supported".into())),
            }
        }
        Ok(Entry::new_with_credential(Arc::new(Cred {
            ss: self.ss.clone(),
            target: Target::Spec {
                service: service.to_owned(),
                user: user.to_owned(),
                label,
            },
        })))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What a credential names: an entry by its service and user, or (for the items an
/// ambiguous search found) one item.
#[derive(Debug, Clone)]
enum Target {
    Spec {
        service: String,
        user: String,
        label: String,
    },
    Item(OwnedObjectPath),
}

struct Cred {
    ss: Arc<Mutex<SecretService<'static>>>,
    target: Target,
}

impl std::fmt::Debug for Cred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("secret_service::Cred")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Cred {
    fn with<T>(&self, call: impl FnOnce(&SecretService<'static>) -> Result<T>) -> Result<T> {
        let ss = self
            .ss
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        call(&ss)
    }

    /// The one item this credential names: `NoEntry` for none, `Ambiguous` for several.
    fn item(&self, ss: &SecretService<'static>) -> Result<OwnedObjectPath> {
        let (service, user) = match &self.target {
            Target::Item(path) => return Ok(path.clone()),
            Target::Spec { service, user, .. } => (service, user),
        };
        let attributes = HashMap::from([("service", service.as_str()), ("username", user)]);
        let found = ss.search_items(attributes).map_err(decode)?;
        if !found.locked.is_empty() {
            ss.unlock_all(&found.locked.iter().collect::<Vec<_>>())
                .map_err(decode)?;
        }
        let mut paths: Vec<OwnedObjectPath> = found
            .unlocked
            .iter()
            .chain(&found.locked)
            .map(|item| item.item_path.clone())
            .collect();
        match paths.len() {
            0 => Err(Error::NoEntry),
            1 => Ok(paths.remove(0)),
            _ => Err(Error::Ambiguous(
                paths
                    .into_iter()
                    .map(|path| {
                        Entry::new_with_credential(Arc::new(Cred {
                            ss: self.ss.clone(),
                            target: Target::Item(path),
                        }))
                    })
                    .collect(),
            )),
        }
    }
}

impl CredentialApi for Cred {
    fn set_secret(&self, secret: &[u8]) -> Result<()> {
        self.with(|ss| match self.item(ss) {
            Ok(path) => ss
                .get_item_by_path(path)
                .and_then(|item| item.set_secret(secret, CONTENT_TYPE))
                .map_err(decode),
            Err(Error::NoEntry) => {
                let Target::Spec {
                    service,
                    user,
                    label,
                } = &self.target
                else {
                    return Err(Error::NoEntry);
                };
                let collection = ss.get_default_collection().map_err(decode)?;
                if collection.is_locked().map_err(decode)? {
                    collection.unlock().map_err(decode)?;
                }
                let attributes = HashMap::from([("service", service.as_str()), ("username", user)]);
                collection
                    .create_item(label, attributes, secret, true, CONTENT_TYPE)
                    .map(drop)
                    .map_err(decode)
            }
            Err(e) => Err(e),
        })
    }

    fn get_secret(&self) -> Result<Vec<u8>> {
        self.with(|ss| {
            let path = self.item(ss)?;
            ss.get_item_by_path(path)
                .and_then(|item| item.get_secret())
                .map_err(decode)
        })
    }

    fn delete_credential(&self) -> Result<()> {
        self.with(|ss| {
            let path = self.item(ss)?;
            ss.get_item_by_path(path)
                .and_then(|item| item.delete())
                .map_err(decode)
        })
    }

    fn get_credential(&self) -> Result<Option<Arc<Credential>>> {
        let path = self.with(|ss| self.item(ss))?;
        Ok(Some(Arc::new(Cred {
            ss: self.ss.clone(),
            target: Target::Item(path),
        })))
    }

    fn get_specifiers(&self) -> Option<(String, String)> {
        match &self.target {
            Target::Spec { service, user, .. } => Some((service.clone(), user.clone())),
            Target::Item(_) => None,
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Sorts a Secret Service error as keyring-core does: a locked item, a missing result and
/// a dismissed prompt are no access; the rest are platform failures (with the library's
/// text, which [`super::keyring`] turns into this tool's words).
fn decode(e: secret_service::Error) -> Error {
    use secret_service::Error as S;
    match e {
        S::Locked | S::NoResult | S::Prompt => Error::NoStorageAccess(Box::new(e)),
        e => Error::PlatformFailure(Box::new(e)),
    }
}

fn zbus_failure(e: zbus::Error) -> Error {
    Error::PlatformFailure(Box::new(secret_service::Error::Zbus(e)))
}
