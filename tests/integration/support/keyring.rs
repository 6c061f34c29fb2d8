//! Hermetic, headless Secret Service instances for integration tests.
//!
//! [`SecretService::start`] gives the calling test its own private D-Bus
//! session bus and its own `gnome-keyring-daemon`, both living in a fresh
//! temporary directory that also serves as `HOME`, `XDG_RUNTIME_DIR` and the
//! XDG data/config/cache directories. Nothing touches the developer's real
//! session bus or keyring, and any number of instances can run side by side
//! (every instance has its own directory and socket).
//!
//! The recipe:
//!
//! 1. `dbus-daemon --config-file=<dir>/bus.conf --nofork`, where the
//!    configuration listens on `unix:path=<dir>/bus.socket` and lists **no**
//!    service directories, so nothing can ever be auto-activated on it (no
//!    second keyring daemon, no GUI prompter).
//! 2. `gnome-keyring-daemon --foreground --components=secrets --unlock` with
//!    the login password written to its standard input (no trailing newline)
//!    and then closed. `--unlock` is what makes the daemon create the `login`
//!    collection and point the `default` alias at it; without it there is no
//!    default collection and every write fails.
//! 3. Poll `org.freedesktop.Secret.Service.ReadAlias("default")` until it
//!    names a collection (bounded by [`START_TIMEOUT`]). This implies that
//!    `org.freedesktop.secrets` has an owner.
//!
//! All processes of an instance share one process group that is led by a tiny
//! watchdog shell. The watchdog blocks reading a pipe whose only writer is the
//! test process; when the test process dies without running destructors
//! (killed by a timeout, aborted), the pipe closes and the watchdog stops the
//! whole group and removes the temporary directory, so daemons never outlive
//! the test run. In the normal case the destructor kills the group, reaps
//! every process itself and removes the directory.
//!
//! [`BareBus`] starts the same kind of private bus without any Secret Service,
//! for testing how code behaves when the service is absent.
//!
//! Environment variables:
//!
//! * [`REQUIRE_ENV`] (`CONTINUUM_TEST_REQUIRE_KEYRING=1`): a missing tool is a
//!   test failure (panic) instead of a skip (`None`).
//! * [`LOG_ENV`] (`CONTINUUM_TEST_KEYRING_LOG=<file>`): every successful
//!   [`SecretService::start`] appends one line naming the calling test, so
//!   `scripts/test.sh` can report how many tests used a real Secret Service.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};
use tempfile::TempDir;

/// Set to `1` to turn a missing `dbus-daemon` / `gnome-keyring-daemon` into a
/// panic instead of a skip.
pub(crate) const REQUIRE_ENV: &str = "CONTINUUM_TEST_REQUIRE_KEYRING";

/// Names a file to which every successful [`SecretService::start`] appends
/// `<test binary>\t<test name>`.
pub(crate) const LOG_ENV: &str = "CONTINUUM_TEST_KEYRING_LOG";

/// Password of the `login` keyring of every test instance.
pub(crate) const LOGIN_PASSWORD: &str = "continuum-test-login-password";

/// Upper bound for bringing up the bus and the keyring daemon.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Upper bound for one helper command (`secret-tool`, `dbus-send`).
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The `service` attribute of every item continuum-vault keeps.
pub(crate) const VAULT_SERVICE: &str = "continuum-vault";

/// Well-known bus name of the Secret Service.
const SECRETS_NAME: &str = "org.freedesktop.secrets";

/// Object path of the Secret Service itself.
const SECRETS_PATH: &str = "/org/freedesktop/secrets";

/// Prefix of every collection object path.
const COLLECTION_PREFIX: &str = "/org/freedesktop/secrets/collection/";

/// Longest socket path that fits into `sockaddr_un.sun_path` with its NUL.
const MAX_SOCKET_PATH: usize = 107;

/// Tools needed for a [`SecretService`], with the Debian package of each.
const SECRET_SERVICE_TOOLS: &[(&str, &str)] = &[
    ("dbus-daemon", "dbus-daemon"),
    ("dbus-send", "dbus-bin"),
    ("gnome-keyring-daemon", "gnome-keyring"),
];

