//! # continuum-vault
//!
//! Keeps a server's secrets encrypted at rest on a single host: a drop-in replacement for
//! the CONTINUUM API server's JWT secret loader.
//!
//! The contract is the server's: `CONTINUUM_JWT_SECRET` if set (or the file named by
//! `CONTINUUM_JWT_SECRET_FILE`, or a credential systemd delivered), else the file
//! `~/.continuum/jwt_secret`, else a new `secrets.token_urlsafe(32)`-style secret saved
//! there. What changes is how the file is kept:
//!
//! - it is **age-encrypted** (ASCII-armored) to an X25519 key held in the **OS keyring**
//!   (Secret Service on Linux, Keychain on macOS), in a **systemd credential** sealed to the
//!   host, or in a 0600 key file when asked or when no keyring answers (loudly);
//! - a plaintext file left by the server's own loader is used as it is and **never
//!   rewritten** by a load: [`Vault::migrate`] encrypts it, once every reader of the file
//!   goes through this library, `continuum-vault run` or the Python package;
//! - the vault's metadata is **authenticated** (a MAC keyed by the vault key), so an added
//!   recipient is refused rather than silently sealed to;
//! - it is written **atomically** (temp file, fsync, rename, fsync of the directory) under a
//!   **cross-process lock**, so workers starting together all get the same secret;
//! - a file that exists but cannot be used is **never overwritten**: the error says why and
//!   what to do;
//! - the secret is held only in [`secrecy::SecretString`] memory that is zeroized on drop.
//!
//! Several hosts share one secret through an OpenBao (or HashiCorp Vault) KV v2 store
//! instead ([`StoreKind::OpenBao`], `CONTINUUM_VAULT_STORE=openbao`): created once with
//! check-and-set, rotated for every host at once, with a local sealed copy for outages.
//!
//! ## Example
//!
//! ```no_run
//! use continuum_vault::secrecy::ExposeSecret;
//!
//! // Exactly like the server's `get_or_generate_jwt_secret()`.
//! let secret = continuum_vault::get_or_generate_jwt_secret()?;
//! assert_eq!(secret.expose_secret().len(), 43);
//! # Ok::<(), continuum_vault::Error>(())
//! ```
//!
//! With control over where things are, and which source won:
//!
//! ```
//! use continuum_vault::{KeySource, Source, Vault};
//! use continuum_vault::secrecy::ExposeSecret;
//!
//! let home = tempfile::tempdir()?;
//! let home_path = home.path().to_owned();
//! let vault = Vault::builder()
//!     .dir(home.path().join(".continuum"))
//!     .key_source(KeySource::File)
//!     // Read no variables from the process environment, except the ones given here.
//!     .env(move |name| (name == "HOME").then(|| home_path.clone().into()))
//!     .build()?;
//!
//! let first = vault.load("jwt_secret")?;
//! assert!(matches!(first.source(), Source::Generated { .. }));
//! let again = vault.load("jwt_secret")?;
//! assert!(matches!(again.source(), Source::Vault { .. }));
//! assert_eq!(first.secret().expose_secret(), again.secret().expose_secret());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Errors name the operation that failed; [`Error::hint`] says what to do and
//! [`Error::class`] classifies it (the command line maps each class to an exit code).

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
compile_error!(
    "continuum-vault supports Linux and macOS; Windows and other systems are out of scope for now"
);

mod backup;
mod config;
mod deadline;
mod error;
mod fs;
mod generate;
mod key;
mod lifecycle;
mod metadata;
mod name;
mod recipients;
mod resolve;
mod seal;
mod status;
mod store;
mod text;
mod vault;

pub use backup::{BackupKey, RestoreKey};
pub use config::VaultBuilder;
pub use error::{Error, ErrorClass, Unsafe};
pub use key::KeySource;
pub use key::systemd_creds::{CredsError, Operation as CredsOperation};
pub use lifecycle::{DEFAULT_GRACE, KeySet, MAX_GRACE, Migrated, Rotated};
pub use recipients::{RecipientsChanged, Rekeyed};
pub use resolve::{Loaded, Notice, Source, get_or_generate_jwt_secret};
pub use secrecy;
pub use status::{Listed, Problem, Status};
pub use store::StoreKind;
pub use store::remote::StoreStatus;
pub use vault::{SetOutcome, Vault};

/// The default secret's name, `jwt_secret`.
pub const DEFAULT_SECRET: &str = name::DEFAULT_NAME;

/// The maximum size of any file the vault reads, in bytes.
pub const MAX_FILE_SIZE: u64 = fs::read::MAX_FILE_SIZE;

/// An error and its causes on one line, `: `-separated, as the CLI prints it.
#[must_use]
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        // A wrapper that already prints its cause (age's `DecryptError::Io`) is said once.
        let text = c.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}
