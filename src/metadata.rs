//! The vault metadata, `.continuum-vault.json`: which key the secrets are sealed to, the
//! extra recipients every write also seals to, and the previous secrets' expiries.
//!
//! Nothing here is secret, but all of it is trusted: an added recipient would receive every
//! later secret. So the file carries a MAC (HMAC-SHA256) over its whole content as written,
//! keyed by a key derived (HKDF-SHA256) from the vault identity, and every command that
//! loads the key verifies it before it uses anything else in the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::Error;
use crate::KeySource;
use crate::fs::PrivateDir;
use crate::fs::atomic::{Replace, Staged};
use crate::key::VaultKey;

/// The metadata file's name inside the vault dir.
pub(crate) const METADATA_FILE: &str = ".continuum-vault.json";

const VERSION: u32 = 1;

/// The latest expiry accepted: the end of the year 9999.
const MAX_EXPIRES: u64 = 253_402_300_799;

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
    pub(crate) identity_file: Option<PathBuf>,
    /// Other hosts' (or recovery) age recipients every secret is also encrypted to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) recipients: Vec<String>,
    /// For each secret with a kept previous value (`<name>_previous`), when it expires.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) previous: BTreeMap<String, PreviousRecord>,
    /// The MAC over everything above, base64; absent only in files written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
}

/// The record of a kept previous secret.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviousRecord {
    /// Seconds since the Unix epoch after which the previous secret is no longer valid.
    pub(crate) expires: u64,
}

impl PreviousRecord {
    /// The expiry as a time (validated on load, so always representable).
    pub(crate) fn until(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.expires.min(MAX_EXPIRES))
    }

    /// Whether the window is over.
    pub(crate) fn expired(self) -> bool {
        self.until() <= SystemTime::now()
    }
}

impl Metadata {
    pub(crate) fn new(
        id: String,
        key_source: KeySource,
        recipient: String,
        identity_file: Option<PathBuf>,
    ) -> Self {
        Self {
            version: VERSION,
            id,
            key_source,
            recipient,
            identity_file,
            recipients: Vec::new(),
            previous: BTreeMap::new(),
            mac: None,
        }
    }

