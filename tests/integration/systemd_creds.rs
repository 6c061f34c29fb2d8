//! The `systemd-creds` key source against the real `systemd-creds` (v252 here). systemd is
//! not PID 1 where the suite runs, so delivery is done the way the service manager does it:
//! each test makes a throwaway host key (`SYSTEMD_CREDENTIAL_SECRET`, which the vault passes
//! on to the `systemd-creds` it runs), and a delivered credential is decrypted by the test
//! into a 0700 directory set as `CREDENTIALS_DIRECTORY`.
//!
//! Sealing with the host key needs root, so every test here does (see `root_or_skip`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::env::{TestEnv, root_or_skip};
use crate::support::keyring::REQUIRE_ENV;
use crate::support::nobody::{NOBODY, Nobody, chown};
use crate::support::tree::snapshot;

/// Whether `systemd-creds` can run here; a missing one fails the suite under [`REQUIRE_ENV`].
fn systemd_creds_or_skip(test: &str) -> bool {
    if !root_or_skip(test) {
        return false;
    }
    let found = Command::new("systemd-creds")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var_os(REQUIRE_ENV).is_none_or(|v| v != "1"),
        "{test} needs systemd-creds (Debian package systemd)"
    );
    if !found {
        eprintln!("SKIPPED {test}: no systemd-creds");
    }
    found
}

/// A host key at `path`, made by `systemd-creds setup` itself.
fn host_key(path: &Path) {
    let out = Command::new("systemd-creds")
        .arg("setup")
        .env("SYSTEMD_CREDENTIAL_SECRET", path)
        .output()
        .expect("run systemd-creds setup");
    assert!(out.status.success(), "setup: {out:?}");
}

/// A user whose vault key is sealed with the host key `host.secret` into `credstore/`.
fn host(test: &str) -> Option<(TestEnv, PathBuf)> {
    if !systemd_creds_or_skip(test) {
        return None;
    }
    let mut env = TestEnv::new();
    let root = env.home().parent().expect("temp root").to_owned();
    let secret = root.join("host.secret");
    host_key(&secret);
    let credstore = root.join("credstore");
    env.set("SYSTEMD_CREDENTIAL_SECRET", secret.to_str().expect("UTF-8"))
        .set(
            "CONTINUUM_VAULT_CREDSTORE",
            credstore.to_str().expect("UTF-8"),
        )
        .set("CONTINUUM_VAULT_KEY_SOURCE", "systemd-creds");
    Some((env, credstore))
}

/// The one credential file in `credstore`.
fn credential(credstore: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(credstore)
        .expect("list the credstore")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "one credential: {files:?}");
    files.into_iter().next().expect("one")
}

/// What systemd-creds decrypts `file` to, as a unit would receive it.
fn decrypt(env_secret: &str, file: &Path) -> Vec<u8> {
    let name = file.file_name().expect("name").to_str().expect("UTF-8");
    let out = Command::new("systemd-creds")
        .args(["decrypt", &format!("--name={name}"), "--newline=no"])
        .arg(file)
        .arg("-")
        .env("SYSTEMD_CREDENTIAL_SECRET", env_secret)
        .output()
        .expect("run systemd-creds decrypt");
    assert!(out.status.success(), "decrypt: {out:?}");
    out.stdout
}

fn host_secret(env: &TestEnv) -> String {
    env.home()
        .parent()
        .expect("root")
        .join("host.secret")
        .display()
        .to_string()
}

/// Every regular file under `root`, with its content.
fn all_files(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("list") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                out.push((path.clone(), std::fs::read(&path).expect("read")));
            }
        }
    }
    out
}

