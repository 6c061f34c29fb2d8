//! Fault injection against the two promises "never lose the secret, never hang":
//!
//! - **Concurrent first start**: 64 CLI processes, and 64 threads each with its own
//!   [`Vault`], start together on a fresh vault: one secret, one identity, no temp file.
//! - **Crash consistency**: a writer (create, migrate, `set --force`) is killed with SIGKILL
//!   at random moments; afterwards the vault holds the old or the new value and never
//!   anything else, temp files go with the next write, and the lock is free again.
//! - **Disk full, read-only, unwritable**: a small tmpfs is filled up, then remounted
//!   read-only, and a vault dir loses its write bit: a write fails (exit 1) saying nothing
//!   was changed, and every file stays as it was, so reads go on working.
//! - **Hostile file system**: links, foreign owners, world-writable dirs, devices and huge
//!   files at the vault's paths are refused with exit 4 and a hint, and nothing is written
//!   anywhere. (Cases already in `cli.rs` are not repeated.)
//!
//! A SIGKILL stops the process, not the machine: the page cache survives, so the crash
//! tests prove the order of the steps (temp file, rename, lock), not the fsyncs (the
//! `strace` tests check those).
//!
//! The randomised tests print their figures (`-- --nocapture`). Their size comes from:
//!
//! | variable | default | what |
//! |---|---|---|
//! | `CONTINUUM_TEST_CRASH_RUNS` | 170 | kills per scenario (three scenarios) |
//! | `CONTINUUM_TEST_CRASH_SEED` | from the clock | the kill moments (printed; timing still varies) |
//! | `CONTINUUM_TEST_CRASH_MAX_DELAY_US` | measured | kills land 0..this many µs after spawn (default: 1.5 times a typical run, at least 15 ms, then adapted to the load) |
//! | `CONTINUUM_TEST_CONCURRENT_ROUNDS` | 20 | rounds of 64 processes (and a quarter as many of 64 threads) |
//!
//! The long version (about a quarter of an hour on two cores):
//!
//! ```sh
//! CONTINUUM_TEST_CRASH_RUNS=5000 CONTINUUM_TEST_CONCURRENT_ROUNDS=200 \
//!     cargo test --test integration faults:: -- --nocapture
//! ```
//!
//! Mounts, devices and `nobody` need root; those tests use `root_or_skip`.
//!
//! [`Vault`]: continuum_vault::Vault

use std::fs::{File, TryLockError};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use continuum_vault::secrecy::ExposeSecret;
use continuum_vault::{KeySource, Source, Vault};

use crate::support::env::{
    BIN, METADATA_FILE, Run, TestEnv, chmod, count_from_env, is_token_urlsafe_32, made_vault,
    root_or_skip, stderr_of,
};
use crate::support::mount::Tmpfs;
use crate::support::nobody::{Nobody, chown};
use crate::support::refusal::{LOCK_FILE, assert_refused};
use crate::support::tree::{names, replace_with_node, snapshot, temp_files};

/// A vault dir after a successful first run, and nothing else (sorted).
const VAULT_FILES: [&str; 3] = [METADATA_FILE, LOCK_FILE, "jwt_secret"];

/// The names of the key files (`<id>.key`) in a key dir.
fn key_files(key_dir: &Path) -> Vec<String> {
    names(key_dir)
        .into_iter()
        .filter(|n| !n.starts_with('.') && Path::new(n).extension().is_some_and(|e| e == "key"))
        .collect()
}

/// The vault id recorded in a vault dir's metadata.
fn recorded_id(vault_dir: &Path) -> Option<String> {
    let meta = std::fs::read_to_string(vault_dir.join(METADATA_FILE)).ok()?;
    let json: serde_json::Value = serde_json::from_str(&meta).ok()?;
    json["id"].as_str().map(str::to_owned)
}

/// The one line a successful `get` printed, or why there is none.
fn printed_value(run: &Run) -> Result<String, String> {
    let out = run.stdout();
    if run.code() == 0 && out.ends_with('\n') && out.matches('\n').count() == 1 {
        Ok(out.trim_end_matches('\n').to_owned())
    } else {
        Err(format!(
            "exit {}, stdout {out:?}, stderr {:?}",
            run.code(),
            run.stderr()
        ))
    }
}

