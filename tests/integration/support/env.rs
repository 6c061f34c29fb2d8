//! A scrubbed environment for running the real `continuum-vault` binary: a temporary HOME
//! and XDG dirs, no inherited variables, and (unless a keyring is attached) no session bus.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::keyring::SecretService;

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_continuum-vault");

/// The name of the vault's metadata file in the vault dir.
pub(crate) const METADATA_FILE: &str = ".continuum-vault.json";

/// One isolated user: HOME, config and runtime dirs, and the variables a child sees.
pub(crate) struct TestEnv {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    vars: Vec<(String, String)>,
}

impl TestEnv {
    /// A user with no session bus: the keyring is unreachable (fast: no socket to connect to).
    pub(crate) fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let home = tmp.path().join("home");
        let runtime = tmp.path().join("run");
        for dir in [&home, &runtime] {
            std::fs::create_dir(dir).expect("create dir");
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        }
        let vars = vec![
            ("HOME".into(), home.display().to_string()),
            (
                "XDG_CONFIG_HOME".into(),
                home.join(".config").display().to_string(),
            ),
            ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
            (
                "PATH".into(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            ),
        ];
        Self {
            _tmp: tmp,
            home,
            vars,
        }
    }

    /// A user whose session bus is `ss`'s, with a running, unlocked Secret Service.
    pub(crate) fn with_keyring(ss: &SecretService) -> Self {
        let mut env = Self::new();
        for (k, v) in ss.env() {
            if k.starts_with("DBUS") || k == "XDG_RUNTIME_DIR" {
                env.set(&k, &v);
            }
        }
        env
    }

    /// Sets (or replaces) a variable the child will see.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
        self
    }

    /// Removes a variable, so the child does not see it at all.
    pub(crate) fn unset(&mut self, key: &str) -> &mut Self {
        self.vars.retain(|(k, _)| k != key);
        self
    }

    pub(crate) fn home(&self) -> &Path {
        &self.home
    }

    pub(crate) fn vault_dir(&self) -> PathBuf {
        self.home.join(".continuum")
    }

    pub(crate) fn secret_path(&self) -> PathBuf {
        self.vault_dir().join("jwt_secret")
    }

    pub(crate) fn key_dir(&self) -> PathBuf {
        self.home.join(".config/continuum-vault")
    }

    /// The vault's metadata file.
    pub(crate) fn metadata_path(&self) -> PathBuf {
        self.vault_dir().join(METADATA_FILE)
    }

    /// Creates the vault dir, mode 0700, as a first run would.
    pub(crate) fn make_vault_dir(&self) {
        std::fs::create_dir(self.vault_dir()).expect("create the vault dir");
        chmod(&self.vault_dir(), 0o700);
    }

    /// A vault dir (mode 0700) holding only a legacy plaintext secret file: `value` and a
    /// newline, with mode `mode`.
    pub(crate) fn write_legacy_secret(&self, value: &str, mode: u32) {
        self.make_vault_dir();
        std::fs::write(self.secret_path(), format!("{value}\n")).expect("write the secret");
        chmod(&self.secret_path(), mode);
    }

    /// The one key file in [`key_dir`](Self::key_dir) (file key source).
    pub(crate) fn key_file(&self) -> PathBuf {
        let mut keys: Vec<PathBuf> = std::fs::read_dir(self.key_dir())
            .expect("the key dir")
            .map(|e| e.expect("list the key dir").path())
            .collect();
        assert_eq!(keys.len(), 1, "one key file: {keys:?}");
        keys.pop().expect("one key file")
    }

    /// `continuum-vault run -- sh -c SCRIPT`: what a server started by `run` sees.
    pub(crate) fn run_sh(&self, script: &str) -> Run {
        self.run_names_sh(&[], script)
    }

    /// `continuum-vault run --name NAME... -- sh -c SCRIPT`: what a server started by `run`
    /// with these secrets sees.
    pub(crate) fn run_names_sh(&self, names: &[&str], script: &str) -> Run {
        let mut args = vec!["run"];
        for name in names {
            args.extend(["--name", name]);
        }
        args.extend(["--", "sh", "-c", script]);
        self.run(&args)
    }

    /// The binary with exactly this environment.
    pub(crate) fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.program(BIN, args)
    }

    /// Runs the binary with `args` under `strace -f -qq OPTIONS` (`apt install strace`),
    /// asserting that it succeeds; returns the trace.
    pub(crate) fn strace(&self, options: &[&str], args: &[&str]) -> String {
        let log = self.home.join("strace.log");
        let mut strace_args = vec!["-f", "-qq"];
        strace_args.extend_from_slice(options);
        strace_args.extend(["-o", log.to_str().expect("UTF-8 path"), BIN]);
        strace_args.extend_from_slice(args);
        Run(self
            .program("strace", &strace_args)
            .output()
            .expect("strace is installed (apt install strace)"))
        .assert_code(0);
        std::fs::read_to_string(&log).expect("the trace")
    }

    /// Any program with exactly this environment.
    pub(crate) fn program<I, S>(&self, program: impl AsRef<OsStr>, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the binary and returns its output.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        Run(self.cmd(args).output().expect("run continuum-vault"))
    }

    /// Runs the binary with `input` on standard input.
    pub(crate) fn run_with_input(&self, args: &[&str], input: &[u8]) -> Run {
        feed(self.cmd(args), input)
    }

    /// What `run` hands a command as the previous secret ("" when there is none).
    pub(crate) fn previous_secret(&self) -> String {
        self.run_sh("printf %s \"${CONTINUUM_JWT_SECRET_PREVIOUS-}\"")
            .assert_code(0)
            .stdout()
    }

    /// `get`, asserting success, returning the printed secret.
    pub(crate) fn get(&self) -> String {
        self.printed(&["get"])
    }

    /// Runs the binary with `args`, asserting success; returns the one line it printed.
    pub(crate) fn printed(&self, args: &[&str]) -> String {
        self.run(args).assert_code(0).stdout_line()
    }
}

