//! `set [NAME] [--force]`: store the value read from standard input, encrypted.

use std::io::{IsTerminal, Read};

use continuum_vault::secrecy::SecretString;
use continuum_vault::{Error, MAX_FILE_SIZE, SetOutcome, Vault};
use zeroize::Zeroizing;

use super::Failure;
use super::output::Output;

pub(crate) fn run(
    vault: &Vault,
    out: Output,
    name: &str,
    force: bool,
    json: bool,
) -> Result<u8, Failure> {
    let stdin = std::io::stdin();
    // Typed at a terminal, the value is not echoed (like a passphrase); piped, it is read whole.
    let value = if stdin.is_terminal() {
        super::passphrase::prompt(&format!("Value of {name} (not shown): "))?
    } else {
        read_value(stdin.lock())?
    };
    let (outcome, notices) = vault.set(name, &value, force)?;
    out.notices(&notices);
    if json {
        Output::json(
            "set",
            serde_json::json!({ "name": name, "outcome": outcome_name(outcome) }),
        )?;
    } else {
        out.notice(match outcome {
            SetOutcome::Created => "stored",
            SetOutcome::Unchanged => "unchanged: the vault already holds this value",
            SetOutcome::Replaced => "replaced",
            _ => "done",
        });
    }
    Ok(0)
}

/// How `--json` names what `set` and `restore` did.
pub(crate) fn outcome_name(outcome: SetOutcome) -> &'static str {
    match outcome {
        SetOutcome::Created => "created",
        SetOutcome::Unchanged => "unchanged",
        SetOutcome::Replaced => "replaced",
        _ => "other",
    }
}

/// Reads at most `MAX_FILE_SIZE` bytes into one zeroizing buffer that never reallocates.
fn read_value(mut input: impl Read) -> Result<SecretString, Failure> {
    let cap = usize::try_from(MAX_FILE_SIZE).expect("64 KiB fits") + 1;
    let mut buf = Zeroizing::new(vec![0u8; cap]);
    let filled =
        super::passphrase::read_into(&mut input, &mut buf, false).map_err(Failure::Stdin)?;
    if filled == cap {
        return Err(Failure::StdinTooLarge);
    }
    let text = std::str::from_utf8(&buf[..filled]).map_err(|_| {
        Failure::Vault(Error::InvalidSetting {
            setting: "standard input",
            value: "(not shown)".into(),
            reason: "UTF-8 text",
        })
    })?;
    Ok(continuum_vault::secrecy::SecretString::from(text))
}