/// Kills (SIGKILL) and reaps every child still running when dropped, also on a panic.
struct Reaper(Vec<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Concurrent first start
// ---------------------------------------------------------------------------------------

/// Processes started together per round.
const CONCURRENT: usize = 64;

/// Holds a child in `read` on a pipe that the test closes once all are spawned, then execs
/// the vault: the 64 processes start together instead of one spawn after another.
const START_GATE: &str = r#"read -r _; exec "$0" "$@""#;

#[test]
fn sixty_four_processes_starting_together_make_one_secret_and_one_identity() {
    let rounds = count_from_env("CONTINUUM_TEST_CONCURRENT_ROUNDS", 20);
    let mut slowest = Duration::ZERO;
    for round in 0..rounds {
        let mut env = TestEnv::new();
        // What is tested is agreement, not speed: 64 processes queue on the lock on a
        // loaded two-core machine, so the deadline is made generous.
        env.set("CONTINUUM_VAULT_KEYRING_TIMEOUT_MS", "60000");
        let (gate, open_gate) = std::io::pipe().expect("pipe");
        let mut children = Reaper(Vec::with_capacity(CONCURRENT));
        for _ in 0..CONCURRENT {
            let child = env
                .program("sh", ["-c", START_GATE, BIN, "--key-source", "file", "get"])
                .stdin(Stdio::from(gate.try_clone().expect("dup")))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn sh");
            children.0.push(child);
        }
        let started = Instant::now();
        drop(open_gate);
        let mut values = Vec::new();
        let mut generated = 0;
        for child in &mut children.0 {
            let (mut out, mut err) = (String::new(), String::new());
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            let status = child.wait().expect("wait");
            slowest = slowest.max(started.elapsed());
            assert!(
                status.success(),
                "round {round}: a process failed ({status}):\n{err}"
            );
            if err.contains("Generated new JWT secret") {
                generated += 1;
            }
            values.push(out);
        }
        let first = values[0].trim_end().to_owned();
        assert!(is_token_urlsafe_32(&first), "round {round}: {first:?}");
        assert!(
            values.iter().all(|v| *v == format!("{first}\n")),
            "round {round}: the processes disagree: {values:?}"
        );
        assert_eq!(generated, 1, "round {round}: one process generates");
        assert_one_identity(&env.vault_dir(), &env.key_dir(), &format!("round {round}"));
        assert_eq!(env.get(), first, "round {round}: a later run reads it");
    }
    println!(
        "faults: {rounds} rounds of {CONCURRENT} processes starting together on a fresh vault: \
         {} processes, one secret and one key file per round, slowest round {} ms \
         (lock deadline raised to 60 s), failures=0",
        rounds * CONCURRENT as u64,
        slowest.as_millis()
    );
}

/// The vault dir holds exactly the secret, the metadata and the lock (no temp file), and
/// the key dir exactly the key file the metadata names.
#[track_caller]
fn assert_one_identity(vault_dir: &Path, key_dir: &Path, what: &str) {
    assert_eq!(names(vault_dir), VAULT_FILES, "{what}: vault dir");
    let id = recorded_id(vault_dir).expect("metadata with an id");
    assert_eq!(
        names(key_dir),
        [format!("{id}.key")],
        "{what}: one identity, the recorded one"
    );
}

#[test]
fn sixty_four_threads_with_their_own_vaults_make_one_secret_and_one_identity() {
    // The premise: `File::try_lock` (flock) locks belong to the open file description, so
    // two descriptors in one process conflict like two processes do.
    let tmp = tempfile::tempdir().unwrap();
    let lock = tmp.path().join("lock");
    let a = File::create(&lock).unwrap();
    let b = File::open(&lock).unwrap();
    a.try_lock().unwrap();
    assert!(
        matches!(b.try_lock(), Err(TryLockError::WouldBlock)),
        "a second descriptor in the same process must not get the lock"
    );
    drop(a);
    b.try_lock()
        .expect("free once the holder's descriptor is closed");

    // A quarter of the process rounds: most of a round is spent waiting for the lock.
    let rounds = count_from_env("CONTINUUM_TEST_CONCURRENT_ROUNDS", 20).div_ceil(4);
    for round in 0..rounds {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let barrier = Arc::new(Barrier::new(CONCURRENT));
        let threads: Vec<_> = (0..CONCURRENT)
            .map(|_| {
                let home = home.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let vault = Vault::builder()
                        .dir(home.join(".continuum"))
                        .key_source(KeySource::File)
                        // Agreement is tested, not speed (see the process test).
                        .timeout(Duration::from_mins(1))
                        // No process variable is read: HOME (for the key dir) comes from here.
                        .env(move |var| (var == "HOME").then(|| home.clone().into_os_string()))
                        .build()
                        .expect("build");
                    barrier.wait();
                    let loaded = vault.load("jwt_secret").map_err(|e| e.to_string())?;
                    Ok::<_, String>((
                        loaded.secret().expose_secret().to_owned(),
                        matches!(loaded.source(), Source::Generated { .. }),
                    ))
                })
            })
            .collect();
        let results: Vec<(String, bool)> = threads
            .into_iter()
            .map(|t| t.join().expect("thread").expect("load"))
            .collect();
        let first = &results[0].0;
        assert!(is_token_urlsafe_32(first));
        assert!(
            results.iter().all(|(v, _)| v == first),
            "round {round}: threads disagree"
        );
        assert_eq!(
            results.iter().filter(|(_, generated)| *generated).count(),
            1,
            "round {round}: one thread generates"
        );
        assert_one_identity(
            &home.join(".continuum"),
            &home.join(".config/continuum-vault"),
            &format!("round {round}"),
        );
    }
    println!(
        "faults: {rounds} rounds of {CONCURRENT} threads, each with its own Vault, on a fresh vault: \
         one secret and one key file per round, failures=0"
    );
}

// ---------------------------------------------------------------------------------------
// Crash consistency
// ---------------------------------------------------------------------------------------