    /// Where the key is, as the key stores read it.
    pub(crate) fn key_ref(&self) -> crate::key::KeyRef<'_> {
        crate::key::KeyRef {
            id: &self.id,
            source: self.key_source,
            file: self.identity_file.as_deref(),
            recipient: &self.recipient,
        }
    }

    /// Every recipient a secret is sealed to: this vault's key first, then the others
    /// (all validated when the file was loaded).
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

    /// Whether the file carried a MAC (files written before MACs existed do not).
    pub(crate) fn is_authenticated(&self) -> bool {
        self.mac.is_some()
    }

    /// Reads and checks the metadata; `Ok(None)` when there is none. The MAC is verified
    /// separately, with [`verify`](Self::verify), once the key is loaded.
    pub(crate) fn load(dir: &PrivateDir) -> Result<Option<Self>, Error> {
        let Some(content) = dir.read(METADATA_FILE)? else {
            return Ok(None);
        };
        let path = dir.join(METADATA_FILE);
        crate::fs::check_owner(&path, &content)?;
        if crate::fs::group_or_other_bits(content.mode) {
            return Err(Error::UnsafePath {
                path,
                problem: crate::Unsafe::AccessibleByOthers { mode: content.mode },
            });
        }
        let corrupt = |reason: String| Error::Corrupt {
            path: path.clone(),
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
        if !valid_id(&meta.id) {
            return Err(corrupt("id must be alphanumeric".into()));
        }
        if let Some((name, _)) = meta.previous.iter().find(|(_, r)| r.expires > MAX_EXPIRES) {
            return Err(corrupt(format!(
                "the previous secret of {name:?} has an expiry past the year 9999"
            )));
        }
        if meta
            .identity_file
            .as_deref()
            .is_some_and(|p| !p.is_absolute())
        {
            return Err(corrupt("identity_file must be an absolute path".into()));
        }
        meta.all_recipients(dir)?;
        // "As written": the file must be exactly what this version writes for these values,
        // so that the MAC, computed over that form, covers every byte of it.
        if meta.mac.is_some() && meta.to_bytes().as_slice() != content.bytes.as_slice() {
            return Err(Error::MetadataTampered {
                path,
                reason: "it was edited after it was written",
            });
        }
        Ok(Some(meta))
    }

    /// Verifies the MAC with the vault key. A file without one (written by an earlier
    /// version) is accepted only when it holds nothing an attacker could use: no extra
    /// recipients and the default key file. The next write adds the MAC.
    pub(crate) fn verify(
        &self,
        dir: &PrivateDir,
        key: &VaultKey,
        default_key_file: &Path,
    ) -> Result<(), Error> {
        let tampered = |reason| Error::MetadataTampered {
            path: dir.join(METADATA_FILE),
            reason,
        };
        let Some(mac) = &self.mac else {
            let default_file = self
                .identity_file
                .as_deref()
                .is_none_or(|f| f == default_key_file);
            return if self.recipients.is_empty() && default_file {
                Ok(())
            } else {
                Err(tampered(
                    "it has no MAC, yet names extra recipients or a key file elsewhere",
                ))
            };
        };
        let tag = BASE64
            .decode(mac)
            .map_err(|_| tampered("its MAC is not base64"))?;
        self.mac_for(key)
            .verify_slice(&tag)
            .map_err(|_| tampered("its MAC does not match this vault's key"))
    }

    /// The HMAC state over the file's content without the MAC.
    fn mac_for(&self, key: &VaultKey) -> Hmac<Sha256> {
        let mut unsigned = self.clone();
        unsigned.mac = None;
        let mut mac = Hmac::<Sha256>::new_from_slice(&*mac_key(key)).expect("HMAC takes any key");
        mac.update(&unsigned.to_bytes());
        mac
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("metadata serializes");
        json.push(b'\n');
        json
    }

    /// Stages the metadata, with its MAC, for an atomic replace. Call with the lock held.
    pub(crate) fn stage<'d>(
        &self,
        dir: &'d PrivateDir,
        key: &VaultKey,
    ) -> Result<Staged<'d>, Error> {
        let mut signed = self.clone();
        signed.mac = None;
        signed.mac = Some(BASE64.encode(signed.mac_for(key).finalize().into_bytes()));
        dir.stage(METADATA_FILE, &signed.to_bytes(), Replace::Yes, |_| Ok(()))
    }

    /// Writes the metadata, with its MAC, atomically. Call with the vault lock held.
    pub(crate) fn store(&self, dir: &PrivateDir, key: &VaultKey) -> Result<(), Error> {
        self.stage(dir, key)?.commit()
    }
}

/// The MAC key: HKDF-SHA256 over the identity's secret, bound to this purpose.
fn mac_key(key: &VaultKey) -> Zeroizing<[u8; 32]> {
    let ikm = key.to_text();
    let mut okm = Zeroizing::new([0u8; 32]);
    hkdf::Hkdf::<Sha256>::new(Some(b"continuum-vault"), ikm.as_bytes())
        .expand(b"metadata mac v1", &mut *okm)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    okm
}

