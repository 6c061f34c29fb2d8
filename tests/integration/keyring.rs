//! The binary against a real Secret Service: gnome-keyring on a private bus per test.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::age;
use crate::support::env::{TestEnv, is_token_urlsafe_32, keyring_user};
use crate::support::keyring::{BareBus, SecretService};

/// The vault id recorded in the metadata.
fn vault_id(env: &TestEnv) -> String {
    let meta = std::fs::read_to_string(env.metadata_path()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(json["key_source"], "keyring", "{meta}");
    json["id"].as_str().unwrap().to_owned()
}

/// A keyring user whose vault a first `get` made: the Secret Service, the user, the
/// sealed secret file as it is, and the vault id; `None` without a Secret Service.
fn keyring_vault() -> Option<(SecretService, TestEnv, Vec<u8>, String)> {
    let (ss, env) = keyring_user()?;
    env.get();
    let sealed = std::fs::read(env.secret_path()).unwrap();
    let id = vault_id(&env);
    Some((ss, env, sealed, id))
}

#[test]
fn the_identity_lives_in_the_keyring_and_no_key_file_exists() {
    let Some((ss, env)) = keyring_user() else {
        return;
    };
    let first = env.run(&["get"]);
    first.assert_code(0).assert_stderr_has("OS keyring");
    assert!(!first.stderr().contains("WARNING"), "{}", first.stderr());
    let secret = first.stdout_line();
    assert!(is_token_urlsafe_32(&secret));
    assert_eq!(env.get(), secret);
    assert!(
        !env.key_dir().exists(),
        "no key file with a reachable keyring"
    );
    // Cross-check with libsecret's own client: one item, the identity, for this vault.
    let id = vault_id(&env);
    let identity = String::from_utf8(ss.vault_key_tool(&["lookup"], &id, b"").stdout).unwrap();
    assert!(
        identity.starts_with("AGE-SECRET-KEY-1"),
        "secret-tool sees {identity:?}"
    );
    assert_eq!(ss.vault_items(), 1);
    // The item's label reads well in Seahorse: what it is, for which vault dir and id.
    let listing = ss.vault_listing();
    let label = format!(
        "label = continuum-vault key for {} (vault {id})",
        env.vault_dir().display()
    );
    assert!(
        listing.lines().any(|l| l == label),
        "no {label:?} in {listing}"
    );
    // status agrees, and does not print the secret.
    let status = env.run(&["status", "--json"]);
    status.assert_code(0);
    let json: serde_json::Value = serde_json::from_str(&status.stdout()).unwrap();
    assert_eq!(json["keyring_reachable"], true);
    assert!(!status.stdout().contains(&secret) && !status.stdout().contains("AGE-SECRET-KEY"));
}

#[test]
fn go_age_decrypts_with_the_identity_from_the_keyring() {
    let Some((ss, env)) = keyring_user() else {
        return;
    };
    let secret = env.printed(&["get", "--key-source", "keyring"]);
    let id = vault_id(&env);
    let identity = ss.vault_key_tool(&["lookup"], &id, b"").stdout;
    let key_file = env.home().join("exported.key");
    std::fs::write(&key_file, &identity).unwrap();
    assert_eq!(
        String::from_utf8(age::decrypt(&env, &key_file, &env.secret_path())).unwrap(),
        secret
    );
}

#[test]
fn a_deleted_keyring_entry_is_exit_6_and_the_file_is_untouched() {
    let Some((ss, env, before, id)) = keyring_vault() else {
        return;
    };
    assert!(ss.vault_key_tool(&["clear"], &id, b"").status.success());
    for args in [&["get"][..], &["get", "--no-create"], &["status"]] {
        env.run(args)
            .assert_code(6)
            .assert_stderr_or_stdout_has("unlock");
        assert_eq!(
            std::fs::read(env.secret_path()).unwrap(),
            before,
            "{args:?}"
        );
    }
    // An unlocked collection is not called locked: the key is missing.
    let status = env.run(&["status"]);
    assert!(
        status.stdout().contains("keyring:       reachable\n"),
        "{}",
        status.stdout()
    );
    assert!(
        status.stdout().contains("is not in the OS keyring"),
        "{}",
        status.stdout()
    );
    // Not a first run either when the secret file is gone too: the metadata says a key exists.
    std::fs::remove_file(env.secret_path()).unwrap();
    env.run(&["get"]).assert_code(6);
    assert!(!env.secret_path().exists());
    assert_eq!(ss.vault_items(), 0, "no new identity was made");
}

#[test]
fn a_locked_collection_is_exit_6_never_a_first_run() {
    let Some((ss, mut env)) = keyring_user() else {
        return;
    };
    env.set("CONTINUUM_VAULT_KEYRING_TIMEOUT_MS", "3000");
    let secret = env.get();
    let before = std::fs::read(env.secret_path()).unwrap();
    ss.lock_collection();
    let run = env.run(&["get"]);
    run.assert_code(6);
    assert!(!run.stdout().contains(&secret));
    assert_eq!(std::fs::read(env.secret_path()).unwrap(), before);
    assert_eq!(ss.vault_items(), 1, "no second identity");
    // status says it is locked (not "reachable" alone, not a missing key), and how to fix it.
    let status = env.run(&["status"]);
    status.assert_code(6);
    let out = status.stdout();
    assert!(
        out.contains("keyring:       reachable, but its collection is locked\n"),
        "{out}"
    );
    assert!(
        out.contains("problem:       the OS keyring's collection is locked"),
        "{out}"
    );
    assert!(
        !out.contains("is not in the OS keyring"),
        "said once: {out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.run(&["status", "--json"]).stdout()).unwrap();
    assert_eq!(json["keyring_locked"], true);
}

#[test]
fn a_frozen_daemon_times_out_instead_of_hanging() {
    let Some((ss, mut env)) = keyring_user() else {
        return;
    };
    env.get();
    let before = std::fs::read(env.secret_path()).unwrap();
    env.set("CONTINUUM_VAULT_KEYRING_TIMEOUT_MS", "500");
    ss.freeze();
    let started = Instant::now();
    let run = env.run(&["get"]);
    let took = started.elapsed();
    ss.thaw();
    run.assert_code(6)
        .assert_stderr_has("timed out after 500ms")
        .assert_stderr_has("CONTINUUM_VAULT_KEYRING_TIMEOUT_MS");
    // Not a performance threshold: a hang would take forever; 30 s is a generous bound.
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_eq!(std::fs::read(env.secret_path()).unwrap(), before);
}

#[test]
fn a_bus_without_secret_service_fails_in_keyring_mode_and_falls_back_in_auto() {
    let Some(bus) = BareBus::start() else { return };
    let mut env = TestEnv::new();
    for (k, v) in bus.env() {
        if k.starts_with("DBUS") {
            env.set(&k, &v);
        }
    }
    env.run(&["get", "--key-source", "keyring"])
        .assert_code(6)
        .assert_stderr_has("hint:");
    assert!(!env.secret_path().exists());
    env.run(&["get"])
        .assert_code(0)
        .assert_stderr_has("WARNING: the OS keyring is not usable");
    let meta = std::fs::read_to_string(env.metadata_path()).unwrap();
    assert!(meta.contains("\"file\""), "{meta}");
}

#[test]
fn garbage_in_the_keyring_entry_is_reported_without_showing_it() {
    let Some((ss, env, before, id)) = keyring_vault() else {
        return;
    };
    let out = ss.vault_key_tool(
        &["store", "--label=garbage"],
        &id,
        b"not-a-key-GARBAGE-MARKER",
    );
    assert!(out.status.success());
    let run = env.run(&["get"]);
    run.assert_code(6)
        .assert_stderr_has("not a valid age identity");
    assert!(!run.stderr().contains("GARBAGE-MARKER"));
    assert_eq!(std::fs::read(env.secret_path()).unwrap(), before);
}

#[test]
fn sixteen_concurrent_first_runs_get_one_secret_and_one_identity() {
    let Some((ss, env)) = keyring_user() else {
        return;
    };
    let secrets = concurrent_gets(&env, 16);
    assert!(is_token_urlsafe_32(&secrets[0]));
    assert!(secrets.iter().all(|s| *s == secrets[0]), "{secrets:?}");
    assert_eq!(ss.vault_items(), 1, "exactly one identity");
    assert_eq!(env.get(), secrets[0]);
}

#[test]
fn sixteen_concurrent_first_runs_with_the_key_file() {
    let env = TestEnv::new();
    let secrets = concurrent_gets(&env, 16);
    assert!(secrets.iter().all(|s| *s == secrets[0]), "{secrets:?}");
    assert_eq!(
        std::fs::read_dir(env.key_dir()).unwrap().count(),
        1,
        "exactly one key file"
    );
    let leftovers: Vec<_> = std::fs::read_dir(env.vault_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Starts `n` `get`s at once (all spawned before any is waited for) and returns their output.
pub(crate) fn concurrent_gets(env: &TestEnv, n: usize) -> Vec<String> {
    let children: Vec<_> = (0..n)
        .map(|_| {
            env.cmd(["get"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
        })
        .collect()
}

/// gnome-keyring aborts when a caller's first request is `OpenSession` and the daemon is
/// busy (see `src/key/secret_service.rs`). Readers that each connect afresh, in the order the
/// vault's store uses, while a writer creates and deletes items, leave it running.
#[test]
fn fresh_connections_while_items_change_leave_the_daemon_running() {
    use ::secret_service::EncryptionType;
    use std::sync::atomic::{AtomicBool, Ordering};
    // Without the store's first request, this load aborted the daemon in 6 of 6 runs here
    // (4 readers: 2 of 6). Plain sessions keep a debug build fast; the abort comes before
    // either kind of session is negotiated (the caller is not registered yet).
    const ROUNDS: u32 = 1000;
    const READERS: u32 = 8;

    let Some(ss) = SecretService::start() else {
        return;
    };
    let connection = |address: &str| {
        zbus::blocking::connection::Builder::address(address)
            .and_then(zbus::blocking::connection::Builder::build)
            .expect("connect to the private bus")
    };
    let address = ss.bus_address().to_owned();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let attributes = std::collections::HashMap::from([("service", "load"), ("username", "x")]);
    let writer = {
        let (address, stop, attributes) = (address.clone(), stop.clone(), attributes.clone());
        std::thread::spawn(move || {
            let service =
                crate::secret_service::connect_on(connection(&address), EncryptionType::Plain)
                    .expect("writer session");
            let mut changes = 0;
            while !stop.load(Ordering::SeqCst) {
                let Ok(collection) = service.get_default_collection() else {
                    break;
                };
                if collection
                    .create_item("load", attributes.clone(), b"x", true, "text/plain")
                    .is_err()
                {
                    break;
                }
                for item in service
                    .search_items(attributes.clone())
                    .map(|found| found.unlocked)
                    .unwrap_or_default()
                {
                    let _ = item.delete();
                }
                changes += 1;
            }
            changes
        })
    };
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (address, attributes) = (address.clone(), attributes.clone());
            std::thread::spawn(move || -> Result<u32, String> {
                for round in 0..ROUNDS {
                    let service = crate::secret_service::connect_on(
                        connection(&address),
                        EncryptionType::Plain,
                    )
                    .map_err(|e| format!("round {round}: connect: {e}"))?;
                    service
                        .search_items(attributes.clone())
                        .map_err(|e| format!("round {round}: search: {e}"))?;
                }
                Ok(ROUNDS)
            })
        })
        .collect();
    let results: Vec<_> = readers
        .into_iter()
        .map(|r| r.join().expect("reader thread"))
        .collect();
    stop.store(true, Ordering::SeqCst);
    let changes = writer.join().expect("writer thread");
    // A dead daemon stays a zombie until the harness reaps it: alive means not state Z.
    let alive =
        std::fs::read_to_string(format!("/proc/{}/stat", ss.keyring_pid())).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|s| !s.trim_start().starts_with('Z'))
        });
    assert!(
        alive && results.iter().all(Result::is_ok),
        "the daemon {} after {changes} item changes: {results:?}",
        if alive { "lived" } else { "died" }
    );
    assert!(changes > 0, "the writer changed items meanwhile");
    eprintln!(
        "{} fresh connections during {changes} item changes",
        READERS * ROUNDS
    );
}