/// splitmix64: small, seeded, good enough to spread kill moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// One crash scenario: how many kills, when, and what was seen.
struct Crashes {
    scenario: &'static str,
    runs: u64,
    seed: u64,
    max_delay_us: u64,
    /// The first `max_delay_us`, when it is adapted as the runs go (no variable set).
    adapt_from: Option<u64>,
    /// Kills that landed while running, and after the end, in the last ten runs.
    window: (u64, u64),
    rng: Rng,
    /// Killed while running.
    killed: u64,
    /// Had exited (successfully) before the kill came.
    finished: u64,
    /// Killed with a write visibly in progress: a temp file, or a half-made vault.
    mid_write: u64,
    failures: Vec<String>,
}

impl Crashes {
    /// A scenario whose kills land 0..`CONTINUUM_TEST_CRASH_MAX_DELAY_US` after spawn. By
    /// default the range starts at 1.5 times the median of five uninterrupted runs
    /// (`one_run`), at least 15 ms, and adapts to the load (see [`Self::adapt`]): so the
    /// kills cover the whole write however fast this machine is at the moment.
    fn new(scenario: &'static str, mut one_run: impl FnMut() -> Duration) -> Self {
        let seed = std::env::var("CONTINUUM_TEST_CRASH_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |d| d.as_secs() ^ u64::from(d.subsec_nanos()))
            });
        println!(
            "faults: {scenario}: seed {seed} (replay the kill moments with CONTINUUM_TEST_CRASH_SEED={seed})"
        );
        let fixed: Option<u64> = std::env::var("CONTINUUM_TEST_CRASH_MAX_DELAY_US")
            .ok()
            .and_then(|v| v.parse().ok());
        let max_delay_us = fixed.unwrap_or_else(|| {
            let mut runs: Vec<Duration> = (0..5).map(|_| one_run()).collect();
            runs.sort();
            u64::try_from(runs[2].as_micros() * 3 / 2)
                .unwrap_or(u64::MAX)
                .max(15_000)
        });
        Self {
            scenario,
            runs: count_from_env("CONTINUUM_TEST_CRASH_RUNS", 170),
            seed,
            max_delay_us,
            adapt_from: fixed.is_none().then_some(max_delay_us),
            window: (0, 0),
            // Each scenario its own stream from the one seed (FNV-1a of its name).
            rng: Rng(scenario.bytes().fold(seed, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            })),
            killed: 0,
            finished: 0,
            mid_write: 0,
            failures: Vec::new(),
        }
    }

    /// Spawns `cmd` (with `input` on stdin), SIGKILLs it after a random delay, and reaps it.
    /// Returns whether the kill landed while it ran; a run that had finished must have
    /// succeeded.
    fn spawn_and_kill(&mut self, run: u64, mut cmd: Command, input: Option<&[u8]>) -> bool {
        let delay = Duration::from_micros(self.rng.next() % (self.max_delay_us + 1));
        let mut reaper = Reaper(vec![
            cmd.stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn"),
        ]);
        let child = &mut reaper.0[0];
        if let Some(input) = input {
            // A broken pipe only means it was already gone.
            let _ = child.stdin.take().expect("stdin").write_all(input);
        }
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().expect("wait");
        let killed = status.signal() == Some(rustix::process::Signal::KILL.as_raw());
        self.adapt(killed);
        if killed {
            self.killed += 1;
            return true;
        }
        self.finished += 1;
        if !status.success() {
            let err = stderr_of(child);
            self.fail(run, &format!("the writer itself failed ({status}): {err}"));
        }
        false
    }

    /// Every ten runs: when no kill came after the end, the range grows by half (the
    /// writer is slower than measured, and its last steps were never hit); when none came
    /// before it, the range shrinks by a third.
    fn adapt(&mut self, killed: bool) {
        if self.adapt_from.is_none() {
            return;
        }
        if killed {
            self.window.0 += 1;
        } else {
            self.window.1 += 1;
        }
        if self.window.0 + self.window.1 < 10 {
            return;
        }
        match self.window {
            (_, 0) => self.max_delay_us = self.max_delay_us * 3 / 2,
            (0, _) => self.max_delay_us = (self.max_delay_us * 2 / 3).max(1000),
            _ => {}
        }
        self.window = (0, 0);
    }

    fn fail(&mut self, run: u64, what: &str) {
        self.failures.push(format!("run {run}: {what}"));
    }

    /// Prints the figures and fails the test if anything broke.
    fn report(&self, extra: &str) {
        let range = match self.adapt_from {
            Some(from) if from != self.max_delay_us => {
                format!("0..{} us (adapted from 0..{from})", self.max_delay_us)
            }
            _ => format!("0..{} us", self.max_delay_us),
        };
        println!(
            "faults: {}: {} runs, kills at {range} after spawn: {} landed while the writer ran \
             ({} of them mid-write: a temp file or a half-made vault was left), {} came after it \
             had finished{extra}; failures={}",
            self.scenario,
            self.runs,
            self.killed,
            self.mid_write,
            self.finished,
            self.failures.len()
        );
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} runs broke a promise (seed {}); the first:\n{}",
            self.scenario,
            self.failures.len(),
            self.runs,
            self.seed,
            self.failures
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// A fresh vault's first `get`, killed: afterwards there is no secret yet (and `get` makes
/// one) or there is one, and either way it stays the same from then on.
#[test]
fn a_first_run_killed_at_random_moments_leaves_no_secret_or_one_that_stays() {
    let mut c = Crashes::new("create (`get` on a fresh vault)", || {
        let env = TestEnv::new();
        timed(|| {
            env.run(&["--key-source", "file", "get"]).assert_code(0);
        })
    });
    let (mut orphan_keys, mut key_temps) = (0, 0);
    for run in 0..c.runs {
        let env = TestEnv::new();
        let killed = c.spawn_and_kill(run, env.cmd(["--key-source", "file", "get"]), None);
        let has_secret = env.secret_path().exists();
        let half_made = !temp_files(&env.vault_dir()).is_empty()
            || !temp_files(&env.key_dir()).is_empty()
            || (!has_secret
                && (env.vault_dir().join(METADATA_FILE).exists()
                    || !key_files(&env.key_dir()).is_empty()));
        if killed && half_made {
            c.mid_write += 1;
        }
        // Not yet created: `get` creates it now (the next write). Created: it is read.
        let args: &[&str] = if has_secret {
            &["--key-source", "file", "get", "--no-create"]
        } else {
            &["--key-source", "file", "get"]
        };
        let value = match printed_value(&env.run(args)) {
            Ok(v) if is_token_urlsafe_32(&v) => v,
            Ok(v) => {
                c.fail(run, &format!("{args:?} printed {v:?}, not a token"));
                continue;
            }
            Err(e) => {
                c.fail(run, &format!("after the kill, {args:?} failed: {e}"));
                continue;
            }
        };
        match printed_value(&env.run(&["get", "--no-create"])) {
            Ok(again) if again == value => {}
            other => c.fail(run, &format!("the secret did not stay: {other:?}")),
        }
        let temps = temp_files(&env.vault_dir());
        if !temps.is_empty() {
            c.fail(run, &format!("temp files after the next write: {temps:?}"));
        }
        // Left by a kill before the metadata named a key: harmless (nothing is encrypted
        // to them), counted to be seen.
        orphan_keys += key_files(&env.key_dir()).len().saturating_sub(1);
        key_temps += temp_files(&env.key_dir()).len();
    }
    c.report(&format!(
        "; unused key files left in the key dir: {orphan_keys} whole, {key_temps} temp"
    ));
}

