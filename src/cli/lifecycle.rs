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
    let (mut line, notices) = vault.recipient()?;
    print_notices(&notices);
    line.push('\n');
    write_stdout(line.as_bytes())?;
    Ok(0)
}

pub(crate) fn recipients(vault: &Vault, action: RecipientsAction) -> Result<u8, Failure> {
    match action {
        RecipientsAction::Add { recipient } => {
            let changed = vault.add_recipient(&recipient)?;
            print_notices(&changed.notices);
            if changed.resealed > 0 || changed.notices.len() != 1 {
                eprintln!(
                    "{} file(s) re-encrypted to this vault's key and {recipient}",
                    changed.resealed
                );
            }
        }
        RecipientsAction::Remove { recipient } => {
            let changed = vault.remove_recipient(&recipient)?;
            print_notices(&changed.notices);
            if changed.resealed > 0 || changed.notices.len() != 1 {
                eprintln!(
                    "{} file(s) re-encrypted without {recipient}; copies it already has still open \
                     with its key: rotate the secret if it must lose access",
                    changed.resealed
                );
            }
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
    let rekeyed = vault.rekey(to)?;
    print_notices(&rekeyed.notices);
    match &rekeyed.old {
        Some(old) => eprintln!(
            "the vault key now lives in {}; {} file(s) re-encrypted; the old key ({old}) was removed",
            rekeyed.new, rekeyed.resealed
        ),
        None => eprintln!(
            "the vault key already lives in {}; nothing to do",
            rekeyed.new
        ),
    }
    Ok(0)
}

pub(crate) fn migrate(vault: &Vault, name: &str) -> Result<u8, Failure> {
    let migrated = vault.migrate(name)?;
    print_notices(&migrated.notices);
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
