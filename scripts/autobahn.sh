#!/usr/bin/env bash
# Runs the Autobahn|Testsuite against rill-tokio in both roles and fails on any FAILED case, or on an
# UNIMPLEMENTED case outside sections 12 and 13 (permessage-deflate, which rill does not negotiate).
#   fuzzingclient: wstest tests examples/echo_server
#   fuzzingserver: examples/autobahn_client is tested by wstest
# HTML reports: target/autobahn/reports/{servers,clients}/index.html (git-ignored, kept as CI artifacts).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
shared=$(cd "$root/../shared/autobahn" && pwd)
out=${AUTOBAHN_DIR:-$root/target/autobahn}
target_dir=${CARGO_TARGET_DIR:-$root/target}
mkdir -p "$out"

if [ ! -x "$out/wstest/wstest" ]; then
    rm -rf "$out/wstest"
    "$shared/make-wstest.sh" "$out/wstest"
fi
cargo build --release -p rill-tokio --example echo_server --example autobahn_client

server_port=${AUTOBAHN_SERVER_PORT:-9301}
client_port=${AUTOBAHN_CLIENT_PORT:-9302}
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_for_port() {
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "port $1 never opened" >&2
    return 1
}

cd "$out"
rm -rf reports
cat > spec-server.json <<JSON
{"outdir": "reports/servers", "servers": [{"agent": "rill", "url": "ws://127.0.0.1:$server_port"}],
 "cases": ["*"], "exclude-cases": [], "exclude-agent-cases": {}}
JSON
cat > spec-client.json <<JSON
{"url": "ws://127.0.0.1:$client_port", "outdir": "reports/clients", "cases": ["*"],
 "exclude-cases": [], "exclude-agent-cases": {}}
JSON

echo "== Autobahn fuzzingclient: wstest against echo_server"
"$target_dir/release/examples/echo_server" --addr "127.0.0.1:$server_port" > echo_server.log 2>&1 &
pids+=($!)
wait_for_port "$server_port"
timeout 900 ./wstest/wstest -m fuzzingclient -s spec-server.json > wstest-client.log 2>&1

echo "== Autobahn fuzzingserver: autobahn_client against wstest"
timeout 900 ./wstest/wstest -m fuzzingserver -s spec-client.json -u 0 > wstest-server.log 2>&1 &
pids+=($!)
wait_for_port "$client_port"
timeout 900 "$target_dir/release/examples/autobahn_client" --url "ws://127.0.0.1:$client_port" --agent rill > autobahn_client.log 2>&1

status=0
for role in servers clients; do
    echo "-- $role"
    python3 "$shared/summarize.py" "reports/$role" || status=1
    # UNIMPLEMENTED is acceptable only for the compression sections 12.* and 13.*.
    python3 - "reports/$role/index.json" <<'PY' || status=1
import json, sys
data = json.load(open(sys.argv[1]))
bad = [case for agent in data.values() for case, result in agent.items()
       if result["behavior"] == "UNIMPLEMENTED" and not case.startswith(("12.", "13."))]
if bad:
    print("UNIMPLEMENTED outside sections 12/13:", " ".join(sorted(bad)))
    sys.exit(1)
PY
done
echo "Autobahn reports: $out/reports/servers/index.html and $out/reports/clients/index.html"
exit $status
