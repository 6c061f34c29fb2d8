//! Backup and restore, rotation with a previous secret, sharing across hosts, rekey.

use std::process::Stdio;
use std::time::Duration;

use crate::support::age::{self, keygen_in_home};
use crate::support::backup::{Key, backup, passphrase_file, restore, restore_args};
use crate::support::env::{
    TestEnv, count_from_env, is_token_urlsafe_32, keyring_user, made_vault, mode, xorshift,
};
use crate::support::keyring::SecretService;
use crate::support::library::library_vault;
use crate::support::tree::{snapshot, temp_files};

#[test]
fn a_recipient_backup_opens_with_go_age_to_the_documented_json() {
    let (env, secret) = made_vault();
    let (key, recipient) = keygen_in_home(&env, "recovery.key");
    let out = env.home().join("backup.age");
    backup(&env, &out, Key::Recipient(&recipient), &[]).assert_code(0);
    assert_eq!(mode(&out), 0o600);
    assert!(
        std::fs::read(&out)
            .unwrap()
            .starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
    );
    let opened = age::decrypt(&env, &key, &out);
    let json: serde_json::Value = serde_json::from_slice(&opened).unwrap();
    assert_eq!(json["format"], "continuum-vault-backup");
    assert_eq!(json["version"], 1);
    assert_eq!(json["name"], "jwt_secret");
    assert_eq!(json["current"], secret.as_str());
    assert!(json.get("previous").is_none());
    // Never overwritten.
    backup(&env, &out, Key::Recipient(&recipient), &[])
        .assert_code(7)
        .assert_stderr_has("never overwritten");
}

#[test]
fn a_backup_restores_on_a_fresh_home_with_a_fresh_keyring() {
    let Some(ss_a) = SecretService::start() else {
        return;
    };
    let Some(ss_b) = SecretService::start() else {
        return;
    };
    let a = TestEnv::with_keyring(&ss_a);
    let secret = a.get();
    let pass = passphrase_file(&a);
    let out = a.home().join("jwt.backup.age");
    backup(&a, &out, Key::Passphrase(&pass), &[]).assert_code(0);
    assert!(!String::from_utf8_lossy(&std::fs::read(&out).unwrap()).contains(&secret));

    let b = TestEnv::with_keyring(&ss_b);
    let wrong = b.home().join("wrong");
    std::fs::write(&wrong, "not it\n").unwrap();
    restore(&b, &out, Key::Passphrase(&wrong), &[]).assert_code(5);
    assert!(!b.secret_path().exists());
    restore(&b, &out, Key::Passphrase(&pass), &[]).assert_code(0);
    assert_eq!(b.get(), secret);
    // Restored into B's own vault: sealed to B's key, which lives in B's keyring.
    assert!(
        std::fs::read_to_string(b.vault_dir().join(".continuum-vault.json"))
            .unwrap()
            .contains("\"keyring\"")
    );
    assert_eq!(ss_b.vault_items(), 1, "B's keyring holds B's key");
}

#[test]
fn restore_refuses_to_clobber_a_different_value_without_force_and_keeps_it_as_previous() {
    let (env, old) = made_vault();
    let (key, recipient) = keygen_in_home(&env, "k");
    let out = env.home().join("b.age");
    backup(&env, &out, Key::Recipient(&recipient), &[]).assert_code(0);
    env.run_with_input(&["set", "--force"], b"changed-since-backup")
        .assert_code(0);
    let before = std::fs::read(env.secret_path()).unwrap();
    restore(&env, &out, Key::Identity(&key), &[])
        .assert_code(7)
        .assert_stderr_has("--force");
    assert_eq!(std::fs::read(env.secret_path()).unwrap(), before);
    restore(&env, &out, Key::Identity(&key), &["--force"]).assert_code(0);
    assert_eq!(env.get(), old);
    // The replaced value was not lost: it is the previous secret.
    assert_eq!(env.previous_secret(), "changed-since-backup");
    // A backup of another name is refused.
    restore(&env, &out, Key::Identity(&key), &["other_secret"])
        .assert_code(5)
        .assert_stderr_has("not of");
}

