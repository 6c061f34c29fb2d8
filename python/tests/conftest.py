"""Fixtures: a scrubbed environment with a temporary HOME, a real private Secret Service
(gnome-keyring on a private D-Bus session bus, the recipe of
tests/integration/support/keyring.rs), and the `continuum-vault` binary."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: Set to 1 to make a missing dbus-daemon / gnome-keyring a failure instead of a skip.
REQUIRE_ENV = "CONTINUUM_TEST_REQUIRE_KEYRING"
LOGIN_PASSWORD = "continuum-test-login-password"
#: Upper bound for bringing the bus and the keyring daemon up (not a test threshold).
START_TIMEOUT = 10.0

#: Every variable the vault reads; scrubbed so that the caller's environment never leaks in.
VAULT_VARS = [
    "CONTINUUM_JWT_SECRET",
    "CONTINUUM_JWT_SECRET_FILE",
    "CONTINUUM_JWT_SECRET_PREVIOUS",
    "CONTINUUM_VAULT_DIR",
    "CONTINUUM_VAULT_KEY_SOURCE",
    "CONTINUUM_VAULT_KEYRING_TIMEOUT_MS",
    "DBUS_SESSION_BUS_ADDRESS",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_RUNTIME_DIR",
]


@dataclass
class Home:
    """A temporary HOME and the environment variables that point into it."""

    path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def secret_file(self) -> Path:
        return self.path / ".continuum" / "jwt_secret"

    def child_env(self, **extra: str) -> dict[str, str]:
        """The complete environment of a child process: PATH plus this HOME's variables."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self.env, **extra}
        # The child must import the package under test, from the same interpreter setup.
        if "PYTHONPATH" in os.environ:
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        return env


@pytest.fixture(autouse=True)
def scrubbed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in VAULT_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def file_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A temporary HOME whose vault keeps its key in a key file (no keyring)."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "CONTINUUM_VAULT_KEY_SOURCE": "file",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Home(home, env)


def _tools_available(*tools: str) -> bool:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not missing:
        return True
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but these are missing: {', '.join(missing)}")
    pytest.skip(f"no real Secret Service: missing {', '.join(missing)}")


#: The session-bus configuration every harness shares (no service directories: nothing can
#: be auto-activated); ``@LISTEN@`` is replaced with the address.
BUS_CONFIG = (REPO / "tests" / "private-bus.conf").read_text()


class SecretService:
    """A private, unlocked gnome-keyring Secret Service on a private session bus.

    The bus config lists no service directories, so nothing is ever auto-activated on it;
    `--unlock` with the password on standard input makes the `login` collection and points
    the `default` alias at it.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = Home(root / "home")
        dirs = {
            "HOME": root / "home",
            "XDG_RUNTIME_DIR": root / "runtime",
            "XDG_DATA_HOME": root / "data",
            "XDG_CONFIG_HOME": root / "config",
            "XDG_CACHE_HOME": root / "cache",
        }
        for path in dirs.values():
            path.mkdir(mode=0o700)
        sock = root / "bus.socket"
        self.bus_address = f"unix:path={sock}"
        self.home.env = {k: str(v) for k, v in dirs.items()}
        self.home.env["DBUS_SESSION_BUS_ADDRESS"] = self.bus_address
        (root / "bus.conf").write_text(BUS_CONFIG.replace("@LISTEN@", f"unix:path={sock}"))
        base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self.home.env}
        self.bus = subprocess.Popen(
            ["dbus-daemon", f"--config-file={root / 'bus.conf'}", "--nofork"],
            env=base_env,
            stdin=subprocess.DEVNULL,
            stdout=(root / "bus.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.keyring: subprocess.Popen[bytes] | None = None
        try:
            self._wait_for_socket(sock)
            self.keyring = subprocess.Popen(
                ["gnome-keyring-daemon", "--foreground", "--components=secrets", "--unlock"],
                env=base_env,
                cwd=dirs["HOME"],
                stdin=subprocess.PIPE,
                stdout=(root / "keyring.log").open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            assert self.keyring.stdin is not None
            self.keyring.stdin.write(LOGIN_PASSWORD.encode())
            self.keyring.stdin.close()
            self._wait_for_default_collection()
        except BaseException:
            self.close()
            raise

    def _wait_for_socket(self, sock: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(str(sock))
                    return
                except OSError:
                    pass
            if self.bus.poll() is not None:
                raise RuntimeError(f"dbus-daemon exited: {(self.root / 'bus.log').read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError("dbus-daemon did not listen in time")
            time.sleep(0.002)

    def _wait_for_default_collection(self) -> None:
        assert self.keyring is not None
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            out = subprocess.run(
                [
                    "dbus-send",
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.secrets",
                    "/org/freedesktop/secrets",
                    "org.freedesktop.Secret.Service.ReadAlias",
                    "string:default",
                ],
                env=self.home.child_env(),
                capture_output=True,
                text=True,
                timeout=30,
            )
            if out.returncode == 0 and '"/org/freedesktop/secrets/collection/' in out.stdout:
                return
            if self.keyring.poll() is not None:
                log = (self.root / "keyring.log").read_text()
                raise RuntimeError(f"gnome-keyring-daemon exited: {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no default collection in time: {out.stdout} {out.stderr}")
            time.sleep(0.01)

    @property
    def keyring_pid(self) -> int:
        assert self.keyring is not None
        return self.keyring.pid

    def _state(self) -> str:
        status = Path(f"/proc/{self.keyring_pid}/status").read_text()
        return next(line for line in status.splitlines() if line.startswith("State:"))

    def freeze(self) -> None:
        """SIGSTOP the keyring daemon: it keeps its bus name but answers nothing."""
        os.kill(self.keyring_pid, signal.SIGSTOP)
        while "(stopped)" not in self._state():
            time.sleep(0.001)

    def thaw(self) -> None:
        os.kill(self.keyring_pid, signal.SIGCONT)
        while "(stopped)" in self._state():
            time.sleep(0.001)

    def close(self) -> None:
        for process in (self.keyring, self.bus):
            if process is None:
                continue
            if process.poll() is None:
                # SIGKILL also ends a daemon stopped by `freeze`.
                process.kill()
            process.wait()


@pytest.fixture
def keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretService]:
    """A real Secret Service of this test's own, with this process's environment pointing
    at it (HOME, the XDG directories and DBUS_SESSION_BUS_ADDRESS)."""
    _tools_available("dbus-daemon", "dbus-send", "gnome-keyring-daemon")
    # Short, so that the bus socket path fits into sun_path.
    root = Path(tempfile.mkdtemp(prefix="cv-keyring-", dir="/tmp"))
    os.chmod(root, 0o700)
    try:
        service = SecretService(root)
        try:
            for key, value in service.home.env.items():
                monkeypatch.setenv(key, value)
            yield service
        finally:
            service.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def cli() -> Path:
    """The `continuum-vault` binary: $CONTINUUM_VAULT_BIN, else the workspace's debug build."""
    given = os.environ.get("CONTINUUM_VAULT_BIN")
    path = Path(given) if given else REPO / "target" / "debug" / "continuum-vault"
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"no continuum-vault binary at {path}: run `cargo build --bin continuum-vault` "
            "or set CONTINUUM_VAULT_BIN (scripts/test-python.sh does)"
        )
    return path


def run_python(
    code: str, env: dict[str, str], *, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a fresh interpreter (this one's) with exactly `env`."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
