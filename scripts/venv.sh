#!/usr/bin/env bash
# Creates (once) the Python virtual environment the tests use and installs the given
# PyPI packages into it; prints the venv's path on standard output.
#
#     venv="$(bash scripts/venv.sh pytest pyjwt)"
#     "$venv/bin/pytest" ...
#
# The venv lives in $CONTINUUM_TEST_VENV (default target/test-venv), so it is made per
# checkout, never touches the system Python, and is reused by later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${CONTINUUM_TEST_VENV:-$PWD/target/test-venv}"
if [[ ! -x "$venv/bin/python" ]]; then
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install -q --upgrade pip </dev/null >&2
fi
if (($# > 0)); then
    "$venv/bin/python" -m pip install -q "$@" </dev/null >&2
fi
printf '%s\n' "$venv"