/// The previous secret and its expiry, as `run` hands them to a server.
const BOTH: &str =
    "printf '%s %s' \"$CONTINUUM_JWT_SECRET\" \"${CONTINUUM_JWT_SECRET_PREVIOUS-gone}\"";

/// Seconds since the Unix epoch, as the vault records expiries.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn rotation_keeps_the_previous_secret_until_its_window_ends() {
    let env = TestEnv::new();
    let meta_path = env.vault_dir().join(".continuum-vault.json");
    let old = env.run(&["--key-source", "file", "get"]).stdout_line();
    let before = now_secs();
    let run = env.run(&["rotate", "--grace", "1h"]);
    let after = now_secs();
    run.assert_code(0)
        .assert_stderr_has("previous")
        .assert_stderr_has("stop working");
    let new = env.get();
    assert!(is_token_urlsafe_32(&new));
    assert_ne!(new, old);
    // The record says when the window ends: one hour after the rotation.
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    let expires = meta["previous"]["jwt_secret"]["expires"].as_u64().unwrap();
    assert!(
        (before + 3600..=after + 3600).contains(&expires),
        "expires {expires}, rotated between {before} and {after}"
    );
    let both = env.run(&["run", "--", "sh", "-c", BOTH]);
    assert_eq!(both.assert_code(0).stdout(), format!("{new} {old}"));

    // A short window, then its end. (The metadata is authenticated: an expiry cannot be
    // edited into the past by hand, so the test waits for a real one to pass.)
    env.run(&["rotate", "--grace", "1s"]).assert_code(0);
    let older = new;
    let new = env.get();
    assert_ne!(new, older);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    let expires = meta["previous"]["jwt_secret"]["expires"].as_u64().unwrap();
    while now_secs() < expires {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let on_disk = snapshot(&env.vault_dir());
    let after_window = env.run(&["run", "--", "sh", "-c", BOTH]);
    assert_eq!(after_window.assert_code(0).stdout(), format!("{new} gone"));
    assert_eq!(env.get(), new);
    assert_eq!(snapshot(&env.vault_dir()), on_disk, "reads never write");
    assert!(env.vault_dir().join("jwt_secret_previous").exists());

    // The next write (here: another secret, which keeps no previous value of its own)
    // drops the expired file and its record.
    env.run_with_input(&["set", "api_key"], b"another-secret\n")
        .assert_code(0);
    assert!(
        !env.vault_dir().join("jwt_secret_previous").exists(),
        "the expired previous file is gone"
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    assert_eq!(
        meta.get("previous"),
        None,
        "the expired record is gone: {meta}"
    );
    assert_eq!(env.get(), new, "the current secret is untouched");
}

#[test]
fn rotate_without_a_secret_is_not_found() {
    let env = TestEnv::new();
    env.run(&["rotate"]).assert_code(3);
    assert!(!env.vault_dir().exists());
}

/// Kills `rotate` at random moments; afterwards the vault decrypts to the old or the new
/// secret, and the one that is not current (when a rotation completed) is the previous one.
#[test]
fn a_rotation_killed_at_any_moment_leaves_the_old_or_the_new_secret() {
    let runs = count_from_env("CONTINUUM_TEST_ROTATE_KILLS", 60);
    let (env, _) = made_vault();
    // Kill moments spread over 1.5 times how long one rotation takes on this machine.
    let started = std::time::Instant::now();
    env.run(&["rotate"]).assert_code(0);
    let span = u64::try_from(started.elapsed().as_micros())
        .unwrap()
        .max(1000)
        * 3
        / 2;
    let mut current = env.get();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let (mut old_seen, mut new_seen) = (0, 0);
    for _ in 0..runs {
        let mut child = env.cmd(["rotate"]).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(xorshift(&mut seed) % span));
        let _ = child.kill();
        child.wait().unwrap();
        let now = env.run(&["get", "--no-create"]);
        now.assert_code(0);
        let now = now.stdout_line();
        if now == current {
            old_seen += 1;
        } else {
            assert!(is_token_urlsafe_32(&now), "{now:?}");
            assert_eq!(
                env.previous_secret(),
                current,
                "the replaced secret must be the previous one"
            );
            new_seen += 1;
            current = now;
        }
    }
    println!(
        "rotate killed {runs} times within {span} us: {old_seen} left the old secret, {new_seen} the new one, 0 broken"
    );
    // Leftover temp files go with the next write.
    env.run(&["rotate"]).assert_code(0);
    assert_eq!(temp_files(&env.vault_dir()), Vec::<String>::new());
}

