#!/usr/bin/env bash
# Failover test of the docs-cluster example: starts its own cluster (3 instances, nginx, Redis on ports of
# its own), runs 60 clients on 12 documents for 20 s while the instance serving the most documents is killed
# with SIGKILL at 5 s and started again at 10 s, then checks (docs-load's PASS/FAIL lines):
#   every client's text is identical and equal to the text rebuilt from Redis; every acknowledged op is in
#   the log exactly once; no client saw a gap or an op twice; clients of the killed instance reconnected
#   (> 0); every moved document accepted ops again; a document's connections were on one instance at any
#   moment (hand-over overlap at most 1 s).
# Ends with "N passed, M failed"; exits non-zero on any failure; stops everything it started on exit.
set -uo pipefail
cd "$(dirname "$0")/.."

RUN=target/docs-cluster-test
PORT=8190
REDIS_PORT=6391
passed=0
failed=0

finish() {
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

# The load binary kills and restarts the instance itself ({} is the chosen instance's id), so that it
# knows the exact kill time for the failover measurement.
timeout 120 target/release/docs-load \
    --url "ws://127.0.0.1:$PORT" --redis "redis://127.0.0.1:$REDIS_PORT" \
    --clients 60 --docs 12 --duration 20 \
    --kill-pidfile "$RUN_ABS/instance-{}.pid" --kill-at 5 \
    --restart-at 10 --restart-cmd "sh $RUN_ABS/instance-{}.sh" \
    2>"$RUN/load.err" | tee "$RUN/load.log"
load_status=${PIPESTATUS[0]}

load_passed=$(grep -c '^PASS:' "$RUN/load.log" || true)
load_failed=$(grep -c '^FAIL:' "$RUN/load.log" || true)
passed=$((passed + load_passed))
failed=$((failed + load_failed))
if [ "$load_status" -ne 0 ] && [ "$load_failed" -eq 0 ]; then
    result "docs-load finished (exit status $load_status; see $RUN/load.err)" failed
fi

# Every instance, the restarted one included, is up at the end.
all_up=ok
for file in "$RUN"/instance-*.pid; do
    kill -0 "$(cat "$file")" 2>/dev/null || all_up=failed
done
result "all instances running at the end (the killed one restarted)" "$all_up"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
