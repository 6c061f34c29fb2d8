//! The command line with `--store openbao` against a real `bao server -dev` (see
//! `support::bao`): several simulated hosts (each its own HOME and host key) sharing one
//! secret, rotation seen across hosts, refusals that write nothing, an outage with and
//! without a local copy, AppRole login, and the token kept away from `run`'s child.
//!
//! Needs the `bao` binary: `eval "$(bash scripts/bao-env.sh)"` sets `CONTINUUM_TEST_BAO`.
//! Every test works under its own random prefix, so tests never see each other's secrets;
//! the outage test stops a server of its own.

use std::process::Stdio;

use serde_json::json;

use crate::support::bao::{DevServer, random_id, shared};
use crate::support::env::{Run, TestEnv, is_token_urlsafe_32};

/// The smallest policy the store needs (what the permission-denied hint prints).
fn policy(prefix: &str) -> String {
    format!(
        "path \"secret/data/{prefix}/*\" {{\n  capabilities = [\"create\", \"read\", \"update\"]\n}}\n\
         path \"secret/metadata/{prefix}/*\" {{\n  capabilities = [\"create\", \"read\", \"update\"]\n}}"
    )
}

/// A fresh prefix with its policy on `server`, and the policy's name.
fn prefix_with_policy(server: &DevServer) -> (String, String) {
    let prefix = format!("t-{}", random_id());
    let name = format!("p-{prefix}");
    server.put_policy(&name, &policy(&prefix));
    (prefix, name)
}

/// One simulated host: its own HOME (so its own vault dir and key file), the store selected.
fn host(server: &DevServer, prefix: &str, token: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.set("CONTINUUM_VAULT_STORE", "openbao")
        .set("CONTINUUM_VAULT_KEY_SOURCE", "file")
        .set("CONTINUUM_VAULT_BAO_PREFIX", prefix)
        .set("BAO_ADDR", &server.address)
        .set("BAO_TOKEN", token);
    env
}

/// The secret's current KV version as the root token sees it (0: none).
fn current_version(server: &DevServer, prefix: &str) -> u64 {
    let (status, json) =
        server.root_call("GET", &format!("secret/metadata/{prefix}/jwt_secret"), None);
    match status {
        404 => 0,
        200 => json["data"]["current_version"]
            .as_u64()
            .expect("current_version"),
        other => panic!("metadata read: HTTP {other}: {json}"),
    }
}

/// The secret's current value as the root token sees it.
fn root_value(server: &DevServer, prefix: &str) -> String {
    server.root_ok("GET", &format!("secret/data/{prefix}/jwt_secret"), None)["data"]["data"]
        ["value"]
        .as_str()
        .expect("value")
        .to_owned()
}