#[test]
fn a_first_run_seals_the_key_to_the_host_and_stores_no_plaintext_identity() {
    let Some((env, credstore)) = host("systemd_creds::first_run") else {
        return;
    };
    let secret = env.run(&["get"]).assert_code(0).stdout_line();
    assert_eq!(env.get(), secret);
    let file = credential(&credstore);
    assert_eq!(
        std::fs::metadata(&file).expect("stat").permissions().mode() & 0o777,
        0o600
    );
    let identity = decrypt(&host_secret(&env), &file);
    assert!(
        identity.starts_with(b"AGE-SECRET-KEY-1"),
        "the credential holds the key"
    );
    // No file the run wrote (vault, metadata, credstore, anything under the test root)
    // holds the identity in plaintext.
    let root = env.home().parent().expect("root").to_owned();
    for (path, content) in all_files(&root) {
        assert!(
            !content
                .windows(identity.len())
                .any(|w| w == identity.as_slice()),
            "{} holds the plaintext identity",
            path.display()
        );
    }
    let status = env.run(&["status", "--json"]);
    status.assert_code(0);
    let json: serde_json::Value = serde_json::from_str(&status.stdout()).expect("JSON");
    assert_eq!(json["key_source"], "systemd-creds");
    let name = file.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        json["credential_unit_line"],
        format!("LoadCredentialEncrypted={name}:{}", file.display())
    );
    assert!(json["protection"].as_str().unwrap().contains("host"));
}

#[test]
fn another_host_key_cannot_open_it_and_nothing_changes() {
    let Some((mut env, credstore)) = host("systemd_creds::another_host") else {
        return;
    };
    env.run(&["get"]).assert_code(0);
    let root = env.home().parent().expect("root").to_owned();
    let other = root.join("other-host.secret");
    host_key(&other);
    let before = snapshot(env.home());
    let store_before = snapshot(&credstore);
    env.set("SYSTEMD_CREDENTIAL_SECRET", other.to_str().unwrap());
    let run = env.run(&["get"]);
    run.assert_code(6)
        .assert_stderr_has("cannot open")
        .assert_stderr_has("hint: the credential was sealed on another host");
    assert_eq!(snapshot(env.home()), before);
    assert_eq!(snapshot(&credstore), store_before);
}

#[test]
fn a_delivered_key_is_used_without_running_systemd_creds() {
    let Some((mut env, credstore)) = host("systemd_creds::delivered") else {
        return;
    };
    let secret = env.run(&["get"]).assert_code(0).stdout_line();
    let file = credential(&credstore);
    let delivered = env.home().parent().unwrap().join("credentials");
    std::fs::create_dir(&delivered).unwrap();
    std::fs::set_permissions(&delivered, std::fs::Permissions::from_mode(0o700)).unwrap();
    let name = file.file_name().unwrap();
    std::fs::write(delivered.join(name), decrypt(&host_secret(&env), &file)).unwrap();
    std::fs::set_permissions(delivered.join(name), std::fs::Permissions::from_mode(0o400)).unwrap();
    env.set("CREDENTIALS_DIRECTORY", delivered.to_str().unwrap())
        // No systemd-creds on PATH, and no host key: only the delivered copy can open it.
        .set("PATH", "/nonexistent")
        .set("SYSTEMD_CREDENTIAL_SECRET", "/nonexistent/host.secret");
    assert_eq!(env.run(&["get"]).assert_code(0).stdout_line(), secret);
}

#[test]
fn a_non_root_service_user_reads_the_key_systemd_delivered() {
    let Some((env, credstore)) = host("systemd_creds::nobody") else {
        return;
    };
    // Root sets the vault up (sealing needs the host key) in nobody's home, then hands it over.
    let nobody = Nobody::new();
    let vault = nobody.vault_dir();
    let made = Command::new(crate::support::env::BIN)
        .args(["--key-source", "systemd-creds", "get"])
        .env_clear()
        .env("HOME", nobody.home())
        .env("XDG_CONFIG_HOME", nobody.home().join(".config"))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SYSTEMD_CREDENTIAL_SECRET", host_secret(&env))
        .env("CONTINUUM_VAULT_CREDSTORE", &credstore)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let secret = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    chown(&vault, NOBODY);
    for entry in snapshot(&vault) {
        chown(Path::new(&entry.0), NOBODY);
    }
    // As PID 1 would: the credential decrypted into a directory only the unit's user reads.
    let file = credential(&credstore);
    let delivered = nobody.home().join("credentials");
    std::fs::create_dir(&delivered).unwrap();
    std::fs::set_permissions(&delivered, std::fs::Permissions::from_mode(0o700)).unwrap();
    let name = file.file_name().unwrap();
    std::fs::write(delivered.join(name), decrypt(&host_secret(&env), &file)).unwrap();
    std::fs::set_permissions(delivered.join(name), std::fs::Permissions::from_mode(0o400)).unwrap();
    chown(&delivered, NOBODY);
    chown(&delivered.join(name), NOBODY);
    let mut cmd = nobody.cmd(&["get", "--no-create"]);
    cmd.env("CREDENTIALS_DIRECTORY", &delivered)
        .env("CONTINUUM_VAULT_CREDSTORE", &credstore);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), secret);
    // Without the delivered copy, nobody cannot decrypt with the host key, and is told how.
    let mut cmd = nobody.cmd(&["get", "--no-create"]);
    cmd.env("CONTINUUM_VAULT_CREDSTORE", &credstore);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("LoadCredentialEncrypted="), "{stderr}");
}

