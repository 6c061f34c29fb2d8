//! The client against a real `bao server -dev` (see `server.rs`), and its pure parts.
//!
//! Every test works under its own random prefix on the shared server, so tests never see
//! each other's secrets; the tests that stop or seal a server start their own.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::server::{DevServer, random_id, shared};
use super::*;

fn soon() -> Deadline {
    Deadline::after(Duration::from_secs(20))
}

fn name(s: &str) -> SecretName {
    SecretName::new(s).unwrap()
}

/// A fresh prefix for one test.
fn prefix() -> String {
    format!("t-{}", random_id())
}

/// A client configured from exactly these variables.
fn client_from(vars: &[(&str, &str)]) -> Result<BaoClient, BaoError> {
    let map: HashMap<String, OsString> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
        .collect();
    BaoClient::new(BaoConfig::from_env(&move |n| map.get(n).cloned())?)
}

fn client(server: &DevServer, token: &str, prefix: &str) -> BaoClient {
    client_from(&[
        ("BAO_ADDR", &server.address),
        ("BAO_TOKEN", token),
        ("CONTINUUM_VAULT_BAO_PREFIX", prefix),
    ])
    .unwrap()
}

/// A token holding exactly the policy the permission-denied hint prints.
fn policy_token(server: &DevServer, prefix: &str) -> String {
    let policy = format!("p-{prefix}");
    server.put_policy(&policy, &policy_hcl(DEFAULT_MOUNT_FOR_TESTS, prefix));
    server.token_with(&[&policy])
}

const DEFAULT_MOUNT_FOR_TESTS: &str = "secret";

