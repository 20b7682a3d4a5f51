#!/usr/bin/env bash
# Failover test of the docs-cluster example: starts its own cluster (3 instances, nginx, Redis on ports of
# its own), runs 60 clients on 12 documents for 20 s while the instance serving the most documents is killed
# with SIGKILL at 5 s and started again at 10 s; at 14 s every client reconnects once (a page reload), which
# lets nginx send moved documents back to the restarted instance (hand-overs under load). Then it checks
# (docs-load's PASS/FAIL lines; before the load, the conditional append alone: --store-check):
#   every client's text is identical and equal to the text rebuilt from Redis; every acknowledged op is in
#   the log exactly once; no client saw a gap or an op twice; clients of the killed instance reconnected
#   (> 0); every moved document accepted ops again; a document's connections were on one instance at any
#   moment (hand-over overlap at most 1 s). Then a split-brain phase: two groups of clients on the same
#   documents connected straight to two different instances both converge on the one Redis log.
# Ends with "N passed, M failed"; exits non-zero on any failure; stops everything it started on exit.
set -uo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/release.sh
RUN=target/docs-cluster-test
PORT=8190
REDIS_PORT=6391
passed=0
failed=0

split_a=
finish() {
    if [ -n "$split_a" ]; then
        kill "$split_a" 2>/dev/null || true
    fi
    bash scripts/docs-cluster.sh down --run-dir "$RUN" >/dev/null 2>&1 || true
}
trap finish EXIT
trap 'exit 130' INT TERM

result() {
    if [ "$2" = ok ]; then
        passed=$((passed + 1))
        echo "PASS: $1"
    else
        failed=$((failed + 1))
        echo "FAIL: $1"
    fi
}

if bash scripts/docs-cluster.sh up --instances 3 --port "$PORT" --redis-port "$REDIS_PORT" --run-dir "$RUN" --fresh; then
    result "cluster up (3 instances, nginx, redis)" ok
else
    result "cluster up (3 instances, nginx, redis)" failed
    echo "$passed passed, $failed failed"
    exit 1
fi
RUN_ABS=$(cd "$RUN" && pwd)

# The conditional append on its own, against this Redis: of two instances extending the same version
# exactly one wins, stale versions and resent ids are refused.
"$RELEASE_DIR/docs-load" --store-check --redis "redis://127.0.0.1:$REDIS_PORT" --prefix "store$(date +%s)" \
    | tee "$RUN/store.log"
passed=$((passed + $(grep -c '^PASS:' "$RUN/store.log" || true)))
failed=$((failed + $(grep -c '^FAIL:' "$RUN/store.log" || true)))

# The load binary kills and restarts the instance itself ({} is the chosen instance's id), so that it
# knows the exact kill time for the failover measurement.
timeout 120 "$RELEASE_DIR/docs-load" \
    --url "ws://127.0.0.1:$PORT" --redis "redis://127.0.0.1:$REDIS_PORT" \
    --clients 60 --docs 12 --duration 20 \
    --kill-pidfile "$RUN_ABS/instance-{}.pid" --kill-at 5 \
    --restart-at 10 --restart-cmd "sh $RUN_ABS/instance-{}.sh" --reload-at 14 \
    2>"$RUN/load.err" | tee "$RUN/load.log"
load_status=${PIPESTATUS[0]}

load_passed=$(grep -c '^PASS:' "$RUN/load.log" || true)
load_failed=$(grep -c '^FAIL:' "$RUN/load.log" || true)
passed=$((passed + load_passed))
failed=$((failed + load_failed))
if [ "$load_status" -ne 0 ] && [ "$load_failed" -eq 0 ]; then
    result "docs-load finished (exit status $load_status; see $RUN/load.err)" failed
fi

# Split brain on purpose: two groups of clients of the same documents connect straight to instances 1 and 2
# (bypassing nginx), so both instances keep taking the documents from each other. The hand-over
# announcements and the conditional append must still give one history: each group's checks compare its
# clients with the log, which both groups extended.
SPLIT_PREFIX="split$(date +%s)"
split_load() {
    timeout 60 "$RELEASE_DIR/docs-load" --url "ws://127.0.0.1:$((PORT + $1))" --redis "redis://127.0.0.1:$REDIS_PORT" \
        --clients 6 --docs 2 --duration 5 --prefix "$SPLIT_PREFIX" --shared-docs 2>>"$RUN/split.err" >"$RUN/split-$1.log"
}
split_load 1 &
split_a=$!
split_load 2
split_b_status=$?
wait "$split_a"
split_a_status=$?
for i in 1 2; do
    # Indented, not counted one by one: the phase counts as one check below. (The routing check is
    # meaningless here: each group talks to one instance on purpose.)
    grep -E '^(PASS|FAIL|STAT)' "$RUN/split-$i.log" | grep -v 'one instance per document' | sed "s/^/    group $i: /"
done
split_failed=$(cat "$RUN"/split-[12].log | grep -c '^FAIL:' || true)
if [ "$split_failed" -eq 0 ] && [ "$split_a_status" -eq 0 ] && [ "$split_b_status" -eq 0 ]; then
    result "split brain: both groups converge on the one log (conditional append)" ok
else
    result "split brain: both groups converge on the one log (exit $split_a_status/$split_b_status)" failed
fi

# Every instance, the restarted one included, is up at the end.
all_up=ok
for file in "$RUN"/instance-*.pid; do
    kill -0 "$(cat "$file")" 2>/dev/null || all_up=failed
done
result "all instances running at the end (the killed one restarted)" "$all_up"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
