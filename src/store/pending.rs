//! Keys of interrupted runs. A first run (or a `rekey`) makes its new key before the
//! metadata that names it; killed in between, it leaves a key (a keyring entry, a key file,
//! a credential) that no metadata names. So the key is announced first, in
//! `.continuum-vault.pending-key` beside the metadata, under the vault lock; the next write
//! under the lock deletes an announced key that the metadata does not name, and says so.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::deadline::Deadline;
use crate::fs::PrivateDir;
use crate::fs::atomic::Replace;
use crate::key::{KeyRef, KeySource, Keys};
use crate::metadata::Metadata;
use crate::resolve::Notice;

/// The marker's name inside the vault dir.
pub(crate) const PENDING_FILE: &str = ".continuum-vault.pending-key";

/// A key that may exist without metadata naming it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pending {
    /// The vault id the key was made for.
    id: String,
    /// Where it is (`auto`: the keyring or a key file, whichever took it).
    key_source: KeySource,
    /// The key file or credential, when it is not at the default place for its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<PathBuf>,
}

/// Announces the key of vault `id` in `source` before it is made. Call with the lock held.
pub(crate) fn announce(
    dir: &PrivateDir,
    id: &str,
    source: KeySource,
    file: Option<PathBuf>,
) -> Result<(), Error> {
    let pending = Pending {
        id: id.to_owned(),
        key_source: source,
        file,
    };
    let mut json = serde_json::to_vec(&pending).expect("a pending key serializes");
    json.push(b'\n');
    dir.write_atomic(PENDING_FILE, &json, Replace::Yes)
}

/// Removes the announcement once the metadata names the key (or it is deleted).
pub(crate) fn settle(dir: &PrivateDir) -> Result<(), Error> {
    dir.remove(PENDING_FILE)
}

/// Deletes an announced key that `meta` does not name, with a notice. Call with the lock held.
pub(crate) fn clean(
    dir: &PrivateDir,
    keys: &Keys,
    meta: Option<&Metadata>,
    deadline: &Deadline,
    notices: &mut Vec<Notice>,
) -> Result<(), Error> {
    let Some(content) = dir.read(PENDING_FILE)? else {
        return Ok(());
    };
    crate::fs::check_owner(&dir.join(PENDING_FILE), &content)?;
    let Ok(pending) = serde_json::from_slice::<Pending>(&content.bytes) else {
        // Not ours to interpret: leave it for the operator, with a word.
        notices.push(Notice(format!(
            "warning: {} is not a pending-key record; it was left as it is",
            dir.join(PENDING_FILE).display()
        )));
        return Ok(());
    };
    if meta.is_some_and(|m| m.id == pending.id) || !crate::metadata::valid_id(&pending.id) {
        return settle(dir);
    }
    let sources: &[KeySource] = match pending.key_source {
        KeySource::Auto => &[KeySource::Keyring, KeySource::File],
        KeySource::Keyring => &[KeySource::Keyring],
        KeySource::File => &[KeySource::File],
        KeySource::SystemdCreds => &[KeySource::SystemdCreds],
    };
    let mut removed = Vec::new();
    for source in sources {
        let at = KeyRef {
            id: &pending.id,
            source: *source,
            file: pending.file.as_deref(),
            recipient: "",
        };
        match keys.delete_orphan(&at, deadline) {
            Ok(place) => removed.push(place),
            // The store is not reachable now (a keyring that is not running): the write
            // goes on, and a later one tries again.
            Err(e) => {
                notices.push(Notice(format!(
                    "warning: the vault key of an interrupted run could not be removed yet ({}); \
                     a later write tries again",
                    crate::error_chain(&e)
                )));
                return Ok(());
            }
        }
    }
    notices.push(Notice(format!(
        "notice: removed the vault key of an interrupted run, which no vault metadata names: {}",
        removed.join(", ")
    )));
    settle(dir)
}
