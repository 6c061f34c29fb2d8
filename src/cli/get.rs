//! `get [NAME] [--no-create]`: print the secret and a newline; notices go to stderr.

use continuum_vault::Vault;
use continuum_vault::secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::Failure;
use super::output::{Output, write_stdout};

pub(crate) fn run(vault: &Vault, out: Output, name: &str, no_create: bool) -> Result<u8, Failure> {
    let loaded = if no_create {
        vault.load_existing(name)?
    } else {
        vault.load(name)?
    };
    out.notices(loaded.notices());
    let secret = loaded.secret().expose_secret();
    let mut line = Zeroizing::new(Vec::with_capacity(secret.len() + 1));
    line.extend_from_slice(secret.as_bytes());
    line.push(b'\n');
    write_stdout(&line)?;
    Ok(0)
}
