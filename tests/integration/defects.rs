//! Regression tests of the defects found by using the vault as operators and attackers
//! would: inputs that bricked it, writes that dropped a still-valid secret, metadata trusted
//! blindly, paths checked lexically, and what `set`, `rotate`, `status`, `pubkey` and
//! `migrate` tell the operator. Each test pins the exit code and the message lines, and
//! proves that a refusal leaves every file byte-for-byte as it was.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::age;
use crate::support::env::{Run, TestEnv, chmod, keyring_user, made_vault, mode};
use crate::support::refusal::{LOCK_FILE, snapshot_but_new_lock};
use crate::support::tree::{Entry, names, snapshot};

/// The hint of a corrupt file or metadata.
const RESTORE_HINT: &str = "restore the file from a backup, or delete it knowingly (a new \
                            secret will be generated and every signed-in admin is logged out)";

fn read_metadata(env: &TestEnv) -> String {
    std::fs::read_to_string(env.metadata_path()).expect("the metadata")
}

/// Replaces the metadata's content, keeping the file (its inode, owner and mode 0600).
fn write_metadata(env: &TestEnv, text: &str) {
    std::fs::write(env.metadata_path(), text).expect("write the metadata");
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// `error: MESSAGE` and `hint: HINT`, as a failed command prints them.
fn error_lines(message: &str, hint: &str) -> Vec<String> {
    vec![format!("error: {message}"), format!("hint: {hint}")]
}

/// `problem: MESSAGE` and its `fix: FIX`, as `status` prints them.
fn problem_lines(message: &str, fix: &str) -> Vec<String> {
    vec![
        format!("problem:       {message}"),
        format!("  fix:         {fix}"),
    ]
}

/// Asserts that each of `lines` is a whole line of the run's stdout or stderr.
#[track_caller]
fn assert_lines(run: &Run, lines: &[String]) {
    let (out, err) = (run.stdout(), run.stderr());
    for line in lines {
        assert!(
            out.lines().chain(err.lines()).any(|l| l == line),
            "missing the line\n{line}\nstdout:\n{out}\nstderr:\n{err}"
        );
    }
}

/// Runs `args` (with a value on stdin): it must exit `code`, print every one of `lines`,
/// and leave everything under HOME byte-for-byte as it was.
#[track_caller]
fn assert_refuses(env: &TestEnv, args: &[&str], code: i32, lines: &[String]) -> Run {
    let before = snapshot(env.home());
    let run = env.run_with_input(args, b"replacement-value\n");
    run.assert_code(code);
    assert_lines(&run, lines);
    assert_eq!(
        snapshot_but_new_lock(env.home(), &before),
        before,
        "{args:?} changed files"
    );
    run
}

/// What a server started by `run` sees: the current and the previous secret.
fn current_and_previous(env: &TestEnv) -> String {
    env.run_sh("echo \"$CONTINUUM_JWT_SECRET $CONTINUUM_JWT_SECRET_PREVIOUS\"")
        .assert_code(0)
        .stdout()
}

/// The previous secret's expiry that `rotate --grace GRACE --json` reports.
fn rotate_json_expiry(env: &TestEnv, grace: &str) -> u64 {
    let run = env.run(&["rotate", "--grace", grace, "--json"]);
    run.assert_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout()).expect("rotate --json");
    json["previous_expires_unix"].as_u64().expect("a number")
}

// 1. No input may brick the vault: the grace window and the expiry read back.

#[test]
fn rotate_refuses_a_grace_out_of_range_and_accepts_the_usual_forms() {
    let (env, _) = made_vault();
    let accepted = "a duration longer than zero and at most 366 days (e.g. 30d, 12h, 1h30m, 2w)";
    for (grace, shown) in [
        (
            "18446744073709551615s",
            "584542046090years 7months 15days 17h 5m 3s",
        ),
        ("0s", "0s"),
        ("367d", "1year 1day 18h"),
    ] {
        assert_refuses(
            &env,
            &["rotate", "--grace", grace],
            2,
            &error_lines(
                &format!("invalid value {shown:?} for grace"),
                &format!("accepted: {accepted}"),
            ),
        );
    }
    // The vault still serves its secret (no half-written previous record).
    env.run_sh("true").assert_code(0);
    for (grace, secs) in [
        ("1h30m", 5400),
        ("2w", 14 * 24 * 3600),
        ("366d", 366 * 86400),
    ] {
        let before = now_secs();
        let expires = rotate_json_expiry(&env, grace);
        let after = now_secs();
        assert!(
            (before + secs..=after + secs).contains(&expires),
            "--grace {grace}: expires {expires}, expected {secs}s after {before}..{after}"
        );
    }
}

