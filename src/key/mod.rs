//! Where the vault's key lives: the OS keyring ([`keyring`]), a key file ([`file`]), or a
//! credential sealed to the host by systemd ([`systemd_creds`]).
//!
//! The key is an age X25519 identity. Its text form (`AGE-SECRET-KEY-1...`) is only ever
//! held in zeroizing buffers; the parsed identity zeroizes itself on drop.

pub(crate) mod file;
pub(crate) mod keyring;
pub(crate) mod systemd_creds;

use std::fmt;
use std::str::FromStr;

use age::x25519;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Where the vault's key is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    /// The OS keyring when it answers, else the key file, with a loud warning.
    #[default]
    Auto,
    /// The OS keyring only (Secret Service on Linux, Keychain on macOS).
    Keyring,
    /// A key file: `$XDG_CONFIG_HOME/continuum-vault/<vault id>.key`, mode 0600.
    File,
}

impl KeySource {
    /// The name used on the command line, in the environment and in the metadata.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Keyring => "keyring",
            Self::File => "file",
        }
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "automatic choice (keyring, else key file)",
            Self::Keyring => "OS keyring",
            Self::File => "key file",
        })
    }
}

impl FromStr for KeySource {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "keyring" => Ok(Self::Keyring),
            "file" => Ok(Self::File),
            other => Err(crate::Error::InvalidSetting {
                setting: "key source",
                value: other.to_owned(),
                reason: "auto, keyring or file",
            }),
        }
    }
}

/// A loaded vault key.
pub(crate) struct VaultKey {
    pub(crate) identity: x25519::Identity,
}

impl VaultKey {
    pub(crate) fn generate() -> Self {
        Self {
            identity: x25519::Identity::generate(),
        }
    }

    /// Parses the text form; `None` when it is not an age X25519 identity.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        x25519::Identity::from_str(crate::text::strip(text))
            .ok()
            .map(|identity| Self { identity })
    }

    /// The identity's text form, in a zeroizing buffer.
    pub(crate) fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(self.identity.to_string().expose_secret().to_owned())
    }

    pub(crate) fn recipient(&self) -> x25519::Recipient {
        self.identity.to_public()
    }
}