#[test]
fn rekey_to_and_from_systemd_creds_keeps_the_secret() {
    let Some((mut env, credstore)) = host("systemd_creds::rekey") else {
        return;
    };
    env.set("CONTINUUM_VAULT_KEY_SOURCE", "file");
    let secret = env.run(&["get"]).assert_code(0).stdout_line();
    env.set("CONTINUUM_VAULT_KEY_SOURCE", "auto");
    env.run(&["rekey", "--to", "systemd-creds"])
        .assert_code(0)
        .assert_stderr_has("systemd credential");
    assert_eq!(env.get(), secret);
    credential(&credstore);
    assert_eq!(
        std::fs::read_dir(env.key_dir()).map_or(0, Iterator::count),
        0,
        "the old key file is gone"
    );
    env.run(&["rekey", "--to", "file"]).assert_code(0);
    assert_eq!(env.get(), secret);
    assert_eq!(
        std::fs::read_dir(&credstore).unwrap().count(),
        0,
        "the old credential is gone"
    );
}

#[test]
fn sixteen_first_starts_make_one_key_and_one_secret() {
    let Some((env, credstore)) = host("systemd_creds::sixteen") else {
        return;
    };
    let children: Vec<_> = (0..16)
        .map(|_| {
            env.cmd(["get"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut values: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("wait");
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        })
        .collect();
    values.dedup();
    assert_eq!(values.len(), 1, "one secret: {values:?}");
    credential(&credstore);
}

#[test]
fn a_secret_delivered_by_systemd_wins_over_the_vault_and_creates_nothing() {
    if !systemd_creds_or_skip("systemd_creds::delivered_secret") {
        return;
    }
    let mut env = TestEnv::new();
    let delivered = env.home().parent().unwrap().join("credentials");
    std::fs::create_dir(&delivered).unwrap();
    std::fs::set_permissions(&delivered, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(delivered.join("jwt_secret"), " from-the-unit \n").unwrap();
    std::fs::set_permissions(
        delivered.join("jwt_secret"),
        std::fs::Permissions::from_mode(0o400),
    )
    .unwrap();
    env.set("CREDENTIALS_DIRECTORY", delivered.to_str().unwrap());
    assert_eq!(
        env.run(&["--key-source", "file", "get"])
            .assert_code(0)
            .stdout_line(),
        "from-the-unit"
    );
    assert!(!env.vault_dir().exists(), "no vault file is made");
    let both = env.run_sh("printf %s \"$CONTINUUM_JWT_SECRET\"");
    assert_eq!(both.assert_code(0).stdout(), "from-the-unit");
    let status = env.run(&["status"]);
    status.assert_code(0);
    assert!(
        status.stdout().contains("source:        credential"),
        "{}",
        status.stdout()
    );
    // Empty is an error, never a fall-through to the vault.
    std::fs::set_permissions(
        delivered.join("jwt_secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(delivered.join("jwt_secret"), "  \n").unwrap();
    env.run(&["get"])
        .assert_code(2)
        .assert_stderr_has("is empty");
    assert!(!env.vault_dir().exists());
}
