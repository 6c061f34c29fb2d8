//! `backup`, `restore`, `rotate`, `pubkey`, `recipients`, `rekey`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use continuum_vault::{BackupKey, KeySource, RestoreKey, SetOutcome, Vault};

use super::{Failure, RecipientsAction, print_notices, write_stdout};

pub(crate) fn backup(
    vault: &Vault,
    name: &str,
    out: &Path,
    recipients: Vec<String>,
    passphrase_file: Option<&Path>,
) -> Result<u8, Failure> {
    let key = if recipients.is_empty() {
        BackupKey::Passphrase(super::passphrase::read(passphrase_file, true)?)
    } else {
        BackupKey::Recipients(recipients)
    };
    vault.backup(name, &key, out)?;
    eprintln!(
        "backup written to {} (0600); restore it with `continuum-vault restore {name} --in {}`, \
         or by hand with `age -d`",
        out.display(),
        out.display()
    );
    Ok(0)
}

pub(crate) fn restore(
    vault: &Vault,
    name: &str,
    input: &Path,
    identity: Option<PathBuf>,
    passphrase_file: Option<&Path>,
    force: bool,
) -> Result<u8, Failure> {
    let key = match identity {
        Some(file) => RestoreKey::IdentityFile(file),
        None => RestoreKey::Passphrase(super::passphrase::read(passphrase_file, false)?),
    };
    let (outcome, notices) = vault.restore(name, &key, input, force)?;
    print_notices(&notices);
    eprintln!(
        "{}",
        match outcome {
            SetOutcome::Unchanged => "unchanged: the vault already holds this value",
            SetOutcome::Replaced =>
                "restored; the value it replaced is kept as the previous secret",
            _ => "restored",
        }
    );
    Ok(0)
}

pub(crate) fn rotate(vault: &Vault, name: &str, grace: Duration) -> Result<u8, Failure> {
    let rotated = vault.rotate(name, grace)?;
    print_notices(&rotated.notices);
    Ok(0)
}

pub(crate) fn pubkey(vault: &Vault) -> Result<u8, Failure> {
    let mut line = vault.recipient()?;
    line.push('\n');
    write_stdout(line.as_bytes())?;
    Ok(0)
}

pub(crate) fn recipients(vault: &Vault, action: RecipientsAction) -> Result<u8, Failure> {
    match action {
        RecipientsAction::Add { recipient } => {
            let n = vault.add_recipient(&recipient)?;
            eprintln!("{n} file(s) re-encrypted to this vault's key and {recipient}");
        }
        RecipientsAction::Remove { recipient } => {
            let n = vault.remove_recipient(&recipient)?;
            eprintln!(
                "{n} file(s) re-encrypted without {recipient}; copies it already has still open \
                 with its key: rotate the secret if it must lose access"
            );
        }
        RecipientsAction::List => {
            let mut out = String::new();
            for r in vault.recipients()? {
                out.push_str(&r);
                out.push('\n');
            }
            write_stdout(out.as_bytes())?;
        }
    }
    Ok(0)
}

pub(crate) fn rekey(vault: &Vault, to: KeySource) -> Result<u8, Failure> {
    match vault.rekey(to)? {
        Some(old) => {
            eprintln!("the vault key now lives in the {to}; the old key ({old}) was removed");
        }
        None => eprintln!("the vault key already lives in the {to}; nothing to do"),
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