#[test]
fn three_hosts_of_eight_workers_starting_together_create_one_secret_and_one_version() {
    let server = shared();
    let (prefix, policy) = prefix_with_policy(server);
    let hosts: Vec<TestEnv> = (0..3)
        .map(|_| host(server, &prefix, &server.token_with(&[&policy])))
        .collect();
    // All 24 processes are started before any is waited for.
    let children: Vec<_> = hosts
        .iter()
        .flat_map(|h| {
            (0..8).map(move |_| {
                h.cmd(["get"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn get")
            })
        })
        .collect();
    let runs: Vec<Run> = children
        .into_iter()
        .map(|c| Run(c.wait_with_output().expect("wait")))
        .collect();
    let mut values: Vec<String> = runs
        .iter()
        .map(|r| {
            r.assert_code(0);
            r.stdout_line()
        })
        .collect();
    let created = runs
        .iter()
        .filter(|r| r.stderr().contains("Generated new JWT secret in OpenBao"))
        .count();
    values.dedup();
    assert_eq!(values.len(), 1, "every worker got the same secret");
    assert!(is_token_urlsafe_32(&values[0]));
    assert_eq!(created, 1, "exactly one worker generated it");
    assert_eq!(current_version(server, &prefix), 1, "one KV version");
    assert_eq!(root_value(server, &prefix), values[0]);
    for h in &hosts {
        // Each host keeps its own sealed copy, which opens with its own key only.
        let copy = std::fs::read(h.secret_path()).expect("the local copy");
        assert!(copy.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
        assert!(!String::from_utf8_lossy(&copy).contains(&values[0]));
    }
}

#[test]
fn a_rotation_on_one_host_is_seen_with_its_previous_secret_on_another() {
    let server = shared();
    let (prefix, policy) = prefix_with_policy(server);
    let a = host(server, &prefix, &server.token_with(&[&policy]));
    let b = host(server, &prefix, &server.token_with(&[&policy]));
    let first = a.get();
    assert_eq!(b.get(), first);

    let rotated = a.run(&["rotate", "--grace", "1h"]);
    rotated
        .assert_code(0)
        .assert_stderr_has("version 2 is the new secret")
        .assert_stderr_has("The old secret (version 1) stays available");
    let second = root_value(server, &prefix);
    assert_ne!(second, first);

    let seen = b.run_sh("echo $CONTINUUM_JWT_SECRET $CONTINUUM_JWT_SECRET_PREVIOUS");
    seen.assert_code(0);
    assert_eq!(seen.stdout_line(), format!("{second} {first}"));
    // B's copy follows the store.
    assert_eq!(b.get(), second);

    // `set --force` replaces through the store too, keeping the replaced value as previous.
    let set = a.run_with_input(&["set", "--force"], b"third\n");
    set.assert_code(0)
        .assert_stderr_has("stays valid as the previous secret");
    let seen = b.run_sh("echo $CONTINUUM_JWT_SECRET $CONTINUUM_JWT_SECRET_PREVIOUS");
    assert_eq!(seen.stdout_line(), format!("third {second}"));
    assert_eq!(current_version(server, &prefix), 3);
    // Without --force a different value is refused, and nothing is written.
    a.run_with_input(&["set"], b"fourth\n")
        .assert_code(7)
        .assert_stderr_has("hint: pass --force");
    assert_eq!(current_version(server, &prefix), 3);
}

#[test]
fn a_bad_token_and_a_missing_policy_fail_fast_with_their_hints_and_write_nothing() {
    let server = shared();
    let (prefix, _) = prefix_with_policy(server);

    let bad = host(server, &prefix, "s.not-a-token");
    let run = bad.run(&["get"]);
    run.assert_code(6)
        .assert_stderr_has("error: OpenBao rejected the token from BAO_TOKEN")
        .assert_stderr_has("hint: get a valid token (`bao login`");
    assert!(!run.stderr().contains("s.not-a-token"), "{}", run.stderr());

    let no_policy = host(server, &prefix, &server.token_with(&[]));
    let run = no_policy.run(&["get"]);
    run.assert_code(6)
        .assert_stderr_has(&format!(
            "error: permission denied: the token may not read secret/data/{prefix}/jwt_secret"
        ))
        .assert_stderr_has("hint: grant the token a policy with at least:")
        .assert_stderr_has(&policy(&prefix));

    for h in [&bad, &no_policy] {
        assert!(!h.vault_dir().exists(), "nothing written locally");
        assert!(!h.key_dir().exists(), "no key made");
    }
    assert_eq!(
        current_version(server, &prefix),
        0,
        "nothing written in the store"
    );
}

#[test]
fn with_the_server_stopped_a_host_with_a_copy_starts_with_a_warning_and_one_without_refuses() {
    let mut server = DevServer::start();
    let prefix = format!("t-{}", random_id());
    let with_copy = host(&server, &prefix, &server.root_token);
    let without = host(&server, &prefix, &server.root_token);
    let mut no_cache = host(&server, &prefix, &server.root_token);
    no_cache.set("CONTINUUM_VAULT_CACHE", "off");
    let secret = with_copy.get();
    assert_eq!(no_cache.get(), secret);
    assert!(!no_cache.vault_dir().exists(), "no copy with the cache off");
    let copy_before = std::fs::read(with_copy.secret_path()).expect("the copy");

    server.stop();

    let run = with_copy.run(&["get"]);
    run.assert_code(0)
        .assert_stderr_has(&format!(
            "warning: cannot reach OpenBao at {}",
            server.address
        ))
        .assert_stderr_has(&format!(
            "using the local copy {} instead, last confirmed by the store",
            with_copy.secret_path().display()
        ))
        .assert_stderr_has(" ago");
    assert_eq!(run.stdout_line(), secret);
    // Also under --quiet: it is a warning.
    let run = with_copy.run(&[
        "--quiet",
        "run",
        "--",
        "sh",
        "-c",
        "echo $CONTINUUM_JWT_SECRET",
    ]);
    run.assert_code(0).assert_stderr_has("using the local copy");
    assert_eq!(run.stdout_line(), secret);
    let status = with_copy.run(&["status"]);
    status
        .assert_code(6)
        .assert_stderr_or_stdout_has("reachable:     no")
        .assert_stderr_or_stdout_has("local copy:    ")
        .assert_stderr_or_stdout_has("a load would use the local copy");

    // Nothing is written to the store from the copy.
    with_copy
        .run(&["rotate"])
        .assert_code(6)
        .assert_stderr_has("cannot reach OpenBao");
    assert_eq!(
        std::fs::read(with_copy.secret_path()).expect("the copy"),
        copy_before
    );

    let run = without.run(&["get"]);
    run.assert_code(6)
        .assert_stderr_has("error: cannot reach OpenBao")
        .assert_stderr_has("no secret is generated while the store cannot be reached");
    assert_eq!(run.stdout(), "");
    assert!(
        !without.vault_dir().exists(),
        "nothing generated or written"
    );
    assert!(!without.key_dir().exists(), "no key made");

    no_cache
        .run(&["get"])
        .assert_code(6)
        .assert_stderr_has("no local copy is kept (CONTINUUM_VAULT_CACHE=off)");
}

#[test]
fn approle_login_reads_the_shared_secret() {
    let server = shared();
    let (prefix, policy) = prefix_with_policy(server);
    // Enabling twice answers 400 "path is already in use": fine for a shared server.
    let (status, _) = server.root_call(
        "POST",
        "sys/auth/approle",
        Some(json!({ "type": "approle" })),
    );
    assert!(
        status == 204 || status == 400,
        "enable approle: HTTP {status}"
    );
    let role = format!("role-{prefix}");
    server.root_ok(
        "POST",
        &format!("auth/approle/role/{role}"),
        Some(json!({ "token_policies": [policy], "token_ttl": "10m" })),
    );
    let role_id = server.root_ok("GET", &format!("auth/approle/role/{role}/role-id"), None)["data"]
        ["role_id"]
        .as_str()
        .expect("role_id")
        .to_owned();
    let secret_id = server.root_ok("POST", &format!("auth/approle/role/{role}/secret-id"), None)
        ["data"]["secret_id"]
        .as_str()
        .expect("secret_id")
        .to_owned();

    let mut h = host(server, &prefix, "");
    let file = h.home().join("secret-id");
    std::fs::write(&file, format!("{secret_id}\n")).expect("write the secret id");
    h.set("BAO_ROLE_ID", &role_id)
        .set("BAO_SECRET_ID_FILE", file.to_str().expect("utf-8 path"));
    let secret = h.get();
    assert_eq!(root_value(server, &prefix), secret);
    let run = h.run_sh("echo $CONTINUUM_JWT_SECRET");
    run.assert_code(0);
    assert_eq!(run.stdout_line(), secret);

    std::fs::write(&file, "not-the-secret-id\n").expect("write");
    let run = h.run(&["get"]);
    run.assert_code(6)
        .assert_stderr_has(&format!(
            "OpenBao refused the AppRole login of role id {role_id}"
        ))
        .assert_stderr_has("hint: check BAO_ROLE_ID and the secret id");
}

#[test]
fn the_token_is_never_in_the_argv_or_environment_of_the_child_of_run() {
    let server = shared();
    let (prefix, policy) = prefix_with_policy(server);
    let token = server.token_with(&[&policy]);
    let mut h = host(server, &prefix, &token);
    h.set("VAULT_TOKEN", &token);
    let secret = h.get();
    // The child's own view: its environment and its command line, as the kernel has them.
    let run = h.run_sh(
        "tr '\\0' '\\n' </proc/self/environ; echo ---; tr '\\0' ' ' </proc/self/cmdline; echo",
    );
    run.assert_code(0);
    let out = run.stdout();
    assert!(!out.contains(&token), "the token reached the child:\n{out}");
    assert!(
        !out.contains("BAO_TOKEN=") && !out.contains("VAULT_TOKEN="),
        "{out}"
    );
    assert!(
        out.contains(&format!("CONTINUUM_JWT_SECRET={secret}")),
        "{out}"
    );
    // The rest of the store's configuration is left as it is.
    assert!(
        out.contains(&format!("BAO_ADDR={}", server.address)),
        "{out}"
    );
}

#[test]
fn a_backup_of_the_store_restores_into_an_empty_store_with_its_previous_secret() {
    let server = shared();
    let (prefix, policy) = prefix_with_policy(server);
    let a = host(server, &prefix, &server.token_with(&[&policy]));
    let first = a.get();
    a.run(&["rotate", "--grace", "1h"]).assert_code(0);
    let second = root_value(server, &prefix);
    let pass = a.home().join("pass");
    std::fs::write(&pass, "a backup passphrase\n").expect("write");
    let backup = a.home().join("jwt_secret.backup.age");
    let pass_arg = pass.to_str().expect("utf-8 path");
    let backup_arg = backup.to_str().expect("utf-8 path");
    a.run(&["backup", "--out", backup_arg, "--passphrase-file", pass_arg])
        .assert_code(0);

    // Another store (prefix), empty: the backup brings both secrets back.
    let (other, other_policy) = prefix_with_policy(server);
    let b = host(server, &other, &server.token_with(&[&other_policy]));
    b.run(&["restore", "--in", backup_arg, "--passphrase-file", pass_arg])
        .assert_code(0)
        .assert_stderr_has("the backup's previous secret is version 1");
    assert_eq!(current_version(server, &other), 2);
    let seen = b.run_sh("echo $CONTINUUM_JWT_SECRET $CONTINUUM_JWT_SECRET_PREVIOUS");
    assert_eq!(seen.stdout_line(), format!("{second} {first}"));

    // Restoring it again changes nothing; into a store holding another value it needs --force.
    b.run(&["restore", "--in", backup_arg, "--passphrase-file", pass_arg])
        .assert_code(0);
    assert_eq!(current_version(server, &other), 2);
    b.run_with_input(&["set", "--force"], b"something else\n")
        .assert_code(0);
    b.run(&["restore", "--in", backup_arg, "--passphrase-file", pass_arg])
        .assert_code(7);
    assert_eq!(current_version(server, &other), 3);
    b.run(&[
        "restore",
        "--force",
        "--in",
        backup_arg,
        "--passphrase-file",
        pass_arg,
    ])
    .assert_code(0);
    assert_eq!(root_value(server, &other), second);
}
