# mypy: ignore-errors
"""The CONTINUUM API server's JWT secret loader (continuum/api/admin_db.py) as it is before
the upgrade: env, file, generate at import. Read as text by python/tests/test_upgrade.py
and benches/python_start.py; never imported by the tests (and kept as the server has it,
untyped: mypy skips it)."""
import os
import secrets
from pathlib import Path


def get_or_generate_jwt_secret():
    env_secret = os.environ.get("CONTINUUM_JWT_SECRET")
    if env_secret:
        return env_secret
    secret_file = Path.home() / ".continuum" / "jwt_secret"
    if secret_file.exists():
        return secret_file.read_text().strip()
    secret = secrets.token_urlsafe(32)
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    secret_file.write_text(secret)
    secret_file.chmod(0o600)
    print(f"Generated new JWT secret: {secret_file}")
    print("For production: set CONTINUUM_JWT_SECRET")
    print("=" * 60)
    return secret


JWT_SECRET = get_or_generate_jwt_secret()
