//! Passphrases for backups: from a file (automation) or typed at the terminal with echo off.

use std::io::{BufRead, Write};
use std::path::Path;

use continuum_vault::Error;
use continuum_vault::secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::Failure;

/// Reads the passphrase from `file` (its first line), or prompts on the terminal.
pub(crate) fn read(file: Option<&Path>, confirm: bool) -> Result<SecretString, Failure> {
    let passphrase = if let Some(path) = file {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            Failure::Vault(Error::Io {
                action: "read passphrase file",
                path: path.to_owned(),
                source,
            })
        })?);
        SecretString::from(text.lines().next().unwrap_or(""))
    } else {
        let first = prompt("Passphrase: ")?;
        if confirm && first.expose_secret() != prompt("Passphrase (again): ")?.expose_secret() {
            return Err(Failure::Vault(Error::InvalidSetting {
                setting: "passphrase",
                value: "(not shown)".into(),
                reason: "the same passphrase twice",
            }));
        }
        first
    };
    if passphrase.expose_secret().is_empty() {
        return Err(Failure::Vault(Error::InvalidSetting {
            setting: "passphrase",
            value: String::new(),
            reason: "a non-empty passphrase",
        }));
    }
    Ok(passphrase)
}

/// Prompts on /dev/tty with echo off; fails (instead of blocking) when there is no terminal.
fn prompt(text: &str) -> Result<SecretString, Failure> {
    let no_tty = |e: std::io::Error| {
        Failure::Vault(Error::InvalidSetting {
            setting: "passphrase",
            value: format!("(no terminal: {e})"),
            reason: "--passphrase-file FILE when not run from a terminal",
        })
    };
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(no_tty)?;
    let saved = rustix::termios::tcgetattr(&tty).map_err(|e| no_tty(e.into()))?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
    rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Flush, &quiet)
        .map_err(|e| no_tty(e.into()))?;
    let mut out = &tty;
    let _ = out.write_all(text.as_bytes());
    let mut line = Zeroizing::new(String::with_capacity(1024));
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    let _ = rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Flush, &saved);
    let _ = out.write_all(b"\n");
    read.map_err(Failure::Stdin)?;
    Ok(SecretString::from(line.trim_end_matches(['\r', '\n'])))
}
