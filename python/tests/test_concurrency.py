"""Eight Python processes starting together on a fresh HOME get one secret (real keyring)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from conftest import SecretService

WORKERS = 8

#: Waits at the barrier (one byte on standard input), then loads like the server does, and
#: prints a digest of the secret (not the secret).
WORKER = """
import hashlib, sys
sys.stdin.read(1)
from continuum_vault import get_or_generate_jwt_secret
secret = get_or_generate_jwt_secret()
print(hashlib.sha256(secret.encode()).hexdigest())
"""


def test_eight_processes_get_one_secret(keyring: SecretService) -> None:
    env = keyring.home.child_env()
    barrier, release = os.pipe()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER],
            env=env,
            stdin=barrier,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    os.close(barrier)
    # One write releases them all: each reads one byte.
    os.write(release, b"g" * WORKERS)
    os.close(release)
    results = [worker.communicate(timeout=120) for worker in workers]
    for worker, (out, err) in zip(workers, results):
        assert worker.returncode == 0, err
    digests = {out.strip() for out, _ in results}
    assert len(digests) == 1, f"{len(digests)} different secrets among {WORKERS} processes"
    generated = sum(err.count("Generated new JWT secret") for _, err in results)
    assert generated == 1, "exactly one process generates, the others read its secret"

    from continuum_vault import get_or_generate_jwt_secret

    secret = get_or_generate_jwt_secret()
    assert digests == {hashlib.sha256(secret.encode()).hexdigest()}
