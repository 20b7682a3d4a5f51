#!/usr/bin/env bash
# Runs the firmware examples' server (firmware-examples/host-tap, the same `app` code the boards run) on a TAP
# device inside a private network namespace, and checks it with real clients from inside that namespace:
#   1. HTTP: the page, 404/405/426, FIN not RST, back-to-back and concurrent connections (Python urllib);
#   2. WebSocket with Python `websockets` (firmware-examples/host-tap/py/ws_checks.py), compressing (permessage-deflate
#      agreed, the firmware inflates): 1 MiB echo byte-exact,
#      pings answered while a fragmented 1 MiB message streams, the token streams complete and in order, Resume;
#   3. the Autobahn|Testsuite fuzzingclient against ws://10.99.0.2/echo, sections 1-11 (0 FAILED, 0 UNIMPLEMENTED);
#   4. the board's WebSocket client (`rill-host-tap --client`, on rill_embassy::connect) against a Python
#      `websockets` server on the TAP's host side, 10.99.0.1 (firmware-examples/host-tap/py/ws_server.py);
#   5. the same client over TLS 1.3 (`rill-host-tap --client-tls`, embedded-tls) against rill-tokio's echo_server
#      with a certificate for 10.99.0.1 from a throwaway CA (openssl): the exchange passes trusting that CA, and
#      the handshake fails trusting another CA, or when the CA's certificate names another address.
#
# Usage: scripts/firmware-host-tap.sh [CMD ARGS...]
#   CMD, if given, runs inside the namespace after the built-in checks, with RILL_FW_URL=http://10.99.0.2:80 set;
#   its exit status fails the script. RILL_FW_AUTOBAHN=0 skips step 3 (about 30 s).
# Needs root (network namespaces, TAP) and /dev/net/tun. All traffic stays inside the namespace, which is deleted
# on exit; every step is bounded by `timeout`. Python packages come from PyPI (pinned in
# tests/interop/requirements.txt, venv shared with scripts/interop.sh); wstest is built as in scripts/autobahn.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

PKG=firmware-examples/host-tap
SERVER_IP=10.99.0.2
PEER_IP=10.99.0.1
export RILL_FW_URL="http://$SERVER_IP:80"
# Upper bound for the whole server run; checks and extra clients must finish within it.
SERVER_SECONDS=${RILL_FW_SERVER_SECONDS:-300}

CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} timeout 900 cargo build --locked --manifest-path "$PKG/Cargo.toml"
BIN="$PKG/target/debug/rill-host-tap"
# Step 5's server: rill-tokio's echo server with TLS, built before the namespace exists, in the build every test
# script shares (scripts/lib/release.sh).
source scripts/lib/release.sh
CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} build_release
TLS_SERVER=$RELEASE_DIR/examples/echo_server

# Clients, prepared before the namespace exists (they come from package registries): pinned Python packages in
# the venv scripts/interop.sh uses, and wstest as scripts/autobahn.sh builds it (scripts/lib/peers.sh).
export PYTHONDONTWRITEBYTECODE=1
source scripts/lib/peers.sh
install_interop_venv
AUTOBAHN=${RILL_FW_AUTOBAHN:-1}
AB_DIR=$root/target/autobahn
if [ "$AUTOBAHN" != 0 ]; then
    install_wstest "$AB_DIR"
fi

NS="rill-fw-$$-$RANDOM"
LOG=$(mktemp)
CERTS=$(mktemp -d)
SERVER_PID=
PY_PID=
TLS_PID=
cleanup() {
    status=$?
    for pid in $SERVER_PID $PY_PID $TLS_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    ip netns del "$NS" 2>/dev/null || true
    if [ "$status" -ne 0 ]; then
        echo "--- host-tap server log ---" >&2
        cat "$LOG" >&2
    fi
    rm -f "$LOG"
    rm -rf "$CERTS"
    exit "$status"
}
trap cleanup EXIT
# An interrupt still goes through cleanup once, via the EXIT trap.
trap 'exit 130' INT TERM

in_ns() { ip netns exec "$NS" "$@"; }

ip netns add "$NS"
in_ns ip link set lo up
# The TAP's own address is the host side; the server is a separate (smoltcp) host behind it at .2.
in_ns ip tuntap add dev tap0 mode tap
in_ns ip addr add "$PEER_IP/24" dev tap0
in_ns ip link set tap0 up

# The TAP must be opened from inside the namespace, so the server runs there too. Not through in_ns: a backgrounded
# function is a subshell, and killing it would orphan the server. `ip netns exec` execs timeout, so SERVER_PID is
# timeout's pid, and timeout passes the TERM on to the server.
ip netns exec "$NS" timeout "$SERVER_SECONDS" "$BIN" --tap tap0 >"$LOG" 2>&1 &
SERVER_PID=$!

# Ready when it answers: ARP and the first accept take a moment after start.
for _ in $(seq 50); do
    if in_ns timeout 2 curl -sf -o /dev/null "$RILL_FW_URL/"; then break; fi
    sleep 0.2