#[test]
fn an_edited_expiry_in_the_metadata_is_exit_5_and_nothing_is_written() {
    let (env, _) = made_vault();
    env.run(&["rotate"]).assert_code(0);
    let meta = read_metadata(&env);
    let (head, tail) = meta
        .split_once("\"expires\": ")
        .expect("a previous secret's expiry");
    let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
    let (old, rest) = tail.split_at(digits);
    let edit = |expires: &str| format!("{head}\"expires\": {expires}{rest}");
    let path = env.metadata_path();
    let p = path.display();
    let tampered_hint = format!(
        "someone or something changed {p} (an added recipient would receive every later \
         secret): compare it with a backup; if the secrets themselves are intact, restore the \
         metadata from that backup, or `continuum-vault restore --force` each secret from its \
         backup"
    );
    let cases = [
        // Unrepresentable as a time: once a panic in every later `run`.
        (
            u64::MAX.to_string(),
            format!(
                "{p} is corrupt: the previous secret of \"jwt_secret\" has an expiry past the year 9999"
            ),
            RESTORE_HINT.to_owned(),
        ),
        // Representable, but not what was written: the MAC covers it.
        (
            (now_secs() + 400 * 86400).to_string(),
            format!(
                "refusing to use the vault metadata {p}: its MAC does not match this vault's key"
            ),
            tampered_hint.clone(),
        ),
        // The same value, laid out differently: not the form the MAC was made over.
        (
            format!("{old} "),
            format!("refusing to use the vault metadata {p}: it was edited after it was written"),
            tampered_hint,
        ),
    ];
    for (expires, message, hint) in cases {
        write_metadata(&env, &edit(&expires));
        for args in [
            &["get"][..],
            &["set", "--force"],
            &["rotate"],
            &["run", "--", "true"],
        ] {
            assert_refuses(&env, args, 5, &error_lines(&message, &hint));
        }
        assert_refuses(&env, &["status"], 5, &problem_lines(&message, &hint));
    }
}

// 2. A command that fails changes nothing.

#[test]
fn set_refuses_a_value_with_a_nul_byte_and_writes_nothing() {
    let lines = error_lines(
        "refusing to store this value: it contains a NUL byte, which no environment variable can hold",
        "store the value as text without NUL bytes",
    );
    // On a fresh HOME: not even the vault dir is made.
    let env = TestEnv::new();
    let run = env.run_with_input(&["--key-source", "file", "set"], b"abc\0def\n");
    run.assert_code(2);
    assert_lines(&run, &lines);
    assert_eq!(snapshot(env.home()), Vec::<Entry>::new());
    // Over an existing value, forced or not.
    let (env, secret) = made_vault();
    for args in [&["set"][..], &["set", "--force"]] {
        let before = snapshot(env.home());
        let run = env.run_with_input(args, b"abc\0def\n");
        run.assert_code(2);
        assert_lines(&run, &lines);
        assert_eq!(snapshot_but_new_lock(env.home(), &before), before);
    }
    assert_eq!(env.get(), secret);
}

#[test]
fn a_forced_set_of_a_value_too_large_keeps_the_current_and_the_previous_secret() {
    let (env, _) = made_vault();
    env.run(&["rotate"]).assert_code(0);
    let both = current_and_previous(&env);
    let parts: Vec<&str> = both.split_whitespace().collect();
    assert_eq!(parts.len(), 2, "a current and a previous secret: {both:?}");
    assert_ne!(parts[0], parts[1]);
    let before = snapshot(env.home());
    let value = "x".repeat(50_000);
    let run = env.run_with_input(&["set", "--force"], value.as_bytes());
    run.assert_code(2);
    // The sealed size varies a little: age adds a random "grease" stanza to each header.
    let too_large = regex::Regex::new(
        r"^error: the value is too large: sealed, it would take 6[0-9]{4} bytes, more than the 65536 bytes the vault reads$",
    )
    .unwrap();
    assert!(
        run.stderr().lines().any(|l| too_large.is_match(l)),
        "{}",
        run.stderr()
    );
    assert_lines(
        &run,
        &[
            "hint: store a smaller value (secrets are short; a file this large is not one)"
                .to_owned(),
        ],
    );
    assert_eq!(snapshot_but_new_lock(env.home(), &before), before);
    assert_eq!(current_and_previous(&env), both);
    // On a fresh HOME, no key and no metadata are made for it (only the lock is taken).
    let fresh = TestEnv::new();
    fresh
        .run_with_input(&["--key-source", "file", "set"], value.as_bytes())
        .assert_code(2)
        .assert_stderr_has("the value is too large");
    assert!(!fresh.key_dir().exists(), "no key was made");
    assert_eq!(names(&fresh.vault_dir()), [LOCK_FILE]);
}

// 3. Metadata cannot be trusted blindly.

/// The metadata with `recipient` added as the vault would write it (the field order and
/// layout of the real file), keeping whatever MAC it has.
fn with_recipient_reserialized(meta: &str, recipient: &str) -> String {
    let at = ["  \"previous\"", "  \"mac\""]
        .iter()
        .filter_map(|field| meta.find(field))
        .min()
        .expect("a previous or mac field");
    format!(
        "{}  \"recipients\": [\n    \"{recipient}\"\n  ],\n{}",
        &meta[..at],
        &meta[at..]
    )
}

/// The metadata without its MAC: what a version before MACs wrote.
fn without_mac(meta: &str) -> String {
    let at = meta.find(",\n  \"mac\": ").expect("a mac field");
    let end = meta[at + 2..].find('\n').expect("end of the mac line") + at + 2;
    format!("{}{}", &meta[..at], &meta[end..])
}