/// Tools needed for a [`BareBus`], with the Debian package of each.
const BARE_BUS_TOOLS: &[(&str, &str)] =
    &[("dbus-daemon", "dbus-daemon"), ("dbus-send", "dbus-bin")];

/// A private, unlocked gnome-keyring Secret Service on a private session bus.
///
/// Dropping it kills both daemons, reaps them and removes the temporary
/// directory (see [`BareBus`], which it runs on).
pub(crate) struct SecretService {
    /// The private bus; the keyring daemon runs in its process group.
    bus: BareBus,
    /// Process id of `gnome-keyring-daemon`.
    keyring_pid: Pid,
    /// Object path the `default` alias resolved to (normally `.../login`).
    default_collection: String,
}

impl SecretService {
    /// Starts a private bus and an unlocked gnome-keyring on it.
    ///
    /// Returns `None` when `dbus-daemon`, `dbus-send` or
    /// `gnome-keyring-daemon` is not installed, unless [`REQUIRE_ENV`] is `1`.
    ///
    /// # Panics
    ///
    /// When a tool is missing and [`REQUIRE_ENV`] is `1`, and on any failure
    /// to start the daemons (the message includes their output).
    #[must_use]
    pub(crate) fn start() -> Option<Self> {
        if !tools_available(SECRET_SERVICE_TOOLS) {
            return None;
        }
        let mut bus = BareBus::start_unchecked();
        let log = bus.dirs.file("keyring.log");
        let mut keyring = Command::new("gnome-keyring-daemon");
        keyring
            .args(["--foreground", "--components=secrets", "--unlock"])
            .current_dir(&bus.dirs.home)
            .stdout(Stdio::from(
                log.try_clone().expect("cannot clone keyring log handle"),
            ))
            .stderr(Stdio::from(log));
        bus.dirs.apply_env(&mut keyring, &bus.address);
        let keyring_pid = bus
            .processes
            .spawn("gnome-keyring-daemon", &mut keyring, |stdin| {
                stdin.write_all(LOGIN_PASSWORD.as_bytes())
            });

        let mut service = Self {
            bus,
            keyring_pid,
            default_collection: String::new(),
        };
        service.default_collection = service.wait_for_default_collection();
        record_use();
        Some(service)
    }

    /// `DBUS_SESSION_BUS_ADDRESS` of this instance's private bus.
    #[must_use]
    pub(crate) fn bus_address(&self) -> &str {
        &self.bus.address
    }

