"""The upgrade, end to end, against the real keyring: a server module in the shape of the
CONTINUUM API server's `admin_db.py` makes its secret the old way (plaintext) and issues a
token; the one-line switch to `continuum_vault` verifies it with the same secret; after
`continuum-vault migrate` the file is encrypted and the token still verifies."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import SecretService, run_python

#: The server's loader as it is before the upgrade: env, file, generate at import.
OLD_LOADER = (Path(__file__).parent / "server" / "admin_db_before.py").read_text()

#: The upgrade: the one line that changes.
NEW_LOADER = """
from continuum_vault import get_or_generate_jwt_secret
JWT_SECRET = get_or_generate_jwt_secret()
"""

#: The rest of the module, the same before and after.
TOKENS = """
import datetime

import jwt


def create_access_token(username):
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    return jwt.encode({"sub": username, "exp": expires}, JWT_SECRET, algorithm="HS256")


def verify_token(token):
    return jwt.decode(token, JWT_SECRET, algorithms=["HS256"])["sub"]
"""

ISSUE = "import admin_db; print(admin_db.create_access_token('admin'))"
VERIFY = "import admin_db, sys; print(admin_db.verify_token(sys.stdin.read().strip()))"


def server(app: Path, loader: str) -> None:
    (app / "admin_db.py").write_text(loader + TOKENS)


def test_the_one_line_upgrade_keeps_sessions(
    keyring: SecretService, tmp_path: Path, cli: Path
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    env = keyring.home.child_env()
    secret_file = keyring.home.path / ".continuum" / "jwt_secret"

    server(app, OLD_LOADER)
    issued = run_python(ISSUE, env, cwd=app)
    assert issued.returncode == 0, issued.stderr
    # The old loader prints its notice on standard output; the token is the last line.
    token = issued.stdout.splitlines()[-1]
    legacy = secret_file.read_text()
    assert len(legacy) == 43, "made the old way: plaintext"

    server(app, NEW_LOADER)
    verified = run_python(VERIFY, env, stdin=token, cwd=app)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout == "admin\n"
    assert legacy not in verified.stderr
    # Explicit migration: loading uses the plaintext as it is and leaves it for `migrate`.
    assert secret_file.read_text() == legacy, "load rewrote the legacy file"

    migrated = subprocess.run(
        [str(cli), "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr
    sealed = secret_file.read_bytes()
    assert sealed.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----")
    assert legacy.encode() not in sealed

    verified = run_python(VERIFY, env, stdin=token, cwd=app)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout == "admin\n"
    issued_after = run_python(ISSUE, env, cwd=app)
    assert issued_after.returncode == 0, issued_after.stderr
    again = run_python(VERIFY, env, stdin=issued_after.stdout.strip(), cwd=app)
    assert again.stdout == "admin\n", again.stderr