fn tampered_hint(env: &TestEnv) -> String {
    format!(
        "someone or something changed {} (an added recipient would receive every later \
         secret): compare it with a backup; if the secrets themselves are intact, restore the \
         metadata from that backup, or `continuum-vault restore --force` each secret from its \
         backup",
        env.metadata_path().display()
    )
}

/// Every command that loads the key refuses the metadata with `reason` (exit 5), `status`
/// reports it, and nothing is written.
#[track_caller]
fn assert_metadata_refused(env: &TestEnv, reason: &str) {
    let message = format!(
        "refusing to use the vault metadata {}: {reason}",
        env.metadata_path().display()
    );
    let hint = tampered_hint(env);
    for args in [
        &["get"][..],
        &["get", "--no-create"],
        &["set", "--force"],
        &["rotate"],
        &["recipients", "list"],
        &["recipients", "add", &age_recipient(env)],
        &[
            "backup",
            "--out",
            env.home().join("backup.age").to_str().unwrap(),
            "--recipient",
            &age_recipient(env),
        ],
        &["rekey", "--to", "file"],
        &["run", "--", "true"],
    ] {
        assert_refuses(env, args, 5, &error_lines(&message, &hint));
    }
    let status = assert_refuses(env, &["status"], 5, &problem_lines(&message, &hint));
    assert_lines(&status, &["healthy:       no".to_owned()]);
}

/// A fresh recipient of a key nobody keeps.
fn age_recipient(env: &TestEnv) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    age::keygen(env, &dir.path().join("k"))
}

#[test]
fn an_attackers_recipient_added_to_the_metadata_is_refused_by_every_command() {
    let (env, secret) = made_vault();
    env.run(&["rotate"]).assert_code(0);
    let good = read_metadata(&env);
    let attacker = age_recipient(&env);
    // By a text edit, keeping the MAC: not what the vault writes.
    let edited = good.replacen(
        "  \"recipient\": ",
        &format!("  \"recipients\": [\"{attacker}\"],\n  \"recipient\": "),
        1,
    );
    write_metadata(&env, &edited);
    assert_metadata_refused(&env, "it was edited after it was written");
    // Re-serialized just as the vault would write it: the MAC does not match.
    write_metadata(&env, &with_recipient_reserialized(&good, &attacker));
    assert_metadata_refused(&env, "its MAC does not match this vault's key");
    // Re-serialized without a MAC, as if from a version before MACs.
    write_metadata(
        &env,
        &without_mac(&with_recipient_reserialized(&good, &attacker)),
    );
    assert_metadata_refused(
        &env,
        "it has no MAC, yet names extra recipients or a key file elsewhere",
    );
    write_metadata(&env, &good);
    env.run(&["rotate"]).assert_code(0);
    assert_ne!(env.get(), secret);
    assert!(!read_metadata(&env).contains(&attacker));
}

#[test]
fn an_old_metadata_file_without_a_mac_naming_a_key_file_elsewhere_is_refused() {
    let (env, _) = made_vault();
    let good = read_metadata(&env);
    // A copy of the real key elsewhere: a `rekey` that trusted the record would delete it
    // (or whatever else the record names) while reading the key from there.
    let key = env.key_file();
    let decoy = env.home().join("decoy.key");
    std::fs::copy(&key, &decoy).unwrap();
    chmod(&decoy, 0o600);
    let old = without_mac(&good).replace(
        &format!("\"identity_file\": \"{}\"", key.display()),
        &format!("\"identity_file\": \"{}\"", decoy.display()),
    );
    assert_ne!(old, without_mac(&good), "the identity file was replaced");
    write_metadata(&env, &old);
    assert_metadata_refused(
        &env,
        "it has no MAC, yet names extra recipients or a key file elsewhere",
    );
    assert!(decoy.exists() && key.exists());
}

#[test]
fn an_old_harmless_metadata_file_without_a_mac_is_accepted_and_gains_one_on_the_next_write() {
    let (env, secret) = made_vault();
    let old = without_mac(&read_metadata(&env));
    assert!(!old.contains("\"mac\""), "{old}");
    write_metadata(&env, &old);
    let before = snapshot(env.home());
    assert_eq!(env.get(), secret);
    let status = env.run(&["status", "--json"]);
    status.assert_code(0);
    let json: serde_json::Value = serde_json::from_str(&status.stdout()).unwrap();
    assert_eq!(json["metadata_authenticated"], false);
    assert_eq!(json["healthy"], true);
    assert_eq!(snapshot(env.home()), before, "reads write nothing");
    env.run_with_input(&["set", "--force"], b"the-next-value\n")
        .assert_code(0);
    let meta = read_metadata(&env);
    assert!(meta.contains("\n  \"mac\": \""), "{meta}");
    assert_eq!(env.get(), "the-next-value");
    let status = env.run(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&status.stdout()).unwrap();
    assert_eq!(json["metadata_authenticated"], true);
}

