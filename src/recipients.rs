//! Sharing and moving the vault key: this vault's recipient (`pubkey`), other hosts'
//! recipients every secret is also sealed to (`recipients add|remove|list`), and moving the
//! key between the keyring and a key file (`rekey`).

use crate::fs::PrivateDir;
use crate::key::{KeySource, VaultKey, keyring};
use crate::metadata::Metadata;
use crate::name::SecretName;
use crate::seal::Kind;
use crate::vault::{Found, read_secret, write_sealed};
use crate::{Error, Vault};

impl Vault {
    /// This vault's age recipient (`age1...`): what other hosts add to share secrets with it.
    ///
    /// # Errors
    /// [`Error::NotFound`] before the vault exists.
    pub fn recipient(&self) -> Result<String, Error> {
        Ok(self.existing_metadata()?.1.recipient)
    }

    /// The other recipients every secret is also encrypted to.
    ///
    /// # Errors
    /// [`Error::NotFound`] before the vault exists.
    pub fn recipients(&self) -> Result<Vec<String>, Error> {
        Ok(self.existing_metadata()?.1.recipients)
    }

    /// Adds a recipient and re-encrypts every secret (and previous secret) to this vault's
    /// key plus all recipients, so the files can be copied to the other host.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for something that is not an `age1...` recipient.
    pub fn add_recipient(&self, recipient: &str) -> Result<usize, Error> {
        crate::backup::parse_recipients(&[recipient.to_owned()])?;
        self.change_recipients(|meta| {
            if meta.recipient != recipient && !meta.recipients.iter().any(|r| r == recipient) {
                meta.recipients.push(recipient.to_owned());
            }
        })
    }

    /// Removes a recipient and re-encrypts every secret without it. (Copies already made
    /// for that host still open with its key: rotate if it must lose access.)
    ///
    /// # Errors
    /// As [`add_recipient`](Self::add_recipient).
    pub fn remove_recipient(&self, recipient: &str) -> Result<usize, Error> {
        self.change_recipients(|meta| meta.recipients.retain(|r| r != recipient))
    }

    fn existing_metadata(&self) -> Result<(PrivateDir, Metadata), Error> {
        let not_found = || Error::NotFound {
            path: self.dir.join(crate::metadata::METADATA_FILE),
        };
        let dir = PrivateDir::open(&self.dir)?.ok_or_else(not_found)?;
        let meta = self.metadata(&dir)?.ok_or_else(not_found)?;
        Ok((dir, meta))
    }

    fn change_recipients(&self, change: impl FnOnce(&mut Metadata)) -> Result<usize, Error> {
        let deadline = self.deadline();
        let (dir, _) = self.existing_metadata()?;
        let _lock = dir.lock(&deadline)?;
        let mut meta = self.metadata(&dir)?.ok_or_else(|| Error::NotFound {
            path: dir.join(crate::metadata::METADATA_FILE),
        })?;
        let key = self.load_key(&meta, &deadline)?;
        change(&mut meta);
        meta.all_recipients(&dir)?;
        meta.store(&dir)?;
        Self::reseal_all(&dir, &meta, &key, &key)
    }

    /// Decrypts every secret file with `old` and seals it again to `meta`'s recipients,
    /// verified with `new`. Returns how many files were re-encrypted.
    fn reseal_all(
        dir: &PrivateDir,
        meta: &Metadata,
        old: &VaultKey,
        new: &VaultKey,
    ) -> Result<usize, Error> {
        let mut count = 0;
        for file in secret_files(dir)? {
            let Some(Found {
                content,
                kind: Kind::Encrypted,
            }) = read_secret(dir, &file)?
            else {
                continue;
            };
            let plain = crate::seal::open(&content.bytes, &old.identity).map_err(|reason| {
                Error::Decrypt {
                    path: dir.join(&file),
                    reason,
                }
            })?;
            let text = std::str::from_utf8(&plain).map_err(|_| Error::Corrupt {
                path: dir.join(&file),
                reason: "the decrypted value is not UTF-8 text".into(),
            })?;
            let secret = crate::text::secret_string(crate::text::strip(text));
            write_sealed(dir, &file, &secret, meta, new)?;
            count += 1;
        }
        Ok(count)
    }

    /// Moves the vault to another key source: a new key is made there, every file is sealed
    /// to both keys, the metadata switches, every file is sealed to the new key alone, and
    /// only then is the old key removed. A crash at any step leaves files the recorded key opens.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for `auto`; any keyring or file error.
    pub fn rekey(&self, to: KeySource) -> Result<Option<String>, Error> {
        if to == KeySource::Auto {
            return Err(Error::InvalidSetting {
                setting: "rekey --to",
                value: "auto".into(),
                reason: "keyring or file",
            });
        }
        let deadline = self.deadline();
        let (dir, _) = self.existing_metadata()?;
        let _lock = dir.lock(&deadline)?;
        let old_meta = Metadata::load(&dir)?.ok_or_else(|| Error::NotFound {
            path: dir.join(crate::metadata::METADATA_FILE),
        })?;
        if old_meta.key_source == to {
            return Ok(None);
        }
        let old_key = self.load_key(&old_meta, &deadline)?;
        let id = crate::metadata::new_id();
        let new_key = VaultKey::generate();
        let recipient = new_key.recipient().to_string();
        let mut new_meta = if to == KeySource::Keyring {
            self.store_in_keyring(&id, &new_key, &deadline)?;
            Metadata::new(id, KeySource::Keyring, recipient.clone(), None)
        } else {
            let path = crate::key::file::create(&self.key_dir, &id, &new_key)?;
            Metadata::new(id, KeySource::File, recipient.clone(), Some(path))
        };
        new_meta.recipients.clone_from(&old_meta.recipients);
        new_meta.previous.clone_from(&old_meta.previous);
        // Both keys open every file while the metadata switches.
        let mut both = old_meta.clone();
        both.recipients.push(recipient);
        Self::reseal_all(&dir, &both, &old_key, &old_key)?;
        new_meta.store(&dir)?;
        Self::reseal_all(&dir, &new_meta, &old_key, &new_key)?;
        *self
            .key_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        // Only now is the old key no longer needed.
        let old_location = if old_meta.key_source == KeySource::Keyring {
            let account = keyring::account(&old_meta.id);
            self.keyring.delete(&account, &deadline)?;
            format!("OS keyring entry {account:?}")
        } else {
            let path = self.key_file(&old_meta);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(Error::Write { path, source }),
            }
            format!("key file {}", path.display())
        };
        Ok(Some(old_location))
    }
}

/// The vault's secret files: valid names and their `_previous` files.
fn secret_files(dir: &PrivateDir) -> Result<Vec<String>, Error> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir.path())
        .map_err(|e| crate::fs::dir::io_error("list", dir.path(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| crate::fs::dir::io_error("list", dir.path(), e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let base = name.strip_suffix("_previous").unwrap_or(&name);
        if SecretName::new(base).is_ok() {
            files.push(name);
        }
    }
    files.sort();
    Ok(files)
}