#[test]
fn a_file_shared_with_recipients_add_decrypts_on_a_second_vault() {
    let host_a = TestEnv::new();
    let host_b = TestEnv::new();
    let secret = host_a.run(&["--key-source", "file", "get"]).stdout_line();
    host_b.run(&["--key-source", "file", "get"]).assert_code(0);
    let b_recipient = host_b.run(&["pubkey"]).assert_code(0).stdout_line();
    assert!(b_recipient.starts_with("age1"));
    host_a
        .run(&["recipients", "add", &b_recipient])
        .assert_code(0)
        .assert_stderr_has("1 file(s) re-encrypted");
    assert_eq!(
        host_a.run(&["recipients", "list"]).stdout_line(),
        b_recipient
    );
    assert_eq!(host_a.get(), secret, "host A still opens its own file");
    // Copy the file to host B, which opens it with its own key.
    std::fs::copy(host_a.secret_path(), host_b.secret_path()).unwrap();
    assert_eq!(host_b.get(), secret);
    // Removing the recipient re-encrypts without it (the copy B has keeps working).
    host_a
        .run(&["recipients", "remove", &b_recipient])
        .assert_code(0);
    std::fs::copy(host_a.secret_path(), host_b.secret_path()).unwrap();
    host_b.run(&["get"]).assert_code(5);
    host_a
        .run(&["recipients", "add", "not-a-recipient"])
        .assert_code(2);
}

#[test]
fn the_simplest_multi_host_path_is_get_piped_into_set() {
    let a = TestEnv::new();
    let b = TestEnv::new();
    let secret = a.run(&["--key-source", "file", "get"]).stdout_line();
    let get = a.run(&["get"]);
    get.assert_code(0);
    b.run_with_input(&["--key-source", "file", "set"], get.stdout().as_bytes())
        .assert_code(0);
    assert_eq!(b.get(), secret);
}

#[test]
fn rekey_moves_the_key_from_the_file_to_the_keyring_and_back() {
    let Some((ss, env)) = keyring_user() else {
        return;
    };
    let secret = env.run(&["--key-source", "file", "get"]).stdout_line();
    env.run(&["rotate"]).assert_code(0);
    let current = env.get();
    let key_files = || std::fs::read_dir(env.key_dir()).map_or(0, Iterator::count);
    assert_eq!(key_files(), 1);
    env.run(&["rekey", "--to", "keyring"])
        .assert_code(0)
        .assert_stderr_has("was removed");
    assert_eq!(key_files(), 0, "the old key file is gone");
    assert_eq!(env.get(), current);
    assert_eq!(
        env.previous_secret(),
        secret,
        "the previous secret moved too"
    );
    let meta = std::fs::read_to_string(env.vault_dir().join(".continuum-vault.json")).unwrap();
    assert!(meta.contains("\"keyring\""), "{meta}");
    env.run(&["rekey", "--to", "file"]).assert_code(0);
    assert_eq!(key_files(), 1);
    assert_eq!(env.get(), current);
    assert_eq!(ss.vault_items(), 0, "the keyring entry was removed");
}

