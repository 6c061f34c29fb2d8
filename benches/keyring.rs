//! Costs of the real Secret Service (a private gnome-keyring on a private D-Bus, never the
//! session's), through the same store the vault uses (`src/key/secret_service.rs`).
//!
//! - `keyring/get_connected`: `Entry::get_secret` on a store made before the timed loop:
//!   one lookup once connected (search, then `GetSecret`).
//! - `keyring/connect_cold`: `Store::new()`: connecting to the bus, the first request (the
//!   service's `Collections` property) and opening a Secret Service session, which the
//!   store always makes DH-encrypted.
//! - `keyring/connect_and_get_cold`: both, as a fresh process's first lookup pays them.
//! - `resolve/keyring_loaded_identity`: a kept [`Vault`] with the keyring key source: its
//!   key is cached, so no keyring call is made.
//! - `resolve/keyring_fresh_vault`: a new [`Vault`] per call: connect, fetch the key,
//!   decrypt: the in-process part of `continuum-vault get` with the keyring.
//!
//! Cold benches time each connection alone and leave the daemon a few milliseconds between
//! two (untimed): in back-to-back loops of a thousand and more connections, gnome-keyring
//! 42.1 was seen to abort (`plain_negotiate: assertion 'session' failed`, the daemon bug
//! that the store's first request works around; a timing loop should not race it).
//!
//! The benchmark binary starts the private Secret Service with the integration tests'
//! harness, then runs itself again with `DBUS_SESSION_BUS_ADDRESS` pointing at it (the
//! store reads the process environment, and `set_var` would need `unsafe`). Without
//! `dbus-daemon`, `dbus-send` or `gnome-keyring-daemon` it prints a note and skips,
//! unless `CONTINUUM_TEST_REQUIRE_KEYRING=1`, which makes that an error.
//!
//! Run with `cargo bench --bench keyring`; under `cargo test --all-targets` each benchmark
//! runs once, as a smoke test. Nothing here asserts a time.

#[cfg(target_os = "linux")]
#[path = "../tests/integration/support/keyring.rs"]
#[allow(
    dead_code,
    unreachable_pub,
    reason = "the integration tests' harness; these benches use a part of it"
)]
mod harness;

#[cfg(target_os = "linux")]
#[path = "../src/key/secret_service.rs"]
mod secret_service;

/// Set in the re-run benchmark process, which finds the private bus in its environment.
#[cfg(target_os = "linux")]
const CHILD_ENV: &str = "CONTINUUM_BENCH_SECRET_SERVICE_CHILD";

#[cfg(target_os = "linux")]
fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let mut criterion = criterion::Criterion::default().configure_from_args();
        linux::store(&mut criterion);
        linux::vault(&mut criterion);
        criterion.final_summary();
        return;
    }
    let Some(service) = harness::SecretService::start() else {
        println!(
            "note: Secret Service benches skipped: dbus-daemon, dbus-send or gnome-keyring-daemon \
             is missing (`bash scripts/test.sh` installs them; set {}=1 to fail instead)",
            harness::REQUIRE_ENV
        );
        return;
    };
    let exe = std::env::current_exe().expect("the path of this benchmark binary");
    let status = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(CHILD_ENV, "1")
        .env("DBUS_SESSION_BUS_ADDRESS", service.bus_address())
        .status()
        .expect("cannot run the benchmarks against the private Secret Service");
    drop(service);
    std::process::exit(status.code().unwrap_or(1));
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("note: Secret Service benches skipped: they run on Linux only");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::OsString;
    use std::hint::black_box;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use continuum_vault::secrecy::ExposeSecret;
    use continuum_vault::{KeySource, Source, Vault};
    use criterion::{Bencher, Criterion};
    use keyring_core::{CredentialStore, Entry};
    use zeroize::Zeroizing;

    /// Service and account of the bench's own entry (in the private keyring only).
    const SERVICE: &str = "continuum-vault-bench";
    const ACCOUNT: &str = "bench";

    /// A value shaped like a vault key (`AGE-SECRET-KEY-1` and 58 more characters).
    const KEY_TEXT: &[u8] =
        b"AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";

    fn connect() -> Arc<CredentialStore> {
        let store: Arc<CredentialStore> =
            crate::secret_service::Store::new().expect("connect to the Secret Service");
        store
    }

    fn get(store: &Arc<CredentialStore>) -> Zeroizing<Vec<u8>> {
        let entry = Entry::new_in_store(store, SERVICE, ACCOUNT).expect("entry");
        Zeroizing::new(entry.get_secret().expect("get the secret"))
    }

    /// The store's costs: a lookup once connected, connecting, and both.
    pub(crate) fn store(c: &mut Criterion) {
        let store = connect();
        Entry::new_in_store(&store, SERVICE, ACCOUNT)
            .expect("entry")
            .set_secret(KEY_TEXT)
            .expect("store the bench entry");

        let mut group = c.benchmark_group("keyring");
        group.bench_function("get_connected", |b| {
            b.iter(|| get(black_box(&store)).len());
        });

        group
            .sample_size(30)
            .measurement_time(Duration::from_secs(4));
        group.bench_function("connect_cold", |b| cold(b, connect));
        group.bench_function("connect_and_get_cold", |b| {
            cold(b, || {
                let store = connect();
                let secret = get(&store);
                assert_eq!(&secret[..], KEY_TEXT);
                (store, secret)
            });
        });
        group.finish();
    }

    /// A vault with the keyring key source in a temporary HOME: kept, and made anew.
    pub(crate) fn vault(c: &mut Criterion) {
        let tmp = tempfile::tempdir().expect("temporary HOME");
        let build = || {
            let home: OsString = tmp.path().into();
            Vault::builder()
                .dir(tmp.path().join(".continuum"))
                .key_source(KeySource::Keyring)
                .env(move |name| (name == "HOME").then(|| home.clone()))
                .build()
                .expect("vault configuration")
        };
        let kept = build();
        let first = kept.load("jwt_secret").expect("first load");
        assert!(matches!(first.source(), Source::Generated { .. }));

        let mut group = c.benchmark_group("resolve");
        group.bench_function("keyring_loaded_identity", |b| {
            b.iter(|| load_from_vault(&kept));
        });
        group
            .sample_size(30)
            .measurement_time(Duration::from_secs(4));
        group.bench_function("keyring_fresh_vault", |b| {
            cold(b, || {
                let vault = build();
                let len = load_from_vault(&vault);
                (vault, len)
            });
        });
        group.finish();
    }

    /// How long the daemon is left alone between two cold connections.
    const PAUSE: Duration = Duration::from_millis(5);

    /// Times `f` alone, once per iteration. What it returns (a connection) is dropped
    /// after the clock stops, then the daemon gets a [`PAUSE`] (see the crate docs).
    fn cold<T>(b: &mut Bencher<'_>, mut f: impl FnMut() -> T) {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let out = black_box(f());
                total += start.elapsed();
                drop(out);
                std::thread::sleep(PAUSE);
            }
            total
        });
    }

    fn load_from_vault(vault: &Vault) -> usize {
        let loaded = vault.load(black_box("jwt_secret")).expect("load");
        assert!(matches!(loaded.source(), Source::Vault { .. }));
        loaded.secret().expose_secret().len()
    }
}
