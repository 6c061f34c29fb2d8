//! The one refusal harness: a command that must refuse exits with its code, says what is
//! wrong with a hint, and leaves every file byte-for-byte as it was.

use std::path::Path;

use super::env::{Run, TestEnv};
use super::nobody::Nobody;
use super::tree::{Entry, snapshot};

/// The vault's lock file, the one thing a refused write may leave behind.
pub(crate) const LOCK_FILE: &str = ".continuum-vault.lock";

/// Someone who runs the binary: a [`TestEnv`] user, or [`Nobody`].
pub(crate) trait User {
    /// The user's HOME, which holds everything the binary may touch.
    fn home(&self) -> &Path;

    /// Runs the binary with `args` and `input` on standard input.
    fn run_fed(&self, args: &[&str], input: &[u8]) -> Run;
}

impl User for TestEnv {
    fn home(&self) -> &Path {
        TestEnv::home(self)
    }

    fn run_fed(&self, args: &[&str], input: &[u8]) -> Run {
        self.run_with_input(args, input)
    }
}

impl User for Nobody {
    fn home(&self) -> &Path {
        Nobody::home(self)
    }

    fn run_fed(&self, args: &[&str], input: &[u8]) -> Run {
        self.run_with_input(args, input)
    }
}

/// The snapshot of `root`, without a lock file in a vault dir that `before` did not have:
/// a refused write may leave the empty lock file it takes before it reads the metadata
/// (and never removes), nothing else.
pub(crate) fn snapshot_but_new_lock(root: &Path, before: &[Entry]) -> Vec<Entry> {
    let mut after = snapshot(root);
    after.retain(|(path, what)| {
        !(path.ends_with(&format!("/.continuum/{LOCK_FILE}"))
            && what.starts_with("file mode 100600")
            && what.ends_with(' ')
            && !before.iter().any(|(p, _)| p == path))
    });
    after
}

/// Runs each command as `user` (with a value on stdin); each must exit `code`, say `needle`
/// (on stderr, or stdout for `status`) with a `hint:` (`fix:` for `status`), and leave
/// everything under the user's HOME byte-for-byte as it was (but for a new lock file, see
/// [`snapshot_but_new_lock`]).
#[track_caller]
pub(crate) fn assert_refused(
    what: &str,
    user: &dyn User,
    commands: &[&[&str]],
    code: i32,
    needle: &str,
) {
    let root = user.home();
    let before = snapshot(root);
    for args in commands {
        let out = user.run_fed(args, b"replacement-value\n");
        assert_eq!(
            out.code(),
            code,
            "{what}: {args:?}\nstdout: {}\nstderr: {}",
            out.stdout(),
            out.stderr()
        );
        let (said, hint) = if args.contains(&"status") {
            (out.stdout(), "fix:")
        } else {
            (out.stderr(), "hint:")
        };
        assert!(
            said.contains(needle) && said.contains(hint),
            "{what}: {args:?} does not say {needle:?} with a {hint}\n{said}"
        );
        assert_eq!(
            snapshot_but_new_lock(root, &before),
            before,
            "{what}: {args:?} changed files"
        );
    }
}