/// A client logged in with a fresh [`policy_token`].
fn policy_client(server: &DevServer, prefix: &str) -> BaoClient {
    client(server, &policy_token(server, prefix), prefix)
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// The secret's current version as the root token sees it (0: none).
fn root_current_version(server: &DevServer, prefix: &str, n: &str) -> u64 {
    let (status, json) = server.root_call("GET", &format!("secret/metadata/{prefix}/{n}"), None);
    match status {
        404 => 0,
        200 => json["data"]["current_version"].as_u64().unwrap(),
        other => panic!("metadata read: HTTP {other}"),
    }
}

fn never_generate() -> Result<SecretString, Error> {
    panic!("a secret was generated")
}

#[test]
fn create_then_read_back_on_another_client() {
    let server = shared();
    let p = prefix();
    let token = policy_token(server, &p);
    let a = client(server, &token, &p);
    let made = a
        .create_or_get(&name("jwt_secret"), crate::generate::token_urlsafe, &soon())
        .unwrap();
    assert!(made.created);
    assert_eq!(made.secret.version, 1);
    assert_eq!(made.secret.value.expose_secret().len(), 43);

    let b = client(server, &server.token_with(&[&format!("p-{p}")]), &p);
    let got = b
        .read_current(&name("jwt_secret"), &soon())
        .unwrap()
        .unwrap();
    assert_eq!(got.value.expose_secret(), made.secret.value.expose_secret());
    assert_eq!(got.version, 1);
    let again = b
        .create_or_get(&name("jwt_secret"), never_generate, &soon())
        .unwrap();
    assert!(!again.created);
    assert_eq!(
        again.secret.value.expose_secret(),
        made.secret.value.expose_secret()
    );
    assert_eq!(root_current_version(server, &p, "jwt_secret"), 1);
    assert!(b.read_current(&name("other"), &soon()).unwrap().is_none());
}

#[test]
fn three_hosts_of_eight_workers_starting_together_create_one_version() {
    let server = shared();
    let p = prefix();
    let hosts: Vec<String> = (0..3).map(|_| policy_token(server, &p)).collect();
    let workers = 3 * 8;
    let barrier = Arc::new(Barrier::new(workers));
    let generated = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..workers)
        .map(|i| {
            // Each worker is its own client (its own connection), as in separate processes.
            let c = client(server, &hosts[i % 3], &p);
            let barrier = Arc::clone(&barrier);
            let generated = Arc::clone(&generated);
            std::thread::spawn(move || {
                barrier.wait();
                let got = c
                    .create_or_get(
                        &name("jwt_secret"),
                        || {
                            generated.fetch_add(1, Ordering::SeqCst);
                            crate::generate::token_urlsafe()
                        },
                        &soon(),
                    )
                    .unwrap();
                (
                    got.created,
                    got.secret.version,
                    got.secret.value.expose_secret().to_owned(),
                )
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.0).count(),
        1,
        "exactly one creator"
    );
    assert!(results.iter().all(|r| r.1 == 1), "everyone has version 1");
    assert!(
        results.iter().all(|r| r.2 == results[0].2),
        "everyone has one value"
    );
    assert!(generated.load(Ordering::SeqCst) >= 1);
    assert_eq!(root_current_version(server, &p, "jwt_secret"), 1);
}

/// Run by other tests as a child process: does what `CONTINUUM_TEST_BAO_CHILD` says with
/// the process's own environment (`BAO_ADDR`, `BAO_TOKEN`, ...), like a server would.
/// Without that variable (a plain `cargo test -- --ignored`) it has nothing to do.
#[test]
#[ignore = "a child process of other tests"]
fn child_worker() {
    let Some(op) = std::env::var_os("CONTINUUM_TEST_BAO_CHILD") else {
        return;
    };
    let config = BaoConfig::from_env(&|n| std::env::var_os(n)).unwrap();
    let c = BaoClient::new(config).unwrap();
    let n = name(&std::env::var("CONTINUUM_TEST_BAO_NAME").unwrap());
    if op == "create-after-go" {
        // Wait for the parent's go, so that every child starts at once.
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
    }
    let got = c
        .create_or_get(&n, crate::generate::token_urlsafe, &soon())
        .unwrap();
    println!(
        "created={} version={} value={}",
        got.created,
        got.secret.version,
        got.secret.value.expose_secret()
    );
}

fn child_command(server: &DevServer, token: &str, p: &str, op: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "store::openbao::tests::child_worker",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env_clear()
    .env("PATH", "/usr/bin:/bin")
    .env("BAO_ADDR", &server.address)
    .env("BAO_TOKEN", token)
    .env("CONTINUUM_VAULT_BAO_PREFIX", p)
    .env("CONTINUUM_TEST_BAO_NAME", "jwt_secret")
    .env("CONTINUUM_TEST_BAO_CHILD", op);
    cmd
}

/// What a [`child_worker`] that succeeded printed: created, version, value.
fn child_result(out: &std::process::Output) -> (bool, u64, String) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // The harness prints `test ... ... ` before the test's own output on the same line.
    let line = text
        .lines()
        .find_map(|l| l.find("created=").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("no result line in: {text}"));
    let mut parts = line.split(' ');
    let created = parts.next().unwrap() == "created=true";
    let version = parts.next().unwrap()["version=".len()..].parse().unwrap();
    let value = parts.next().unwrap()["value=".len()..].to_owned();
    (created, version, value)
}

#[test]
fn processes_starting_together_create_one_version() {
    let server = shared();
    let p = prefix();
    let token = policy_token(server, &p);
    let mut children: Vec<_> = (0..6)
        .map(|_| {
            child_command(server, &token, &p, "create-after-go")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in &mut children {
        c.stdin.take().unwrap().write_all(b"go\n").unwrap();
    }
    let results: Vec<_> = children
        .into_iter()
        .map(|c| child_result(&c.wait_with_output().unwrap()))
        .collect();
    assert_eq!(results.iter().filter(|r| r.0).count(), 1, "{results:?}");
    assert!(results.iter().all(|r| r.1 == 1 && r.2 == results[0].2));
    assert_eq!(root_current_version(server, &p, "jwt_secret"), 1);
}

#[test]
fn a_rotation_on_one_host_is_seen_on_another() {
    let server = shared();
    let p = prefix();
    let a = policy_client(server, &p);
    let b = policy_client(server, &p);
    let n = name("jwt_secret");
    let first = a
        .create_or_get(&n, crate::generate::token_urlsafe, &soon())
        .unwrap();

    let before = b.key_set(&n, &soon()).unwrap().unwrap();
    assert!(before.previous.is_none());
    assert_eq!(before.current.version, 1);

    let grace = Duration::from_hours(24);
    let rotation = a
        .rotate(&n, &secret("the-second-secret"), grace, &soon())
        .unwrap();
    assert_eq!((rotation.version, rotation.previous_version), (2, 1));

    let seen = b.key_set(&n, &soon()).unwrap().unwrap();
    assert_eq!(seen.current.value.expose_secret(), "the-second-secret");
    assert_eq!(seen.current.version, 2);
    let (previous, until) = seen.previous.as_ref().expect("the previous secret");
    assert_eq!(previous.expose_secret(), first.secret.value.expose_secret());
    assert_eq!(*until, rotation.previous_expires);
    assert!(seen.previous_unavailable.is_none());
    // The rotation kept the previous version: max_versions was raised from the default 0.
    let meta = b.read_metadata(&n, &soon()).unwrap().unwrap();
    assert_eq!(meta.max_versions, KEEP_VERSIONS);
    assert_eq!(meta.current_version, 2);

    // A grace of zero: the replaced secret is no longer offered.
    a.rotate(&n, &secret("the-third-secret"), Duration::ZERO, &soon())
        .unwrap();
    let seen = b.key_set(&n, &soon()).unwrap().unwrap();
    assert_eq!(seen.current.value.expose_secret(), "the-third-secret");
    assert!(seen.previous.is_none());
}

#[test]
fn a_stale_check_and_set_loses_and_changes_nothing() {
    let server = shared();
    let p = prefix();
    let c = policy_client(server, &p);
    let n = name("jwt_secret");
    c.write(&n, &secret("one"), 0, &soon()).unwrap();
    c.write(&n, &secret("two"), 1, &soon()).unwrap();
    let err = c.write(&n, &secret("stale"), 1, &soon()).unwrap_err();
    assert!(
        matches!(err, BaoError::CasConflict { expected: 1, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("check-and-set conflict at secret/data/{p}/jwt_secret: its version is no longer 1")
    );
    assert!(err.hint().contains("run the command again"));
    let err = c.write(&n, &secret("again"), 0, &soon()).unwrap_err();
    assert!(matches!(err, BaoError::CasConflict { expected: 0, .. }));
    let now = c.read_current(&n, &soon()).unwrap().unwrap();
    assert_eq!((now.version, now.value.expose_secret()), (2, "two"));
    assert_eq!(
        c.read_version(&n, 1, &soon())
            .unwrap()
            .value
            .expose_secret(),
        "one"
    );
    assert!(matches!(
        c.read_version(&n, 9, &soon()).unwrap_err(),
        BaoError::NotFound { version: 9, .. }
    ));
}

#[test]
fn a_deleted_current_version_is_an_error_never_a_reason_to_generate() {
    let server = shared();
    let p = prefix();
    let c = policy_client(server, &p);
    let n = name("jwt_secret");
    c.create_or_get(&n, crate::generate::token_urlsafe, &soon())
        .unwrap();
    server.root_ok("DELETE", &format!("secret/data/{p}/jwt_secret"), None);
    let err = c.create_or_get(&n, never_generate, &soon()).unwrap_err();
    assert!(
        matches!(
            err,
            BaoError::Deleted {
                version: 1,
                how: "deleted",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.hint(),
        format!(
            "undelete it (`bao kv undelete -versions=1 secret/{p}/jwt_secret`); a new secret is \
             never generated over a deleted one"
        )
    );
    let err = c
        .rotate(&n, &secret("x"), DEFAULT_GRACE_FOR_TESTS, &soon())
        .unwrap_err();
    assert!(matches!(err, BaoError::Deleted { version: 1, .. }), "{err}");
    assert_eq!(root_current_version(server, &p, "jwt_secret"), 1);
}

const DEFAULT_GRACE_FOR_TESTS: Duration = Duration::from_hours(1);

#[test]
fn a_bad_token_fails_fast_with_its_hint_and_writes_nothing() {
    let server = shared();
    let p = prefix();
    let c = client(server, "s.not-a-real-token", &p);
    let err = c
        .create_or_get(&name("jwt_secret"), never_generate, &soon())
        .unwrap_err();
    assert!(matches!(err, BaoError::BadToken { .. }), "{err}");
    assert_eq!(err.to_string(), "OpenBao rejected the token from BAO_TOKEN");
    assert_eq!(
        err.hint(),
        "get a valid token (`bao login`, or a new one in BAO_TOKEN); it may have expired"
    );
    assert!(!format!("{err:?}").contains("not-a-real-token"));
    assert_eq!(root_current_version(server, &p, "jwt_secret"), 0);
}

#[test]
fn a_token_without_the_policy_is_told_which_policy_to_get_and_writes_nothing() {
    let server = shared();
    let p = prefix();
    let c = client(server, &server.token_with(&[]), &p);
    let err = c
        .create_or_get(&name("jwt_secret"), never_generate, &soon())
        .unwrap_err();
    assert!(
        matches!(
            err,
            BaoError::PermissionDenied {
                operation: "read",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("permission denied: the token may not read secret/data/{p}/jwt_secret")
    );
    assert_eq!(
        err.hint(),
        format!("grant the token a policy with at least:\n{}", c.policy())
    );
    assert_eq!(
        c.policy(),
        format!(
            "\
             path \"secret/data/{p}/*\" {{\n  capabilities = [\"create\", \"read\", \"update\"]\n}}\n\
             path \"secret/metadata/{p}/*\" {{\n  capabilities = [\"create\", \"read\", \"update\"]\n}}"
        )
    );

    // Allowed to read but not to write: the generated value is refused, nothing is stored.
    let read_only = format!("ro-{p}");
    server.put_policy(
        &read_only,
        &format!("path \"secret/data/{p}/*\" {{ capabilities = [\"read\"] }}"),
    );
    let c = client(server, &server.token_with(&[&read_only]), &p);
    let err = c
        .create_or_get(&name("jwt_secret"), crate::generate::token_urlsafe, &soon())
        .unwrap_err();
    assert!(
        matches!(
            err,
            BaoError::PermissionDenied {
                operation: "write",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(root_current_version(server, &p, "jwt_secret"), 0);
}

#[test]
fn approle_login_gets_a_token_with_the_role_policy() {
    let server = shared();
    let p = prefix();
    let policy = format!("p-{p}");
    server.put_policy(&policy, &policy_hcl("secret", &p));
    let (role_id, secret_id) = server.approle(&format!("role-{p}"), &policy);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret-id");
    std::fs::write(&file, format!("{secret_id}\n")).unwrap();

    let vars = |file: &std::path::Path| {
        client_from(&[
            ("BAO_ADDR", &server.address),
            ("BAO_ROLE_ID", &role_id),
            ("BAO_SECRET_ID_FILE", file.to_str().unwrap()),
            ("CONTINUUM_VAULT_BAO_PREFIX", &p),
        ])
        .unwrap()
    };
    let c = vars(&file);
    assert!(!format!("{c:?}").contains(&secret_id));
    c.login(&soon()).unwrap();
    let made = c
        .create_or_get(&name("jwt_secret"), crate::generate::token_urlsafe, &soon())
        .unwrap();
    assert!(made.created);
    c.rotate(
        &name("jwt_secret"),
        &secret("next"),
        DEFAULT_GRACE_FOR_TESTS,
        &soon(),
    )
    .unwrap();
    assert_eq!(root_current_version(server, &p, "jwt_secret"), 2);

    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "00000000-0000-0000-0000-000000000000").unwrap();
    let err = vars(&wrong)
        .read_current(&name("jwt_secret"), &soon())
        .unwrap_err();
    assert!(matches!(err, BaoError::LoginRefused { .. }), "{err}");
    assert!(err.hint().contains("BAO_SECRET_ID_FILE"));
}

#[test]
fn a_stopped_server_is_unreachable_and_nothing_is_generated() {
    let mut server = DevServer::start();
    let p = prefix();
    let c = client(&server, &server.root_token.clone(), &p);
    c.create_or_get(&name("jwt_secret"), crate::generate::token_urlsafe, &soon())
        .unwrap();
    let address = c.address().to_owned();
    assert_eq!(address, server.address);
    server.stop();
    let err = c
        .create_or_get(&name("jwt_secret"), never_generate, &soon())
        .unwrap_err();
    assert!(matches!(err, BaoError::Unreachable { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("cannot reach OpenBao at {address}")
    );
    assert_eq!(
        err.hint(),
        format!(
            "check that OpenBao runs and that {address} (BAO_ADDR) is right and reachable from \
             this host"
        )
    );
}

#[test]
fn a_server_that_never_answers_is_a_timeout_of_the_deadline() {
    // Accepts connections (the kernel does, from the backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", silent.local_addr().unwrap());
    let c = client_from(&[("BAO_ADDR", &address), ("BAO_TOKEN", "t")]).unwrap();
    let deadline = Deadline::after(Duration::from_millis(300));
    let err = c
        .create_or_get(&name("jwt_secret"), never_generate, &deadline)
        .unwrap_err();
    assert!(
        matches!(err, BaoError::Timeout { budget, .. } if budget == Duration::from_millis(300)),
        "{err}"
    );
    assert!(err.hint().contains("CONTINUUM_VAULT_KEYRING_TIMEOUT_MS"));
    // An expired deadline sends nothing at all.
    let err = c.health(&deadline).unwrap_err();
    assert!(matches!(err, BaoError::Timeout { .. }), "{err}");
}

#[test]
fn a_sealed_server_says_so() {
    let server = DevServer::start();
    let c = client(&server, &server.root_token, &prefix());
    c.health(&soon()).unwrap();
    server.root_ok("POST", "sys/seal", None);
    let err = c.read_current(&name("jwt_secret"), &soon()).unwrap_err();
    assert!(matches!(err, BaoError::Sealed { .. }), "{err}");
    assert!(err.hint().contains("bao operator unseal"));
    assert!(matches!(
        c.health(&soon()).unwrap_err(),
        BaoError::Sealed { .. }
    ));
}

#[test]
fn tls_to_a_plain_server_and_a_missing_mount_are_named() {
    let server = shared();
    let https = server.address.replace("http://", "https://");
    let c = client_from(&[("BAO_ADDR", &https), ("BAO_TOKEN", &server.root_token)]).unwrap();
    let err = c.read_current(&name("jwt_secret"), &soon()).unwrap_err();
    assert!(matches!(err, BaoError::Tls { .. }), "{err}");
    assert!(err.hint().contains("BAO_CACERT"));

    let c = client_from(&[
        ("BAO_ADDR", &server.address),
        ("BAO_TOKEN", &server.root_token),
        ("CONTINUUM_VAULT_BAO_MOUNT", "nothing-here"),
    ])
    .unwrap();
    let err = c
        .create_or_get(&name("jwt_secret"), never_generate, &soon())
        .unwrap_err();
    assert!(matches!(err, BaoError::NoMount { .. }), "{err}");
    assert_eq!(
        err.hint(),
        "enable it (`bao secrets enable -path=nothing-here kv-v2`) or set CONTINUUM_VAULT_BAO_MOUNT"
    );
}

#[test]
fn an_answer_that_is_not_kv2_is_refused_without_showing_it() {
    let server = shared();
    let p = prefix();
    // A KV version 1 engine: `<mount>/data/...` is an ordinary key there, without versions.
    let mount = format!("kv1-{p}");
    server.root_ok(
        "POST",
        &format!("sys/mounts/{mount}"),
        Some(json!({ "type": "kv", "options": { "version": "1" } })),
    );
    server.root_ok(
        "POST",
        &format!("{mount}/data/{p}/jwt_secret"),
        Some(json!({ "value": "leaky-secret-value" })),
    );
    let c = client_from(&[
        ("BAO_ADDR", &server.address),
        ("BAO_TOKEN", &server.root_token),
        ("CONTINUUM_VAULT_BAO_MOUNT", &mount),
        ("CONTINUUM_VAULT_BAO_PREFIX", &p),
    ])
    .unwrap();
    let err = c
        .create_or_get(&name("jwt_secret"), never_generate, &soon())
        .unwrap_err();
    assert!(
        matches!(err, BaoError::Malformed { status: 200, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "unexpected answer from OpenBao for {mount}/data/{p}/jwt_secret (HTTP 200): no `metadata`"
        )
    );
    for shown in [err.to_string(), format!("{err:?}"), err.hint()] {
        assert!(!shown.contains("leaky"), "{shown}");
    }
    assert!(err.hint().contains("KV v2"));
}

#[test]
fn a_bad_ca_file_is_refused_before_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate\n").unwrap();
    let err = client_from(&[
        ("BAO_ADDR", "https://bao.invalid"),
        ("BAO_TOKEN", "t"),
        ("BAO_CACERT", ca.to_str().unwrap()),
    ])
    .unwrap_err();
    assert_eq!(err.refused_file(), Some("the CA certificate file"), "{err}");
}

/// The client runs in-process: no child is ever started, so the token cannot be on any
/// command line or in any child's environment. `strace -f` sees every `execve` of the
/// child test process and its descendants.
#[test]
fn the_token_is_never_on_a_command_line_and_no_process_is_started() {
    let server = shared();
    let p = prefix();
    let token = policy_token(server, &p);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("strace.log");
    let exe = std::env::current_exe().unwrap();
    let child = child_command(server, &token, &p, "create");
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-qq",
        "-s",
        "4096",
        "-e",
        "trace=execve,execveat",
        "-o",
    ])
    .arg(&log)
    .arg(&exe)
    .args(child.get_args())
    .env_clear();
    for (k, v) in child.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let out = cmd
        .output()
        .expect("strace is installed (apt install strace)");
    let (created, _, _) = child_result(&out);
    assert!(created);
    let trace = std::fs::read_to_string(&log).unwrap();
    let execs: Vec<&str> = trace.lines().filter(|l| l.contains("execve")).collect();
    assert_eq!(
        execs.len(),
        1,
        "only the test process itself is executed:\n{trace}"
    );
    assert!(execs[0].contains(exe.to_str().unwrap()), "{trace}");
    assert!(
        !trace.contains(&token),
        "the token is in the trace:\n{trace}"
    );

    // And no process on this host has it on its command line.
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            assert!(
                !String::from_utf8_lossy(&cmdline).contains(&token),
                "{} has the token on its command line",
                entry.path().display()
            );
        }
    }
}

#[test]
fn debug_output_never_shows_tokens_or_values() {
    let c = client_from(&[
        ("BAO_ADDR", "http://127.0.0.1:1"),
        ("BAO_TOKEN", "s.hidden-token"),
    ])
    .unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("hidden-token"), "{shown}");
    assert!(shown.contains("BAO_TOKEN"), "{shown}");
    let v = Versioned {
        value: secret("hidden-value"),
        version: 3,
        custom_metadata: BTreeMap::new(),
    };
    let set = StoreKeySet {
        current: v,
        previous: Some((secret("hidden-previous"), UNIX_EPOCH)),
        previous_unavailable: None,
    };
    let shown = format!("{set:?}");
    assert!(!shown.contains("hidden"), "{shown}");
    assert!(shown.contains("version: 3"), "{shown}");
}

#[test]
fn the_previous_record_applies_only_to_the_version_right_before_and_until_it_expires() {
    let now = UNIX_EPOCH + Duration::from_secs(1_000);
    let with = |current: u64, previous: &str, expires: &str| Versioned {
        value: secret("v"),
        version: current,
        custom_metadata: [
            (META_PREVIOUS_VERSION.to_owned(), previous.to_owned()),
            (META_PREVIOUS_EXPIRES.to_owned(), expires.to_owned()),
        ]
        .into(),
    };
    let at = |s| UNIX_EPOCH + Duration::from_secs(s);
    assert_eq!(
        previous_record(&with(5, "4", "1001"), now),
        Some((4, at(1001)))
    );
    // Expired, or expiring right now.
    assert_eq!(previous_record(&with(5, "4", "1000"), now), None);
    assert_eq!(previous_record(&with(5, "4", "999"), now), None);
    // Left by an older rotation: the current version is not the one after it.
    assert_eq!(previous_record(&with(6, "4", "2000"), now), None);
    assert_eq!(previous_record(&with(4, "4", "2000"), now), None);
    // Not numbers, or missing.
    assert_eq!(previous_record(&with(5, "four", "2000"), now), None);
    assert_eq!(previous_record(&with(5, "4", "-1"), now), None);
    assert_eq!(previous_record(&with(1, "0", "2000"), now), None);
    let mut bare = with(5, "4", "2000");
    bare.custom_metadata.remove(META_PREVIOUS_EXPIRES);
    assert_eq!(previous_record(&bare, now), None);
}

#[test]
fn write_bodies_escape_and_never_reallocate() {
    for value in ["plain", "quote\" back\\slash", "\u{1}\u{1f}", "é✓", ""] {
        let body = write_body(&secret(value), 7);
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            parsed,
            json!({ "options": { "cas": 7 }, "data": { "value": value } })
        );
    }
    let body = login_body("role", &secret("\u{0}\u{0}"));
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(parsed["secret_id"], "\u{0}\u{0}");
}

#[test]
fn secret_values_parse_with_and_without_escapes_and_reject_other_types() {
    let v: SecretValue = serde_json::from_str(r#""abc""#).unwrap();
    assert_eq!(v.0.expose_secret(), "abc");
    let v: SecretValue = serde_json::from_str(r#""a\"b\u00e9""#).unwrap();
    assert_eq!(v.0.expose_secret(), "a\"bé");
    assert!(parse::<SecretValue>(b"5").is_err());
    assert!(
        parse::<Envelope<ReadData>>(br#"{"data":{"data":{"value":5},"metadata":{"version":1}}}"#)
            .is_err()
    );
}
