"""The type stubs match the compiled module (stubtest), and the tests type-check against
them under `mypy --strict`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE.parents[1] / "target" / "mypy-cache"


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        # From the tests' directory, so that the installed package is the one checked.
        cwd=HERE,
        env={**os.environ, "MYPY_CACHE_DIR": str(CACHE)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_stubs_match_the_module() -> None:
    result = mypy("mypy.stubtest", "continuum_vault")
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_and_tests_pass_mypy_strict() -> None:
    for target in (["-p", "continuum_vault"], ["."]):
        result = mypy("mypy", "--strict", *target)
        assert result.returncode == 0, result.stdout + result.stderr
