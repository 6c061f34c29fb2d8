//! What the unit tests of every module share about files: a private temp dir, a file's
//! mode, and the problem a path refusal names.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::PrivateDir;
use crate::{Error, Unsafe};

/// A fresh private directory `v` inside a temp dir (kept alive by the returned guard).
pub(crate) fn private_dir() -> (tempfile::TempDir, PrivateDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = PrivateDir::create(&tmp.path().join("v")).unwrap();
    (tmp, dir)
}

/// The permission bits of `path` itself (a link is not followed).
pub(crate) fn mode(path: impl AsRef<Path>) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// What an [`Error::UnsafePath`] refusal names; `None` for any other error:
/// `assert_eq!(problem(&err), Some(&Unsafe::Symlink), "{err:?}")`.
pub(crate) fn problem(err: &Error) -> Option<&Unsafe> {
    match err {
        Error::UnsafePath { problem, .. } => Some(problem),
        _ => None,
    }
}

/// [`problem`] of a result: `None` for a success or any other error.
pub(crate) fn refusal<T>(result: &Result<T, Error>) -> Option<&Unsafe> {
    result.as_ref().err().and_then(problem)
}
