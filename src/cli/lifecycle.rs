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

pub(crate) fn pubkey(vault: &Vault, json: bool) -> Result<u8, Failure> {
    let recipient = vault.recipient()?;
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
    match action {
        RecipientsAction::Add { recipient } => {
            let n = vault.add_recipient(recipient)?;
            if json {
                Output::json(
                    "recipients add",
                    json!({ "recipient": recipient, "files_reencrypted": n }),
                )?;
            } else {
                out.notice(&format!(
                    "{n} file(s) re-encrypted to this vault's key and {recipient}"
                ));
            }
        }
        RecipientsAction::Remove { recipient } => {
            let n = vault.remove_recipient(recipient)?;
            if json {
                Output::json(
                    "recipients remove",
                    json!({ "recipient": recipient, "files_reencrypted": n }),
                )?;
            } else {
                out.notice(&format!(
                    "{n} file(s) re-encrypted without {recipient}; copies it already has still \
                     open with its key: rotate the secret if it must lose access"
                ));
            }
        }
        RecipientsAction::List => {
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
        }
    }
    Ok(0)
}

pub(crate) fn rekey(vault: &Vault, out: Output, to: KeySource, json: bool) -> Result<u8, Failure> {
    let old = vault.rekey(to)?;
    if json {
        Output::json(
            "rekey",
            json!({
                "key_source": to,
                "changed": old.is_some(),
                "removed_key": old,
            }),
        )?;
        return Ok(0);
    }
    match old {
        Some(old) => out.notice(&format!(
            "the vault key now lives in the {to}; the old key ({old}) was removed"
        )),
        None => out.notice(&format!(
            "the vault key already lives in the {to}; nothing to do"
        )),
    }
    Ok(0)
}

/// Parses `30d`, `12h`, `90m`, `45s` or a number of seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30d, 12h, 90m or 45s"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit in {s:?}: use s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

/// `2026-05-01T12:00:00Z`: a time as RFC 3339, in UTC, to the second.
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm), for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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