done

echo "== built-in checks against $RILL_FW_URL"
in_ns timeout 60 python3 - <<'PY'
import concurrent.futures, os, socket, urllib.error, urllib.parse, urllib.request

url = os.environ["RILL_FW_URL"]

def get(path):
    try:
        with urllib.request.urlopen(url + path, timeout=5) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()

status, headers, body = get("/")
assert status == 200, status
assert headers["Content-Type"].startswith("text/html"), headers
assert int(headers["Content-Length"]) == len(body), (headers["Content-Length"], len(body))
assert b"<title>rill</title>" in body and b"/tokens" in body and b"/echo" in body
print(f"GET / -> 200, {len(body)} bytes")

# The server must end with FIN, not RST: read to EOF on a raw socket (a reset raises ConnectionResetError).
host = urllib.parse.urlsplit(url).hostname
with socket.create_connection((host, 80), timeout=5) as s:
    s.sendall(b"GET / HTTP/1.1\r\nHost: rill\r\n\r\n")
    raw = b""
    while chunk := s.recv(4096):
        raw += chunk
assert raw.endswith(body), raw[:200]
print("server closed with FIN after the full response")

assert get("/nope")[0] == 404
assert get("/tokens?x=1")[0] == 426  # a WebSocket route asked without the upgrade headers
assert get("/echo")[0] == 426
req = urllib.request.Request(url + "/", data=b"x", method="POST")
try:
    urllib.request.urlopen(req, timeout=5)
    raise AssertionError("POST / succeeded")
except urllib.error.HTTPError as e:
    assert e.code == 405, e.code
print("GET /nope -> 404, GET /tokens and /echo without upgrade -> 426, POST / -> 405")

# Back-to-back connections: each must be served on a fresh socket after the previous graceful close.
for _ in range(30):
    assert get("/")[2] == body
print("30 sequential requests served")

# As many simultaneous connections as there are listener tasks (embassy-net has no backlog).
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    results = list(pool.map(get, ["/"] * 4))
assert all(r[0] == 200 and r[2] == body for r in results), [r[0] for r in results]
print("4 concurrent requests served")
PY

echo "== WebSocket checks with Python websockets"
in_ns timeout 300 "$PY" "$PKG/py/ws_checks.py"

if [ "$AUTOBAHN" != 0 ]; then
    echo "== Autobahn fuzzingclient against ws://$SERVER_IP/echo"
    out=$AB_DIR/firmware
    rm -rf "$out"
    mkdir -p "$out"
    cat >"$out/spec.json" <<JSON
{"outdir": "$out/reports/servers", "servers": [{"agent": "rill-embassy", "url": "ws://$SERVER_IP/echo"}],
 "cases": ["*"], "exclude-cases": ["12.*", "13.*"], "exclude-agent-cases": {}}
JSON
    start=$(date +%s)
    (cd "$out" && in_ns timeout 900 "$AB_DIR/wstest/wstest" -m fuzzingclient -s spec.json >wstest.log 2>&1)
    echo "wstest took $(($(date +%s) - start)) s; report: $out/reports/servers/index.html"
    python3 "$root/../shared/autobahn/summarize.py" "$out/reports/servers"
    # Sections 12 and 13 (compression round trips of up to 1000 x 128 KiB) are left out: this debug build would
    # need many minutes for them; the firmware's inflate path is checked by ws_checks.py above (websockets
    # compresses, agreed at client_max_window_bits=12) and rill-embassy's by its tests. Nothing else may be
    # UNIMPLEMENTED.
    python3 - "$out/reports/servers/index.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
bad = [case for agent in data.values() for case, result in agent.items()
       if result["behavior"] == "UNIMPLEMENTED"]
if bad:
    sys.exit("UNIMPLEMENTED: " + " ".join(sorted(bad)))
slow = sorted(((r["duration"], c) for a in data.values() for c, r in a.items()), reverse=True)[:3]
print("slowest cases:", ", ".join(f"{c} {d} ms" for d, c in slow))
PY
fi

# ---------------------------------------------------------------------------------------------------------------
# HOOK: extra in-namespace clients against the server. Add them here, run through `in_ns timeout SECONDS ...`
# against "$RILL_FW_URL" (ws://10.99.0.2/echo etc.), or pass one as this script's arguments.
if [ "$#" -gt 0 ]; then
    echo "== extra client: $*"
    in_ns timeout "$SERVER_SECONDS" "$@"
fi
# ---------------------------------------------------------------------------------------------------------------

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "host-tap server exited early" >&2
    exit 1
fi
# The client below needs the TAP: stop the server first.
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=