/// A 0600 plaintext secret's migration, killed: the plaintext value is what `get` returns
/// afterwards, every time, and the file ends up encrypted.
#[test]
fn a_migration_killed_at_random_moments_keeps_the_plaintext_value() {
    let mut c = Crashes::new("migrate (plaintext `jwt_secret`, then `get`)", || {
        let env = legacy_vault("calibration");
        timed(|| {
            env.run(&["--key-source", "file", "migrate"]).assert_code(0);
        })
    });
    for run in 0..c.runs {
        let legacy = format!("legacy-plaintext-{run}");
        let env = legacy_vault(&legacy);
        let killed = c.spawn_and_kill(run, env.cmd(["--key-source", "file", "migrate"]), None);
        let still_plain = !std::fs::read(env.secret_path())
            .unwrap_or_default()
            .starts_with(b"-----BEGIN AGE");
        let half_made = !temp_files(&env.vault_dir()).is_empty()
            || !temp_files(&env.key_dir()).is_empty()
            || (still_plain
                && (env.vault_dir().join(METADATA_FILE).exists()
                    || !key_files(&env.key_dir()).is_empty()));
        if killed && half_made {
            c.mid_write += 1;
        }
        for attempt in ["after the kill", "again"] {
            match printed_value(&env.run(&["--key-source", "file", "get", "--no-create"])) {
                Ok(v) if v == legacy => {}
                other => c.fail(
                    run,
                    &format!("{attempt}: expected {legacy:?}, got {other:?}"),
                ),
            }
        }
        // Loads never write; the next `migrate` finishes the job.
        let again = env.run(&["--key-source", "file", "migrate"]);
        if again.code() != 0 {
            c.fail(run, &format!("the next migrate failed: {}", again.stderr()));
        }
        if !std::fs::read(env.secret_path())
            .unwrap_or_default()
            .starts_with(b"-----BEGIN AGE")
        {
            c.fail(run, "the file was not encrypted by the next migrate");
        }
        match printed_value(&env.run(&["--key-source", "file", "get", "--no-create"])) {
            Ok(v) if v == legacy => {}
            other => c.fail(
                run,
                &format!("after the next migrate: expected {legacy:?}, got {other:?}"),
            ),
        }
        let temps = temp_files(&env.vault_dir());
        if !temps.is_empty() {
            c.fail(run, &format!("temp files after the next write: {temps:?}"));
        }
    }
    c.report("");
}

