//! A small tmpfs mounted for one test (root only), to make a file system full or read-only
//! on demand. It is unmounted when dropped, so also when the test panics.

use std::path::Path;
use std::process::Command;

/// A tmpfs mounted on a fresh temp dir; unmounted (then the dir removed) on drop.
pub(crate) struct Tmpfs {
    /// Dropped after [`Drop::drop`] has unmounted it, which removes the empty mount point.
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it, e.g. `256k`). Panics when
    /// the mount fails: call only as root (see `root_or_skip`).
    pub(crate) fn mount(size: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cv-tmpfs-")
            .tempdir()
            .expect("temp dir");
        mount_cmd(&[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0755"),
            "tmpfs",
        ])
        .arg(dir.path())
        .status()
        .map(|s| assert!(s.success(), "mount -t tmpfs failed: {s}"))
        .expect("run mount");
        Self { dir }
    }

    /// The mount point.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Remounts with `options`, e.g. `ro` or `rw`.
    pub(crate) fn remount(&self, options: &str) {
        let status = mount_cmd(&["-o", &format!("remount,{options}")])
            .arg(self.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -o remount,{options} failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Busy (a process still inside): detach it now, it goes when they do.
            let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        }
    }
}

fn mount_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new("mount");
    cmd.args(args);
    cmd
}
