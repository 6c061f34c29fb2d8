//! After a secret is dropped, no copy of it is left in the process.
//!
//! **The library.** The test binary re-executes itself as a child
//! (`current_exe() --exact memory::child_entry --nocapture --test-threads=1`, with
//! `CONTINUUM_TEST_MEMORY_CHILD=<HOME>` and `CONTINUUM_TEST_MEMORY_MODE=<path>`). In child
//! mode, [`child_entry`] builds a [`Vault`] (file key source, injected environment lookup),
//! goes through one path, checks each value's shape without printing it, drops it (the vault
//! itself stays alive: it must not keep secrets), prints a ready line and blocks reading
//! standard input. The parent then reads every readable mapping of the child
//! (`/proc/PID/maps` + `/proc/PID/mem`) and searches it:
//!
//! - `load`: secrets stored beforehand with the CLI (`set` reads the value from stdin) are
//!   **decrypted** by the child. No secret reaches the child through its environment or
//!   argv (only their names do).
//! - `generate`: the child loads from an empty vault, so a new secret is generated, sealed,
//!   written and read back; the parent learns the value afterwards with `continuum-vault get`.
//! - `set`: the child reads each value from a pipe on stdin (raw `read(2)` into a zeroizing
//!   buffer, as the CLI does) and calls [`Vault::set`].
//!
//! The test secrets have several lengths ([`LENGTHS`]): the cipher (`ChaCha20`) handles whole
//! 64-byte blocks and a partial last block by different code, and a copy left by one can be
//! overwritten by the other, so a single length can hide a leak (80 bytes did; 64 did not).
//!
//! **The CLI.** `continuum-vault` is non-dumpable (tested in `cli.rs`), so only root can
//! read it; as root, `set` is run under gdb, stopped at libc's `exit` (after `main` has
//! returned and dropped everything), and its memory is read the same way.
//!
//! **`run`** replaces itself with the command (exec): the kernel discards the address space
//! that held the decrypted secret, so no copy can remain "in a parent": there is no parent
//! process left. The test checks that the PID of `run -- sleep` is the PID of `sleep`, with
//! no child of its own.
//!
//! **What is searched for.** The stored value is the plaintext string itself (no base64 or
//! other encoding sits between the file's plaintext and the `SecretString`), so each
//! secret is searched for (a) whole and (b) as fragments: every aligned 16-byte piece of
//! it, found outside a whole copy (a freed heap chunk has its first 16 to 32 bytes
//! overwritten by the allocator, so a stale copy may survive only in pieces). For a
//! generated secret, the 32 random bytes behind its base64url text are searched for too.
//!
//! Known limit, not seen here: age's `StreamWriter` frees its plaintext chunk without
//! zeroizing it (SECURITY.md, "Known limits in dependencies"). With glibc that chunk is
//! overwritten right away, when the read-back check allocates age's zeroed 64 KiB
//! decryption buffer, so the write paths measure zero copies; the test asserts zero, so a
//! change in that behaviour shows up here.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use continuum_vault::secrecy::{ExposeSecret, SecretString};
use continuum_vault::{SetOutcome, Source};
use rand::TryRng;
use zeroize::Zeroizing;

use crate::support::age;
use crate::support::env::{
    BIN, TestEnv, is_token_urlsafe_32, made_vault, root_or_skip, stderr_of, vault_holding,
};
use crate::support::library::library_vault;
use crate::support::tree::make_node;

/// Set in the child: the HOME whose vault it works on.
const CHILD_ENV: &str = "CONTINUUM_TEST_MEMORY_CHILD";
/// Set in the child: which path it goes through (`load`, `generate`, `set`).
const MODE_ENV: &str = "CONTINUUM_TEST_MEMORY_MODE";
/// Set in the child: the names of the secrets (comma-separated), never their values.
const NAMES_ENV: &str = "CONTINUUM_TEST_MEMORY_NAMES";
/// What the child prints once the secrets are dropped.
const READY: &str = "continuum-memory-child-ready";
/// The lengths of the test secrets: like `token_urlsafe(32)`, one `ChaCha20` block, two
/// blocks, and blocks plus a partial one.
const LENGTHS: [usize; 4] = [43, 64, 128, 200];
/// Letters and digits only: nothing a marker, a path or a format string would contain.
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// The size of the pieces searched for as fragments.
const PIECE: usize = 16;