#[test]
fn metadata_open_to_others_or_owned_by_another_user_is_refused() {
    let (env, _) = made_vault();
    let path = env.metadata_path();
    let p = path.display();
    for mode in [0o644, 0o666] {
        chmod(&path, mode);
        let message =
            format!("refusing to use {p}: group or others can access it (mode {mode:04o})");
        let hint = format!(
            "run `chmod 600 {p}` once you have checked that its content is what you expect"
        );
        for args in [&["get"][..], &["set", "--force"], &["rotate"]] {
            assert_refuses(&env, args, 4, &error_lines(&message, &hint));
        }
        assert_refuses(&env, &["status"], 4, &problem_lines(&message, &hint));
    }
    chmod(&path, 0o600);
    if !crate::support::env::root_or_skip(
        "metadata_open_to_others_or_owned_by_another_user_is_refused",
    ) {
        return;
    }
    crate::support::nobody::chown(&path, crate::support::nobody::NOBODY);
    let message = format!(
        "refusing to use {p}: it is owned by uid 65534, not by this user (uid {})",
        rustix::process::geteuid().as_raw()
    );
    let hint = format!("run as the owner of {p}, or `chown` it to this user");
    for args in [&["get"][..], &["set", "--force"], &["rotate"]] {
        assert_refuses(&env, args, 4, &error_lines(&message, &hint));
    }
    assert_refuses(&env, &["status"], 4, &problem_lines(&message, &hint));
}

// 4. What every write seals to is shown.

#[test]
fn extra_recipients_are_listed_by_status_and_named_by_every_write() {
    let (env, _) = made_vault();
    let other = age_recipient(&env);
    env.run(&["recipients", "add", &other])
        .assert_code(0)
        .assert_stderr_has("1 file(s) re-encrypted");
    let status = env.run(&["status"]);
    status.assert_code(0);
    assert_lines(&status, &[format!("also sealed to: {other}")]);
    let json = env.run(&["status", "--json"]);
    json.assert_code(0);
    let json: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(json["recipients"], serde_json::json!([other]));
    let notice = vec![format!(
        "notice: every secret is also sealed to 1 other recipient(s): {other}"
    )];
    let set = env.run_with_input(&["set", "--force"], b"another-value\n");
    set.assert_code(0);
    assert_lines(&set, &notice);
    let rotate = env.run(&["rotate"]);
    rotate.assert_code(0);
    assert_lines(&rotate, &notice);

    // The vault's own recipient is no extra one; an existing one is nothing to do.
    let own = env.run(&["pubkey"]).assert_code(0).stdout_line();
    let accepted = "another host's or a recovery key's recipient: this one is the vault's own \
                    key, which every secret is sealed to already";
    assert_refuses(
        &env,
        &["recipients", "add", &own],
        2,
        &error_lines(
            &format!("invalid value {own:?} for recipient"),
            &format!("accepted: {accepted}"),
        ),
    );
    let again = assert_refuses(
        &env,
        &["recipients", "add", &other],
        0,
        &[format!("{other} is already a recipient; nothing to do")],
    );
    assert_eq!(again.stderr().lines().count(), 1, "{}", again.stderr());
}

// 5. Rekey deletes only the key it read, and reads during a rekey never fail.

#[test]
fn a_rekey_round_trip_keeps_the_secret_and_deletes_only_the_old_key() {
    let Some((ss, env)) = keyring_user() else {
        return;
    };
    let secret = env.printed(&["--key-source", "file", "get"]);
    let first_key = env.key_file();
    let first_key = first_key.file_name().unwrap().to_str().unwrap().to_owned();
    // Decoys beside the key file: another vault's key, and a file that is no key at all.
    let key_dir = env.key_dir();
    std::fs::write(key_dir.join("0123456789abcdef.key"), "not this vault's\n").unwrap();
    std::fs::write(key_dir.join("notes.txt"), "keep me\n").unwrap();
    let decoys = |dir: &Path| -> Vec<String> {
        names(dir)
            .into_iter()
            .filter(|n| n == "0123456789abcdef.key" || n == "notes.txt")
            .collect()
    };
    let decoy_snapshot = || {
        let mut s = snapshot(&key_dir);
        s.retain(|(p, _)| p.ends_with("0123456789abcdef.key") || p.ends_with("notes.txt"));
        s
    };
    let decoys_before = decoy_snapshot();
    assert_eq!(decoys_before.len(), 2);

    env.run(&["rekey", "--to", "keyring"])
        .assert_code(0)
        .assert_stderr_has(&format!(
            "; the old key (the key file {}) was removed",
            key_dir.join(&first_key).display()
        ));
    assert_eq!(decoys(&key_dir), ["0123456789abcdef.key", "notes.txt"]);
    assert_eq!(names(&key_dir).len(), 2, "only the old key file went");
    assert_eq!(decoy_snapshot(), decoys_before);
    assert_eq!(ss.vault_items(), 1);
    assert_eq!(env.get(), secret);

    env.run(&["rekey", "--to", "file"])
        .assert_code(0)
        .assert_stderr_has("was removed");
    assert_eq!(ss.vault_items(), 0, "the keyring entry went");
    let files = names(&key_dir);
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(!files.contains(&first_key), "a new key, not the old one");
    assert_eq!(decoy_snapshot(), decoys_before);
    assert_eq!(env.get(), secret);
}

