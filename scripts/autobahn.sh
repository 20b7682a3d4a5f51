#!/usr/bin/env bash
# Runs the Autobahn|Testsuite against one rill adapter in both roles and fails on any FAILED, NON-STRICT or
# UNIMPLEMENTED case (sections 12 and 13 need permessage-deflate, which every example negotiates by default;
# which of their large cases run: see `heavy_of` below):
#   bash scripts/autobahn.sh            rill-tokio:    wstest tests examples/echo_server (relays pieces),
#                                       examples/autobahn_client (whole messages with recv) is tested by wstest
#   bash scripts/autobahn.sh tokio --all   the same with every case of sections 12 and 13 (AUTOBAHN_ALL=1 too)
#   bash scripts/autobahn.sh blocking   rill-blocking: examples/blocking_echo and blocking_autobahn_client
#   bash scripts/autobahn.sh axum       server role only: examples/axum_chat's /echo, upgraded by the axum
#                                       extractor, echoing whole messages with recv and send (a message
#                                       over 8 KiB leaves unbuffered); the client role is rill-tokio's, above
# HTML reports: target/autobahn/<adapter>/reports/{servers,clients}/index.html (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
shared=$(cd "$root/../shared/autobahn" && pwd)
adapter=${1:-tokio}
all=${AUTOBAHN_ALL:-0}
if [ "${2:-}" = --all ]; then all=1; fi
path= roles=(servers clients)
# Sections 12 and 13 send up to 1000 messages of 128 KiB each way, compressed by wstest in Python. Their
# cases over 8 KiB (9, 10 and 14-18 of each group) took 1,560 s of the 2,000 s a role took in CI (2026-12-04),
# 1,070 s of it in groups 12.2, 12.3 and 12.5, which differ from 12.1 and 12.4 only in the payload compressed
# (a bitmap, prose, a PDF against JSON and HTML: one code path). rill-tokio runs the large cases of 12.1, 12.4
# and every group of 13 (each a different negotiation); `--all` runs the rest too. The other adapters share its
# session code and run the cases up to 8 KiB.
sizes='9 10 14 15 16 17 18'
heavy_of() { local g n out=; for g in "$@"; do for n in $sizes; do out+="${out:+, }\"$g.$n\""; done; done; echo "$out"; }
exclude=$(heavy_of '12.*' '13.*')
server_flags=()
case $adapter in
    # Sections 12 and 13 compress messages of every size: echo_server compresses them all (the default
    # threshold would send those below 1 KiB uncompressed), as autobahn_client does.
    tokio) server=echo_server client=autobahn_client agent=rill ports=(9301 9302) server_flags=(--compress-threshold 0)
        exclude=$(heavy_of 12.2 12.3 12.5)
        if [ "$all" = 1 ]; then exclude=; fi ;;
    blocking) server=blocking_echo client=blocking_autobahn_client agent=rill-blocking ports=(9311 9312) ;;
    axum) server=axum_chat client= agent=rill-axum ports=(9321 9322)
        path=/echo roles=(servers) ;;
    *) echo "usage: scripts/autobahn.sh [tokio [--all]|blocking|axum]" >&2; exit 2 ;;
esac
wstest_dir=${AUTOBAHN_DIR:-$root/target/autobahn}
out=$wstest_dir/$adapter
mkdir -p "$out"

source scripts/lib/peers.sh
install_wstest "$wstest_dir"
# Every adapter's examples, one build for all the scripts (scripts/lib/release.sh).
source scripts/lib/release.sh
build_release

# Each adapter has its own ports, so the suites can run at once.
server_port=${AUTOBAHN_SERVER_PORT:-${ports[0]}}
client_port=${AUTOBAHN_CLIENT_PORT:-${ports[1]}}
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

port_is_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for_port() {
    for _ in $(seq 1 100); do
        if port_is_open "$1"; then return 0; fi
        sleep 0.1
    done
    echo "port $1 never opened" >&2
    return 1
}
# A port already taken (another Autobahn run, say) would have wstest test whatever listens there, and that
# run's end would cut this one short: refuse instead.
for port in "$server_port" "$client_port"; do
    if port_is_open "$port"; then
        echo "port $port is already in use; set AUTOBAHN_SERVER_PORT / AUTOBAHN_CLIENT_PORT" >&2
        exit 1
    fi
done

cd "$out"
rm -rf reports
cat > spec-server.json <<JSON
{"outdir": "reports/servers", "servers": [{"agent": "$agent", "url": "ws://127.0.0.1:$server_port$path"}],
 "cases": ["*"], "exclude-cases": [$exclude], "exclude-agent-cases": {}}
JSON
cat > spec-client.json <<JSON
{"url": "ws://127.0.0.1:$client_port", "outdir": "reports/clients", "cases": ["*"],
 "exclude-cases": [$exclude], "exclude-agent-cases": {}}
JSON

echo "== Autobahn fuzzingclient: wstest against $server"
"$RELEASE_DIR/examples/$server" --addr "127.0.0.1:$server_port" "${server_flags[@]}" > "$server.log" 2>&1 &
pids+=($!)
wait_for_port "$server_port"
kill -0 "${pids[-1]}" 2>/dev/null || { echo "$server exited (see $out/$server.log)" >&2; exit 1; }
# The client role runs beside the server role: each is mostly one wstest (Python) process busy on one core, and
# the roles share nothing but the wstest install, so two cores finish both in the time of the longer one.
if [ -n "$client" ]; then
    echo "== Autobahn fuzzingserver: $client against wstest (at the same time)"
    timeout 2400 "$wstest_dir/wstest/wstest" -m fuzzingserver -s spec-client.json -u 0 > wstest-server.log 2>&1 &
    pids+=($!)
    wait_for_port "$client_port"
    timeout 2400 "$RELEASE_DIR/examples/$client" --url "ws://127.0.0.1:$client_port" --agent "$agent" \
        > "$client.log" 2>&1 &
    client_pid=$!
    pids+=("$client_pid")
fi
timeout 2400 "$wstest_dir/wstest/wstest" -m fuzzingclient -s spec-server.json > wstest-client.log 2>&1
if [ -n "$client" ]; then
    wait "$client_pid"
fi

status=0
for role in "${roles[@]}"; do
    echo "-- $role"
    python3 "$shared/summarize.py" "reports/$role" || status=1
    # NON-STRICT counts as a pass for the suite; rill holds itself to strict, and implements everything.
    python3 - "reports/$role/index.json" <<'PY' || status=1
import json, sys
data = json.load(open(sys.argv[1]))
results = [(case, r["behavior"]) for agent in data.values() for case, r in agent.items()]
bad = sorted(case for case, b in results if b in ("NON-STRICT", "UNIMPLEMENTED"))
if bad:
    print("NON-STRICT or UNIMPLEMENTED:", " ".join(bad))
    sys.exit(1)
PY
done
echo "Autobahn reports: $out/reports/*/index.html"
exit $status
