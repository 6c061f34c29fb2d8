//! Running the binary as `nobody` (uid 65534), for the cases where root would ignore
//! permission bits or own every file: a copy of the binary `nobody` can execute, a HOME
//! `nobody` owns, and `setpriv` to switch users. Call only as root (see `root_or_skip`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::env::{BIN, Run, feed, nobody_home};

/// The uid (and gid) of `nobody`.
pub(crate) const NOBODY: u32 = 65534;

/// A user `nobody` with its own HOME and its own executable copy of the binary.
pub(crate) struct Nobody {
    _bin_dir: tempfile::TempDir,
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Nobody {
    pub(crate) fn new() -> Self {
        // The build dir may sit where `nobody` cannot reach (e.g. under /root).
        let bin_dir = tempfile::Builder::new()
            .prefix("cv-bin-")
            .tempdir_in("/tmp")
            .expect("temp dir");
        std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let bin = bin_dir.path().join("continuum-vault");
        if std::fs::hard_link(BIN, &bin).is_err() {
            std::fs::copy(BIN, &bin).expect("copy the binary");
        }
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Self {
            _bin_dir: bin_dir,
            bin,
            home: nobody_home(),
        }
    }

    /// `nobody`'s HOME (mode 0700, owned by `nobody`).
    pub(crate) fn home(&self) -> &Path {
        self.home.path()
    }

    pub(crate) fn vault_dir(&self) -> PathBuf {
        self.home().join(".continuum")
    }

    pub(crate) fn secret_path(&self) -> PathBuf {
        self.vault_dir().join("jwt_secret")
    }

    pub(crate) fn key_dir(&self) -> PathBuf {
        self.home().join(".config/continuum-vault")
    }

    /// The binary run as `nobody`, with only HOME, `XDG_CONFIG_HOME` and PATH set.
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
        ])
        .arg(&self.bin)
        .args(args)
        .env_clear()
        .env("HOME", self.home())
        .env("XDG_CONFIG_HOME", self.home().join(".config"))
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null());
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        Run(self.cmd(args).output().expect("run setpriv"))
    }

    /// Runs the binary as `nobody` with `input` on standard input.
    pub(crate) fn run_with_input(&self, args: &[&str], input: &[u8]) -> Run {
        feed(self.cmd(args), input)
    }
}

/// Gives `path` to `uid`:`uid` (not following a link at `path`).
pub(crate) fn chown(path: &Path, uid: u32) {
    rustix::fs::chownat(
        rustix::fs::CWD,
        path,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(uid)),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .expect("chown");
}