/// A new random secret of `len` characters from [`ALPHABET`].
pub(crate) fn random_secret(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut bytes = [0u8; 256];
    while out.len() < len {
        rand::rngs::SysRng
            .try_fill_bytes(&mut bytes)
            .expect("OS random number generator");
        // 248 = 4 * 62: rejecting the rest keeps every character equally likely.
        for b in bytes.iter().filter(|b| **b < 248) {
            if out.len() < len {
                out.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
            }
        }
    }
    out
}

/// One secret per length in [`LENGTHS`], each with its name.
fn test_secrets() -> Vec<(String, String)> {
    LENGTHS
        .iter()
        .map(|&len| (format!("memory_{len}"), random_secret(len)))
        .collect()
}

/// Whether `s` has the shape of [`random_secret`]'s output (checked without printing it).
fn looks_like_test_secret(s: &str) -> bool {
    LENGTHS.contains(&s.len()) && s.bytes().all(|b| ALPHABET.contains(&b))
}

/// The child's side: does nothing unless [`CHILD_ENV`] is set.
#[test]
fn child_entry() {
    let Some(home) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let home = PathBuf::from(home);
    let mode = std::env::var(MODE_ENV).expect("the mode variable is set with the home");
    let names = std::env::var(NAMES_ENV).unwrap_or_default();
    let names: Vec<&str> = names.split(',').filter(|n| !n.is_empty()).collect();
    let vault = library_vault(&home, &[]);
    match mode.as_str() {
        "load" => {
            for name in names {
                let loaded = vault.load(name).expect("load");
                assert!(
                    matches!(loaded.source(), Source::Vault { .. }),
                    "not decrypted"
                );
                assert!(looks_like_test_secret(loaded.secret().expose_secret()));
                drop(loaded);
            }
        }
        "generate" => {
            let loaded = vault.load("jwt_secret").expect("generate");
            assert!(matches!(loaded.source(), Source::Generated { .. }));
            assert!(is_token_urlsafe_32(loaded.secret().expose_secret()));
            drop(loaded);
        }
        "set" => {
            let mut stdin = std::fs::File::from(
                std::os::fd::AsFd::as_fd(&std::io::stdin())
                    .try_clone_to_owned()
                    .expect("dup stdin"),
            );
            for name in names {
                let value = read_line(&mut stdin);
                assert!(looks_like_test_secret(value.expose_secret()));
                let (outcome, _) = vault.set(name, &value, false).expect("set");
                assert_eq!(outcome, SetOutcome::Created);
                drop(value);
            }
        }
        other => panic!("unknown mode {other:?}"),
    }
    println!("{READY}");
    std::io::stdout().flush().expect("flush stdout");
    // Blocks until the parent has read this process's memory.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(vault);
}

/// One line read with `read(2)`, one byte at a time, into a fixed zeroizing buffer (no
/// `BufReader`, whose buffer would keep a copy), as a `SecretString` of exact capacity.
fn read_line(input: &mut std::fs::File) -> SecretString {
    let mut buf = Zeroizing::new([0u8; 256]);
    let mut len = 0;
    loop {
        let n = input.read(&mut buf[len..=len]).expect("read stdin");
        assert!(n == 1, "stdin closed before a full line");
        if buf[len] == b'\n' {
            break;
        }
        len += 1;
    }
    let text = std::str::from_utf8(&buf[..len]).expect("UTF-8");
    let mut owned = String::with_capacity(text.len());
    owned.push_str(text);
    SecretString::from(owned)
}