    /// Every environment variable a child process needs to reach this
    /// keyring, and nothing else: `DBUS_SESSION_BUS_ADDRESS`, `HOME`,
    /// `XDG_RUNTIME_DIR`, `XDG_DATA_HOME`, `XDG_CONFIG_HOME` and
    /// `XDG_CACHE_HOME` (all of the latter inside the instance's directory).
    #[must_use]
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        self.bus.dirs.env(&self.bus.address)
    }

    /// The instance's `HOME`, a private directory inside its temporary root.
    #[must_use]
    pub(crate) fn home(&self) -> &Path {
        &self.bus.dirs.home
    }

    /// Process id of the instance's `gnome-keyring-daemon`.
    #[must_use]
    pub(crate) fn keyring_pid(&self) -> u32 {
        self.keyring_pid.as_raw_nonzero().get().unsigned_abs()
    }

    /// Process ids of every process this instance started (watchdog, bus,
    /// keyring daemon), for checking that none outlives the instance.
    #[must_use]
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.bus.processes.pids()
    }

    /// Object path of the collection behind the `default` alias (with
    /// gnome-keyring: `/org/freedesktop/secrets/collection/login`).
    #[must_use]
    pub(crate) fn default_collection(&self) -> &str {
        &self.default_collection
    }

    /// A command for `program` whose environment is exactly `PATH` plus
    /// [`Self::env`].
    #[must_use]
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.current_dir(&self.bus.dirs.home);
        self.bus.dirs.apply_env(&mut command, &self.bus.address);
        command
    }

    /// Runs `secret-tool` with `args` against this instance, with an empty
    /// standard input, and returns its output (whatever its exit status).
    ///
    /// # Panics
    ///
    /// When `secret-tool` cannot be run or takes longer than
    /// [`COMMAND_TIMEOUT`].
    #[must_use]
    pub(crate) fn secret_tool(&self, args: &[&str]) -> Output {
        self.secret_tool_with_input(args, b"")
    }

    /// Runs `secret-tool` with `args` and `input` on its standard input
    /// (e.g. the secret for `secret-tool store`).
    ///
    /// # Panics
    ///
    /// When `secret-tool` cannot be run or takes longer than
    /// [`COMMAND_TIMEOUT`].
    #[must_use]
    pub(crate) fn secret_tool_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        let mut command = self.command("secret-tool");
        command.args(args);
        run_bounded(&mut command, input, COMMAND_TIMEOUT)
    }

    /// Everything `secret-tool search --all` prints (on stdout and stderr) about the items
    /// continuum-vault keeps here.
    #[must_use]
    pub(crate) fn vault_listing(&self) -> String {
        let out = self.secret_tool(&["search", "--all", "service", VAULT_SERVICE]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// How many vault keys continuum-vault keeps here.
    #[must_use]
    pub(crate) fn vault_items(&self) -> usize {
        self.vault_listing()
            .lines()
            .filter(|l| l.starts_with("attribute.username = vault:"))
            .count()
    }

    /// Runs `secret-tool COMMAND... service continuum-vault username vault:ID` (the item
    /// of vault `id`'s key) with `input` on its standard input.
    #[must_use]
    pub(crate) fn vault_key_tool(&self, command: &[&str], id: &str, input: &[u8]) -> Output {
        let username = format!("vault:{id}");
        let mut args = command.to_vec();
        args.extend(["service", VAULT_SERVICE, "username", &username]);
        self.secret_tool_with_input(&args, input)
    }

    /// Calls `method` of the Secret Service interface on the service object
    /// through `dbus-send`, returning its output.
    fn call_service(&self, method: &str, args: &[&str], timeout: Duration) -> Output {
        let mut command = self.command("dbus-send");
        command
            .args([
                "--session",
                "--print-reply",
                &format!("--dest={SECRETS_NAME}"),
                SECRETS_PATH,
                &format!("org.freedesktop.Secret.Service.{method}"),
            ])
            .args(args);
        run_bounded(&mut command, b"", timeout)
    }

    /// Locks the default (login) collection, as a screen locker or
    /// `secret-tool lock` would.
    ///
    /// Afterwards `secret-tool lookup` of an existing item prints nothing and
    /// exits with status 1 (its unlock prompt fails at once because no
    /// prompter can be activated on the private bus), while
    /// `secret-tool search` still lists the item's attributes.
    ///
    /// # Panics
    ///
    /// When the `Lock` call fails or does not report the collection locked.
    pub(crate) fn lock_collection(&self) {
        let collection = format!("array:objpath:{}", self.default_collection);
        let output = self.call_service("Lock", &[&collection], COMMAND_TIMEOUT);
        assert!(
            output.status.success() && self.is_collection_locked(),
            "locking {} failed: {}",
            self.default_collection,
            describe_output(&output),
        );
    }

    /// Whether the default collection is currently locked.
    ///
    /// # Panics
    ///
    /// When the `Locked` property cannot be read.
    #[must_use]
    pub(crate) fn is_collection_locked(&self) -> bool {
        let mut command = self.command("dbus-send");
        command.args([
            "--session",
            "--print-reply",
            &format!("--dest={SECRETS_NAME}"),
            &self.default_collection,
            "org.freedesktop.DBus.Properties.Get",
            "string:org.freedesktop.Secret.Collection",
            "string:Locked",
        ]);
        let output = run_bounded(&mut command, b"", COMMAND_TIMEOUT);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "reading Locked of {} failed: {}",
            self.default_collection,
            describe_output(&output),
        );
        stdout.contains("boolean true")
    }

    /// Stops the keyring daemon with `SIGSTOP`: it keeps its bus name but
    /// answers nothing until [`Self::thaw`].
    ///
    /// # Panics
    ///
    /// When the signal cannot be sent.
    pub(crate) fn freeze(&self) {
        rustix::process::kill_process(self.keyring_pid, Signal::STOP)
            .expect("cannot SIGSTOP gnome-keyring-daemon");
        self.wait_until_stopped(true);
    }

    /// Resumes a daemon stopped by [`Self::freeze`] with `SIGCONT`.
    ///
    /// # Panics
    ///
    /// When the signal cannot be sent.
    pub(crate) fn thaw(&self) {
        rustix::process::kill_process(self.keyring_pid, Signal::CONT)
            .expect("cannot SIGCONT gnome-keyring-daemon");
        self.wait_until_stopped(false);
    }

    /// Waits until the kernel reports the keyring daemon as stopped (or, for
    /// `false`, as no longer stopped): signals are delivered asynchronously.
    fn wait_until_stopped(&self, stopped: bool) {
        let status_file = format!("/proc/{}/status", self.keyring_pid());
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let status = fs::read_to_string(&status_file)
                .unwrap_or_else(|e| panic!("cannot read {status_file}: {e}"));
            let is_stopped = status
                .lines()
                .any(|line| line.starts_with("State:") && line.contains("(stopped)"));
            if is_stopped == stopped {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gnome-keyring-daemon did not become {} within {START_TIMEOUT:?}",
                if stopped { "stopped" } else { "running" },
            );
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Polls `ReadAlias("default")` until it names a collection, returning
    /// its object path.
    fn wait_for_default_collection(&mut self) -> String {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.bus.processes.exited("gnome-keyring-daemon") {
                panic!(
                    "gnome-keyring-daemon exited during start-up ({status}); its output:\n{}",
                    self.bus.dirs.read_log("keyring.log"),
                );
            }
            let output =
                self.call_service("ReadAlias", &["string:default"], Duration::from_secs(2));
            if output.status.success()
                && let Some(path) = object_path_in(&String::from_utf8_lossy(&output.stdout))
            {
                return path;
            }
            assert!(
                Instant::now() < deadline,
                "gnome-keyring-daemon did not provide a default collection within {START_TIMEOUT:?}; \
                 last ReadAlias: {}\nkeyring output:\n{}\nbus output:\n{}",
                describe_output(&output),
                self.bus.dirs.read_log("keyring.log"),
                self.bus.dirs.read_log("bus.log"),
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A private session bus with no Secret Service and no service activation.
///
/// Calls to `org.freedesktop.secrets` on it fail at once with
/// `org.freedesktop.DBus.Error.ServiceUnknown`. Dropping it kills and reaps
/// the bus and removes its directory.
pub(crate) struct BareBus {
    /// The bus daemon and its watchdog.
    processes: ProcessGroup,
    /// `DBUS_SESSION_BUS_ADDRESS` of the bus.
    address: String,
    /// The per-instance directory layout.
    dirs: Dirs,
    /// Owns the temporary directory; removed on drop.
    _root: TempDir,
}

impl BareBus {
    /// Starts the bus.
    ///
    /// Returns `None` when `dbus-daemon` or `dbus-send` is not installed,
    /// unless [`REQUIRE_ENV`] is `1`.
    ///
    /// # Panics
    ///
    /// When a tool is missing and [`REQUIRE_ENV`] is `1`, and when the bus
    /// fails to start.
    #[must_use]
    pub(crate) fn start() -> Option<Self> {
        tools_available(BARE_BUS_TOOLS).then(Self::start_unchecked)
    }

    /// Starts the bus; the caller has checked that the tools are there.
    fn start_unchecked() -> Self {
        let root = make_root_dir();
        let dirs = Dirs::create(root.path());
        let mut processes = ProcessGroup::start(root.path());
        let address = start_bus(&mut processes, &dirs);
        Self {
            processes,
            address,
            dirs,
            _root: root,
        }
    }

    /// `DBUS_SESSION_BUS_ADDRESS` of the bus.
    #[must_use]
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// The environment a child process needs to use this bus (and no other):
    /// `DBUS_SESSION_BUS_ADDRESS`, `HOME` and the XDG directories, all
    /// private to this instance.
    #[must_use]
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        self.dirs.env(&self.address)
    }

    /// Process ids of every process this instance started.
    #[must_use]
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.processes.pids()
    }
}

/// The directories of one instance, all inside its temporary root.
struct Dirs {
    /// The temporary root itself (mode 0700).
    root: PathBuf,
    /// `HOME`.
    home: PathBuf,
    /// `XDG_RUNTIME_DIR` (mode 0700, as the spec requires).
    runtime: PathBuf,
    /// `XDG_DATA_HOME` (gnome-keyring keeps `keyrings/` here).
    data: PathBuf,
    /// `XDG_CONFIG_HOME`.
    config: PathBuf,
    /// `XDG_CACHE_HOME`.
    cache: PathBuf,
}

impl Dirs {
    /// Creates the layout under `root`.
    fn create(root: &Path) -> Self {
        let make = |name: &str| {
            let path = root.join(name);
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&path)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
            path
        };
        Self {
            root: root.to_path_buf(),
            home: make("home"),
            runtime: make("runtime"),
            data: make("data"),
            config: make("config"),
            cache: make("cache"),
        }
    }

    /// The environment of processes attached to `bus_address`.
    fn env(&self, bus_address: &str) -> Vec<(String, String)> {
        let text = |path: &Path| {
            path.to_str()
                .expect("temporary directory path is not UTF-8")
                .to_owned()
        };
        vec![
            (
                "DBUS_SESSION_BUS_ADDRESS".to_owned(),
                bus_address.to_owned(),
            ),
            ("HOME".to_owned(), text(&self.home)),
            ("XDG_RUNTIME_DIR".to_owned(), text(&self.runtime)),
            ("XDG_DATA_HOME".to_owned(), text(&self.data)),
            ("XDG_CONFIG_HOME".to_owned(), text(&self.config)),
            ("XDG_CACHE_HOME".to_owned(), text(&self.cache)),
        ]
    }

    /// Clears `command`'s environment and sets `PATH` plus [`Self::env`].
    fn apply_env(&self, command: &mut Command, bus_address: &str) {
        command.env_clear();
        if let Some(path) = env::var_os("PATH") {
            command.env("PATH", path);
        }
        command.envs(self.env(bus_address));
    }

    /// Creates (truncating) a file in the root.
    fn file(&self, name: &str) -> File {
        let path = self.root.join(name);
        File::create(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()))
    }

    /// Reads a log file in the root, for error messages.
    fn read_log(&self, name: &str) -> String {
        let path = self.root.join(name);
        fs::read(&path).map_or_else(
            |e| format!("<cannot read {}: {e}>", path.display()),
            |bytes| String::from_utf8_lossy(&bytes).into_owned(),
        )
    }
}

