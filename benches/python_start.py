"""Start-up cost of the Python package against the server's own loader, side by side.

In fresh interpreters (one per sample, alternating), measures from just before
`import continuum_vault` to holding the secret (key file, an existing vault), and, for the
server's loader, from just before `import secrets` / `from pathlib import Path` to holding
the secret read from its plaintext file. Prints both medians and their ratio.

    python benches/python_start.py [SAMPLES]

Run it with the interpreter of a venv where the package is installed from a release build
(`bash scripts/test-python.sh` makes one: target/test-venv).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

VAULT = """
import time
t0 = time.perf_counter_ns()
import continuum_vault
secret = continuum_vault.get_or_generate_jwt_secret()
t1 = time.perf_counter_ns()
assert len(secret) == 43
print(t1 - t0)
"""

# The server's loader (continuum/api/admin_db.py) as it is before the upgrade, which makes
# the secret at import; the same text the upgrade test runs.
LOADER = Path(__file__).resolve().parents[1] / "python/tests/server/admin_db_before.py"
SERVER = f"""
import time
t0 = time.perf_counter_ns()
{LOADER.read_text()}
secret = JWT_SECRET
t1 = time.perf_counter_ns()
assert len(secret) == 43
print(t1 - t0)
"""


def sample(code: str, home: Path, extra: dict[str, str]) -> int:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **extra}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    # The time is the last line: the server's first run prints its notice before it.
    return int(out.stdout.split()[-1])


def main() -> None:
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    with tempfile.TemporaryDirectory() as root:
        vault_home, server_home = Path(root, "vault"), Path(root, "server")
        vault_home.mkdir()
        server_home.mkdir()
        vault_env = {
            "XDG_CONFIG_HOME": str(vault_home / ".config"),
            "CONTINUUM_VAULT_KEY_SOURCE": "file",
        }
        # First runs create both secrets; they are not measured.
        sample(VAULT, vault_home, vault_env)
        sample(SERVER, server_home, {})
        vault_ns: list[int] = []
        server_ns: list[int] = []
        for _ in range(samples):
            vault_ns.append(sample(VAULT, vault_home, vault_env))
            server_ns.append(sample(SERVER, server_home, {}))
    vault = statistics.median(vault_ns) / 1e6
    server = statistics.median(server_ns) / 1e6
    print(f"python {sys.version.split()[0]}, {samples} fresh processes each, medians:")
    print(f"  continuum_vault (import + get_or_generate_jwt_secret, key file): {vault:.3f} ms")
    print(f"  server loader   (import secrets, pathlib + read the file):       {server:.3f} ms")
    print(f"  ratio: {vault / server:.2f}x")


if __name__ == "__main__":
    main()