/// Readers running while `rotate` runs see the old or the new secret: never an error, never
/// a mix. The history of values is recorded between rotations by the one rotating thread.
#[test]
fn concurrent_get_during_rotate_sees_only_whole_secrets() {
    let rotations = count_from_env("CONTINUUM_TEST_ROTATIONS", 15);
    let env = std::sync::Arc::new(TestEnv::new());
    let first = env.run(&["--key-source", "file", "get"]).stdout_line();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (env, done) = (env.clone(), done.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let run = env.run(&["get", "--no-create"]);
                    assert_eq!(
                        run.code(),
                        0,
                        "a reader failed during rotation: {}",
                        run.stderr()
                    );
                    seen.push(run.stdout_line());
                }
                seen
            })
        })
        .collect();
    let mut history = vec![first];
    for _ in 0..rotations {
        env.run(&["rotate"]).assert_code(0);
        history.push(env.get());
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut reads = 0;
    for reader in readers {
        for value in reader.join().unwrap() {
            assert!(
                history.contains(&value),
                "a reader saw {value:?}, which was never current"
            );
            reads += 1;
        }
    }
    println!("{rotations} rotations, {reads} concurrent reads, all old-or-new");
    assert!(reads > 0);
}

/// Kills `restore --force` at random moments: the vault holds the value it had or the
/// restored one, never anything else, and never fails to decrypt.
#[test]
fn a_restore_killed_at_any_moment_leaves_the_old_or_the_restored_secret() {
    let runs = count_from_env("CONTINUUM_TEST_RESTORE_KILLS", 40);
    let (env, backed_up) = made_vault();
    let (key, recipient) = keygen_in_home(&env, "k");
    let out = env.home().join("b.age");
    backup(&env, &out, Key::Recipient(&recipient), &[]).assert_code(0);
    let restore = restore_args(&out, Key::Identity(&key), &["--force"]);
    let started = std::time::Instant::now();
    env.run_with_input(&["set", "--force"], b"other-value")
        .assert_code(0);
    env.run(&restore).assert_code(0);
    let span = u64::try_from(started.elapsed().as_micros())
        .unwrap()
        .max(1000);
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let (mut old_seen, mut restored_seen) = (0, 0);
    for i in 0..runs {
        let other = format!("other-value-{i}");
        env.run_with_input(&["set", "--force"], other.as_bytes())
            .assert_code(0);
        let mut child = env.cmd(&restore).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(xorshift(&mut seed) % span));
        let _ = child.kill();
        child.wait().unwrap();
        let now = env.run(&["get", "--no-create"]);
        now.assert_code(0);
        match now.stdout_line() {
            v if v == other => old_seen += 1,
            v if v == backed_up => restored_seen += 1,
            v => panic!("after a killed restore the vault holds {v:?}"),
        }
    }
    println!(
        "restore killed {runs} times within {span} us: {old_seen} old, {restored_seen} restored, 0 broken"
    );
}

/// The library's key set: the current secret and the previous one during its window.
#[test]
fn the_library_key_set_has_the_previous_secret_during_its_window() {
    use continuum_vault::secrecy::ExposeSecret;
    let home = tempfile::tempdir().unwrap();
    let vault = library_vault(home.path(), &[]);
    let old = vault.load("jwt_secret").unwrap().into_secret();
    let set = vault.load_key_set("jwt_secret").unwrap();
    assert!(set.previous().is_none());
    let rotated = vault.rotate("jwt_secret", Duration::from_hours(1)).unwrap();
    let set = vault.load_key_set("jwt_secret").unwrap();
    let (previous, until) = set.previous().expect("a previous secret during the window");
    assert_eq!(previous.expose_secret(), old.expose_secret());
    assert_eq!(until, rotated.previous_expires);
    assert_ne!(set.current().expose_secret(), old.expose_secret());
    assert!(
        !format!("{set:?}").contains(old.expose_secret()),
        "Debug is redacted"
    );
    // A zero window is refused before anything is written.
    let before = std::fs::read(home.path().join(".continuum/.continuum-vault.json")).unwrap();
    let err = vault.rotate("jwt_secret", Duration::ZERO).unwrap_err();
    assert_eq!(err.class(), continuum_vault::ErrorClass::Usage);
    assert_eq!(
        std::fs::read(home.path().join(".continuum/.continuum-vault.json")).unwrap(),
        before
    );
    // A one-second window: the previous secret is gone once it has passed.
    let rotated = vault.rotate("jwt_secret", Duration::from_secs(1)).unwrap();
    while std::time::SystemTime::now() < rotated.previous_expires {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        vault
            .load_key_set("jwt_secret")
            .unwrap()
            .previous()
            .is_none()
    );
}