/// What the watchdog shell runs: wait for end-of-file on standard input (the
/// test process closed it or died), then end the group and remove the
/// instance's directory (`$1`). The shell ignores `SIGTERM`, so the group-wide
/// `SIGTERM` ends only the daemons; `SIGCONT` first wakes a frozen keyring.
const WATCHDOG_SCRIPT: &str = "read -r line; trap '' TERM; kill -CONT 0; kill -TERM 0; \
     sleep 0.2; rm -rf -- \"$1\"; kill -KILL 0";

/// Processes of one instance: a watchdog shell leading a process group, and
/// the daemons started into that group.
struct ProcessGroup {
    /// Runs [`WATCHDOG_SCRIPT`] on a pipe held only by this process.
    watchdog: Child,
    /// Process group id (the watchdog's pid).
    pgid: Pid,
    /// Daemons started into the group, by name.
    members: Vec<(&'static str, Child)>,
}

impl ProcessGroup {
    /// Starts the watchdog for the instance directory `root` in a new
    /// process group.
    fn start(root: &Path) -> Self {
        let watchdog = Command::new("sh")
            .args(["-c", WATCHDOG_SCRIPT, "continuum-keyring-watchdog"])
            .arg(root)
            .env_clear()
            .env(
                "PATH",
                env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin")),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start watchdog shell `sh`: {e}"));
        let pgid = Pid::from_child(&watchdog);
        Self {
            watchdog,
            pgid,
            members: Vec::new(),
        }
    }

