//! Sharing and moving the vault key: this vault's recipient (`pubkey`), other hosts'
//! recipients every secret is also sealed to (`recipients add|remove|list`), and moving the
//! key between key sources (`rekey`).
//!
//! Every file is listed through the vault dir's checked descriptor, and an old key is
//! deleted only after every file was shown to open with the new one.

use crate::fs::PrivateDir;
use crate::key::{KeySource, VaultKey};
use crate::metadata::{METADATA_FILE, Metadata};
use crate::name::SecretName;
use crate::resolve::Notice;
use crate::seal::Kind;
use crate::store::local::{self, Found, Fresh};
use crate::{Error, Vault};

/// What a change of recipients did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecipientsChanged {
    /// How many files were sealed again.
    pub resealed: usize,
    /// What the user should be told.
    pub notices: Vec<Notice>,
}

/// The vault dir and its metadata, or [`Error::NotFound`] before the vault exists.
fn existing_metadata(vault: &Vault) -> Result<(PrivateDir, Metadata), Error> {
    let dir = vault.local().existing(METADATA_FILE)?;
    let meta = local::metadata(&dir, vault.keys())?.ok_or_else(|| Error::NotFound {
        path: dir.join(METADATA_FILE),
    })?;
    Ok((dir, meta))
}

/// `Vault::recipient`: this vault's recipient; on a fresh host, the vault key and metadata
/// are made first (no secret), so that `recipients add` on another host can follow.
pub(crate) fn recipient(vault: &Vault) -> Result<(String, Vec<Notice>), Error> {
    let deadline = vault.deadline();
    let dir = vault.local().create()?;
    let meta = local::metadata(&dir, vault.keys())?;
    if let Some(meta) = meta {
        local::key_for(&dir, vault.keys(), &meta, Fresh::No, &deadline)?;
        return Ok((meta.recipient, Vec::new()));
    }
    let _lock = dir.lock(&deadline)?;
    let mut notices = Vec::new();
    let meta = local::metadata(&dir, vault.keys())?;
    let made = meta.is_none();
    let (meta, _key) = local::key_for_write(&dir, vault.keys(), meta, &deadline, &mut notices)?;
    if made {
        notices.push(Notice(format!(
            "notice: made this vault's key, in {}, and its metadata {} (no secret yet)",
            vault.keys().describe(&meta.key_ref()),
            dir.join(METADATA_FILE).display()
        )));
    }
    Ok((meta.recipient, notices))
}

/// `Vault::recipients`: the other recipients every secret is also sealed to.
pub(crate) fn list(vault: &Vault) -> Result<Vec<String>, Error> {
    let (dir, meta) = existing_metadata(vault)?;
    local::key_for(&dir, vault.keys(), &meta, Fresh::No, &vault.deadline())?;
    Ok(meta.recipients)
}

/// `Vault::add_recipient`.
pub(crate) fn add(vault: &Vault, recipient: &str) -> Result<RecipientsChanged, Error> {
    crate::backup::parse_recipients(&[recipient.to_owned()])?;
    change(vault, |meta| {
        if meta.recipient == recipient {
            return Err(Error::InvalidSetting {
                setting: "recipient",
                value: recipient.to_owned(),
                reason: "another host's or a recovery key's recipient: this one is the vault's own key, which every secret is sealed to already",
            });
        }
        if meta.recipients.iter().any(|r| r == recipient) {
            return Ok(Some(format!(
                "{recipient} is already a recipient; nothing to do"
            )));
        }
        meta.recipients.push(recipient.to_owned());
        Ok(None)
    })
}

/// `Vault::remove_recipient`.
pub(crate) fn remove(vault: &Vault, recipient: &str) -> Result<RecipientsChanged, Error> {
    change(vault, |meta| {
        if !meta.recipients.iter().any(|r| r == recipient) {
            return Ok(Some(format!(
                "{recipient} is not a recipient; nothing to do"
            )));
        }
        meta.recipients.retain(|r| r != recipient);
        Ok(None)
    })
}

/// Applies `edit` to the metadata and reseals every file; `edit` returns `Some(message)`
/// when there is nothing to change.
fn change(
    vault: &Vault,
    edit: impl FnOnce(&mut Metadata) -> Result<Option<String>, Error>,
) -> Result<RecipientsChanged, Error> {
    let deadline = vault.deadline();
    let (dir, _) = existing_metadata(vault)?;
    let _lock = dir.lock(&deadline)?;
    let (_, mut meta) = existing_metadata(vault)?;
    let key = local::key_for(&dir, vault.keys(), &meta, Fresh::Yes, &deadline)?;
    if let Some(nothing) = edit(&mut meta)? {
        return Ok(RecipientsChanged {
            resealed: 0,
            notices: vec![Notice(nothing)],
        });
    }
    // Every file must open before anything changes.
    let files = open_all(&dir, &key)?;
    meta.store(&dir, &key)?;
    let resealed = reseal(&dir, &files, &meta, &key)?;
    Ok(RecipientsChanged {
        resealed,
        notices: sealed_to_notice(&meta),
    })
}

