//! `run [--name NAME] -- CMD [ARGS...]`: resolve, then exec CMD with the secret in its
//! variable. The process is replaced, so no copy of the secret stays behind in it.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;

use continuum_vault::Vault;
use continuum_vault::secrecy::ExposeSecret;

use super::{Failure, print_notices};

pub(crate) fn run(vault: &Vault, name: &str, cmd: &[OsString]) -> Result<u8, Failure> {
    let loaded = vault.load(name)?;
    print_notices(loaded.notices());
    let var = format!("CONTINUUM_{}", name.to_ascii_uppercase());
    let (program, args) = cmd.split_first().expect("clap requires CMD");
    // The `_FILE` variable is removed: the child must not see two sources for one secret.
    let err = std::process::Command::new(program)
        .args(args)
        .env(&var, loaded.secret().expose_secret())
        .env_remove(format!("{var}_FILE"))
        .exec();
    Err(Failure::Exec {
        program: program.clone(),
        source: err,
    })
}