    /// Starts `command` in the group with a piped standard input, feeds it
    /// through `feed`, closes it and returns the new process's pid.
    fn spawn(
        &mut self,
        name: &'static str,
        command: &mut Command,
        feed: impl FnOnce(&mut ChildStdin) -> io::Result<()>,
    ) -> Pid {
        let mut child = command
            .stdin(Stdio::piped())
            .process_group(self.pgid.as_raw_nonzero().get())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let pid = Pid::from_child(&child);
        let mut stdin = child.stdin.take().expect("stdin was configured as piped");
        let written = feed(&mut stdin);
        drop(stdin);
        self.members.push((name, child));
        written.unwrap_or_else(|e| panic!("cannot write to the standard input of {name}: {e}"));
        pid
    }

    /// The exit status of member `name` if it has exited already.
    fn exited(&mut self, name: &str) -> Option<std::process::ExitStatus> {
        let (_, child) = self
            .members
            .iter_mut()
            .find(|(member, _)| *member == name)
            .expect("no such process in the group");
        child
            .try_wait()
            .unwrap_or_else(|e| panic!("cannot poll {name}: {e}"))
    }

    /// Pids of the watchdog and all members.
    fn pids(&self) -> Vec<u32> {
        std::iter::once(self.watchdog.id())
            .chain(self.members.iter().map(|(_, child)| child.id()))
            .collect()
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SIGKILL also ends processes stopped by `SecretService::freeze`.
        // Failure means the group is already gone; reaping below still runs.
        let _ = rustix::process::kill_process_group(self.pgid, Signal::KILL);
        for (_, child) in &mut self.members {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}

/// Whether all `tools` are on `PATH`; panics listing the missing ones when
/// they are not and [`REQUIRE_ENV`] is `1`.
fn tools_available(tools: &[(&str, &str)]) -> bool {
    let missing: Vec<String> = tools
        .iter()
        .filter(|(tool, _)| find_in_path(tool).is_none())
        .map(|(tool, package)| format!("{tool} (Debian package {package})"))
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        env::var_os(REQUIRE_ENV).is_none_or(|value| value != "1"),
        "{REQUIRE_ENV}=1 but the real Secret Service cannot run; missing: {}. \
         Run `bash scripts/test.sh`, which installs them.",
        missing.join(", "),
    );
    false
}

/// The first executable file called `name` in a `PATH` directory.
fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// Creates the private temporary root (mode 0700) of one instance, short
/// enough for its bus socket path to fit into `sun_path`.
fn make_root_dir() -> TempDir {
    let builder = {
        let mut builder = tempfile::Builder::new();
        builder.prefix("continuum-keyring-");
        builder
    };
    let mut base = env::temp_dir();
    // "/continuum-keyring-XXXXXX/bus.socket" adds about 40 bytes.
    if base.as_os_str().len() > MAX_SOCKET_PATH - 48 {
        base = PathBuf::from("/tmp");
    }
    let root = builder.tempdir_in(&base).unwrap_or_else(|e| {
        panic!(
            "cannot create a temporary directory in {}: {e}",
            base.display()
        )
    });
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o700))
        .expect("cannot make the temporary directory private");
    root
}

