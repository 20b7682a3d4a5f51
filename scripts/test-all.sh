#!/usr/bin/env bash
# The whole test suite: what CI runs and what a developer runs before pushing. Installs what it needs
# (scripts/setup.sh), then runs every step, and ends with each step's time and a one-line summary. Any failed step
# fails the run.
#
#   bash scripts/test-all.sh           every step: about 35 minutes from a cold target/ on 2 cores
#   bash scripts/test-all.sh --quick   fmt, clippy and `cargo test --workspace` only: the loop while changing code
#
# The steps run in three lanes at once, each lane's steps one after another, so that two cores stay busy where one
# step after another left one idle for most of the run (Autobahn is two processes in ping-pong, fuzzing one
# process, many builds one job). The lanes do not wait on each other's cargo lock (cargo locks target/debug and
# target/release apart):
#   workspace  the workspace's debug builds and tests (target/debug), then the Autobahn suites of rill-blocking and
#              axum and the host-TAP server's checks, which use release binaries built by then;
#   tokio      the release binaries of every script, built once (scripts/lib/release.sh), then rill-tokio's
#              Autobahn suite (the longest step), interop peers, the cluster, the browser, the benchmark build;
#   embedded   the bare-metal core, the fuzzers and the boards, each in a target dir of its own (the size probe,
#              also bare-metal, runs in the workspace lane, which ends sooner).
# Each step writes target/test-all/<step>.log; the logs are printed in the order of the steps below, each one as it
# is written once the steps before it are printed, so the output reads as if the steps ran one by one.
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
case ${1:-} in
    --quick) quick=1 ;;
    '') ;;
    *) echo "usage: scripts/test-all.sh [--quick]" >&2; exit 2 ;;
esac

if [ "$quick" = 1 ]; then
    rustup component add rustfmt clippy # all --quick needs; the full run's setup installs browsers and toolchains
else
    bash scripts/setup.sh || { echo "setup failed"; exit 1; }
fi

names=()
declare -A lane_of command_of shown_of
step() { # LANE NAME COMMAND...
    names+=("$2")
    lane_of[$2]=$1
    command_of[$2]=$(printf '%q ' "${@:3}")
    shown_of[$2]="${*:3}"
}
step workspace format cargo fmt --all -- --check
step workspace clippy cargo clippy --workspace --all-targets --all-features -- -D warnings
step workspace rustdoc env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features
step workspace unit-and-integration cargo test --workspace
step workspace core-without-features cargo test -p rill-ws
step workspace embassy-deflate cargo test -p rill-embassy --features deflate
# Every rill-tokio test once more with every feature on (futures, rustls, hyper, axum): one build where a
# `futures` run and a TLS/axum run were two.
step workspace all-features cargo test -p rill-tokio --all-features
step embedded cross-builds bash scripts/cross-check.sh
step embedded packages-and-msrv bash scripts/package-check.sh
step tokio autobahn bash scripts/autobahn.sh
step workspace autobahn-blocking bash scripts/autobahn.sh blocking
step workspace autobahn-axum bash scripts/autobahn.sh axum
step tokio interop bash scripts/interop.sh
step tokio proxy bash scripts/proxy-test.sh
step tokio docs-cluster bash scripts/docs-cluster-test.sh
step tokio browser env RILL_SCREENSHOT="$PWD/target/token_stream.png" bash scripts/browser-test.sh
step embedded fuzz bash scripts/fuzz.sh ${FUZZ_SECONDS:---ci}
step embedded firmware-build bash scripts/firmware-build.sh
# The board size probe builds in a target dir of its own; it runs in this lane, which ends earlier than the
# embedded one (fuzzers, then the boards' builds).
step workspace size-probe env SIZE_BUDGET=27242 RAM_BUDGET=1058 bash scripts/size-probe.sh
step workspace firmware-host-tap bash scripts/firmware-host-tap.sh
step tokio bench-build bash scripts/bench.sh --build-only

if [ "$quick" = 1 ]; then
    names=(format clippy unit-and-integration)
fi

logs=target/test-all
rm -rf "$logs"
mkdir -p "$logs"
# Runs the steps of one lane in order. A step's .status file (exit status, seconds, start in seconds from the
# beginning of the run) is written after its log is complete: its presence is what the printer below waits for.
run_lane() {
    local name start status
    for name in "${names[@]}"; do
        [ "${lane_of[$name]}" = "$1" ] || continue
        start=$SECONDS
        status=0
        eval "${command_of[$name]}" >"$logs/$name.log" 2>&1 </dev/null || status=$?
        echo "$status $((SECONDS - start)) $start" >"$logs/$name.status.tmp"
        mv "$logs/$name.status.tmp" "$logs/$name.status"
    done
}
declare -A lane_pid
for lane in $(printf '%s\n' "${lane_of[@]}" | sort -u); do
    run_lane "$lane" &
    lane_pid[$lane]=$!
done
trap 'kill "${lane_pid[@]}" 2>/dev/null; exit 130' INT TERM

# Prints a step's log as it grows until the step is done (or its lane is gone without finishing it).
follow() { # NAME
    local log=$logs/$1.log shown=0 size done
    while :; do
        done=0
        kill -0 "${lane_pid[${lane_of[$1]}]}" 2>/dev/null || [ -e "$logs/$1.status" ] || echo "1 0 0" >"$logs/$1.status"
        [ -e "$logs/$1.status" ] && done=1
        size=$(stat -c %s "$log" 2>/dev/null || echo 0)
        if [ "$size" -gt "$shown" ]; then
            tail -c +$((shown + 1)) "$log" | head -c $((size - shown))
            shown=$size
        fi
        [ "$done" = 1 ] && return
        sleep 1
    done
}

passed=0
failed=0
failures=()
table=()
for name in "${names[@]}"; do
    echo
    echo "=== $name (${lane_of[$name]} lane): ${shown_of[$name]}"
    follow "$name"
    read -r status seconds start <"$logs/$name.status"
    if [ "$status" -eq 0 ]; then
        passed=$((passed + 1))
        result=ok
    else
        failed=$((failed + 1))
        failures+=("$name")
        result=FAILED
    fi
    echo "=== $name: $result ($seconds s)"
    table+=("$(printf '%-22s %7d  %-9s  %-8s %7d' "$name" "$seconds" "$result" "${lane_of[$name]}" "$start")")
done
wait

echo
printf '%-22s %7s  %-9s  %-8s %7s\n' step seconds ok/FAILED lane "started"
printf '%s\n' "${table[@]}"
printf '%-22s %7d  (setup included; the lanes overlap, so the steps add up to more)\n' "total, wall clock" "$SECONDS"
if [ ${#failures[@]} -gt 0 ]; then
    echo "failed steps: ${failures[*]}"
fi
echo "steps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
