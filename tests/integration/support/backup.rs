//! `backup` and `restore` as the tests run them: sealed to a recipient or a passphrase,
//! opened with an identity or the passphrase.

use std::path::{Path, PathBuf};

use super::env::{Run, TestEnv};

/// The passphrase of every passphrase backup in the tests.
pub(crate) const PASSPHRASE: &str = "correct horse battery staple\n";

/// What a backup is sealed to (`backup`) or opened with (`restore`).
#[derive(Clone, Copy)]
pub(crate) enum Key<'a> {
    /// `--recipient R` (backup only).
    Recipient(&'a str),
    /// `--identity FILE` (restore only).
    Identity(&'a Path),
    /// `--passphrase-file FILE`.
    Passphrase(&'a Path),
}

impl<'a> Key<'a> {
    /// The option and its value.
    fn args(self) -> [&'a str; 2] {
        match self {
            Self::Recipient(recipient) => ["--recipient", recipient],
            Self::Identity(file) => ["--identity", utf8(file)],
            Self::Passphrase(file) => ["--passphrase-file", utf8(file)],
        }
    }
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Writes [`PASSPHRASE`] to the file `pass` in HOME; returns its path.
pub(crate) fn passphrase_file(env: &TestEnv) -> PathBuf {
    let path = env.home().join("pass");
    std::fs::write(&path, PASSPHRASE).expect("write the passphrase file");
    path
}

/// `backup EXTRA... --out OUT` sealed to `key`.
pub(crate) fn backup(env: &TestEnv, out: &Path, key: Key, extra: &[&str]) -> Run {
    env.run(&args("backup", "--out", out, key, extra))
}

/// `restore EXTRA... --in BACKUP` opened with `key`.
pub(crate) fn restore(env: &TestEnv, backup: &Path, key: Key, extra: &[&str]) -> Run {
    env.run(&restore_args(backup, key, extra))
}

/// The arguments of [`restore`], for spawning it.
pub(crate) fn restore_args<'a>(backup: &'a Path, key: Key<'a>, extra: &[&'a str]) -> Vec<&'a str> {
    args("restore", "--in", backup, key, extra)
}

/// `COMMAND EXTRA... FILE_OPTION FILE` and the key's option.
fn args<'a>(
    command: &'a str,
    file_option: &'a str,
    file: &'a Path,
    key: Key<'a>,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![command];
    args.extend_from_slice(extra);
    args.extend([file_option, utf8(file)]);
    args.extend(key.args());
    args
}