echo "== board client (rill_embassy::connect) against a Python websockets server on $PEER_IP"
PY_LOG=$(mktemp)
ip netns exec "$NS" timeout 120 "$PY" "$PKG/py/ws_server.py" "$PEER_IP" 9100 >"$PY_LOG" 2>&1 &
PY_PID=$!
for _ in $(seq 100); do
    if grep -q listening "$PY_LOG" || ! kill -0 "$PY_PID" 2>/dev/null; then break; fi
    sleep 0.1
done
client_status=0
in_ns timeout 60 "$BIN" --tap tap0 --client "ws://$PEER_IP:9100/rill" >>"$LOG" 2>&1 || client_status=$?
grep '^client:' "$LOG" || true
py_status=0
wait "$PY_PID" || py_status=$?
PY_PID=
cat "$PY_LOG"
rm -f "$PY_LOG"
if [ "$client_status" -ne 0 ] || [ "$py_status" -ne 0 ]; then
    echo "board client: client exit $client_status, Python server exit $py_status" >&2
    exit 1
fi

echo "== board client over TLS 1.3 (embedded-tls) against rill-tokio's echo_server on $PEER_IP"
# A throwaway CA and a server certificate it signs for 10.99.0.1, ECDSA P-256 with SHA-256 (what the board's
# verifier checks). embedded-tls matches the host against DNS names and the CN, not IP SANs: the address is the
# CN, and an IP SAN for every other client. A second CA that signed nothing for the negative check.
(
    cd "$CERTS"
    ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    timeout 60 openssl req -x509 "${ec[@]}" -days 2 -subj /CN=rill-test-ca -keyout ca.key -out ca.pem 2>/dev/null
    timeout 60 openssl req -x509 "${ec[@]}" -days 2 -subj /CN=rill-other-ca -keyout other.key -out other.pem \
        2>/dev/null
    timeout 60 openssl req "${ec[@]}" -subj "/CN=$PEER_IP" -keyout key.pem -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:%s\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' "$PEER_IP" \
        >server.ext
    timeout 60 openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
        -extfile server.ext -out cert.pem 2>/dev/null
    # Signed by the right CA, for another address.
    timeout 60 openssl req "${ec[@]}" -subj /CN=10.99.0.9 -keyout key9.pem -out server9.csr 2>/dev/null
    printf 'subjectAltName=IP:10.99.0.9\n' >server9.ext
    timeout 60 openssl x509 -req -in server9.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
        -extfile server9.ext -out cert9.pem 2>/dev/null
)
# Two servers: 9443 with the certificate for 10.99.0.1, 9444 with the one for 10.99.0.9. Ready when they print
# their address (bounded poll).
TLS_LOG=$CERTS/echo_server.log
ip netns exec "$NS" timeout 120 "$TLS_SERVER" --addr "$PEER_IP:9443" --tls-cert "$CERTS/cert.pem" \
    --tls-key "$CERTS/key.pem" >"$TLS_LOG" 2>&1 &
TLS_PID=$!
ip netns exec "$NS" timeout 120 "$TLS_SERVER" --addr "$PEER_IP:9444" --tls-cert "$CERTS/cert9.pem" \
    --tls-key "$CERTS/key9.pem" >"$TLS_LOG.9" 2>&1 &
TLS_PID="$TLS_PID $!"
for _ in $(seq 100); do
    if grep -q listening "$TLS_LOG" && grep -q listening "$TLS_LOG.9"; then break; fi
    sleep 0.1
done
tls_status=0
in_ns timeout 60 "$BIN" --tap tap0 --client-tls "wss://$PEER_IP:9443/" --ca "$CERTS/ca.pem" >>"$LOG" 2>&1 ||
    tls_status=$?
grep '^client:' "$LOG" | tail -n 1
if [ "$tls_status" -ne 0 ]; then
    echo "board TLS client: exit $tls_status; echo_server log:" >&2
    cat "$TLS_LOG" >&2
    exit 1
fi
# Negative checks: the handshake must fail (exit 1, InvalidCertificate) when the trusted CA did not sign the
# server's certificate, and when the certificate is the CA's but for another address.
expect_refused() { # name, then rill-host-tap flags
    local name=$1 status=0
    shift
    in_ns timeout 60 "$BIN" --tap tap0 "$@" >"$CERTS/$name.log" 2>&1 || status=$?
    if [ "$status" -ne 1 ] || ! grep -q 'client: FAILED: Tls(InvalidCertificate)' "$CERTS/$name.log"; then
        echo "board TLS client, $name: exit $status (expected 1, InvalidCertificate):" >&2
        cat "$CERTS/$name.log" >&2
        exit 1
    fi
    echo "board TLS client, $name: $(grep 'client: FAILED' "$CERTS/$name.log") (expected)"
}
expect_refused "server signed by another CA" --client-tls "wss://$PEER_IP:9443/" --ca "$CERTS/other.pem"
expect_refused "certificate for 10.99.0.9" --client-tls "wss://$PEER_IP:9444/" --ca "$CERTS/ca.pem"
for pid in $TLS_PID; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
TLS_PID=

echo "firmware host-tap checks passed"
