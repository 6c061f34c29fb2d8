#!/usr/bin/env bash
# Whether a Secret Service client's first request can abort gnome-keyring-daemon.
#
# gnome-keyring registers a caller from an idle callback; when the daemon is busy, an
# `OpenSession` that arrives first can run before it and aborts the daemon
# ("gkd_secret_service_get_pkcs11_session: assertion 'client' failed", then a GLib error).
# src/key/secret_service.rs makes another request first. Each trial starts a private
# dbus-daemon and gnome-keyring-daemon, runs one writer (creating and deleting items) and
# four readers that connect afresh for every lookup, and reports whether the daemon lived.
#
#   bash scripts/keyring-first-call.sh [TRIALS] [ROUNDS]     (defaults 4 and 3000)
#
# It prints counts, not times; nothing here is a pass/fail threshold.
set -euo pipefail
cd "$(dirname "$0")/.."
trials="${1:-4}" rounds="${2:-3000}"
for tool in dbus-daemon gnome-keyring-daemon; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install dbus gnome-keyring)" >&2; exit 1; }
done
cargo build --quiet --release --example keyring_first_call
bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/examples/keyring_first_call"

trial() {
  local mode="$1" dir bus keyring alive
  dir="$(mktemp -d "${TMPDIR:-/tmp}/keyring-first-call.XXXXXX")"
  mkdir -p "$dir/run" "$dir/data" "$dir/home"
  chmod 700 "$dir/run"
  sed "s|@LISTEN@|unix:path=$dir/bus.socket|" tests/private-bus.conf >"$dir/bus.conf"
  dbus-daemon --config-file="$dir/bus.conf" --nofork >/dev/null 2>&1 &
  bus=$!
  for _ in $(seq 50); do [[ -S $dir/bus.socket ]] && break; sleep 0.1; done
  (
    export DBUS_SESSION_BUS_ADDRESS="unix:path=$dir/bus.socket" HOME="$dir/home" \
      XDG_RUNTIME_DIR="$dir/run" XDG_DATA_HOME="$dir/data"
    printf pw | gnome-keyring-daemon --foreground --components=secrets --unlock >"$dir/keyring.log" 2>&1 &
    echo $! >"$dir/keyring.pid"
    sleep 1
    pids=()
    "$bin" writer "$((rounds / 2))" >/dev/null 2>&1 & pids+=($!)
    for _ in 1 2 3 4; do "$bin" "$mode" "$rounds" >/dev/null 2>&1 & pids+=($!); done
    wait "${pids[@]}" || true
  ) 2>/dev/null
  keyring="$(cat "$dir/keyring.pid")"
  if kill -0 "$keyring" 2>/dev/null; then
    alive=1
  elif grep -q "assertion 'client' failed" "$dir/keyring.log"; then
    alive=0
  else
    alive="other"
  fi
  kill "$keyring" "$bus" 2>/dev/null || true
  wait "$bus" 2>/dev/null || true
  rm -rf -- "$dir"
  echo "$alive"
}

for mode in open-session-first store; do
  aborted=0 other=0
  for _ in $(seq "$trials"); do
    case "$(trial "$mode")" in
      0) aborted=$((aborted + 1)) ;;
      other) other=$((other + 1)) ;;
    esac
  done
  echo "$mode: gnome-keyring-daemon aborted on an unregistered caller in $aborted of $trials trials (ended otherwise: $other)"
done
