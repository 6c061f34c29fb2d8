#!/usr/bin/env bash
# Does a static build start `continuum-vault get` faster than the default, dynamic one?
#
#     bash benches/static.sh
#
# Builds both (release profile; the static one with glibc linked in:
# RUSTFLAGS="-C target-feature=+crt-static" --target x86_64-unknown-linux-gnu), makes a vault
# with the file key source in a throwaway HOME, and times `get` with each binary next to
# `true` (starting a process at all) and `cat` of the same secret in plaintext.
#
# Timing as in benches/compare.sh (benches/measure.sh): hyperfine without a shell (-N), ROUNDS
# rounds of RUNS runs (every command once per round, to spread drift evenly); a command's
# figure is the median of its per-round medians. Settings (environment): RUNS (default 200),
# ROUNDS (10), WARMUP (20).
# DYNAMIC and STATIC name prebuilt binaries to use instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/measure.sh

runs=${RUNS:-200}
rounds=${ROUNDS:-10}
warmup=${WARMUP:-20}
target=x86_64-unknown-linux-gnu

say() { printf '==> %s\n' "$*" >&2; }
fail() {
    printf 'benches/static.sh: %s\n' "$*" >&2
    exit 1
}
command -v hyperfine >/dev/null 2>&1 || fail "missing hyperfine (apt-get install hyperfine)"

executable() { sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1; }
dynamic=${DYNAMIC:-}
if [[ -z "$dynamic" ]]; then
    say "cargo build --release (dynamic)"
    dynamic=$(cargo build --release --bin continuum-vault --message-format=json-render-diagnostics | executable)
fi
static=${STATIC:-}
if [[ -z "$static" ]]; then
    say "cargo build --release --target $target with +crt-static"
    static=$(RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --bin continuum-vault \
        --target "$target" --message-format=json-render-diagnostics | executable)
fi
[[ -x "$dynamic" && -x "$static" ]] || fail "cannot find the binaries ('$dynamic', '$static')"
file -b "$static" | grep -q 'static' || fail "$static is not statically linked: $(file -b "$static")"

work=$(mktemp -d /tmp/cv-static.XXXXXX)
chmod 700 "$work"
trap 'rm -rf -- "$work"' EXIT
trap 'exit 130' INT TERM
mkdir -m 700 "$work/home"
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config"
unset CONTINUUM_JWT_SECRET CONTINUUM_JWT_SECRET_FILE CONTINUUM_VAULT_DIR \
    CONTINUUM_VAULT_KEY_SOURCE CONTINUUM_VAULT_KEYRING_TIMEOUT_MS DBUS_SESSION_BUS_ADDRESS

secret=$("$dynamic" --key-source file get 2>/dev/null)
[[ ${#secret} -eq 43 ]] || fail "unexpected secret from continuum-vault get"
[[ "$("$static" get 2>/dev/null)" == "$secret" ]] || fail "the static build read another secret"
printf '%s\n' "$secret" >"$work/plain"
chmod 600 "$work/plain"

names=(true cat dynamic static)
commands=(true "cat $work/plain" "$dynamic get" "$static get")
measure_rounds
collect_medians 3

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
echo
echo "$(date +%Y-%m-%d), $(nproc) cores, $(uname -sr); $(hyperfine --version); $rounds rounds x $runs runs"
echo "dynamic: $(stat -c %s "$dynamic") bytes; static: $(stat -c %s "$static") bytes"
echo
echo "| command | median (ms) | per-round medians (ms) | / cat | / dynamic get |"
echo "|---|---:|---:|---:|---:|"
for name in "${names[@]}"; do
    printf '| %s | %.3f | %s | %s | %s |\n' "$name" "${median[$name]}" "${spread[$name]}" \
        "$(ratio "${median[$name]}" "${median[cat]}")" "$(ratio "${median[$name]}" "${median[dynamic]}")"
done