/// Runs `cmd` with `input` on standard input and collects its output. A command that exits
/// without reading all of it (a refusal, a usage error) is fine: that is a broken pipe.
pub(crate) fn feed(mut cmd: Command, input: &[u8]) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Err(e) = child.stdin.take().expect("stdin").write_all(input) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    Run(child.wait_with_output().expect("wait"))
}

/// What a child with a piped stderr wrote there, read to its end (lossily; a read error
/// ends it), for the message of a failure.
pub(crate) fn stderr_of(child: &mut std::process::Child) -> String {
    let mut err = Vec::new();
    let _ = std::io::Read::read_to_end(&mut child.stderr.take().expect("a piped stderr"), &mut err);
    String::from_utf8_lossy(&err).into_owned()
}

/// A finished run with assertions that print everything on failure.
pub(crate) struct Run(pub(crate) Output);

impl Run {
    pub(crate) fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }

    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// The single line on stdout, without its newline.
    pub(crate) fn stdout_line(&self) -> String {
        let out = self.stdout();
        assert!(
            out.ends_with('\n') && out.matches('\n').count() == 1,
            "expected one line, got {out:?}"
        );
        out.trim_end_matches('\n').to_owned()
    }

    #[track_caller]
    pub(crate) fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            code,
            "exit code\nstdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// Asserts exit 0 with nothing on stderr.
    #[track_caller]
    pub(crate) fn assert_quiet_success(&self) -> &Self {
        self.assert_code(0);
        assert_eq!(self.stderr(), "", "stderr of a quiet success");
        self
    }

    #[track_caller]
    pub(crate) fn assert_stderr_or_stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr().contains(needle) || self.stdout().contains(needle),
            "output lacks {needle:?}:\nstdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    #[track_caller]
    pub(crate) fn assert_stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr().contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr()
        );
        self
    }
}

/// A user whose vault a first run with the file key source made; returns the secret it
/// generated.
pub(crate) fn made_vault() -> (TestEnv, String) {
    let env = TestEnv::new();
    let secret = env.printed(&["--key-source", "file", "get"]);
    (env, secret)
}

/// A user whose vault a first `set` with the file key source made, holding `value`.
pub(crate) fn vault_holding(value: &str) -> TestEnv {
    let env = TestEnv::new();
    env.run_with_input(&["--key-source", "file", "set"], value.as_bytes())
        .assert_code(0);
    env
}

/// A private Secret Service and a user attached to it, or `None` when none can run here
/// (see [`SecretService::start`]).
pub(crate) fn keyring_user() -> Option<(SecretService, TestEnv)> {
    let ss = SecretService::start()?;
    let env = TestEnv::with_keyring(&ss);
    Some((ss, env))
}

/// Sets the mode bits of a path.
pub(crate) fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The mode bits of a path.
pub(crate) fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

/// A positive count from the environment, else `default`.
pub(crate) fn count_from_env(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// The next number of a xorshift64 sequence (`seed` must not be 0): kill moments that a
/// printed seed reproduces.
pub(crate) fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Whether a `base64url` token is 43 characters, like `secrets.token_urlsafe(32)`.
pub(crate) fn is_token_urlsafe_32(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// Whether this process is root; if not, a test that needs root is skipped, which fails
/// when `CONTINUUM_TEST_REQUIRE_KEYRING=1` (the test script and CI set it).
pub(crate) fn root_or_skip(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var_os(super::keyring::REQUIRE_ENV).is_none_or(|v| v != "1"),
        "{test} needs root (it switches to `nobody`); the full suite runs as root"
    );
    eprintln!("SKIPPED {test}: needs root");
    false
}

/// A temporary HOME that `nobody` (uid 65534) owns, in a directory it can traverse.
pub(crate) fn nobody_home() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("cv-nobody-")
        .tempdir_in("/tmp")
        .expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    rustix::fs::chown(
        dir.path(),
        Some(rustix::fs::Uid::from_raw(65534)),
        Some(rustix::fs::Gid::from_raw(65534)),
    )
    .expect("chown to nobody");
    dir
}
