#!/usr/bin/env bash
# Paired A/B of two revisions of rill's echo server under uWebSockets' load_test (issue 13): builds
# `echo-rill` (benches/src/bin/echo-rill.rs, the whole-message echo the README table measures) at OLD and NEW
# in git worktrees, then alternates them for ROUNDS rounds at one point. Each run pins the server to core 0
# (tokio current-thread runtime) and load_test to core 1, and prints the mean of load_test's 2nd to 4th
# 4-second reports (the first is warm-up) and the server's CPU per message. A shared machine moves a point by
# 20% between time windows, so only rounds run side by side compare two builds. With `--wsload D` the generator
# is `wsload` instead (D messages in flight per connection, 3 s after 1 s of warm-up) against the server on
# tokio's multi-thread runtime, unpinned, as `bench.sh --throughput` runs it. 127.0.0.1 only; every server is
# killed when its run ends.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

OLD="" NEW=HEAD CONNS=500 SIZE=16384 ROUNDS=4 DEPTH=""
usage() {
    echo "usage: scripts/uws-ab.sh --old REV [--new REV (HEAD)] [--conns C (500)] [--size S (16384)] [--rounds N (4)]" \
        "[--wsload D]"
}
while [ $# -gt 0 ]; do
    case $1 in
        --old) OLD=$2; shift ;;
        --new) NEW=$2; shift ;;
        --conns) CONNS=$2; shift ;;
        --size) SIZE=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --wsload) DEPTH=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done
[ -n "$OLD" ] || { usage >&2; exit 2; }
command -v taskset >/dev/null && command -v stdbuf >/dev/null || { echo "needs taskset and stdbuf" >&2; exit 1; }

UWS_DIR=$ROOT/target/uws
if [ -n "$DEPTH" ]; then
    cargo build -q --release -p rill-benches --bin wsload
else
    [ -x "$UWS_DIR/load_test" ] || bash "$ROOT/../shared/uws/build.sh" "$UWS_DIR" >/dev/null
fi

# build REV: echo-rill of REV, copied to target/ab/echo-rill-<commit>; prints that path.
build() {
    local commit tree out
    commit=$(git rev-parse --short "$1")
    out=$ROOT/target/ab/echo-rill-$commit
    if [ ! -x "$out" ]; then
        tree=$ROOT/target/ab/tree-$commit
        rm -rf "$tree"
        git worktree add -q --detach "$tree" "$commit"
        (cd "$tree" && CARGO_TARGET_DIR=$ROOT/target/ab/target cargo build -q --release -p rill-benches --bin echo-rill >&2)
        cp "$ROOT/target/ab/target/release/echo-rill" "$out"
        git worktree remove --force "$tree"
    fi
    echo "$out"
}

PID=""
trap '[ -z "$PID" ] || kill "$PID" 2>/dev/null || true' EXIT

# measure BIN: one run; prints "msgs/s us-per-msg".
measure() {
    local port result
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if [ -n "$DEPTH" ]; then
        "$1" --addr "127.0.0.1:$port" >/dev/null 2>&1 &
    else
        taskset -c 0 "$1" --addr "127.0.0.1:$port" --runtime current >/dev/null 2>&1 &
    fi
    PID=$!
    for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    if [ -n "$DEPTH" ]; then result=$(drive_wsload "$port"); else result=$(drive_load_test "$port"); fi
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    echo "$result"
}

# drive_wsload PORT: fields 7 and 14 of wsload's CSV line, msgs/s and the server's CPU us per message.
drive_wsload() {
    "$ROOT/target/release/wsload" --addr "127.0.0.1:$1" --conns "$CONNS" --size "$SIZE" --depth "$DEPTH" \
        --secs 3 --warmup 1 --server-pid "$PID" 2>/dev/null | awk -F, '{ printf "%.0f %.1f\n", $7, $14 }'
}

# drive_load_test PORT: load_test's mean rate and the server's CPU per message from /proc.
drive_load_test() {
    local ticks0 ticks1 rate
    ticks0=$(awk '{ print $14 + $15 }' "/proc/$PID/stat")
    rate=$(timeout 19 stdbuf -oL taskset -c 1 "$UWS_DIR/load_test" "$CONNS" 127.0.0.1 "$1" 0 0 "$SIZE" 2>&1 |
        grep 'Msg/sec' | head -4 | tail -3 | awk '{ s += $2 } END { if (NR) printf "%.0f", s / NR }' || true)
    ticks1=$(awk '{ print $14 + $15 }' "/proc/$PID/stat")
    # `head` ends load_test early (SIGPIPE), hence `|| true` under pipefail. CPU over the whole run (about
    # 16 s, warm-up included) per message of the measured rate.
    awk -v r="${rate:-0}" -v t="$((ticks1 - ticks0))" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%s %.1f\n", r, (r > 0 ? t / hz / (r * 16) * 1e6 : 0) }'
}

old_bin=$(build "$OLD")
new_bin=$(build "$NEW")
echo "point: $CONNS connections x $SIZE B${DEPTH:+ x $DEPTH in flight (wsload)}; old $(git rev-parse --short "$OLD"), new $(git rev-parse --short "$NEW")"
for round in $(seq "$ROUNDS"); do
    old_run=$(measure "$old_bin")
    new_run=$(measure "$new_bin")
    read -r o_rate o_cpu <<<"$old_run"
    read -r n_rate n_cpu <<<"$new_run"
    awk -v k="$round" -v a="$o_rate" -v b="$n_rate" -v ac="$o_cpu" -v bc="$n_cpu" 'BEGIN {
        printf "round %d: old %7d msgs/s (%5.1f us CPU/msg)  new %7d msgs/s (%5.1f us CPU/msg)  new/old %.2f\n",
            k, a, ac, b, bc, (a > 0 ? b / a : 0) }'
done