#[test]
fn gets_running_during_repeated_rekeys_never_fail() {
    let Some((ss, env)) = keyring_user() else {
        return;
    };
    let env = Arc::new(env);
    let secret = env.printed(&["--key-source", "keyring", "get"]);
    let done = Arc::new(AtomicBool::new(false));
    let gets = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (env, done, gets) = (env.clone(), done.clone(), gets.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !done.load(Ordering::SeqCst) {
                    let run = env.run(&["--verbose", "get", "--no-create"]);
                    if run.code() != 0 {
                        done.store(true, Ordering::SeqCst);
                        return Err(format!(
                            "a get failed with {}:\n{}",
                            run.code(),
                            run.stderr()
                        ));
                    }
                    seen.push(run.stdout());
                    gets.fetch_add(1, Ordering::SeqCst);
                }
                Ok(seen)
            })
        })
        .collect();
    // Round trips until the readers have done many gets while keys moved (bounded, so a
    // reader that stopped early ends the loop too).
    let start = gets.load(Ordering::SeqCst);
    let mut round_trips = 0;
    let mut rekey_failure = None;
    'rekeys: while !done.load(Ordering::SeqCst)
        && round_trips < 200
        && (round_trips < 40 || gets.load(Ordering::SeqCst) - start < 600)
    {
        for to in ["file", "keyring"] {
            let run = env.run(&["rekey", "--to", to]);
            if run.code() != 0 || !run.stderr().contains("was removed") {
                rekey_failure = Some(format!("rekey --to {to}: {}", run.stderr()));
                break 'rekeys;
            }
        }
        round_trips += 1;
    }
    let during = gets.load(Ordering::SeqCst) - start;
    done.store(true, Ordering::SeqCst);
    let mut values = Vec::new();
    for reader in readers {
        values.extend(reader.join().expect("reader thread").unwrap());
    }
    assert_eq!(rekey_failure, None);
    assert!(
        during >= 600,
        "only {during} gets ran during {round_trips} round trips"
    );
    assert!(
        values.iter().all(|v| *v == format!("{secret}\n")),
        "every get printed the one secret"
    );
    assert_eq!(ss.vault_items(), 1);
    eprintln!("{during} gets during {round_trips} rekey round trips");
}

// 6. Paths: the key dir never inside the vault dir, no relative dirs, a loose vault dir.

#[test]
fn a_key_dir_inside_the_vault_dir_is_refused_however_it_is_spelled() {
    let mut env = TestEnv::new();
    let home = env.home().display().to_string();
    let check = |env: &mut TestEnv, config_home: String| {
        env.set("XDG_CONFIG_HOME", &config_home);
        let before = snapshot(env.home());
        let run = env.run(&["--key-source", "file", "get"]);
        run.assert_code(2);
        let accepted =
            "a directory outside the vault dir (the key must not sit beside the secrets)";
        assert_lines(
            &run,
            &error_lines(
                &format!(
                    "invalid value \"{config_home}/continuum-vault\" for key dir \
                     (CONTINUUM_VAULT_KEY_DIR or XDG_CONFIG_HOME)"
                ),
                &format!("accepted: {accepted}"),
            ),
        );
        assert_eq!(snapshot(env.home()), before, "nothing created");
    };
    check(&mut env, format!("{home}/x/../.continuum"));
    // Through a link to the vault dir (which a first run made, empty, or the operator).
    std::fs::create_dir(env.vault_dir()).unwrap();
    chmod(&env.vault_dir(), 0o700);
    std::os::unix::fs::symlink(env.vault_dir(), env.home().join("cfg")).unwrap();
    check(&mut env, format!("{home}/cfg"));
}

#[test]
fn a_key_dir_behind_a_link_to_a_vault_dir_not_yet_made_is_refused() {
    let mut env = TestEnv::new();
    std::os::unix::fs::symlink(env.vault_dir(), env.home().join("cfg")).unwrap();
    let config_home = format!("{}/cfg", env.home().display());
    env.set("XDG_CONFIG_HOME", &config_home);
    let before = snapshot(env.home());
    env.run(&["--key-source", "file", "get"])
        .assert_code(2)
        .assert_stderr_has("a directory outside the vault dir");
    assert_eq!(snapshot(env.home()), before, "nothing created");
}

#[test]
fn a_relative_home_or_vault_dir_is_exit_2() {
    for (var, value) in [("HOME", "rel"), ("CONTINUUM_VAULT_DIR", "rel/vault")] {
        // XDG_CONFIG_HOME stays absolute: only the vault location is relative.
        let mut env = TestEnv::new();
        env.set(var, value);
        let before = snapshot(env.home());
        for args in [&["--key-source", "file", "get"][..], &["status"], &["set"]] {
            // Started in HOME, so a relative dir that slipped through would show there.
            let run = Run(env
                .cmd(args)
                .current_dir(env.home())
                .output()
                .expect("run continuum-vault"));
            run.assert_code(2);
            assert_lines(
                &run,
                &error_lines(
                    &format!("invalid value {value:?} for {var}"),
                    "accepted: an absolute path",
                ),
            );
            assert_eq!(snapshot(env.home()), before, "{var}={value} {args:?}");
        }
    }
}

