//! The vault metadata, `.continuum-vault.json`: which key the secrets are sealed to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::KeySource;
use crate::fs::PrivateDir;
use crate::fs::atomic::Replace;

/// The metadata file's name inside the vault dir.
pub(crate) const METADATA_FILE: &str = ".continuum-vault.json";

const VERSION: u32 = 1;

/// What the vault records about itself. Nothing here is secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Metadata {
    pub(crate) version: u32,
    /// Random, made at creation; names the keyring account and the key file.
    pub(crate) id: String,
    /// `keyring` or `file` (never `auto`: the choice made is what is recorded).
    pub(crate) key_source: KeySource,
    /// The age recipient (public key) the secrets are encrypted to.
    pub(crate) recipient: String,
    /// The key file, with the file key source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) identity_file: Option<std::path::PathBuf>,
    /// Other hosts' (or recovery) age recipients every secret is also encrypted to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) recipients: Vec<String>,
    /// For each secret with a kept previous value (`<name>_previous`), when it expires.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) previous: BTreeMap<String, PreviousRecord>,
}

/// The record of a kept previous secret.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviousRecord {
    /// Seconds since the Unix epoch after which the previous secret is no longer valid.
    pub(crate) expires: u64,
}

impl Metadata {
    pub(crate) fn new(
        id: String,
        key_source: KeySource,
        recipient: String,
        identity_file: Option<std::path::PathBuf>,
    ) -> Self {
        Self {
            version: VERSION,
            id,
            key_source,
            recipient,
            identity_file,
            recipients: Vec::new(),
            previous: BTreeMap::new(),
        }
    }

    /// Every recipient a secret is sealed to: this vault's key first, then the others.
    pub(crate) fn all_recipients(
        &self,
        dir: &PrivateDir,
    ) -> Result<Vec<age::x25519::Recipient>, Error> {
        std::iter::once(&self.recipient)
            .chain(&self.recipients)
            .map(|r| {
                r.parse().map_err(|e: &str| Error::Corrupt {
                    path: dir.join(METADATA_FILE),
                    reason: format!("bad recipient {r:?}: {e}"),
                })
            })
            .collect()
    }

    /// Reads the metadata; `Ok(None)` when there is none.
    pub(crate) fn load(dir: &PrivateDir) -> Result<Option<Self>, Error> {
        let Some(content) = dir.read(METADATA_FILE)? else {
            return Ok(None);
        };
        let corrupt = |reason: String| Error::Corrupt {
            path: dir.join(METADATA_FILE),
            reason,
        };
        let meta: Self =
            serde_json::from_slice(&content.bytes).map_err(|e| corrupt(e.to_string()))?;
        if meta.version != VERSION {
            return Err(corrupt(format!("unsupported version {}", meta.version)));
        }
        if meta.key_source == KeySource::Auto {
            return Err(corrupt("key_source must be keyring or file".into()));
        }
        if meta.id.is_empty() || !meta.id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(corrupt("id must be alphanumeric".into()));
        }
        Ok(Some(meta))
    }

    /// Writes the metadata atomically. Call with the vault lock held.
    pub(crate) fn store(&self, dir: &PrivateDir) -> Result<(), Error> {
        let mut json = serde_json::to_vec_pretty(self).expect("metadata serializes");
        json.push(b'\n');
        dir.write_atomic(METADATA_FILE, &json, Replace::Yes)
    }
}

/// A new random vault id: 32 lowercase hex digits.
pub(crate) fn new_id() -> String {
    use rand::RngExt;
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().fold(String::with_capacity(32), |mut id, b| {
        use std::fmt::Write;
        let _ = write!(id, "{b:02x}");
        id
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = PrivateDir::create(&tmp.path().join("v")).unwrap();
        assert!(Metadata::load(&dir).unwrap().is_none());
        let meta = Metadata::new(new_id(), KeySource::Keyring, "age1xyz".into(), None);
        meta.store(&dir).unwrap();
        assert_eq!(Metadata::load(&dir).unwrap().unwrap(), meta);
        let json = std::fs::read_to_string(dir.join(METADATA_FILE)).unwrap();
        assert!(json.contains("\"key_source\": \"keyring\""), "{json}");
        assert!(!json.contains("identity_file"));
        std::fs::write(dir.join(METADATA_FILE), b"{not json").unwrap();
        assert!(matches!(Metadata::load(&dir), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn ids_are_unique_hex() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
