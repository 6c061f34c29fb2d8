//! Replacing this process with the command `run` was given, with an environment built in
//! zeroizing buffers. std's `Command` keeps its own copies of the environment and frees
//! them unwiped, so an exec that fails (a typo in the command) would leave the secrets in
//! freed memory; here every `NAME=value` lives in a buffer this module wipes on drop.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use zeroize::Zeroizing;

/// The child's environment: `NAME=value\0` entries, each in a zeroizing buffer.
pub(crate) struct Env {
    entries: Vec<Zeroizing<Vec<u8>>>,
}

impl Env {
    /// This process's environment.
    pub(crate) fn inherit() -> Self {
        let entries = std::env::vars_os()
            .map(|(k, v)| entry(k.as_bytes(), v.as_bytes()))
            .collect();
        Self { entries }
    }

    /// Sets `name` to `value`, replacing any earlier value.
    pub(crate) fn set(&mut self, name: &str, value: &[u8]) {
        self.remove(name);
        self.entries.push(entry(name.as_bytes(), value));
    }

    /// Removes `name`.
    pub(crate) fn remove(&mut self, name: &str) {
        let prefix = [name.as_bytes(), b"="].concat();
        self.entries.retain(|e| !e.starts_with(&prefix));
    }
}

fn entry(name: &[u8], value: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut e = Zeroizing::new(Vec::with_capacity(name.len() + value.len() + 2));
    e.extend_from_slice(name);
    e.push(b'=');
    e.extend_from_slice(value);
    e.push(0);
    e
}

/// Execs `program` (searched in `PATH`) with `args` and `env`; returns only on failure.
#[cfg(target_os = "linux")]
pub(crate) fn exec(program: &OsStr, args: &[OsString], env: &Env) -> std::io::Error {
    use std::ffi::{CStr, CString};
    let invalid = || std::io::Error::from(std::io::ErrorKind::InvalidInput);
    let Ok(file) = CString::new(program.as_bytes()) else {
        return invalid();
    };
    let mut arguments = vec![file.clone()];
    for arg in args {
        match CString::new(arg.as_bytes()) {
            Ok(a) => arguments.push(a),
            Err(_) => return invalid(),
        }
    }
    let mut envp: Vec<&CStr> = Vec::with_capacity(env.entries.len());
    for e in &env.entries {
        match CStr::from_bytes_with_nul(e) {
            Ok(c) => envp.push(c),
            // A value with a NUL byte cannot be passed; the vault refuses such values.
            Err(_) => return invalid(),
        }
    }
    match nix::unistd::execvpe(&file, &arguments, &envp) {
        Err(errno) => std::io::Error::from_raw_os_error(errno as i32),
        Ok(never) => match never {},
    }
}

/// Execs `program` with `args` and `env` (elsewhere than Linux, through std's `Command`).
#[cfg(not(target_os = "linux"))]
pub(crate) fn exec(program: &OsStr, args: &[OsString], env: &Env) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(program);
    command.args(args).env_clear();
    for e in &env.entries {
        let text = &e[..e.len() - 1];
        if let Some(eq) = text.iter().position(|b| *b == b'=') {
            command.env(
                OsStr::from_bytes(&text[..eq]),
                OsStr::from_bytes(&text[eq + 1..]),
            );
        }
    }
    command.exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_and_remove_removes() {
        let mut env = Env {
            entries: vec![entry(b"A", b"1"), entry(b"AB", b"2")],
        };
        env.set("A", b"3");
        env.remove("AB");
        let texts: Vec<&[u8]> = env.entries.iter().map(|e| &e[..]).collect();
        assert_eq!(texts, [&b"A=3\0"[..]]);
    }
}
