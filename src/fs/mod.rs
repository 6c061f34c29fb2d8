//! Safe file handling inside a private directory: every path is opened relative to a
//! checked directory descriptor, never through a symbolic link.
//!
//! - [`dir`]: opening or creating the directory, with owner and permission checks.
//! - [`read`]: capped, `O_NOFOLLOW` reads of regular files owned by this user.
//! - [`atomic`]: `O_EXCL` temp file, fsync, rename, fsync of the directory.
//! - [`lock`]: the cross-process lock, waited for until a deadline.
//! - [`permissions`]: the owner and 0600 checks every private file passes.

pub(crate) mod atomic;
pub(crate) mod dir;
pub(crate) mod lock;
pub(crate) mod permissions;
pub(crate) mod read;
#[cfg(test)]
pub(crate) mod testing;

pub(crate) use dir::PrivateDir;
pub(crate) use permissions::{check_owner, check_private, group_or_other_bits, mode_bits, my_uid};
pub(crate) use read::{FileContent, read_followed};
