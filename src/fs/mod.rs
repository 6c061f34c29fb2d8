//! Safe file handling inside a private directory: every path is opened relative to a
//! checked directory descriptor, never through a symbolic link.
//!
//! - [`dir`]: opening or creating the directory, with owner and permission checks.
//! - [`read`]: capped, `O_NOFOLLOW` reads of regular files owned by this user.
//! - [`atomic`]: `O_EXCL` temp file, fsync, rename, fsync of the directory.
//! - [`lock`]: the cross-process lock, waited for until a deadline.

pub(crate) mod atomic;
pub(crate) mod dir;
pub(crate) mod lock;
pub(crate) mod read;

pub(crate) use dir::PrivateDir;
pub(crate) use read::{FileContent, read_followed};

/// Whether a path's permission bits let group or others in at all.
pub(crate) fn group_or_other_bits(mode: u32) -> bool {
    mode & 0o077 != 0
}

/// The effective uid of this process.
pub(crate) fn my_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The permission bits of an `st_mode` (`u32` on Linux, `u16` on macOS).
#[allow(clippy::useless_conversion)]
pub(crate) fn mode_bits(st_mode: rustix::fs::RawMode) -> u32 {
    u32::from(st_mode) & 0o7777
}