/// A child process killed and reaped on drop, whatever happened in the test.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the child through `mode` on `env`'s vault (`names`: the secrets it works on), and
/// reads its memory once it is ready. `input` is written on its stdin first (the `set`
/// path). `needles` gives what to search for, once the child is ready.
fn measure_child(
    env: &TestEnv,
    mode: &str,
    names: &[&str],
    input: &str,
    needles: impl FnOnce() -> Vec<Needle>,
) -> Scan {
    let mut child = Reaped(
        Command::new(std::env::current_exe().expect("current exe"))
            .args([
                "--exact",
                "memory::child_entry",
                "--nocapture",
                "--test-threads=1",
            ])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(CHILD_ENV, env.home())
            .env(MODE_ENV, mode)
            .env(NAMES_ENV, names.join(","))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the child"),
    );
    let mut stdin = child.0.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    let mut stdout = BufReader::new(child.0.stdout.take().expect("stdout"));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stdout.read_line(&mut line).expect("read child stdout");
        if n == 0 {
            let err = stderr_of(&mut child.0);
            panic!("the {mode} child ended before it was ready:\n{seen}\n{err}");
        }
        seen.push_str(&line);
        if line.trim_end().ends_with(READY) {
            break;
        }
    }
    let scan = Scan::of_process(child.0.id(), &needles());
    stdin.write_all(b"done\n").expect("release the child");
    drop(stdin);
    let status = child.0.wait().expect("wait for the child");
    assert!(status.success(), "the {mode} child failed: {status}");
    eprintln!("memory[{mode}]: {scan}");
    scan
}

/// Something to search for.
struct Needle {
    label: String,
    bytes: Vec<u8>,
}

impl Needle {
    fn secret(s: &str) -> Self {
        Self {
            label: format!("{}-char secret", s.len()),
            bytes: s.as_bytes().to_vec(),
        }
    }

    /// The vault key of `env` (file key source): its text form and its raw 32 bytes.
    fn vault_key(env: &TestEnv) -> [Self; 2] {
        let text = std::fs::read_to_string(env.key_file()).expect("read the key file");
        let line = text
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .expect("a key line")
            .to_owned();
        let (_, raw) = bech32::decode(&line).expect("bech32");
        assert_eq!(raw.len(), 32, "an X25519 key");
        [
            // The data part: "AGE-SECRET-KEY-1" itself is a constant in the binary.
            Self {
                label: "vault key (text)".into(),
                bytes: line.as_bytes()["AGE-SECRET-KEY-1".len()..].to_vec(),
            },
            Self {
                label: "vault key (raw 32 bytes)".into(),
                bytes: raw,
            },
        ]
    }
}

/// One readable mapping of a process.
struct Region {
    start: u64,
    end: u64,
    perms: String,
    name: String,
}

/// The readable mappings of `pid`, from `/proc/PID/maps`.
fn regions(pid: u32) -> Vec<Region> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("read maps");
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (range, perms) = (fields.next()?, fields.next()?);
            let name = fields.nth(3).unwrap_or("[anon]").to_owned();
            let (start, end) = range.split_once('-')?;
            Some(Region {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                perms: perms.to_owned(),
                name,
            })
        })
        .filter(|r| r.perms.starts_with('r') && r.name != "[vsyscall]")
        .collect()
}

/// A copy found: of what, whole or in pieces, and where.
struct Hit {
    what: String,
    addr: u64,
    region: String,
    /// Up to 16 bytes just before the copy: what buffer it sits in.
    before: Vec<u8>,
}

/// What a memory scan found.
struct Scan {
    bytes: u64,
    regions: usize,
    unreadable: usize,
    needles: usize,
    /// Whole copies.
    whole: Vec<Hit>,
    /// Copies found only as aligned 16-byte pieces (one entry per copy).
    fragments: Vec<Hit>,
}

impl Scan {
    /// Reads every readable mapping of `pid` and searches it for every needle.
    fn of_process(pid: u32, needles: &[Needle]) -> Self {
        let mem = std::fs::File::open(format!("/proc/{pid}/mem")).expect("open /proc/PID/mem");
        let mut scan = Self {
            bytes: 0,
            regions: 0,
            unreadable: 0,
            needles: needles.len(),
            whole: Vec::new(),
            fragments: Vec::new(),
        };
        for region in regions(pid) {
            let Some(data) = read_region(&mem, &region) else {
                scan.unreadable += 1;
                continue;
            };
            scan.regions += 1;
            scan.bytes += data.len() as u64;
            for needle in needles {
                scan.search(&data, &region, needle);
            }
        }
        scan
    }

