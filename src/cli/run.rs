//! `run [--name NAME]... -- CMD [ARGS...]`: resolve every secret, then exec CMD with each in
//! its variable (and its previous secret, while valid, in `..._PREVIOUS`). The process is
//! replaced, so no copy of the secrets stays behind in it.

use std::ffi::OsString;

use continuum_vault::secrecy::ExposeSecret;
use continuum_vault::{DEFAULT_SECRET, KeySet, StoreKind, Vault};

use super::Failure;
use super::output::Output;

pub(crate) fn run(
    vault: &Vault,
    out: Output,
    names: &[String],
    cmd: &[OsString],
) -> Result<u8, Failure> {
    let names = distinct(names)?;
    // Every secret is resolved before anything is exec'd: one failure and CMD never starts.
    let mut sets: Vec<(&str, KeySet)> = Vec::with_capacity(names.len());
    for name in names {
        let keys = vault.load_key_set(name)?;
        out.notices(keys.notices());
        sets.push((name, keys));
    }
    let Some((program, args)) = cmd.split_first() else {
        return Err(Failure::Usage {
            message: "no command given to run".into(),
            hint: "put the command after `--`: continuum-vault run -- CMD [ARGS]...".into(),
        });
    };
    let mut env = super::exec::Env::inherit();
    if vault.store() == StoreKind::OpenBao {
        // The store's credentials are this process's, not the server's: the child never
        // sees the token (the AppRole secret id stays in its file).
        for var in STORE_CREDENTIALS {
            env.remove(var);
        }
    }
    for (name, keys) in &sets {
        let var = format!("CONTINUUM_{}", name.to_ascii_uppercase());
        // The `_FILE` variable is removed: the child must not see two sources for one secret.
        env.set(&var, keys.current().expose_secret().as_bytes());
        env.remove(&format!("{var}_FILE"));
        // The previous secret, while its grace window lasts, so the server can still verify
        // sessions signed before a rotation.
        match keys.previous() {
            Some((previous, _)) => env.set(
                &format!("{var}_PREVIOUS"),
                previous.expose_secret().as_bytes(),
            ),
            None => env.remove(&format!("{var}_PREVIOUS")),
        }
    }
    let err = super::exec::exec(program, args, &env);
    drop(env);
    drop(sets);
    Err(Failure::Exec {
        program: program.clone(),
        source: err,
    })
}

/// The variables that hold an OpenBao token, removed from the child's environment.
const STORE_CREDENTIALS: [&str; 2] = ["BAO_TOKEN", "VAULT_TOKEN"];

/// The names in the order given (the default secret when none is), refusing one given twice.
fn distinct(names: &[String]) -> Result<Vec<&str>, Failure> {
    if names.is_empty() {
        return Ok(vec![DEFAULT_SECRET]);
    }
    let mut seen: Vec<&str> = Vec::with_capacity(names.len());
    for name in names {
        if seen.contains(&name.as_str()) {
            return Err(Failure::Usage {
                message: format!("--name {name} is given twice"),
                hint: "give each secret once".into(),
            });
        }
        seen.push(name);
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn no_name_means_the_default_secret_and_order_is_kept() {
        assert_eq!(distinct(&[]).unwrap(), [DEFAULT_SECRET]);
        assert_eq!(
            distinct(&names(&["db_password", "jwt_secret"])).unwrap(),
            ["db_password", "jwt_secret"]
        );
    }

    #[test]
    fn a_name_given_twice_is_a_usage_error() {
        let err = distinct(&names(&["a", "b", "a"])).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            matches!(err, Failure::Usage { message, .. } if message == "--name a is given twice")
        );
    }
}