/// Writes the bus configuration, starts `dbus-daemon` into `processes` and
/// waits until its socket accepts connections; returns the bus address.
fn start_bus(processes: &mut ProcessGroup, dirs: &Dirs) -> String {
    let socket = dirs.root.join("bus.socket");
    let socket_text = socket
        .to_str()
        .expect("temporary directory path is not UTF-8");
    assert!(
        socket_text.len() <= MAX_SOCKET_PATH,
        "bus socket path {socket_text} is too long for a unix socket",
    );
    let address = format!("unix:path={}", escape_address_value(socket_text));
    let config = dirs.root.join("bus.conf");
    fs::write(&config, bus_config(&address))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));

    let log = dirs.file("bus.log");
    let mut daemon = Command::new("dbus-daemon");
    daemon
        .arg(format!(
            "--config-file={}",
            config
                .to_str()
                .expect("temporary directory path is not UTF-8")
        ))
        .arg("--nofork")
        .current_dir(&dirs.root)
        .stdout(Stdio::from(
            log.try_clone().expect("cannot clone bus log handle"),
        ))
        .stderr(Stdio::from(log));
    dirs.apply_env(&mut daemon, &address);
    processes.spawn("dbus-daemon", &mut daemon, |_| Ok(()));

    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if UnixStream::connect(&socket).is_ok() {
            return address;
        }
        if let Some(status) = processes.exited("dbus-daemon") {
            panic!(
                "dbus-daemon exited during start-up ({status}); its output:\n{}",
                dirs.read_log("bus.log")
            );
        }
        assert!(
            Instant::now() < deadline,
            "dbus-daemon did not listen on {socket_text} within {START_TIMEOUT:?}; its output:\n{}",
            dirs.read_log("bus.log"),
        );
        thread::sleep(Duration::from_millis(2));
    }
}

