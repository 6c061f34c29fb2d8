//! 64 server workers starting together on a fresh machine: wall time from spawning the
//! first `continuum-vault get` to the exit of the last, in a HOME with no vault yet.
//!
//! One of them creates the identity and the secret under the vault lock; the others wait
//! for the lock, then read what it wrote. Each iteration checks that all 64 printed the
//! same secret and that exactly one printed the first-run notice.
//!
//! - `first_start/64_file_key`: the file key source.
//! - `first_start/64_keyring`: the keyring key source, against a private gnome-keyring on
//!   a private D-Bus (the integration tests' harness); skipped with a note when
//!   `dbus-daemon`, `dbus-send` or `gnome-keyring-daemon` is missing, unless
//!   `CONTINUUM_TEST_REQUIRE_KEYRING=1`, which makes that an error.
//!
//! The binary is the one Cargo built for this run (`CARGO_BIN_EXE_continuum-vault`: the
//! release-like bench profile under `cargo bench`, the debug one under `cargo test`).
//! Run with `cargo bench --bench first_start`; under `cargo test --all-targets` each
//! benchmark runs once, as a smoke test. Nothing here asserts a time.

#[path = "../tests/integration/support/keyring.rs"]
#[allow(
    dead_code,
    unreachable_pub,
    reason = "the integration tests' harness; these benches use a part of it"
)]
mod harness;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};

/// How many workers start together.
const WORKERS: usize = 64;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_continuum-vault");

/// The notice only the process that generated the secret prints.
const FIRST_RUN_NOTICE: &str = "Generated new JWT secret";

/// Starts `WORKERS` × `continuum-vault --key-source SOURCE get` in a new, empty HOME and
/// returns the wall time until the last one exited, after checking what they printed.
fn first_start(key_source: &str, bus: Option<&str>) -> Duration {
    let home = tempfile::tempdir().expect("temporary HOME");
    let command = |home: &Path| {
        let mut command = Command::new(BIN);
        command
            .args(["--key-source", key_source, "get"])
            .env_clear()
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(address) = bus {
            command.env("DBUS_SESSION_BUS_ADDRESS", address);
            if cfg!(debug_assertions) {
                // The unoptimized binary (`cargo test`) spends ~60 ms of CPU per process on
                // the Secret Service session's key exchange: 64 of them on two cores can
                // outlast the default 5 s keyring deadline. The optimized one keeps it.
                command.env("CONTINUUM_VAULT_KEYRING_TIMEOUT_MS", "120000");
            }
        }
        command
    };
    let start = Instant::now();
    let children: Vec<_> = (0..WORKERS)
        .map(|_| command(home.path()).spawn().expect("spawn continuum-vault"))
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|child| child.wait_with_output().expect("wait for continuum-vault"))
        .collect();
    let elapsed = start.elapsed();
    check(&outputs);
    elapsed
}

/// All succeeded, printed the same non-empty secret, and exactly one generated it.
fn check(outputs: &[Output]) {
    for output in outputs {
        assert!(
            output.status.success(),
            "a worker failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let secret = &outputs[0].stdout;
    assert!(secret.len() > 1, "empty secret");
    assert!(
        outputs.iter().all(|output| &output.stdout == secret),
        "the workers printed different secrets"
    );
    let generators = outputs
        .iter()
        .filter(|output| String::from_utf8_lossy(&output.stderr).contains(FIRST_RUN_NOTICE))
        .count();
    assert_eq!(generators, 1, "exactly one worker generates the secret");
}

fn bench(c: &mut Criterion, name: &str, key_source: &str, bus: Option<&str>) {
    let mut group = c.benchmark_group("first_start");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15));
    group.bench_function(name, |b| {
        b.iter_custom(|iters| (0..iters).map(|_| first_start(key_source, bus)).sum());
    });
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion, "64_file_key", "file", None);
    match harness::SecretService::start() {
        Some(service) => bench(
            &mut criterion,
            "64_keyring",
            "keyring",
            Some(service.bus_address()),
        ),
        None => println!(
            "note: first_start/64_keyring skipped: dbus-daemon, dbus-send or gnome-keyring-daemon \
             is missing (`bash scripts/test.sh` installs them; set {}=1 to fail instead)",
            harness::REQUIRE_ENV
        ),
    }
    criterion.final_summary();
}
