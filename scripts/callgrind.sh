#!/usr/bin/env bash
# User-space instructions per echoed message, deterministic (issue 13): each echo server runs under
# `valgrind --tool=callgrind` on tokio's current-thread runtime while `wsload --msgs` drives one connection
# with a fixed number of binary messages. Every point runs twice, with N and 2N messages; Ir per message is
# (Ir(2N) - Ir(N)) / N, which cancels startup, handshake and close. Only what runs inside
# `rill_benches::server::main` is counted (`--collect-atstart=no --toggle-collect`): a binary's own set-up before it
# (sockudo-ws's clock calibration, whose count follows wall time) stays out. All traffic goes to 127.0.0.1; every
# server is killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    cat <<'USAGE'
usage: scripts/callgrind.sh [options]

  --msgs N          N of the N / 2N pair (default 2000)
  --sizes "20 1024" payload bytes, one point each (default "20"; --size S is the same with one size)
  --depths "1 16"   messages in flight per connection, one point each (default "1 16")
  --servers "A B"   echo servers, binaries target/release/echo-NAME (default "rill fastws tokio-websockets
                    tungstenite sockudo"; "floor" is echo-floor, the least an echo can do on tokio)
  --csv FILE        append one line per point to FILE (header written if FILE is new)
  --no-build        use the binaries already in target/release
  --keep DIR        keep the callgrind output files in DIR (for callgrind_annotate)
USAGE
}

MSGS=2000 SIZES=20 DEPTHS="1 16" SERVERS="rill fastws tokio-websockets tungstenite sockudo" CSV="" BUILD=1 KEEP=""
while [ $# -gt 0 ]; do
    case $1 in
        --msgs) MSGS=$2; shift ;;
        --size | --sizes) SIZES=$2; shift ;;
        --depths) DEPTHS=$2; shift ;;
        --servers) SERVERS=$2; shift ;;
        --csv) CSV=$2; shift ;;
        --no-build) BUILD=0 ;;
        --keep) KEEP=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

command -v valgrind >/dev/null || { echo "valgrind is missing (apt-get install -y valgrind)" >&2; exit 1; }
TARGET=${CARGO_TARGET_DIR:-target}/release
if [ "$BUILD" = 1 ]; then cargo build --release -p rill-benches --bins >&2; fi

WORK=$(mktemp -d)
[ -z "$KEEP" ] || mkdir -p "$KEEP"
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run SERVER SIZE DEPTH COUNT: sets IR to the total Ir of one server process that echoed COUNT messages of SIZE bytes.
# (Not run in a subshell, so that the exit trap sees the server's pid.)
run() {
    local server=$1 size=$2 depth=$3 count=$4 port out log
    port=$(free_port)
    out=$WORK/$server-s$size-d$depth-$count.out
    log=$WORK/$server-s$size-d$depth-$count.log
    valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
        --toggle-collect='rill_benches::server::main' \
        "$TARGET/echo-$server" --addr "127.0.0.1:$port" --runtime current 2>"$log" &
    PID=$!
    # The server prints its listening line once bound; poll for it (bounded: 60 s under valgrind).
    local tries=0
    until grep -qs "listening on" "$log"; do
        kill -0 "$PID" 2>/dev/null || { cat "$log" >&2; echo "echo-$server exited" >&2; return 1; }
        tries=$((tries + 1))
        [ "$tries" -lt 600 ] || { echo "echo-$server did not listen within 60 s" >&2; return 1; }
        sleep 0.1
    done
    timeout 600 "$TARGET/wsload" --addr "127.0.0.1:$port" --size "$size" --depth "$depth" --msgs "$count" \
        --label "$server" >/dev/null 2>>"$WORK/wsload.log" || { cat "$WORK/wsload.log" >&2; return 1; }
    kill -TERM "$PID"
    wait "$PID" 2>/dev/null || true
    PID=""
    [ -z "$KEEP" ] || cp "$out" "$KEEP/"
    # callgrind's "totals:" line: the event count over the whole run (Ir only, the default event).
    IR=$(awk '/^totals:/ { print $2 }' "$out")
}

if [ -n "$CSV" ] && [ ! -s "$CSV" ]; then
    echo "date,commit,server,size,depth,msgs,ir_n,ir_2n,ir_per_msg" >"$CSV"
fi
COMMIT=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo "+dirty")
printf '%-18s %5s %5s %14s %14s %10s\n' server size depth "Ir(N)" "Ir(2N)" "Ir/msg"
for size in $SIZES; do
    for depth in $DEPTHS; do
        for server in $SERVERS; do
            [ -x "$TARGET/echo-$server" ] || { echo "skipping $server: no $TARGET/echo-$server" >&2; continue; }
            run "$server" "$size" "$depth" "$MSGS"
            one=$IR
            run "$server" "$size" "$depth" $((2 * MSGS))
            two=$IR
            per=$(( (two - one) / MSGS ))
            printf '%-18s %5s %5s %14s %14s %10s\n' "$server" "$size" "$depth" "$one" "$two" "$per"
            if [ -n "$CSV" ]; then
                echo "$(date -u +%Y-%m-%dT%H:%MZ),$COMMIT,$server,$size,$depth,$MSGS,$one,$two,$per" >>"$CSV"
            fi
        done
    done
done