/// A user with a 0600 plaintext `jwt_secret` holding `value`, as the old loader left it.
fn legacy_vault(value: &str) -> TestEnv {
    let env = TestEnv::new();
    env.write_legacy_secret(value, 0o600);
    env
}

/// How long `f` takes.
fn timed(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

/// `set --force` killed over and over on one vault: each time the vault holds the old or
/// the new value, at most the temp files of the killed write are left (it stages three:
/// previous, metadata, current), and the next write succeeds (the lock is free) and
/// removes them.
#[test]
fn a_forced_set_killed_at_random_moments_leaves_the_old_or_the_new_value() {
    let env = TestEnv::new();
    env.run_with_input(&["--key-source", "file", "set"], b"value-before-any-kill\n")
        .assert_code(0);
    let mut c = Crashes::new("replace (`set --force`, value on stdin)", || {
        timed(|| {
            env.run_with_input(&["set", "--force"], b"calibration\n")
                .assert_code(0);
        })
    });
    let mut current = printed_value(&env.run(&["get", "--no-create"])).unwrap();
    let (mut kept_old, mut got_new) = (0, 0);
    for run in 0..c.runs {
        let new = format!("killed-write-{run}");
        let input = format!("{new}\n");
        let killed = c.spawn_and_kill(run, env.cmd(["set", "--force"]), Some(input.as_bytes()));
        let temps = temp_files(&env.vault_dir());
        if killed && !temps.is_empty() {
            c.mid_write += 1;
        }
        if temps.len() > 3 {
            c.fail(run, &format!("temp files accumulate: {temps:?}"));
        }
        match printed_value(&env.run(&["get", "--no-create"])) {
            Ok(v) if v == current => kept_old += 1,
            Ok(v) if v == new => got_new += 1,
            other => c.fail(
                run,
                &format!("expected {current:?} or {new:?}, got {other:?}"),
            ),
        }
        // The next write: the lock is free (no exit 6 after the default deadline) and the
        // killed write's temp file goes.
        let next = format!("next-write-{run}");
        let run_next = env.run_with_input(&["set", "--force"], next.as_bytes());
        if run_next.code() != 0 {
            c.fail(
                run,
                &format!("the next write failed: {}", run_next.stderr()),
            );
            continue;
        }
        current = next;
        let temps = temp_files(&env.vault_dir());
        if !temps.is_empty() {
            c.fail(run, &format!("temp files after the next write: {temps:?}"));
        }
    }
    match printed_value(&env.run(&["get", "--no-create"])) {
        Ok(v) if v == current => {}
        other => c.fail(
            c.runs,
            &format!("finally expected {current:?}, got {other:?}"),
        ),
    }
    c.report(&format!(
        "; the old value was read {kept_old} times, the new one {got_new} times"
    ));
}

// ---------------------------------------------------------------------------------------
// Disk full, read-only, unwritable
// ---------------------------------------------------------------------------------------

/// A user whose vault is `dir` on a small new tmpfs, with the key file outside it (in
/// HOME), made by a first run; returns the secret too.
fn vault_on_tmpfs() -> (Tmpfs, TestEnv, PathBuf, String) {
    let fs = Tmpfs::mount("256k");
    let mut env = TestEnv::new();
    let dir = fs.path().join("vault");
    env.set("CONTINUUM_VAULT_DIR", dir.to_str().unwrap());
    env.set("CONTINUUM_VAULT_KEY_SOURCE", "file");
    let secret = env.get();
    (fs, env, dir, secret)
}

/// Both reads still serve `value`.
#[track_caller]
fn assert_reads_serve(env: &TestEnv, value: &str, what: &str) {
    for args in [&["get", "--no-create"][..], &["get"]] {
        assert_eq!(
            env.run(args).assert_code(0).stdout_line(),
            value,
            "{args:?} {what}"
        );
    }
}

/// Writes `path` until the file system has no byte left.
fn fill(path: &Path) {
    let mut file = File::create(path).expect("create filler");
    for size in [65536, 4096, 1] {
        let chunk = vec![0xa5u8; size];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
    }
    // Even a new one-byte file does not fit now.
    let probe = path.with_extension("probe");
    let err = std::fs::write(&probe, b"x").expect_err("the file system is full");
    assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
    let _ = std::fs::remove_file(probe);
}

#[test]
fn a_full_disk_fails_the_write_says_nothing_changed_and_keeps_the_old_value() {
    if !root_or_skip("a_full_disk_fails_the_write_says_nothing_changed_and_keeps_the_old_value") {
        return;
    }
    let (fs, env, vault, _) = vault_on_tmpfs();
    // A still-valid previous secret too: a failed replace must keep it as well (it once
    // dropped it when the metadata write hit the full disk).
    env.run(&["rotate", "--grace", "1h"]).assert_code(0);
    let old = env.get();
    let both =
        |env: &TestEnv| env.run_sh("echo \"$CONTINUUM_JWT_SECRET $CONTINUUM_JWT_SECRET_PREVIOUS\"");
    let keys_before = both(&env).assert_code(0).stdout();
    let filler = fs.path().join("filler");
    fill(&filler);
    let before = snapshot(&vault);
    let dir = vault.display().to_string();

    let run = env.run_with_input(&["set", "--force"], b"new-value\n");
    run.assert_code(1)
        .assert_stderr_has(&dir)
        .assert_stderr_has("nothing was changed")
        .assert_stderr_has("No space left on device")
        .assert_stderr_has("hint: free some space");
    assert_eq!(snapshot(&vault), before, "a failed write changed files");
    assert_eq!(temp_files(&vault), Vec::<String>::new());
    assert_eq!(
        both(&env).assert_code(0).stdout(),
        keys_before,
        "current and previous kept"
    );
    assert_reads_serve(&env, &old, "on a full disk");

    // A new secret on a full disk: nothing half-made is left (no empty or partial file
    // that a later `get` would take for a value).
    env.run(&["get", "api_key"])
        .assert_code(1)
        .assert_stderr_has("nothing was changed");
    assert_eq!(snapshot(&vault), before, "a failed create changed files");

    // With space again, the same write goes through.
    std::fs::remove_file(&filler).unwrap();
    env.run_with_input(&["set", "--force"], b"new-value\n")
        .assert_code(0);
    assert_eq!(env.get(), "new-value");
    assert_eq!(temp_files(&vault), Vec::<String>::new());
}

#[test]
fn a_read_only_file_system_fails_writes_clearly_and_serves_reads() {
    if !root_or_skip("a_read_only_file_system_fails_writes_clearly_and_serves_reads") {
        return;
    }
    let (fs, env, vault, old) = vault_on_tmpfs();
    fs.remount("ro");
    let before = snapshot(&vault);
    for args in [&["set", "--force"][..], &["get", "api_key"]] {
        env.run_with_input(args, b"new-value\n")
            .assert_code(1)
            .assert_stderr_has(&vault.display().to_string())
            .assert_stderr_has("Read-only file system")
            .assert_stderr_has("hint:");
    }
    // The read path writes nothing, so a read-only vault is served as usual.
    assert_reads_serve(&env, &old, "on a read-only file system");
    env.run(&["status"]).assert_code(0);
    assert_eq!(snapshot(&vault), before);
}

/// Root ignores permission bits, so this runs as `nobody`: its own vault dir without the
/// write bit makes a write fail like a read-only file system does.
#[test]
fn an_unwritable_vault_dir_fails_the_write_and_keeps_the_old_value() {
    if !root_or_skip("an_unwritable_vault_dir_fails_the_write_and_keeps_the_old_value") {
        return;
    }
    let nobody = Nobody::new();
    let old = printed_value(&nobody.run(&["--key-source", "file", "get"])).unwrap();
    std::fs::set_permissions(nobody.vault_dir(), std::fs::Permissions::from_mode(0o500)).unwrap();
    let before = snapshot(nobody.home());
    nobody
        .run_with_input(&["set", "--force"], b"new-value\n")
        .assert_code(1)
        .assert_stderr_has(&nobody.vault_dir().display().to_string())
        .assert_stderr_has("nothing was changed")
        .assert_stderr_has("Permission denied");
    assert_eq!(snapshot(nobody.home()), before);
    assert_eq!(
        printed_value(&nobody.run(&["get", "--no-create"])).unwrap(),
        old
    );
    std::fs::set_permissions(nobody.vault_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    nobody
        .run_with_input(&["set", "--force"], b"new-value\n")
        .assert_code(0);
    assert_eq!(
        printed_value(&nobody.run(&["get", "--no-create"])).unwrap(),
        "new-value"
    );
}

/// A forced `set` over a file that cannot be decrypted moves that file aside first; when
/// the write then fails, it says "nothing was changed" but the file is gone from its path,
/// and the next `get` generates a new secret in its place.
#[test]
fn a_forced_set_that_fails_leaves_an_unreadable_file_where_it_was() {
    if !root_or_skip("a_forced_set_that_fails_leaves_an_unreadable_file_where_it_was") {
        return;
    }
    let (fs, env, vault, _) = vault_on_tmpfs();
    let unreadable = vault.join("jwt_secret");
    std::fs::write(&unreadable, b"-----BEGIN AGE ENCRYPTED FILE-----\n").unwrap();
    let filler = fs.path().join("filler");
    fill(&filler);
    let before = snapshot(&vault);
    env.run_with_input(&["set", "--force"], b"new-value\n")
        .assert_code(1)
        .assert_stderr_has("nothing was changed");
    assert_eq!(snapshot(&vault), before, "it said nothing was changed");
    // The server's next start, with space again, must still refuse, not make a new secret.
    std::fs::remove_file(filler).unwrap();
    env.run(&["get"]).assert_code(5);
}

// ---------------------------------------------------------------------------------------
// Hostile file system
// ---------------------------------------------------------------------------------------

/// Every command on the secret: the read path, status, and the write paths.
const SECRET_COMMANDS: &[&[&str]] = &[
    &["get"],
    &["get", "--no-create"],
    &["status"],
    &["set", "--force"],
];

/// Those, and the creation of another secret in the same vault (for what is vault-wide:
/// the dir, the lock, the metadata, the key).
const EVERY_COMMAND: &[&[&str]] = &[
    &["get"],
    &["get", "--no-create"],
    &["status"],
    &["set", "--force"],
    &["get", "api_key"],
];

/// Every one of `commands` refuses the link at a vault path (exit 4, "replace the link").
#[track_caller]
fn assert_link_refused(what: &str, env: &TestEnv, commands: &[&[&str]]) {
    assert_refused(what, env, commands, 4, "replace the link");
}

/// On a first run (`make_vault_dir`: whether the vault dir is there already), a dangling
/// link at the path `at` names: each of `commands` refuses it, its target is never
/// created, and no key is made.
#[track_caller]
fn assert_dangling_link_refused_on_first_run(
    what: &str,
    make_vault_dir: bool,
    at: fn(&TestEnv) -> PathBuf,
    commands: &[&[&str]],
) {
    let env = TestEnv::new();
    if make_vault_dir {
        env.make_vault_dir();
    }
    let target = env.home().join("planted");
    std::os::unix::fs::symlink(&target, at(&env)).unwrap();
    assert_link_refused(what, &env, commands);
    assert!(!target.exists() && !env.key_dir().exists(), "{what}");
}

/// `what` (the path `at` names) moved away and a link to it put in its place: following
/// the link would work, and must not happen. Then, on a first run (with or without the
/// vault dir), a dangling link there.
#[track_caller]
fn assert_links_refused(what: &str, at: fn(&TestEnv) -> PathBuf, vault_dir_on_first_run: bool) {
    let (env, _) = made_vault();
    let moved = env.home().join("moved-away");
    std::fs::rename(at(&env), &moved).unwrap();
    std::os::unix::fs::symlink(&moved, at(&env)).unwrap();
    assert_link_refused(
        &format!("{what} linked to the real one"),
        &env,
        EVERY_COMMAND,
    );
    assert_dangling_link_refused_on_first_run(
        &format!("{what} linked to nowhere, first run"),
        vault_dir_on_first_run,
        at,
        EVERY_COMMAND,
    );
}

#[test]
fn a_symlinked_vault_dir_is_refused_and_its_target_left_alone() {
    assert_links_refused("vault dir", TestEnv::vault_dir, false);
}

#[test]
fn a_symlink_at_the_metadata_file_is_refused_and_its_target_left_alone() {
    assert_links_refused("metadata", TestEnv::metadata_path, true);
}

#[test]
fn a_symlink_or_fifo_at_the_lock_file_is_refused_and_its_target_left_alone() {
    let writes: &[&[&str]] = &[&["set", "--force"], &["get", "api_key"]];
    let lock = |env: &TestEnv| env.vault_dir().join(LOCK_FILE);
    let (env, secret) = made_vault();
    let target = env.home().join("planted-lock");
    std::fs::remove_file(lock(&env)).unwrap();
    std::os::unix::fs::symlink(&target, lock(&env)).unwrap();
    // Reads take no lock: still served.
    assert_eq!(env.get(), secret);
    assert_link_refused("lock linked to nowhere", &env, writes);
    assert!(!target.exists(), "the link's target was created");
    std::fs::write(&target, b"someone else's file\n").unwrap();
    assert_link_refused("lock linked to a file", &env, writes);

    // On a first run: nothing at all is made, not even the key file.
    assert_dangling_link_refused_on_first_run(
        "lock linked to nowhere, first run",
        true,
        lock,
        &[&["--key-source", "file", "get"], &["set", "--force"]],
    );

    // A FIFO at the lock: refused at once, not waited on.
    let (env, _) = made_vault();
    replace_with_node(&lock(&env), rustix::fs::FileType::Fifo, 0);
    assert_refused("FIFO at the lock", &env, writes, 4, "not a regular file");
}

/// A vault made by a first run, then spoilt by `spoil`: each of `commands` refuses it with
/// exit 4 and says `needle`.
#[track_caller]
fn assert_spoilt_vault_refused(
    what: &str,
    spoil: impl FnOnce(&TestEnv),
    commands: &[&[&str]],
    needle: &str,
) {
    let (env, _) = made_vault();
    spoil(&env);
    assert_refused(what, &env, commands, 4, needle);
}

#[test]
fn world_writable_vault_dirs_are_refused() {
    // Group-writable (0770) is in cli.rs; here others, with and without the sticky bit.
    for mode in [0o702, 0o777, 0o1777] {
        assert_spoilt_vault_refused(
            &format!("vault dir mode {mode:o}"),
            |env| chmod(&env.vault_dir(), mode),
            EVERY_COMMAND,
            "chmod 700",
        );
    }
}

#[test]
fn devices_at_the_vault_paths_are_refused() {
    if !root_or_skip("devices_at_the_vault_paths_are_refused") {
        return;
    }
    // Like /dev/null (reads as empty: taken for "no secret" it would be replaced) and
    // /dev/zero (reads forever), at the secret and at the metadata.
    for (file, minor, commands) in [
        ("jwt_secret", 3, SECRET_COMMANDS),
        ("jwt_secret", 5, SECRET_COMMANDS),
        (METADATA_FILE, 5, EVERY_COMMAND),
    ] {
        assert_spoilt_vault_refused(
            &format!("char device 1:{minor} at {file}"),
            |env| {
                replace_with_node(
                    &env.vault_dir().join(file),
                    rustix::fs::FileType::CharacterDevice,
                    rustix::fs::makedev(1, minor),
                );
            },
            commands,
            "not a regular file",
        );
    }
}

#[test]
fn oversized_files_are_refused_without_being_read() {
    let cap = usize::try_from(continuum_vault::MAX_FILE_SIZE).unwrap();
    // A sparse 256 MiB secret file (the 1 MiB one is in cli.rs): refused from its size,
    // before a byte is read. `set --force` may replace it (it keeps it aside), so the
    // replacing commands are not among these.
    assert_spoilt_vault_refused(
        "sparse 256 MiB secret file",
        |env| {
            File::options()
                .write(true)
                .open(env.secret_path())
                .unwrap()
                .set_len(256 << 20)
                .unwrap();
        },
        &[&["get"], &["get", "--no-create"], &["status"]],
        "move it away",
    );
    // Metadata and key file over the cap, still well-formed (padded with whitespace and
    // comment lines): refused, not parsed.
    assert_spoilt_vault_refused(
        "metadata over the cap",
        |env| {
            let mut padded = std::fs::read(env.metadata_path()).unwrap();
            padded.resize(cap + 1, b' ');
            std::fs::write(env.metadata_path(), padded).unwrap();
        },
        EVERY_COMMAND,
        "move it away",
    );
    assert_spoilt_vault_refused(
        "key file over the cap",
        |env| {
            let key = env.key_dir().join(&key_files(&env.key_dir())[0]);
            let mut padded = b"#".repeat(cap);
            padded.extend_from_slice(b"\n");
            padded.extend_from_slice(&std::fs::read(&key).unwrap());
            std::fs::write(&key, padded).unwrap();
        },
        EVERY_COMMAND,
        "move it away",
    );
}

/// As `nobody`, with root's files in its way (cli.rs covers root meeting `nobody`'s).
#[test]
fn files_and_dirs_of_another_user_are_refused_when_running_as_nobody() {
    /// What is given to root, with which mode (or its own), refused by which commands.
    type Case<'a> = (
        &'a str,
        fn(&Nobody) -> PathBuf,
        Option<u32>,
        &'a [&'a [&'a str]],
        &'a str,
    );
    if !root_or_skip("files_and_dirs_of_another_user_are_refused_when_running_as_nobody") {
        return;
    }
    let cases: &[Case] = &[
        (
            "vault dir owned by root, 0755",
            Nobody::vault_dir,
            Some(0o755),
            EVERY_COMMAND,
            "chown",
        ),
        (
            "vault dir owned by root, 0700",
            Nobody::vault_dir,
            None,
            EVERY_COMMAND,
            "accessible to this user",
        ),
        (
            "secret owned by root, 0644",
            Nobody::secret_path,
            Some(0o644),
            // `set --force` replaces it: see the ignored test below. `status` says the
            // mode, not the owner (checked below for its exit code only).
            &[&["get"], &["get", "--no-create"]],
            "chown",
        ),
        (
            "secret owned by root, 0600",
            Nobody::secret_path,
            None,
            SECRET_COMMANDS,
            "accessible to this user",
        ),
        (
            "key file owned by root, 0644",
            |n| n.key_dir().join(&key_files(&n.key_dir())[0]),
            Some(0o644),
            EVERY_COMMAND,
            "chown",
        ),
        (
            "key dir owned by root, 0755",
            Nobody::key_dir,
            Some(0o755),
            EVERY_COMMAND,
            "chown",
        ),
    ];
    for (what, at, mode, commands, needle) in cases {
        let nobody = nobody_with_vault();
        give_to_root(&at(&nobody), *mode);
        assert_refused(what, &nobody, commands, 4, needle);
        nobody.run(&["status"]).assert_code(4);
    }
}

/// `nobody`, with a vault made by a first run (file key source).
fn nobody_with_vault() -> Nobody {
    let nobody = Nobody::new();
    printed_value(&nobody.run(&["--key-source", "file", "get"])).unwrap();
    nobody
}

/// Gives `path` to root, and then `mode` if one is given.
fn give_to_root(path: &Path, mode: Option<u32>) {
    chown(path, 0);
    if let Some(mode) = mode {
        chmod(path, mode);
    }
}

/// A secret file owned by someone else is refused by every reader (exit 4, "owned by"),
/// but `set` calls it "a value that cannot be decrypted" (exit 7) and `set --force` moves
/// it aside and writes over its path.
#[test]
fn a_forced_set_refuses_a_secret_file_owned_by_another_user() {
    if !root_or_skip("a_forced_set_refuses_a_secret_file_owned_by_another_user") {
        return;
    }
    let nobody = nobody_with_vault();
    give_to_root(&nobody.secret_path(), Some(0o644));
    assert_refused(
        "secret owned by root, 0644",
        &nobody,
        &[&["set"], &["set", "--force"]],
        4,
        "chown",
    );
}