#[test]
fn a_vault_dir_open_to_others_is_reported_and_tightened_by_the_next_write() {
    let env = TestEnv::new();
    // As the server's own loader makes it: `mkdir` with the default umask.
    std::fs::create_dir(env.vault_dir()).unwrap();
    chmod(&env.vault_dir(), 0o755);
    let d = env.vault_dir().display().to_string();
    let status = env.run(&["--key-source", "file", "status"]);
    status.assert_code(4);
    assert_lines(
        &status,
        &problem_lines(
            &format!(
                "the vault dir {d} is open to group or others (mode 0755); its file names and \
                 metadata should be private"
            ),
            &format!("run `chmod 700 {d}` (the next write also tightens it)"),
        ),
    );
    assert_eq!(mode(&env.vault_dir()), 0o755, "status changes nothing");
    let set = env.run_with_input(&["--key-source", "file", "set"], b"given-value\n");
    set.assert_code(0);
    assert_lines(
        &set,
        &[
            "notice: the vault dir was open to group or others (mode 0755); its mode is now 0700"
                .to_owned(),
        ],
    );
    assert_eq!(mode(&env.vault_dir()), 0o700);
    env.run(&["status"]).assert_code(0);
    assert_eq!(env.get(), "given-value");
}

// 7. Writes the environment would override, and exposed plaintext.

#[test]
fn rotate_and_forced_set_are_refused_while_a_variable_wins() {
    for var in ["CONTINUUM_JWT_SECRET", "CONTINUUM_JWT_SECRET_FILE"] {
        let (mut env, secret) = made_vault();
        env.run(&["rotate"]).assert_code(0);
        let both = current_and_previous(&env);
        let mounted = env.home().join("mounted");
        std::fs::write(&mounted, "from-the-mount\n").unwrap();
        let value = if var == "CONTINUUM_JWT_SECRET" {
            "from-the-env".to_owned()
        } else {
            mounted.display().to_string()
        };
        env.set(var, &value);
        let lines = error_lines(
            &format!(
                "{var} is set, and it wins over the vault: a new value stored for jwt_secret \
                 would not be used"
            ),
            &format!(
                "unset {var} where the server runs (it wins over the vault), or change the value there"
            ),
        );
        for args in [&["rotate"][..], &["set", "--force"], &["set"]] {
            assert_refuses(&env, args, 7, &lines);
        }
        env.unset(var);
        assert_eq!(current_and_previous(&env), both);
        assert_eq!(
            both,
            format!("{} {secret}\n", env.get()),
            "rotated once, before"
        );
    }
}

#[test]
fn a_forced_set_over_plaintext_others_can_read_is_refused() {
    let (env, _) = made_vault();
    std::fs::write(env.secret_path(), "exposed-legacy\n").unwrap();
    chmod(&env.secret_path(), 0o644);
    let p = env.secret_path().display().to_string();
    let lines = error_lines(
        &format!(
            "refusing to use {p}: it holds a secret (a plaintext value or a key) that group or \
             others can access (mode 0644)"
        ),
        &format!("run `chmod 600 {p}`; others could read it, so rotate the secret afterwards"),
    );
    for args in [&["set"][..], &["set", "--force"]] {
        assert_refuses(&env, args, 4, &lines);
    }
    assert!(
        !env.vault_dir().join("jwt_secret_previous").exists(),
        "the exposed value is never kept as the previous secret"
    );
}

// 8. `status` describes the source that wins; `_FILE` errors and sealed `_FILE` targets.