/// Names the extra recipients every write seals to.
pub(crate) fn sealed_to_notice(meta: &Metadata) -> Vec<Notice> {
    if meta.recipients.is_empty() {
        return Vec::new();
    }
    vec![Notice(format!(
        "notice: every secret is also sealed to {} other recipient(s): {}",
        meta.recipients.len(),
        meta.recipients.join(", ")
    ))]
}

/// Every sealed file of the vault, opened with `key`: (file name, value).
fn open_all(
    dir: &PrivateDir,
    key: &VaultKey,
) -> Result<Vec<(String, secrecy::SecretString)>, Error> {
    let mut out = Vec::new();
    for file in secret_files(dir)? {
        let Some(Found {
            content,
            kind: Kind::Encrypted,
        }) = local::read_secret(dir, &file)?
        else {
            continue;
        };
        crate::fs::check_owner(&dir.join(&file), &content)?;
        out.push((
            file.clone(),
            local::open_sealed(&dir.join(&file), &content.bytes, key)?,
        ));
    }
    Ok(out)
}

/// Seals each value again to `meta`'s recipients, verified with `verify_key`.
fn reseal(
    dir: &PrivateDir,
    files: &[(String, secrecy::SecretString)],
    meta: &Metadata,
    verify_key: &VaultKey,
) -> Result<usize, Error> {
    for (file, value) in files {
        local::write_sealed(dir, file, value, meta, verify_key)?;
    }
    Ok(files.len())
}

/// What [`Vault::rekey`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Rekeyed {
    /// Where the old key was (now deleted); `None` when the key already lived there.
    pub old: Option<String>,
    /// Where the key lives now.
    pub new: String,
    /// How many files were sealed again.
    pub resealed: usize,
    /// What the user should be told.
    pub notices: Vec<Notice>,
}

/// `Vault::rekey`: a new key is made in `to`, every file is sealed to both keys, the
/// metadata switches, every file is sealed to the new key alone and shown to open with it,
/// and only then is the old key (the one read and verified) deleted.
pub(crate) fn rekey(vault: &Vault, to: KeySource) -> Result<Rekeyed, Error> {
    if to == KeySource::Auto {
        return Err(Error::InvalidSetting {
            setting: "rekey --to",
            value: "auto".into(),
            reason: "keyring or file",
        });
    }
    let keys = vault.keys();
    let deadline = vault.deadline();
    let dir = vault.local().existing(METADATA_FILE)?;
    let _lock = dir.lock(&deadline)?;
    let old_meta = Metadata::load(&dir)?.ok_or_else(|| Error::NotFound {
        path: dir.join(METADATA_FILE),
    })?;
    let old_key = local::key_for(&dir, keys, &old_meta, Fresh::Yes, &deadline)?;
    if old_meta.key_source == to {
        return Ok(Rekeyed {
            old: None,
            new: keys.describe(&old_meta.key_ref()),
            resealed: 0,
            notices: Vec::new(),
        });
    }
    let files = open_all(&dir, &old_key)?;
    let mut notices = Vec::new();
    let id = crate::metadata::new_id();
    crate::store::pending::clean(&dir, keys, Some(&old_meta), &deadline, &mut notices)?;
    crate::store::pending::announce(&dir, &id, to, None)?;
    let (placed, new_key) = keys
        .create(to, &id, &deadline, &mut notices)
        .inspect_err(|_| {
            let _ = crate::store::pending::settle(&dir);
        })?;
    let mut new_meta = Metadata::new(
        id,
        placed.source,
        new_key.recipient().to_string(),
        placed.file,
    );
    new_meta.recipients.clone_from(&old_meta.recipients);
    new_meta.previous.clone_from(&old_meta.previous);
    // Both keys open every file while the metadata switches.
    let mut both = old_meta.clone();
    both.recipients.push(new_meta.recipient.clone());
    reseal(&dir, &files, &both, &old_key)?;
    new_meta.store(&dir, &new_key)?;
    let resealed = reseal(&dir, &files, &new_meta, &new_key)?;
    // Only once every file is shown to open with the new key is the old one deleted.
    let reopened = open_all(&dir, &new_key)?;
    if reopened.len() != files.len() {
        return Err(Error::Encrypt {
            reason: "the files changed while they were resealed; the old key was kept".into(),
        });
    }
    // Now the old key is one no metadata names, and nothing needs it: announced, so that a
    // run killed before the delete below leaves it to the next write to delete. (Announced
    // any earlier, a failure above would leave a key that a file may still need to be
    // deleted by the next write.)
    crate::store::pending::announce(
        &dir,
        &old_meta.id,
        old_meta.key_source,
        old_meta.identity_file.clone(),
    )?;
    let old = keys.delete(&old_meta.key_ref(), &old_key, &deadline)?;
    crate::store::pending::settle(&dir)?;
    Ok(Rekeyed {
        old: Some(old),
        new: keys.describe(&new_meta.key_ref()),
        resealed,
        notices,
    })
}

/// The vault's secret files: valid names and their `_previous` files, listed through the
/// checked descriptor.
fn secret_files(dir: &PrivateDir) -> Result<Vec<String>, Error> {
    Ok(dir
        .entries()?
        .into_iter()
        .filter(|name| {
            let base = name.strip_suffix("_previous").unwrap_or(name);
            SecretName::new(base).is_ok()
        })
        .collect())
}
