//! Backups and restores at their edges: values JSON must escape, the backup's previous
//! secret, files that are not backups (whose content must never be printed), wrong keys,
//! a vault whose key is lost, and a full disk under `--out`.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::age::{encrypt_armored, keygen_in_home};
use crate::support::backup::{Key, backup, passphrase_file, restore};
use crate::support::env::{
    Run, TestEnv, keyring_user, made_vault, mode, root_or_skip, vault_holding,
};
use crate::support::mount::Tmpfs;
use crate::support::tree::snapshot;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[track_caller]
fn assert_not_shown(run: &Run, needle: &str) {
    let all = format!("{}{}", run.stdout(), run.stderr());
    assert!(!all.contains(needle), "the output shows {needle:?}:\n{all}");
}

#[test]
fn values_with_quotes_backslashes_tabs_and_their_previous_restore_on_a_fresh_home() {
    let old = "old \"quoted\" back\\slash\ttab \u{1} é€😀";
    let current = "cur\"rent\\ with\ttab and \u{7f} \u{2028} end";
    let a = vault_holding(old);
    a.run_with_input(&["set", "--force"], current.as_bytes())
        .assert_code(0);
    let pass = passphrase_file(&a);
    let out = a.home().join("b.age");
    backup(&a, &out, Key::Passphrase(&pass), &[]).assert_code(0);

    let b = TestEnv::new();
    let run = restore(&b, &out, Key::Passphrase(&pass), &["--key-source", "file"]);
    run.assert_code(0)
        .assert_stderr_has("the backup's previous secret is restored too");
    assert_not_shown(&run, "quoted");
    assert_eq!(b.get(), current);
    assert_eq!(
        b.previous_secret(),
        old,
        "the backup's previous secret is restored"
    );
    // Restoring again changes nothing, and keeps the vault's own previous secret.
    restore(&b, &out, Key::Passphrase(&pass), &[])
        .assert_code(0)
        .assert_stderr_has("unchanged");
    assert_eq!(b.previous_secret(), old);
}

#[test]
fn an_expired_previous_secret_is_not_restored_and_a_replaced_value_wins_over_it() {
    let env = TestEnv::new();
    let (key, recipient) = keygen_in_home(&env, "k");
    let document = |previous_expires: u64| {
        format!(
            "{{\"format\": \"continuum-vault-backup\", \"version\": 1, \"name\": \"jwt_secret\", \
             \"created\": \"2026-01-01T00:00:00Z\", \"current\": \"the-current\", \
             \"previous\": \"the-previous\", \"previous_expires\": {previous_expires}}}\n"
        )
    };
    let expired = env.home().join("expired.age");
    encrypt_armored(&env, &recipient, &expired, document(now() - 10).as_bytes());
    restore(
        &env,
        &expired,
        Key::Identity(&key),
        &["--key-source", "file"],
    )
    .assert_code(0)
    .assert_stderr_has("the backup's previous secret expired at");
    assert_eq!(env.get(), "the-current");
    assert_eq!(env.previous_secret(), "");

    // Valid, but `--force` replaces a value, which is newer: that one is kept as previous.
    env.run_with_input(&["set", "--force"], b"set-after")
        .assert_code(0);
    let valid = env.home().join("valid.age");
    encrypt_armored(&env, &recipient, &valid, document(now() + 3600).as_bytes());
    restore(&env, &valid, Key::Identity(&key), &["--force"])
        .assert_code(0)
        .assert_stderr_has("the vault keeps its own previous secret");
    assert_eq!(env.get(), "the-current");
    assert_eq!(env.previous_secret(), "set-after");
}

