#!/usr/bin/env bash
# Interop tests against real peers nobody here wrote: Python `websockets` (client and server) and
# `websocket-client`, pinned in tests/interop/requirements.txt and installed into a venv this script makes,
# and Node `ws` (permessage-deflate, tests/interop/test_node_deflate.py), pinned by
# tests/interop/node/package-lock.json and installed with `npm ci`; Node's built-in `http2` client against
# axum_chat over HTTP/2 (RFC 8441, tests/interop/test_node_h2.py).
#
#   bash scripts/interop.sh [pytest args...]     e.g. bash scripts/interop.sh -k close -x
#
# Builds the rill-tokio examples in release with TLS (scripts/lib/release.sh; honours CARGO_TARGET_DIR),
# makes a private CA and a certificate for localhost (trustme), starts two echo servers and a TLS echo server
# on free 127.0.0.1 ports, runs pytest (each test bounded by pytest-timeout, the whole run by `timeout`), stops the
# servers on exit, and exits non-zero when anything fails. See docs/interop.md.
set -euo pipefail
cd "$(dirname "$0")/.."

export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in tests/interop
RUN_TIMEOUT=${INTEROP_TIMEOUT:-900}
source scripts/lib/peers.sh
source scripts/lib/release.sh
LOGS=$TARGET_DIR/interop-logs

install_interop_venv

# Node `ws` for the permessage-deflate tests (node and npm: scripts/setup.sh).
(cd tests/interop/node && timeout 300 npm ci --no-audit --no-fund --loglevel=error)

# echo_server, interop_client, and wsdeflate: the rill-tokio client of the permessage-deflate tests (and of
# scripts/deflate-bench.sh).
build_release
BIN=$RELEASE_DIR/examples
mkdir -p "$LOGS"

source scripts/lib/servers.sh

URL=
PORT=
start_example() { # example, log name, then its flags; sets PORT
    local example=$1 name=$2
    shift 2
    PORT=$(free_port)
    "$BIN/$example" --addr "127.0.0.1:$PORT" "$@" >"$LOGS/$name.log" 2>&1 &
    PIDS+=($!)
    wait_port "$PORT" "$!"
}
start_server() { # log name, then echo_server flags; sets URL and PORT
    start_example echo_server "$@"
    URL="ws://127.0.0.1:$PORT"
}

start_server echo
RILL_ECHO_URL=$URL
start_server echo-small --max-message 65536 --protocols chat,superchat --close-on close-me
RILL_ECHO_SMALL_URL=$URL
start_server echo-nodeflate --no-deflate
RILL_ECHO_NODEFLATE_URL=$URL
# TLS: a CA made for this run signs a certificate for localhost only (so 127.0.0.1 is a wrong host).
TLS_DIR=$LOGS/tls
"$PY" - "$TLS_DIR" <<'EOF'
import os, sys, trustme
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
ca = trustme.CA()
cert = ca.issue_cert("localhost")
ca.cert_pem.write_to_path(f"{out}/ca.pem")
cert.private_key_pem.write_to_path(f"{out}/server.key")
open(f"{out}/server.pem", "wb").write(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
EOF
start_server echo-tls --tls-cert "$TLS_DIR/server.pem" --tls-key "$TLS_DIR/server.key"
RILL_ECHO_TLS_URL="wss://localhost:$PORT"
RILL_TLS_CA=$TLS_DIR/ca.pem
# axum_chat, HTTP/1.1 and HTTP/2 on one port, for Node's http2 client (test_node_h2.py): h2c and TLS.
start_example axum_chat axum-h2c
RILL_AXUM_H2C_URL="http://127.0.0.1:$PORT"
start_example axum_chat axum-h2 --tls-cert "$TLS_DIR/server.pem" --tls-key "$TLS_DIR/server.key"
RILL_AXUM_H2_URL="https://localhost:$PORT"
export RILL_ECHO_URL RILL_ECHO_SMALL_URL RILL_ECHO_NODEFLATE_URL RILL_ECHO_TLS_URL RILL_TLS_CA
export RILL_AXUM_H2C_URL RILL_AXUM_H2_URL
export RILL_INTEROP_CLIENT=$BIN/interop_client
export RILL_DEFLATE_CLIENT=$RELEASE_DIR/wsdeflate
export RILL_NODE_DIR=$PWD/tests/interop/node
echo "interop: echo servers at $RILL_ECHO_URL, $RILL_ECHO_SMALL_URL and $RILL_ECHO_TLS_URL (logs in $LOGS)"

status=0
timeout --kill-after=10 "$RUN_TIMEOUT" "$PY" -m pytest -c tests/interop/pytest.ini --rootdir tests/interop \
    -p no:cacheprovider tests/interop "$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "interop: FAILED (exit $status); server logs in $LOGS" >&2
fi
exit "$status"
