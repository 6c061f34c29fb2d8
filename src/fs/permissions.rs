//! The owner and permission checks: a vault file belongs to this user, and a file that can
//! decrypt or is a secret (a key file, a plaintext secret) has no group or other bits (0600).

use std::path::Path;

use super::FileContent;
use crate::{Error, Unsafe};

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

/// A file read from a vault or key dir must belong to this user.
pub(crate) fn check_owner(path: &Path, content: &FileContent) -> Result<(), Error> {
    if content.uid == my_uid() {
        Ok(())
    } else {
        Err(Error::UnsafePath {
            path: path.to_owned(),
            problem: Unsafe::ForeignOwner {
                owner: content.uid,
                me: my_uid(),
            },
        })
    }
}

/// A file that holds a key or a plaintext secret: owned by this user, mode 0600 or tighter.
pub(crate) fn check_private(path: &Path, content: &FileContent) -> Result<(), Error> {
    check_owner(path, content)?;
    if group_or_other_bits(content.mode) {
        return Err(Error::UnsafePath {
            path: path.to_owned(),
            problem: Unsafe::ReadableByOthers { mode: content.mode },
        });
    }
    Ok(())
}
