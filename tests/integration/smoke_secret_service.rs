//! Smoke tests of the hermetic Secret Service harness itself
//! ([`crate::support::keyring`]), cross-checked with `secret-tool`.

use std::path::Path;
use std::process::Output;
use std::thread;

use crate::support::keyring::{BareBus, SecretService};

/// Service attribute of every item these tests store.
const SERVICE: &str = "continuum-vault-smoke";

/// Starts an instance, or prints the skip notice and returns `None`.
fn start_or_skip() -> Option<SecretService> {
    let service = SecretService::start();
    if service.is_none() {
        println!("SKIPPED: no gnome-keyring");
    }
    service
}

/// Stores `secret` under (`SERVICE`, `user`) with `secret-tool store`.
fn store(service: &SecretService, user: &str, secret: &str) {
    let output = service.secret_tool_with_input(
        &["store", "--label=x", "service", SERVICE, "username", user],
        secret.as_bytes(),
    );
    assert_success("secret-tool store", &output);
}

/// Looks up (`SERVICE`, `user`) with `secret-tool lookup`; `None` when the
/// lookup finds nothing (exit status 1 with empty output).
fn lookup(service: &SecretService, user: &str) -> Option<String> {
    let output = service.secret_tool(&["lookup", "service", SERVICE, "username", user]);
    if output.status.success() {
        Some(String::from_utf8(output.stdout).expect("secret-tool printed non-UTF-8"))
    } else {
        assert!(
            output.stdout.is_empty(),
            "failed secret-tool lookup printed {output:?}"
        );
        None
    }
}

/// Panics with the command's output unless it succeeded.
fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed: {}; stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Everything `secret-tool search` printed (stdout and stderr).
fn search_listing(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The `State:` line of `/proc/<pid>/status`.
fn process_status(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("cannot read the process status")
        .lines()
        .find(|line| line.starts_with("State:"))
        .unwrap_or_default()
        .to_owned()
}

/// Whether a process with `pid` still exists (running or zombie).
fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn secret_tool_round_trip() {
    let Some(service) = start_or_skip() else {
        return;
    };
    store(&service, "u1", "s3cret value");
    assert_eq!(lookup(&service, "u1").as_deref(), Some("s3cret value"));
    assert_eq!(lookup(&service, "someone-else"), None);

    // `secret-tool search` prints secrets on stdout and attributes on stderr.
    let search = service.secret_tool(&["search", "service", SERVICE]);
    assert_success("secret-tool search", &search);
    let listing = search_listing(&search);
    assert!(listing.contains("attribute.username = u1"), "{listing}");

    let clear = service.secret_tool(&["clear", "service", SERVICE, "username", "u1"]);
    assert_success("secret-tool clear", &clear);
    assert_eq!(lookup(&service, "u1"), None);
}

#[test]
fn parallel_instances_are_isolated() {
    // Start both instances concurrently to exercise start-up races; the
    // threads carry the test's name so the keyring log attributes them here.
    let name = thread::current().name().map(str::to_owned);
    let start = || {
        let mut builder = thread::Builder::new();
        if let Some(name) = &name {
            builder = builder.name(name.clone());
        }
        builder
            .spawn(SecretService::start)
            .expect("cannot spawn a thread")
    };
    let (a, b) = (start(), start());
    let a = a.join().expect("starting instance a panicked");
    let b = b.join().expect("starting instance b panicked");
    let (Some(a), Some(b)) = (a, b) else {
        println!("SKIPPED: no gnome-keyring");
        return;
    };
    assert_ne!(a.bus_address(), b.bus_address());
    assert_ne!(a.home(), b.home());

    store(&a, "shared-user", "from a");
    store(&a, "only-in-a", "a");
    store(&b, "shared-user", "from b");

    assert_eq!(lookup(&a, "shared-user").as_deref(), Some("from a"));
    assert_eq!(lookup(&b, "shared-user").as_deref(), Some("from b"));
    assert_eq!(lookup(&b, "only-in-a"), None);
    let search = b.secret_tool(&["search", "--all", "service", SERVICE]);
    let listing = search_listing(&search);
    assert!(
        listing.contains("attribute.username = shared-user"),
        "{listing}"
    );
    assert!(!listing.contains("only-in-a"), "{listing}");
}

#[test]
fn locked_collection_hides_secrets() {
    let Some(service) = start_or_skip() else {
        return;
    };
    store(&service, "u1", "value");
    assert!(!service.is_collection_locked());
    service.lock_collection();
    assert!(service.is_collection_locked());
    // The unlock prompt cannot be shown headless, so the lookup fails fast.
    assert_eq!(lookup(&service, "u1"), None);
}

#[test]
fn frozen_daemon_resumes_after_thaw() {
    let Some(service) = start_or_skip() else {
        return;
    };
    store(&service, "u1", "value");
    service.freeze();
    let status = process_status(service.keyring_pid());
    assert!(status.contains("(stopped)"), "{status}");
    service.thaw();
    assert_eq!(lookup(&service, "u1").as_deref(), Some("value"));
}

#[test]
fn bare_bus_has_no_secret_service() {
    let Some(bus) = BareBus::start() else {
        println!("SKIPPED: no dbus-daemon");
        return;
    };
    let output = std::process::Command::new("dbus-send")
        .env_clear()
        .envs(bus.env())
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.ReadAlias",
            "string:default",
        ])
        .output()
        .expect("cannot run dbus-send");
    assert_eq!(
        output.status.code(),
        Some(1),
        "dbus-send fails, it does not crash"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("org.freedesktop.DBus.Error.ServiceUnknown"),
        "{stderr}"
    );
}

#[test]
fn drop_reaps_every_process() {
    let Some(service) = start_or_skip() else {
        return;
    };
    let bus = BareBus::start().expect("dbus-daemon is there when gnome-keyring is");
    service.freeze();
    let pids: Vec<u32> = service.pids().into_iter().chain(bus.pids()).collect();
    assert!(pids.iter().all(|&pid| process_exists(pid)), "{pids:?}");
    let home = service.home().to_path_buf();
    drop(service);
    drop(bus);
    let left: Vec<u32> = pids
        .into_iter()
        .filter(|&pid| process_exists(pid))
        .collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
    assert!(!home.exists(), "{} was not removed", home.display());
}