#[test]
fn status_describes_the_mounted_file_or_the_variable_that_wins() {
    let (mut env, _) = made_vault();
    let mounted = env.home().join("mounted");
    std::fs::write(&mounted, "from-the-mount\n").unwrap();
    chmod(&mounted, 0o640);
    let m = mounted.display().to_string();
    env.set("CONTINUUM_JWT_SECRET_FILE", &m);
    let status = env.run(&["status"]);
    status.assert_code(0);
    assert_lines(
        &status,
        &[
            "source:        env_file".to_owned(),
            format!("path:          {m}"),
            "exists:        yes".to_owned(),
            "mode:          0640".to_owned(),
            "content:       plaintext".to_owned(),
            "healthy:       yes".to_owned(),
        ],
    );
    let json = env.run(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(json["source"], "env_file");
    assert_eq!(json["path"], m.as_str());
    assert_eq!(json["mode"], "0640");

    env.set("CONTINUUM_JWT_SECRET", "from-the-env");
    let status = env.run(&["status"]);
    status.assert_code(7);
    let both = problem_lines(
        "both CONTINUUM_JWT_SECRET and CONTINUUM_JWT_SECRET_FILE are set; refusing to guess which one is meant",
        "unset one of CONTINUUM_JWT_SECRET and CONTINUUM_JWT_SECRET_FILE",
    );
    assert_lines(&status, &both);
    assert_lines(&status, &["source:        env".to_owned()]);
    let json = env.run(&["status", "--json"]);
    json.assert_code(7);
    let json: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(json["source"], "env");
    assert_eq!(json["healthy"], false);
}

#[test]
fn a_file_variable_set_but_empty_is_exit_2_for_get_and_status() {
    let (mut env, _) = made_vault();
    env.set("CONTINUUM_JWT_SECRET_FILE", "");
    let reason =
        "the path of a file holding the secret (it is set but empty; unset it to use the vault)";
    let message = "invalid value \"CONTINUUM_JWT_SECRET_FILE\" for secret file variable".to_owned();
    let hint = format!("accepted: {reason}");
    for args in [
        &["get"][..],
        &["get", "--no-create"],
        &["run", "--", "true"],
    ] {
        let run = assert_refuses(&env, args, 2, &error_lines(&message, &hint));
        assert_eq!(run.stdout(), "", "the vault's secret is not handed out");
    }
    assert_refuses(&env, &["status"], 2, &problem_lines(&message, &hint));
    // On a fresh HOME it generates nothing either.
    let mut fresh = TestEnv::new();
    fresh.set("CONTINUUM_JWT_SECRET_FILE", "");
    assert_refuses(&fresh, &["get"], 2, &error_lines(&message, &hint));
    assert!(!fresh.vault_dir().exists());
}

#[test]
fn a_file_variable_naming_an_age_file_is_decrypted_or_refused_never_shown_as_armor() {
    let (mut env, secret) = made_vault();
    // A copy of the vault's own file, mounted elsewhere: sealed to this vault.
    let mounted = env.home().join("mounted.age");
    std::fs::copy(env.secret_path(), &mounted).unwrap();
    env.set("CONTINUUM_JWT_SECRET_FILE", mounted.to_str().unwrap());
    assert_eq!(env.get(), secret);
    let run = env.run_sh("printf %s \"$CONTINUUM_JWT_SECRET\"");
    run.assert_code(0);
    assert_eq!(run.stdout(), secret);

    // Sealed to another key: refused, and no armor on any output.
    let other = env.home().join("other.age");
    let recipient = age_recipient(&env);
    age::encrypt_armored(&env, &recipient, &other, b"someone-else's-secret\n");
    env.set("CONTINUUM_JWT_SECRET_FILE", other.to_str().unwrap());
    let lines = error_lines(
        &format!("cannot decrypt {}: No matching keys found", other.display()),
        &format!(
            "the file is sealed to other keys, not to this vault's: it was made by another \
             vault (another host, or before a `rekey`); put back this vault's own file, or \
             {RESTORE_HINT}"
        ),
    );
    for args in [&["get"][..], &["run", "--", "true"]] {
        let run = assert_refuses(&env, args, 5, &lines);
        assert_eq!(run.stdout(), "");
        assert!(!run.stderr().contains("AGE ENCRYPTED"), "{}", run.stderr());
    }
}

// 9. `pubkey` on a fresh host.

#[test]
fn pubkey_on_a_fresh_home_makes_the_key_and_metadata_and_says_so_once() {
    let env = TestEnv::new();
    let first = env.run(&["--key-source", "file", "pubkey"]);
    first.assert_code(0);
    let recipient = first.stdout_line();
    assert!(recipient.starts_with("age1"), "{recipient}");
    let key = env.key_file();
    assert_eq!(
        first.stderr(),
        format!(
            "notice: made this vault's key, in the key file {}, and its metadata {} (no secret yet)\n",
            key.display(),
            env.metadata_path().display()
        )
    );
    assert!(read_metadata(&env).contains(&format!("\"recipient\": \"{recipient}\"")));
    assert!(!env.secret_path().exists(), "no secret is made");
    assert_eq!(mode(&key), 0o600);
    let before = snapshot(env.home());
    let second = env.run(&["pubkey"]);
    second.assert_code(0);
    assert_eq!(second.stdout_line(), recipient);
    assert_eq!(second.stderr(), "");
    assert_eq!(snapshot(env.home()), before);
    // The key is the vault's: a later first secret is sealed to it.
    let secret = env.get();
    assert_eq!(
        String::from_utf8(age::decrypt(&env, &key, &env.secret_path())).unwrap(),
        secret
    );
}

// 10. `migrate`.

/// Gives `env` a legacy plaintext `jwt_secret` with mode `mode` in a 0700 vault dir.
fn legacy_vault(env: TestEnv, mode: u32) -> TestEnv {
    env.write_legacy_secret("legacy-plaintext-secret", mode);
    env
}

#[test]
fn migrate_refuses_exposed_plaintext_and_a_missing_file() {
    let env = legacy_vault(TestEnv::new(), 0o644);
    let p = env.secret_path().display().to_string();
    assert_refuses(
        &env,
        &["--key-source", "file", "migrate"],
        4,
        &error_lines(
            &format!(
                "refusing to use {p}: it holds a secret (a plaintext value or a key) that group \
                 or others can access (mode 0644)"
            ),
            &format!("run `chmod 600 {p}`; others could read it, so rotate the secret afterwards"),
        ),
    );
    assert!(!env.key_dir().exists(), "no key made for a refused migrate");

    let missing = |env: &TestEnv| {
        error_lines(
            &format!("no secret at {}", env.secret_path().display()),
            "it does not exist yet: `continuum-vault get NAME` (or the server's first start) \
             generates it; `continuum-vault set NAME` stores a given value",
        )
    };
    std::fs::remove_file(env.secret_path()).unwrap();
    assert_refuses(
        &env,
        &["--key-source", "file", "migrate"],
        3,
        &missing(&env),
    );
    let fresh = TestEnv::new();
    assert_refuses(
        &fresh,
        &["--key-source", "file", "migrate"],
        3,
        &missing(&fresh),
    );
    assert!(!fresh.vault_dir().exists());
}

#[test]
fn migrate_into_the_keyring_says_a_copy_of_the_file_is_not_a_backup() {
    let Some((ss, env)) = keyring_user() else {
        return;
    };
    let env = legacy_vault(env, 0o600);
    let run = env.run(&["--key-source", "keyring", "migrate"]);
    run.assert_code(0);
    let p = env.secret_path().display().to_string();
    assert_lines(
        &run,
        &[
            format!("Migrated {p}: the same value is now encrypted in place."),
            "IMPORTANT: copying this file alone is NOT a backup: it cannot be decrypted without that key."
                .to_owned(),
            "Make a backup that opens without this machine (passphrase or recovery key):".to_owned(),
            "  continuum-vault backup jwt_secret --out jwt_secret.backup.age".to_owned(),
        ],
    );
    assert!(
        run.stderr().contains("held in the OS keyring"),
        "{}",
        run.stderr()
    );
    assert_eq!(ss.vault_items(), 1);
    assert!(!env.key_dir().exists(), "no key file");
    assert_eq!(env.get(), "legacy-plaintext-secret");
}

// 5. Keys of interrupted runs are cleaned up under the lock, and the user is told.

/// Writes the announcement (0600) that a run is about to make the key file of vault `id`,
/// as a run killed before it wrote the metadata (or deleted the old key) leaves it.
fn announce_key_file(env: &TestEnv, id: &str) -> PathBuf {
    let marker = env.vault_dir().join(".continuum-vault.pending-key");
    std::fs::write(
        &marker,
        format!("{{\"id\":\"{id}\",\"key_source\":\"file\"}}\n"),
    )
    .unwrap();
    chmod(&marker, 0o600);
    marker
}

/// What a first run killed between making its key and writing the metadata leaves: the
/// announcement of the key, and the key itself (here a key file), with no metadata.
#[test]
fn the_key_of_an_interrupted_first_run_is_removed_by_the_next_write() {
    let env = TestEnv::new();
    env.make_vault_dir();
    let orphan_id = "0123456789abcdef0123456789abcdef";
    std::fs::create_dir_all(env.key_dir()).unwrap();
    let orphan = env.key_dir().join(format!("{orphan_id}.key"));
    let key = age::keygen(&env, &orphan);
    assert!(key.starts_with("age1"));
    let marker = announce_key_file(&env, orphan_id);
    // A read changes nothing.
    env.run(&["--key-source", "file", "get", "--no-create"])
        .assert_code(3);
    assert!(orphan.exists() && marker.exists(), "a read never deletes");
    // The next write (this first run) removes it and says so.
    let run = env.run(&["--key-source", "file", "get"]);
    run.assert_code(0).assert_stderr_has(&format!(
        "notice: removed the vault key of an interrupted run, which no vault metadata names: \
         the key file {}",
        orphan.display()
    ));
    assert!(!orphan.exists(), "the orphaned key is gone");
    assert!(!marker.exists(), "the announcement is gone");
    let key_files = std::fs::read_dir(env.key_dir()).unwrap().count();
    assert_eq!(key_files, 1, "only the new vault's key is left");
}

/// A `rekey` killed after the metadata switched but before the old key was deleted: the
/// old key is announced; the next write deletes it, never the key the metadata names.
#[test]
fn the_old_key_of_an_interrupted_rekey_is_removed_and_the_current_one_kept() {
    let (env, secret) = made_vault();
    let current = env.key_file();
    let old_id = "fedcba9876543210fedcba9876543210";
    let old = env.key_dir().join(format!("{old_id}.key"));
    age::keygen(&env, &old);
    let marker = announce_key_file(&env, old_id);
    env.run_with_input(&["set", "other"], b"another value\n")
        .assert_code(0)
        .assert_stderr_has("removed the vault key of an interrupted run");
    assert!(!old.exists());
    assert!(current.exists(), "the key the metadata names stays");
    assert_eq!(env.get(), secret);
    // An announcement of the current key (a run killed after its metadata was written)
    // only goes away.
    let id = current.file_stem().unwrap().to_str().unwrap().to_owned();
    announce_key_file(&env, &id);
    let run = env.run_with_input(&["set", "third"], b"a third value\n");
    run.assert_code(0);
    assert!(
        !run.stderr().contains("interrupted run"),
        "{}",
        run.stderr()
    );
    assert!(current.exists() && !marker.exists());
    assert_eq!(env.get(), secret);
}
