//! `backup`, `restore`, `rotate`, `pubkey`, `recipients`, `rekey`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use continuum_vault::{BackupKey, KeySource, RestoreKey, SetOutcome, Vault};
use serde_json::json;

use super::output::{Output, write_stdout};
use super::{Failure, RecipientsAction};

pub(crate) fn backup(
    vault: &Vault,
    out: Output,
    name: &str,
    file: &Path,
    recipients: &[String],
    passphrase_file: Option<&Path>,
    json: bool,
) -> Result<u8, Failure> {
    let key = if recipients.is_empty() {
        BackupKey::Passphrase(super::passphrase::read(passphrase_file, true)?)
    } else {
        BackupKey::Recipients(recipients.to_vec())
    };
    vault.backup(name, &key, file)?;
    if json {
        Output::json(
            "backup",
            json!({
                "name": name,
                "out": file,
                "encrypted_to": if recipients.is_empty() { "passphrase" } else { "recipients" },
                "recipients": recipients,
            }),
        )?;
    } else {
        out.notice(&format!(
            "backup written to {} (0600); restore it with `continuum-vault restore {name} --in {}`, \
             or by hand with `age -d`",
            file.display(),
            file.display()
        ));
    }
    Ok(0)
}

/// What `restore` was asked to do.
pub(crate) struct RestoreArgs<'a> {
    pub(crate) name: &'a str,
    pub(crate) input: &'a Path,
    pub(crate) identity: Option<PathBuf>,
    pub(crate) passphrase_file: Option<&'a Path>,
    pub(crate) force: bool,
    pub(crate) json: bool,
}

pub(crate) fn restore(vault: &Vault, out: Output, args: &RestoreArgs<'_>) -> Result<u8, Failure> {
    let key = match &args.identity {
        Some(file) => RestoreKey::IdentityFile(file.clone()),
        None => RestoreKey::Passphrase(super::passphrase::read(args.passphrase_file, false)?),
    };
    let (outcome, notices) = vault.restore(args.name, &key, args.input, args.force)?;
    out.notices(&notices);
    if args.json {
        Output::json(
            "restore",
            json!({
                "name": args.name,
                "in": args.input,
                "outcome": super::set::outcome_name(outcome),
            }),
        )?;
    } else {
        out.notice(match outcome {
            SetOutcome::Unchanged => "unchanged: the vault already holds this value",
            SetOutcome::Replaced => {
                "restored; the value it replaced is kept as the previous secret"
            }
            _ => "restored",
        });
    }
    Ok(0)
}

pub(crate) fn rotate(
    vault: &Vault,
    out: Output,
    name: &str,
    grace: Duration,
    json: bool,
) -> Result<u8, Failure> {
    let rotated = vault.rotate(name, grace)?;
    out.notices(&rotated.notices);
    if json {
        let unix = rotated
            .previous_expires
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Output::json(
            "rotate",
            json!({
                "name": name,
                "previous_expires": rfc3339(rotated.previous_expires),
                "previous_expires_unix": unix,
            }),
        )?;
    }
    Ok(0)
}

pub(crate) fn pubkey(vault: &Vault, out: Output, json: bool) -> Result<u8, Failure> {
    let (recipient, notices) = vault.recipient()?;
    out.notices(&notices);
    if json {
        Output::json("pubkey", json!({ "recipient": recipient }))?;
    } else {
        write_stdout(format!("{recipient}\n").as_bytes())?;
    }
    Ok(0)
}

pub(crate) fn recipients(
    vault: &Vault,
    out: Output,
    action: &RecipientsAction,
    json: bool,
) -> Result<u8, Failure> {
    let (command, recipient, changed) = match action {
        RecipientsAction::List => return list_recipients(vault, json),
        RecipientsAction::Add { recipient } => {
            ("recipients add", recipient, vault.add_recipient(recipient)?)
        }
        RecipientsAction::Remove { recipient } => (
            "recipients remove",
            recipient,
            vault.remove_recipient(recipient)?,
        ),
    };
    out.notices(&changed.notices);
    if json {
        Output::json(
            command,
            json!({ "recipient": recipient, "files_reencrypted": changed.resealed }),
        )?;
    } else if changed.resealed > 0 || changed.notices.len() != 1 {
        let n = changed.resealed;
        out.notice(&if matches!(action, RecipientsAction::Add { .. }) {
            format!("{n} file(s) re-encrypted to this vault's key and {recipient}")
        } else {
            format!(
                "{n} file(s) re-encrypted without {recipient}; copies it already has still \
                 open with its key: rotate the secret if it must lose access"
            )
        });
    }
    Ok(0)
}

fn list_recipients(vault: &Vault, json: bool) -> Result<u8, Failure> {
    let list = vault.recipients()?;
    if json {
        Output::json("recipients list", json!({ "recipients": list }))?;
    } else {
        let mut text = String::new();
        for r in list {
            text.push_str(&r);
            text.push('\n');
        }
        write_stdout(text.as_bytes())?;
    }
    Ok(0)
}

pub(crate) fn rekey(vault: &Vault, out: Output, to: KeySource, json: bool) -> Result<u8, Failure> {
    let rekeyed = vault.rekey(to)?;
    out.notices(&rekeyed.notices);
    if json {
        Output::json(
            "rekey",
            json!({
                "key_source": to,
                "key": rekeyed.new,
                "changed": rekeyed.old.is_some(),
                "files_reencrypted": rekeyed.resealed,
                "removed_key": rekeyed.old,
            }),
        )?;
        return Ok(0);
    }
    match &rekeyed.old {
        Some(old) => out.notice(&format!(
            "the vault key now lives in {}; {} file(s) re-encrypted; the old key ({old}) was removed",
            rekeyed.new, rekeyed.resealed
        )),
        None => out.notice(&format!(
            "the vault key already lives in {}; nothing to do",
            rekeyed.new
        )),
    }
    Ok(0)
}

pub(crate) fn migrate(vault: &Vault, out: Output, name: &str, json: bool) -> Result<u8, Failure> {
    let migrated = vault.migrate(name)?;
    out.notices(&migrated.notices);
    if json {
        Output::json(
            "migrate",
            json!({ "name": name, "path": migrated.path, "changed": migrated.changed }),
        )?;
    }
    Ok(0)
}

/// Parses a duration such as `30d`, `12h`, `1h30m`, `2w` or `45s` (humantime's syntax), or
/// a plain number of seconds. The range is checked by the library, before anything is written.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("{s:?} is too large"));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration like 30d, 12h, 1h30m or 2w: {e}"))
}

/// `2026-05-01T12:00:00Z`: a time as RFC 3339, in UTC, to the second.
fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_709_251_199, "2024-02-29T23:59:59Z"),
            (4_102_444_800, "2100-01-01T00:00:00Z"),
        ] {
            assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(secs)), text);
        }
    }
}
