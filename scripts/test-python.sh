#!/usr/bin/env bash
# Builds the Python package (python/) into the test venv and runs its tests:
#
#     bash scripts/test-python.sh [PYTEST ARGS...]
#
# 1. Creates or reuses the venv (scripts/venv.sh) with maturin, pytest, PyJWT and mypy.
# 2. Builds the `continuum-vault` binary the tests call (status --json, rotate, migrate).
# 3. Installs the package with `pip install ./python`, exactly as a user would from a
#    checkout: pip fetches maturin into an isolated build environment and builds one abi3
#    wheel in release mode (the first build takes minutes; later ones reuse target/).
# 4. Runs pytest against a real private gnome-keyring (a missing one is a failure, not a
#    skip) and fails when no test was collected.
set -euo pipefail
cd "$(dirname "$0")/.."

step() {
    printf '\n==> %s\n' "$*"
}

step "test venv"
venv="$(bash scripts/venv.sh maturin pytest pyjwt mypy)"
echo "$venv"

step "cargo build --bin continuum-vault"
cargo build --bin continuum-vault
bin="$PWD/target/debug/continuum-vault"

step "pip install ./python"
"$venv/bin/python" -m pip install -q --force-reinstall --no-deps ./python </dev/null

step "pytest python/tests"
# `pytest`, not `python -m pytest`, run from the tests' own directory: the tests (and the
# Python processes they start with `python -c`, which puts the working directory first on
# sys.path) import the installed package, never the source directory python/continuum_vault.
cd python/tests
status=0
CONTINUUM_VAULT_BIN="$bin" CONTINUUM_TEST_REQUIRE_KEYRING=1 PYTHONSAFEPATH=1 \
    "$venv/bin/pytest" -p no:cacheprovider --rootdir=.. "$@" . || status=$?
if ((status == 5)); then
    echo "scripts/test-python.sh: no tests were collected" >&2
fi
exit "$status"