#[test]
fn files_that_are_not_backups_are_refused_without_showing_what_they_hold() {
    let (env, secret) = made_vault();
    let (key, recipient) = keygen_in_home(&env, "k");
    let marker = "MARKER-not-to-be-shown";
    let header = "\"format\": \"continuum-vault-backup\", \"version\": 1, \"name\": \"jwt_secret\", \
                  \"created\": \"2026-01-01T00:00:00Z\"";
    let plaintexts = [
        marker.to_owned(),
        format!("\"{marker}\""),
        format!("{{{header}, \"current\": \"x\", \"{marker}\": 1}}"),
        format!("{{{header}, \"current\": {{\"{marker}\": 1}}}}"),
        format!("{{{header}, \"current\": \"esc\\\"aped {marker}\", \"version\": 2}}"),
        format!("{{\"format\": \"{marker}\", \"version\": \"{marker}\"}}"),
    ];
    for (i, plain) in plaintexts.iter().enumerate() {
        let file = env.home().join(format!("plain-{i}.age"));
        encrypt_armored(&env, &recipient, &file, plain.as_bytes());
        let before = std::fs::read(env.secret_path()).unwrap();
        let run = restore(&env, &file, Key::Identity(&key), &["--force"]);
        run.assert_code(5)
            .assert_stderr_has(&format!("cannot restore from {}", file.display()))
            .assert_stderr_has("not a continuum-vault backup")
            .assert_stderr_has("hint: pass a file written by `continuum-vault backup`");
        assert_not_shown(&run, "MARKER");
        assert_not_shown(&run, "delete it knowingly");
        assert_eq!(std::fs::read(env.secret_path()).unwrap(), before, "{plain}");
    }

    // The vault file itself, opened with the vault's own key file.
    let key_file = std::fs::read_dir(env.key_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "key"))
        .expect("the vault key file");
    let run = restore(&env, &env.secret_path(), Key::Identity(&key_file), &[]);
    run.assert_code(5)
        .assert_stderr_has("not a continuum-vault backup");
    assert_not_shown(&run, &secret);

    // Not an age file at all; and an identity file that holds no key.
    let run = restore(&env, &key_file, Key::Identity(&key), &[]);
    run.assert_code(5).assert_stderr_has("not an age file");
    assert_not_shown(&run, "AGE-SECRET-KEY");
    let no_key = env.home().join("no-key");
    std::fs::write(&no_key, "# nothing here\n").unwrap();
    restore(&env, &env.secret_path(), Key::Identity(&no_key), &[])
        .assert_code(2)
        .assert_stderr_has("AGE-SECRET-KEY-1");
}

#[test]
fn a_wrong_passphrase_or_identity_says_so_and_never_suggests_deleting_anything() {
    let (env, _) = made_vault();
    let (key, recipient) = keygen_in_home(&env, "k");
    let (other_key, _) = keygen_in_home(&env, "other");
    let pass = passphrase_file(&env);
    let wrong = env.home().join("wrong");
    std::fs::write(&wrong, "wrong passphrase\n").unwrap();
    let to_pass = env.home().join("p.age");
    let to_key = env.home().join("k.age");
    backup(&env, &to_pass, Key::Passphrase(&pass), &[]).assert_code(0);
    backup(&env, &to_key, Key::Recipient(&recipient), &[]).assert_code(0);
    let cases = [
        (
            (&to_pass, Key::Passphrase(&wrong)),
            format!(
                "the backup {} does not open with this passphrase",
                to_pass.display()
            ),
            "hint: check the passphrase",
        ),
        (
            (&to_key, Key::Passphrase(&pass)),
            format!(
                "the backup {} does not open with this passphrase",
                to_key.display()
            ),
            "opens only with --identity FILE",
        ),
        (
            (&to_key, Key::Identity(&other_key)),
            format!(
                "the backup {} does not open with the identity file {}",
                to_key.display(),
                other_key.display()
            ),
            "hint: use the identity the backup was made to",
        ),
        (
            (&to_pass, Key::Identity(&key)),
            format!(
                "the backup {} does not open with the identity file {}",
                to_pass.display(),
                key.display()
            ),
            "a backup made to a passphrase opens without --identity",
        ),
    ];
    let before = std::fs::read(env.secret_path()).unwrap();
    for ((backup, key), error, hint) in cases {
        let run = restore(&env, backup, key, &[]);
        run.assert_code(5)
            .assert_stderr_has(&format!("error: {error}"))
            .assert_stderr_has(hint);
        assert_not_shown(&run, "delete it knowingly");
        assert_eq!(std::fs::read(env.secret_path()).unwrap(), before);
    }
}

/// Every name in `dir` that starts with `prefix`.
fn names_starting(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

#[test]
fn restore_force_repairs_a_vault_whose_key_file_is_lost_and_keeps_what_it_sets_aside() {
    let (env, secret) = made_vault();
    env.run_with_input(&["set", "other_secret"], b"other-value")
        .assert_code(0);
    let (key, recipient) = keygen_in_home(&env, "k");
    let out = env.home().join("b.age");
    backup(&env, &out, Key::Recipient(&recipient), &[]).assert_code(0);
    let sealed = std::fs::read(env.secret_path()).unwrap();
    let metadata = std::fs::read(env.vault_dir().join(".continuum-vault.json")).unwrap();
    std::fs::remove_dir_all(env.key_dir()).unwrap();

    // Every command names the way out.
    for args in [
        &["get"][..],
        &["restore", "--in", s(&out), "--identity", s(&key)],
    ] {
        env.run(args)
            .assert_code(5)
            .assert_stderr_has("continuum-vault restore --force --in BACKUP");
    }
    assert_eq!(std::fs::read(env.secret_path()).unwrap(), sealed);

    let run = restore(&env, &out, Key::Identity(&key), &["--force"]);
    run.assert_code(0)
        .assert_stderr_has("the vault key is lost")
        .assert_stderr_has("set aside (kept, never deleted)")
        .assert_stderr_has("other_secret");
    assert_not_shown(&run, &secret);
    assert_eq!(env.get(), secret);
    // What was set aside is there, byte for byte, and named in the notice.
    let aside = names_starting(&env.vault_dir(), "jwt_secret.unreadable.");
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read(env.vault_dir().join(&aside[0])).unwrap(),
        sealed
    );
    run.assert_stderr_has(&aside[0]);
    let meta_aside = names_starting(&env.vault_dir(), ".continuum-vault.json.unreadable.");
    assert_eq!(meta_aside.len(), 1, "{meta_aside:?}");
    assert_eq!(
        std::fs::read(env.vault_dir().join(&meta_aside[0])).unwrap(),
        metadata
    );
    assert_eq!(mode(&env.vault_dir().join(&aside[0])), 0o600);
    // A new key file, and the other secret left where it was (it still fails loudly).
    assert_eq!(names_starting(&env.key_dir(), "").len(), 1);
    env.run(&["get", "other_secret", "--no-create"])
        .assert_code(5);
    env.run(&["status"]).assert_code(0);
}

