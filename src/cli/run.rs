//! `run [--name NAME] -- CMD [ARGS...]`: resolve, then exec CMD with the secret in its
//! variable (and the previous secret, while valid, in `..._PREVIOUS`). The process is
//! replaced, so no copy of the secret stays behind in it.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;

use continuum_vault::Vault;
use continuum_vault::secrecy::ExposeSecret;

use super::{Failure, print_notices};

pub(crate) fn run(vault: &Vault, name: &str, cmd: &[OsString]) -> Result<u8, Failure> {
    let keys = vault.load_key_set(name)?;
    print_notices(keys.notices());
    let var = format!("CONTINUUM_{}", name.to_ascii_uppercase());
    let (program, args) = cmd.split_first().expect("clap requires CMD");
    // The `_FILE` variable is removed: the child must not see two sources for one secret.
    let mut command = std::process::Command::new(program);
    command
        .args(args)
        .env(&var, keys.current().expose_secret())
        .env_remove(format!("{var}_FILE"));
    // The previous secret, while its grace window lasts, so the server can still verify
    // sessions signed before a rotation.
    match keys.previous() {
        Some((previous, _)) => command.env(format!("{var}_PREVIOUS"), previous.expose_secret()),
        None => command.env_remove(format!("{var}_PREVIOUS")),
    };
    let err = command.exec();
    Err(Failure::Exec {
        program: program.clone(),
        source: err,
    })
}