    fn search(&mut self, data: &[u8], region: &Region, needle: &Needle) {
        let whole = find_all(data, &needle.bytes);
        for &at in &whole {
            self.whole
                .push(hit(format!("{} (whole)", needle.label), region, data, at));
        }
        // A piece at `at` belongs to the copy that would start at `at - offset`.
        let mut copies: Vec<usize> = Vec::new();
        for (offset, piece) in pieces(&needle.bytes) {
            for at in find_all(data, piece) {
                let copy = at.wrapping_sub(offset);
                if !whole.contains(&copy) && !copies.contains(&copy) {
                    copies.push(copy);
                    let what = format!("{} (piece at offset {offset})", needle.label);
                    self.fragments.push(hit(what, region, data, at));
                }
            }
        }
    }

    /// Copies of any kind, whole or fragmented.
    fn copies(&self) -> usize {
        self.whole.len() + self.fragments.len()
    }

    #[track_caller]
    fn assert_clean(&self, path: &str) {
        assert!(
            self.regions > 10 && self.bytes > 1024 * 1024,
            "{path}: too little was read: {self}"
        );
        assert_eq!(self.copies(), 0, "{path}: copies left after drop: {self}");
    }
}

impl fmt::Display for Scan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} needles, {} KiB in {} regions ({} unreadable): {} whole copies, {} fragmented copies",
            self.needles,
            self.bytes / 1024,
            self.regions,
            self.unreadable,
            self.whole.len(),
            self.fragments.len(),
        )?;
        for h in self.whole.iter().chain(&self.fragments) {
            write!(
                f,
                "\n  {} at {:#x} in {}, after {:?}",
                h.what,
                h.addr,
                h.region,
                String::from_utf8_lossy(&h.before)
            )?;
        }
        Ok(())
    }
}

fn hit(what: String, region: &Region, data: &[u8], at: usize) -> Hit {
    Hit {
        what,
        addr: region.start + at as u64,
        region: format!("{} {}", region.perms, region.name),
        before: data[at.saturating_sub(16)..at].to_vec(),
    }
}

/// The aligned [`PIECE`]-byte pieces of `s` and their offsets, plus the last one.
fn pieces(s: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out: Vec<(usize, &[u8])> = (0..=s.len().saturating_sub(PIECE))
        .step_by(PIECE)
        .map(|o| (o, &s[o..o + PIECE]))
        .collect();
    if s.len() >= PIECE && !s.len().is_multiple_of(PIECE) {
        out.push((s.len() - PIECE, &s[s.len() - PIECE..]));
    }
    out
}

/// Every offset of `needle` in `hay`.
fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    let Some((&first, rest)) = needle.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = hay[from..].iter().position(|b| *b == first) {
        let at = from + i;
        if hay.len() - at >= needle.len() && &hay[at + 1..at + needle.len()] == rest {
            out.push(at);
        }
        from = at + 1;
    }
    out
}

