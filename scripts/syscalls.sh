#!/usr/bin/env bash
# System calls per echoed message, by call, for each echo server: the server runs under `strace -f -c` on
# tokio's current-thread runtime while `wsload --msgs` drives one connection, as scripts/callgrind.sh does.
# Deterministic where the kernel's readiness is (a read that finds all of a message vs part of it). The counts
# include the handshake and close (a few calls, under 0.001 per message at the default 20,000 messages).
# All traffic goes to 127.0.0.1; every server is killed on exit.
#
#   scripts/syscalls.sh [--msgs N] [--size S] [--depth D] [--servers "rill fastws ..."] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

MSGS=20000 SIZE=20 DEPTH=1 SERVERS="rill fastws tokio-websockets sockudo" BUILD=1
while [ $# -gt 0 ]; do
    case $1 in
        --msgs) MSGS=$2; shift ;;
        --size) SIZE=$2; shift ;;
        --depth) DEPTH=$2; shift ;;
        --servers) SERVERS=$2; shift ;;
        --no-build) BUILD=0 ;;
        -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

command -v strace >/dev/null || { echo "strace is missing (apt-get install -y strace)" >&2; exit 1; }
TARGET=${CARGO_TARGET_DIR:-target}/release
if [ "$BUILD" = 1 ]; then cargo build --release -p rill-benches --bins >&2; fi

WORK=$(mktemp -d)
SERVER=""
cleanup() {
    if [ -n "$SERVER" ]; then pkill -TERM -f "$SERVER" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

printf '%-18s %6s %5s  %s\n' server size depth "calls per message"
for server in $SERVERS; do
    [ -x "$TARGET/echo-$server" ] || { echo "skipping $server: no $TARGET/echo-$server" >&2; continue; }
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    SERVER="echo-$server --addr 127.0.0.1:$port"
    strace -f -qq -c -o "$WORK/$server.txt" "$TARGET/echo-$server" --addr "127.0.0.1:$port" --runtime current \
        2>"$WORK/$server.log" &
    tries=0
    until grep -qs "listening on" "$WORK/$server.log"; do
        tries=$((tries + 1))
        [ "$tries" -lt 300 ] || { cat "$WORK/$server.log" >&2; echo "echo-$server did not listen" >&2; exit 1; }
        sleep 0.1
    done
    timeout 300 "$TARGET/wsload" --addr "127.0.0.1:$port" --size "$SIZE" --depth "$DEPTH" --msgs "$MSGS" \
        --label "$server" >/dev/null 2>"$WORK/wsload.log" || { cat "$WORK/wsload.log" >&2; exit 1; }
    # strace writes its table when the traced server exits.
    pkill -TERM -f "$SERVER" || true
    wait
    SERVER=""
    calls=$(awk -v n="$MSGS" 'NR > 2 && $NF != "total" && $4 + 0 > 0 && $4 / n >= 0.01 {
        printf "%s %.2f, ", $NF, $4 / n }' "$WORK/$server.txt")
    printf '%-18s %6s %5s  %s\n' "$server" "$SIZE" "$DEPTH" "${calls%, }"
done
