//! The key file: `$XDG_CONFIG_HOME/continuum-vault/<vault id>.key` in age-keygen format,
//! mode 0600 in a 0700 directory, never inside the vault dir. Read with the same checks as
//! secret files: no links, owned by this user, no group or other bits.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{KeyRef, KeyStore, VaultKey};
use crate::Error;
use crate::deadline::Deadline;
use crate::fs::atomic::Replace;
use crate::fs::{PrivateDir, check_private};

/// Key files in one directory, as a place for vault keys.
pub(crate) struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key file `at` names: the recorded one, else the default place for its id.
    fn path(&self, at: &KeyRef<'_>) -> PathBuf {
        at.file
            .map_or_else(|| self.dir.join(file_name(at.id)), Path::to_path_buf)
    }
}

impl KeyStore for FileStore {
    fn create(
        &self,
        id: &str,
        key: &VaultKey,
        _deadline: &Deadline,
    ) -> Result<Option<PathBuf>, Error> {
        create(&self.dir, id, key).map(Some)
    }

    fn load(&self, at: &KeyRef<'_>, _deadline: &Deadline) -> Result<VaultKey, Error> {
        let path = self.path(at);
        let dir = path.parent().unwrap_or(Path::new("/"));
        read_file(dir, &path)?.ok_or(Error::KeyFileMissing { path })
    }

    fn delete(&self, at: &KeyRef<'_>, _deadline: &Deadline) -> Result<(), Error> {
        PrivateDir::remove_path(&self.path(at))
    }

    fn describe(&self, at: &KeyRef<'_>) -> String {
        format!("the key file {}", self.path(at).display())
    }

    fn protection(&self, at: &KeyRef<'_>, home: Option<&Path>) -> String {
        let path = self.path(at);
        let in_home = home.is_some_and(|h| {
            let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
            canon(&path).starts_with(canon(h))
        });
        if in_home {
            format!(
                "the key file {} is in the same home directory as the vault: a backup or copy \
                 of that home holds both and decrypts the secret, so against it encryption adds \
                 nothing over mode 0600",
                path.display()
            )
        } else {
            format!(
                "anyone who can read both the key file {} and the vault can decrypt the secret",
                path.display()
            )
        }
    }
}

/// The key file's name for a vault id.
pub(crate) fn file_name(vault_id: &str) -> String {
    format!("{vault_id}.key")
}

/// Reads and parses a vault's key file; `Ok(None)` when the file or its dir is missing.
#[cfg(test)]
pub(crate) fn read(key_dir: &Path, vault_id: &str) -> Result<Option<VaultKey>, Error> {
    read_file(key_dir, &key_dir.join(file_name(vault_id)))
}

/// Reads and parses the key file `path` in `key_dir`; `Ok(None)` when it or its dir is missing.
fn read_file(key_dir: &Path, path: &Path) -> Result<Option<VaultKey>, Error> {
    let Some(dir) = PrivateDir::open(key_dir)? else {
        return Ok(None);
    };
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(None);
    };
    let path = dir.join(name);
    let Some(content) = dir.read(name)? else {
        return Ok(None);
    };
    check_private(&path, &content)?;
    let invalid = |detail| Error::IdentityInvalid {
        location: format!("key file {}", path.display()),
        detail,
    };
    let text = std::str::from_utf8(&content.bytes).map_err(|_| invalid(" (not UTF-8)"))?;
    let line = text
        .lines()
        .map(crate::text::strip)
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .ok_or_else(|| invalid(" (no AGE-SECRET-KEY- line)"))?;
    VaultKey::parse(line).map(Some).ok_or_else(|| invalid(""))
}

/// Writes a new key file (never replacing one) and returns its path.
pub(crate) fn create(key_dir: &Path, vault_id: &str, key: &VaultKey) -> Result<PathBuf, Error> {
    let dir = PrivateDir::create(key_dir)?;
    let name = file_name(vault_id);
    let secret = key.to_text();
    let mut text = Zeroizing::new(String::with_capacity(256));
    text.push_str("# created: ");
    text.push_str(&crate::lifecycle::rfc3339(std::time::SystemTime::now()));
    text.push_str("\n# public key: ");
    text.push_str(&key.recipient().to_string());
    text.push('\n');
    text.push_str(&secret);
    text.push('\n');
    dir.write_atomic(&name, text.as_bytes(), Replace::No)?;
    Ok(dir.join(&name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Unsafe;
    use crate::fs::testing::{mode, refusal};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_age_keygen_format_and_reads_it_back() {
        let tmp = tempfile::tempdir().unwrap();
        let key_dir = tmp.path().join("cfg/continuum-vault");
        let key = VaultKey::generate();
        let path = create(&key_dir, "abc", &key).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# created: "));
        assert!(text.contains(&format!("# public key: {}", key.recipient())));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&key_dir), 0o700);
        let back = read(&key_dir, "abc").unwrap().unwrap();
        assert_eq!(back.recipient().to_string(), key.recipient().to_string());
        assert!(read(&key_dir, "other").unwrap().is_none());
        // Never replaced.
        assert!(create(&key_dir, "abc", &VaultKey::generate()).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn refuses_a_key_file_others_can_read() {
        let tmp = tempfile::tempdir().unwrap();
        let key_dir = tmp.path().join("k");
        let path = create(&key_dir, "abc", &VaultKey::generate()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(
            refusal(&read(&key_dir, "abc")),
            Some(&Unsafe::ReadableByOthers { mode: 0o640 })
        );
    }
}
