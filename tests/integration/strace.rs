//! The write path as the kernel sees it (`strace -f`): the temp file is opened with
//! `O_CREAT|O_EXCL|O_NOFOLLOW` and mode 0600, fsynced, renamed over the target, and the
//! directory is fsynced; nothing is ever chmod-ed. The read path writes and locks nothing.

use crate::support::env::{TestEnv, made_vault};

const SYSCALLS: &str =
    "trace=/^(open|openat|creat|fsync|fdatasync|rename.*|.*chmod.*|flock|write|unlink.*)$";

/// Runs the binary under `strace -f` and returns the trace lines.
fn traced(env: &TestEnv, args: &[&str]) -> Vec<String> {
    env.strace(&["-e", SYSCALLS], args)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The return value (a fd) of a trace line like `... openat(...) = 5`.
fn returned_fd(line: &str) -> String {
    line.rsplit("= ")
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn position(lines: &[String], from: usize, pred: impl Fn(&str) -> bool) -> Option<usize> {
    lines
        .iter()
        .skip(from)
        .position(|l| pred(l))
        .map(|i| i + from)
}

#[test]
fn the_write_path_is_excl_nofollow_0600_fsync_rename_fsync_dir_and_never_chmod() {
    let env = TestEnv::new();
    let lines = traced(&env, &["--key-source", "file", "get"]);
    let dump = lines.join("\n");

    let open_tmp = position(&lines, 0, |l| {
        l.contains("openat(") && l.contains("\".jwt_secret.tmp.")
    })
    .unwrap_or_else(|| panic!("no temp file opened:\n{dump}"));
    let open = &lines[open_tmp];
    for flag in ["O_CREAT", "O_EXCL", "O_NOFOLLOW"] {
        assert!(open.contains(flag), "temp open lacks {flag}: {open}");
    }
    assert!(
        open.contains(", 0600)"),
        "temp open mode is not 0600: {open}"
    );
    let tmp_fd = returned_fd(open);
    let dir_fd = open
        .split('(')
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();

    let write = position(&lines, open_tmp, |l| {
        l.contains(&format!("write({tmp_fd}, \"-----BEGIN AGE"))
    })
    .unwrap_or_else(|| panic!("no armored write to fd {tmp_fd}:\n{dump}"));
    let fsync = position(&lines, write, |l| l.contains(&format!("fsync({tmp_fd})")))
        .unwrap_or_else(|| panic!("temp file not fsynced:\n{dump}"));
    let rename = position(&lines, fsync, |l| {
        l.contains("rename") && l.contains("\".jwt_secret.tmp.") && l.contains("\"jwt_secret\"")
    })
    .unwrap_or_else(|| panic!("no rename onto jwt_secret after the fsync:\n{dump}"));
    position(&lines, rename, |l| l.contains(&format!("fsync({dir_fd})")))
        .unwrap_or_else(|| panic!("directory fd {dir_fd} not fsynced after the rename:\n{dump}"));

    let chmods: Vec<_> = lines.iter().filter(|l| l.contains("chmod")).collect();
    assert!(chmods.is_empty(), "chmod after writing: {chmods:?}");
}

#[test]
fn the_read_path_writes_nothing_and_takes_no_lock() {
    let (env, _) = made_vault();
    let lines = traced(&env, &["get"]);
    assert!(
        lines.iter().any(|l| l.contains("\"jwt_secret\", O_RDONLY")
            && l.contains("O_NOFOLLOW")
            && l.contains("O_NONBLOCK")),
        "the secret was not opened read-only without following links:\n{}",
        lines.join("\n")
    );
    let offending: Vec<_> = lines
        .iter()
        .filter(|l| {
            l.contains("O_CREAT")
                || l.contains("O_WRONLY")
                || l.contains("O_RDWR")
                || l.contains("rename")
                || l.contains("fsync")
                || l.contains("flock(")
                || l.contains("unlink")
                || l.contains("chmod")
        })
        // Writing the secret to stdout is the job.
        .collect();
    assert!(
        offending.is_empty(),
        "the read path changed something: {offending:#?}"
    );
}