/// Whether `id` can be a vault id: names a keyring account and a file, so 1 to 64 ASCII
/// letters and digits.
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
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
    use std::os::unix::fs::PermissionsExt;

    /// Writes a file as the vault would: mode 0600.
    fn write(path: &Path, bytes: impl AsRef<[u8]>) {
        std::fs::write(path, bytes).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn vault() -> (tempfile::TempDir, PrivateDir, VaultKey, Metadata) {
        let (tmp, dir) = crate::fs::testing::private_dir();
        let key = VaultKey::generate();
        let meta = Metadata::new(
            new_id(),
            KeySource::Keyring,
            key.recipient().to_string(),
            None,
        );
        (tmp, dir, key, meta)
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let (_tmp, dir, key, meta) = vault();
        assert!(Metadata::load(&dir).unwrap().is_none());
        meta.store(&dir, &key).unwrap();
        let back = Metadata::load(&dir).unwrap().unwrap();
        assert_eq!(back.key_ref().id, meta.id);
        assert!(back.is_authenticated());
        back.verify(&dir, &key, Path::new("/k")).unwrap();
        let json = std::fs::read_to_string(dir.join(METADATA_FILE)).unwrap();
        assert!(json.contains("\"key_source\": \"keyring\""), "{json}");
        assert!(!json.contains("identity_file"));
        write(&dir.join(METADATA_FILE), b"{not json");
        assert!(matches!(Metadata::load(&dir), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn any_change_is_refused() {
        let (_tmp, dir, key, meta) = vault();
        meta.store(&dir, &key).unwrap();
        let path = dir.join(METADATA_FILE);
        let good = std::fs::read_to_string(&path).unwrap();
        let attacker = VaultKey::generate().recipient().to_string();
        // An added recipient, keeping the MAC: the MAC no longer matches.
        let edited = good.replace(
            "\"recipient\"",
            &format!("\"recipients\": [\"{attacker}\"],\n  \"recipient\""),
        );
        write(&path, &edited);
        let err = Metadata::load(&dir).unwrap_err();
        assert!(matches!(err, Error::MetadataTampered { .. }), "{err:?}");
        // The same content re-serialized by the attacker: loads, but the MAC fails.
        let mut forged: Metadata = serde_json::from_str(&good).unwrap();
        forged.recipients.push(attacker);
        write(&path, forged.to_bytes());
        let loaded = Metadata::load(&dir).unwrap().unwrap();
        let err = loaded.verify(&dir, &key, Path::new("/k")).unwrap_err();
        assert!(matches!(err, Error::MetadataTampered { .. }), "{err:?}");
        assert_eq!(err.class(), crate::ErrorClass::Corrupt);
        // Another key (another vault) cannot vouch for this file either.
        write(&path, &good);
        let loaded = Metadata::load(&dir).unwrap().unwrap();
        assert!(
            loaded
                .verify(&dir, &VaultKey::generate(), Path::new("/k"))
                .is_err()
        );
        loaded.verify(&dir, &key, Path::new("/k")).unwrap();
    }

    #[test]
    fn unauthenticated_files_are_accepted_only_when_harmless() {
        let (_tmp, dir, key, mut meta) = vault();
        let path = dir.join(METADATA_FILE);
        write(&path, meta.to_bytes());
        let loaded = Metadata::load(&dir).unwrap().unwrap();
        assert!(!loaded.is_authenticated());
        loaded.verify(&dir, &key, Path::new("/k")).unwrap();
        meta.recipients
            .push(VaultKey::generate().recipient().to_string());
        write(&path, meta.to_bytes());
        let loaded = Metadata::load(&dir).unwrap().unwrap();
        assert!(loaded.verify(&dir, &key, Path::new("/k")).is_err());
        meta.recipients.clear();
        meta.identity_file = Some("/home/u/.bashrc".into());
        write(&path, meta.to_bytes());
        let loaded = Metadata::load(&dir).unwrap().unwrap();
        assert!(loaded.verify(&dir, &key, Path::new("/k")).is_err());
        assert!(
            loaded
                .verify(&dir, &key, Path::new("/home/u/.bashrc"))
                .is_ok()
        );
    }

    #[test]
    fn unrepresentable_expiry_and_loose_modes_are_refused() {
        let (_tmp, dir, key, mut meta) = vault();
        meta.previous
            .insert("jwt_secret".into(), PreviousRecord { expires: u64::MAX });
        let path = dir.join(METADATA_FILE);
        write(&path, meta.to_bytes());
        let err = Metadata::load(&dir).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
        meta.previous.clear();
        meta.store(&dir, &key).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = Metadata::load(&dir).unwrap_err();
        assert!(matches!(err, Error::UnsafePath { .. }), "{err:?}");
    }

    proptest::proptest! {
        /// No metadata file, however damaged or hostile, makes loading or verifying panic:
        /// it loads, or it is refused with an error.
        #[test]
        fn any_metadata_bytes_load_or_are_refused_without_panic(
            edits in proptest::collection::vec((0usize..2048, proptest::num::u8::ANY), 0..8),
            cut in 0usize..2048,
            junk in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            expires in proptest::num::u64::ANY,
        ) {
            let (_tmp, dir, key, mut meta) = vault();
            meta.previous.insert("jwt_secret".into(), PreviousRecord { expires });
            meta.recipients.push(VaultKey::generate().recipient().to_string());
            let mut bytes = meta.to_bytes();
            for (at, byte) in &edits {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] = *byte;
                }
            }
            bytes.truncate(cut.max(1).min(bytes.len()));
            bytes.extend_from_slice(&junk);
            write(&dir.join(METADATA_FILE), &bytes);
            if let Ok(Some(loaded)) = Metadata::load(&dir) {
                let _ = loaded.verify(&dir, &key, Path::new("/k"));
                let _ = loaded.all_recipients(&dir);
                for record in loaded.previous.values() {
                    let _ = record.until();
                    let _ = record.expired();
                }
            }
        }
    }

    #[test]
    fn ids_are_unique_hex() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