#[test]
fn restore_force_repairs_a_vault_whose_keyring_entry_was_wiped() {
    let Some((ss, env)) = keyring_user() else {
        return;
    };
    let secret = env.get();
    let pass = passphrase_file(&env);
    let out = env.home().join("b.age");
    backup(&env, &out, Key::Passphrase(&pass), &[]).assert_code(0);
    let cleared = ss.secret_tool(&["clear", "service", "continuum-vault"]);
    assert!(cleared.status.success());
    env.run(&["get"])
        .assert_code(6)
        .assert_stderr_has("continuum-vault restore --force --in BACKUP");
    restore(&env, &out, Key::Passphrase(&pass), &[]).assert_code(6);
    restore(&env, &out, Key::Passphrase(&pass), &["--force"])
        .assert_code(0)
        .assert_stderr_has("set aside");
    assert_eq!(env.get(), secret);
    let meta = std::fs::read_to_string(env.vault_dir().join(".continuum-vault.json")).unwrap();
    assert!(
        meta.contains("\"keyring\""),
        "still a keyring vault: {meta}"
    );
    assert!(!env.key_dir().exists(), "no key file fallback");
}

#[test]
fn a_backup_to_a_full_disk_leaves_nothing_at_out_and_the_retry_succeeds() {
    if !root_or_skip("a_backup_to_a_full_disk_leaves_nothing_at_out_and_the_retry_succeeds") {
        return;
    }
    let (env, _) = made_vault();
    let (_, recipient) = keygen_in_home(&env, "k");
    let fs = Tmpfs::mount("64k");
    let filler = fs.path().join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = [0xa5u8; 512];
        while file.write(&chunk).is_ok_and(|n| n > 0) {}
        while file.write(&chunk[..1]).is_ok_and(|n| n > 0) {}
    }
    let out = fs.path().join("b.age");
    let run = backup(&env, &out, Key::Recipient(&recipient), &[]);
    run.assert_code(1)
        .assert_stderr_has("No space left on device")
        .assert_stderr_has("hint: free some space");
    assert_eq!(
        names_starting(fs.path(), ""),
        ["filler"],
        "nothing is left at --out, nor a temp file"
    );
    std::fs::remove_file(&filler).unwrap();
    backup(&env, &out, Key::Recipient(&recipient), &[]).assert_code(0);
    assert_eq!(mode(&out), 0o600);
    assert_eq!(names_starting(fs.path(), ""), ["b.age"]);
    // And it is still never overwritten, even by a dangling link.
    let link = fs.path().join("link.age");
    std::os::unix::fs::symlink(fs.path().join("nowhere"), &link).unwrap();
    for target in [&out, &link] {
        backup(&env, target, Key::Recipient(&recipient), &[])
            .assert_code(7)
            .assert_stderr_has("never overwritten");
    }
    assert!(!fs.path().join("nowhere").exists());
}

#[test]
fn restore_force_into_a_keyring_that_takes_no_new_key_puts_everything_back() {
    let Some((ss, env)) = keyring_user() else {
        return;
    };
    env.get();
    let pass = passphrase_file(&env);
    let out = env.home().join("b.age");
    backup(&env, &out, Key::Passphrase(&pass), &[]).assert_code(0);
    let before = snapshot(&env.vault_dir());
    // The key is gone and the collection is locked: it cannot take a new key.
    assert!(
        ss.secret_tool(&["clear", "service", "continuum-vault"])
            .status
            .success()
    );
    ss.lock_collection();
    let run = restore(&env, &out, Key::Passphrase(&pass), &["--force"]);
    run.assert_code(6);
    assert_eq!(
        snapshot(&env.vault_dir()),
        before,
        "the vault dir changed:\n{}",
        run.stderr()
    );
}