/// A mapping's bytes; `None` when the kernel refuses to read it (e.g. `[vvar]`).
fn read_region(mem: &std::fs::File, region: &Region) -> Option<Vec<u8>> {
    let len = usize::try_from(region.end - region.start).ok()?;
    let mut data = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match mem.read_at(&mut data[filled..], region.start + filled as u64) {
            Ok(0) | Err(_) if filled == 0 => return None,
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    data.truncate(filled);
    Some(data)
}

#[test]
fn decrypted_secrets_leave_no_copy_once_dropped() {
    // One child per secret: a later decryption can overwrite what an earlier one left.
    let scans: Vec<Scan> = test_secrets()
        .iter()
        .map(|(name, secret)| {
            let env = TestEnv::new();
            env.run_with_input(&["--key-source", "file", "set", name], secret.as_bytes())
                .assert_code(0);
            measure_child(&env, "load", &[name.as_str()], "", || {
                vec![Needle::secret(secret)]
            })
        })
        .collect();
    for scan in &scans {
        scan.assert_clean("load");
    }
}

#[test]
fn a_generated_secret_leaves_no_copy_once_dropped() {
    let env = TestEnv::new();
    let scan = measure_child(&env, "generate", &[], "", || {
        // The parent learns the value only now, from the vault the child wrote.
        let secret = env.get();
        let raw = URL_SAFE_NO_PAD.decode(&secret).expect("base64url");
        vec![
            Needle::secret(&secret),
            Needle {
                label: "its 32 random bytes".into(),
                bytes: raw,
            },
        ]
    });
    scan.assert_clean("generate");
}

#[test]
fn set_secrets_leave_no_copy_once_dropped() {
    let scans: Vec<Scan> = test_secrets()
        .iter()
        .map(|(name, secret)| {
            let env = TestEnv::new();
            let scan = measure_child(
                &env,
                "set",
                &[name.as_str()],
                &format!("{secret}\n"),
                || vec![Needle::secret(secret)],
            );
            let run = env.run(&["get", "--no-create", name]);
            assert_eq!(run.assert_code(0).stdout_line(), *secret, "{name} stored");
            scan
        })
        .collect();
    for scan in &scans {
        scan.assert_clean("set");
    }
}

/// Runs the CLI under gdb with `input` on stdin, stops it at libc's `exit` and scans it.
fn measure_cli(env: &TestEnv, args: &str, input: &str, needles: &[Needle]) -> Scan {
    let dir = env.home().parent().expect("temp root").to_owned();
    let stdin_file = dir.join("stdin");
    std::fs::write(&stdin_file, input).expect("write stdin file");
    let fifo = dir.join("release");
    // A second measurement on the same environment starts afresh.
    for old in ["release", "stopped"] {
        let _ = std::fs::remove_file(dir.join(old));
    }
    make_node(&fifo, rustix::fs::FileType::Fifo, 0);
    let run = format!(
        "run {args} < {} > {} 2> {}",
        stdin_file.display(),
        dir.join("stdout").display(),
        dir.join("stderr").display()
    );
    // gdb buffers what it prints to a pipe, so the stop is reported through a file.
    let stopped = dir.join("stopped");
    let report = format!(
        "pipe info proc | cat > {0}.tmp && mv {0}.tmp {0}",
        stopped.display()
    );
    let release = format!("shell read line < {}", fifo.display());
    let mut gdb = Reaped(
        env.program(
            "gdb",
            [
                "-nx",
                "-q",
                "-batch",
                "-ex",
                "set breakpoint pending on",
                "-ex",
                "break exit",
                "-ex",
                &run,
                "-ex",
                &report,
                "-ex",
                &release,
                "-ex",
                "kill",
                BIN,
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gdb is installed (apt install gdb)"),
    );
    let pid = loop {
        if let Ok(text) = std::fs::read_to_string(&stopped) {
            let line = text.lines().next().unwrap_or_default();
            match line.strip_prefix("process ").map(str::parse::<u32>) {
                Some(Ok(pid)) => break pid,
                _ => panic!(
                    "the CLI never stopped at exit: {text}\n{}",
                    std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
                ),
            }
        }
        if let Some(status) = gdb.0.try_wait().expect("wait for gdb") {
            panic!("gdb ended ({status}) before the CLI stopped at exit");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let scan = Scan::of_process(pid, needles);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .and_then(|mut f| f.write_all(b"\n"))
        .expect("release gdb");
    let status = gdb.0.wait().expect("wait for gdb");
    assert!(status.success(), "gdb failed: {status}");
    eprintln!("memory[cli {args}]: {scan}");
    scan
}

#[test]
fn the_cli_set_path_leaves_no_copy() {
    if !root_or_skip("the_cli_set_path_leaves_no_copy") {
        return;
    }
    // One `ChaCha20` block: the length that showed the cipher's stack copies.
    let env = TestEnv::new();
    let secret = random_secret(64);
    let scan = measure_cli(
        &env,
        "--key-source file set",
        &format!("{secret}\n"),
        &[Needle::secret(&secret)],
    );
    scan.assert_clean("cli set");
    assert_eq!(env.get(), secret, "the CLI stored the value");
}

#[test]
fn the_cli_forced_set_and_rotate_leave_no_copy_of_the_values_or_the_key() {
    if !root_or_skip("the_cli_forced_set_and_rotate_leave_no_copy_of_the_values_or_the_key") {
        return;
    }
    let old = random_secret(64);
    let new = random_secret(64);
    let env = vault_holding(&old);
    let [key_text, key_raw] = Needle::vault_key(&env);
    let scan = measure_cli(
        &env,
        "set --force",
        &format!("{new}\n"),
        &[
            Needle::secret(&old),
            Needle::secret(&new),
            key_text,
            key_raw,
        ],
    );
    scan.assert_clean("cli set --force");
    assert_eq!(env.get(), new, "the CLI replaced the value");
    let [key_text, key_raw] = Needle::vault_key(&env);
    let scan = measure_cli(
        &env,
        "rotate --grace 1h",
        "",
        &[Needle::secret(&new), key_text, key_raw],
    );
    scan.assert_clean("cli rotate");
    assert_ne!(env.get(), new, "the CLI rotated");
}

#[test]
fn a_run_whose_exec_fails_leaves_no_copy_of_the_secret() {
    if !root_or_skip("a_run_whose_exec_fails_leaves_no_copy_of_the_secret") {
        return;
    }
    let secret = random_secret(64);
    let env = vault_holding(&secret);
    let scan = measure_cli(
        &env,
        "run -- /nonexistent/command",
        "",
        &[Needle::secret(&secret)],
    );
    scan.assert_clean("cli run with a failed exec");
}

/// `backup` seals its JSON document (which holds the secret) through age's `StreamWriter`,
/// whose 64 KiB plaintext chunk age frees without wiping: the command line's allocator
/// zeroes every block it frees, so no copy is left (it once left exactly that one; see
/// SECURITY.md).
#[test]
fn the_cli_backup_path_leaves_no_copy() {
    if !root_or_skip("the_cli_backup_path_leaves_no_copy") {
        return;
    }
    let secret = random_secret(64);
    let env = vault_holding(&secret);
    let key = env.home().join("backup.key");
    let recipient = age::keygen(&env, &key);
    let backup = env.home().join("b.age");
    let args = format!("backup --out {} --recipient {recipient}", backup.display());
    let scan = measure_cli(&env, &args, "", &[Needle::secret(&secret)]);
    assert!(backup.exists(), "no backup was written");
    scan.assert_clean("cli backup");
}

#[test]
fn run_replaces_itself_with_the_command() {
    // `run` execs CMD: the kernel discards the address space that held the decrypted
    // secret, so there is no parent left to hold a copy. Proof: the PID that ran
    // `continuum-vault run -- sleep` becomes `sleep` itself, with no child of its own.
    let env = TestEnv::new();
    let _ = env.get();
    let mut child = Reaped(
        env.cmd(["run", "--", "sleep", "30"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn run"),
    );
    let pid = child.0.id();
    // Until the exec: the name may still be the test thread's, then `continuum-vault`.
    loop {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "sleep" {
            break;
        }
        if let Some(status) = child.0.try_wait().expect("wait") {
            panic!("`run -- sleep 30` ended ({status}) without becoming sleep");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    assert_eq!(cmdline, b"sleep\x0030\x00");
    assert_eq!(
        children_of(pid),
        Vec::<u32>::new(),
        "sleep runs in the same process, not in a child"
    );
}

/// The PIDs whose parent is `pid` (from `/proc/*/stat`).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if parent == Some(pid) {
            out.push(child);
        }
    }
    out
}

/// The passphrase of `backup --passphrase-file` is read into one zeroizing buffer (no
/// `BufReader` or growing `String` in between): once the CLI has returned from `main`, no
/// copy of it is left.
#[test]
fn the_cli_passphrase_file_path_leaves_no_copy_of_the_passphrase() {
    if !root_or_skip("the_cli_passphrase_file_path_leaves_no_copy_of_the_passphrase") {
        return;
    }
    let (env, _) = made_vault();
    let passphrase = random_secret(64);
    let file = env.home().join("pass");
    std::fs::write(&file, format!("{passphrase}\nnot part of it\n")).expect("write pass");
    let backup = env.home().join("b.age");
    let args = format!(
        "backup --out {} --passphrase-file {}",
        backup.display(),
        file.display()
    );
    let scan = measure_cli(&env, &args, "", &[Needle::secret(&passphrase)]);
    assert!(backup.exists(), "no backup was written");
    scan.assert_clean("cli backup --passphrase-file");
}
