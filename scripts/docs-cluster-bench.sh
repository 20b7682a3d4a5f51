#!/usr/bin/env bash
# Benchmark numbers for the docs-cluster example (not a timed test): operations per second and broadcast
# latency (send to seen by every viewer of the document) for 1 instance (direct and behind nginx) and for 3
# instances behind nginx, then the time from SIGKILL to the first operation accepted again on a moved
# document. Closed loop: every client sends its next operation as soon as the last one is acknowledged. Also
# the comparison without affinity: 3 instances behind nginx round-robin sharing every op via Redis pub/sub.
#
#   scripts/docs-cluster-bench.sh [--clients 60] [--docs 12] [--duration 10]
#
# Runs its own cluster on ports 8290.. and Redis on 6392, stopped on exit. Prints BENCH:/STAT: lines.
set -uo pipefail
cd "$(dirname "$0")/.."

CLIENTS=60
DOCS=12
DURATION=10
while [ $# -gt 0 ]; do
    case "$1" in
        --clients) CLIENTS=$2; shift 2 ;;
        --docs) DOCS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
RUN=target/docs-cluster-bench
PORT=8290
REDIS_PORT=6392
trap 'bash scripts/docs-cluster.sh down --run-dir "$RUN" >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT TERM

cluster() {
    bash scripts/docs-cluster.sh up --instances "$@" --port "$PORT" --redis-port "$REDIS_PORT" --run-dir "$RUN" --fresh >/dev/null
}

load() {
    local label=$1
    shift
    echo "== $label"
    timeout 120 target/release/docs-load --redis "redis://127.0.0.1:$REDIS_PORT" \
        --clients "$CLIENTS" --docs "$DOCS" --duration "$DURATION" "$@" 2>/dev/null | grep -E '^(BENCH|STAT|FAIL)|SIGKILL to first'
}

echo "docs-cluster bench: $CLIENTS clients, $DOCS documents, $DURATION s per run, $(nproc) cores, $(date -u +%F)"
cluster 1 || exit 1
load "1 instance, direct" --bench --url "ws://127.0.0.1:$((PORT + 1))"
load "1 instance behind nginx" --bench --url "ws://127.0.0.1:$PORT"
cluster 3 || exit 1
load "3 instances behind nginx" --bench --url "ws://127.0.0.1:$PORT"
cluster 3 --fanout || exit 1
load "3 instances behind nginx round-robin, Redis pub/sub fan-out (no affinity)" --bench --no-affinity \
    --url "ws://127.0.0.1:$PORT"
cluster 3 || exit 1
RUN_ABS=$(cd "$RUN" && pwd)
load "3 instances behind nginx, SIGKILL of the busiest at 3 s (paced clients, 5-30 ms think time)" \
    --url "ws://127.0.0.1:$PORT" --kill-pidfile "$RUN_ABS/instance-{}.pid" --kill-at 3