/// The session-bus configuration that every harness shares: no service directories, so
/// nothing can be auto-activated.
const BUS_CONFIG: &str = include_str!("../../private-bus.conf");

/// [`BUS_CONFIG`] listening on `address`.
fn bus_config(address: &str) -> String {
    BUS_CONFIG.replace("@LISTEN@", &escape_xml(address))
}

/// Escapes a value for a D-Bus address (`%XX` for all but the optionally
/// escaped characters).
fn escape_address_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_/.\\*".contains(&byte) {
            escaped.push(char::from(byte));
        } else {
            write!(escaped, "%{byte:02x}").expect("writing to a String cannot fail");
        }
    }
    escaped
}

/// Escapes text for XML character data.
fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The first collection object path in `dbus-send --print-reply` output.
fn object_path_in(reply: &str) -> Option<String> {
    reply.lines().find_map(|line| {
        let path = line
            .trim()
            .strip_prefix("object path \"")?
            .strip_suffix('"')?;
        path.starts_with(COLLECTION_PREFIX).then(|| path.to_owned())
    })
}

/// Runs `command` with `input` on its standard input, capturing its output;
/// kills it and panics when it runs longer than `timeout`.
fn run_bounded(command: &mut Command, input: &[u8], timeout: Duration) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let pid = Pid::from_child(&child);
    let input = input.to_vec();
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        if let Some(mut stdin) = child.stdin.take() {
            // A child that exits without reading its input is not an error.
            let _ = stdin.write_all(&input);
        }
        // The receiver is gone only if the caller panicked already.
        let _ = sender.send(child.wait_with_output());
    });
    let Ok(result) = receiver.recv_timeout(timeout) else {
        // The waiting thread has not reaped the child, so `pid` is still
        // that child's.
        let _ = rustix::process::kill_process(pid, Signal::KILL);
        let output = receiver
            .recv()
            .expect("waiter thread vanished")
            .map_or_else(|e| e.to_string(), |output| describe_output(&output));
        panic!("{program} did not finish within {timeout:?}; killed it: {output}");
    };
    result.unwrap_or_else(|e| panic!("cannot collect the output of {program}: {e}"))
}

/// A one-line description of an output for error messages.
fn describe_output(output: &Output) -> String {
    format!(
        "{}; stdout: {:?}; stderr: {:?}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    )
}

/// Appends `<test binary>\t<test name>` to the file named by [`LOG_ENV`].
fn record_use() {
    let Some(path) = env::var_os(LOG_ENV).filter(|path| !path.is_empty()) else {
        return;
    };
    let binary = env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    // Cargo names test binaries `<target>-<hash>`.
    let binary = binary
        .rsplit_once('-')
        .map_or(binary.as_str(), |(name, _)| name);
    let current = thread::current();
    let test = current.name().unwrap_or("<unnamed thread>");
    let line = format!("{binary}\t{test}\n");
    // One short `O_APPEND` write per line keeps parallel writers apart.
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .unwrap_or_else(|e| panic!("cannot append to {LOG_ENV} file {}: {e}", path.display()));
}
