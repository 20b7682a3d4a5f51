#!/usr/bin/env bash
# Runs the firmware examples' server (firmware-examples/host-tap, the same `app` code the boards run) on a TAP
# device inside a private network namespace, and checks it with real HTTP clients from inside that namespace.
#
# Usage: scripts/firmware-host-tap.sh [CMD ARGS...]
#   CMD, if given, runs inside the namespace after the built-in checks, with RILL_FW_URL=http://10.99.0.2:80 set
#   (for example a Python `websockets` client or the Autobahn fuzzing client); its exit status fails the script.
# Needs root (network namespaces, TAP) and /dev/net/tun. All traffic stays inside the namespace, which is deleted
# on exit; every step is bounded by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=firmware-examples/host-tap
SERVER_IP=10.99.0.2
PEER_IP=10.99.0.1
export RILL_FW_URL="http://$SERVER_IP:80"
# Upper bound for the whole server run; checks and extra clients must finish within it.
SERVER_SECONDS=${RILL_FW_SERVER_SECONDS:-300}

CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} timeout 900 cargo build --locked --manifest-path "$PKG/Cargo.toml"
BIN="$PKG/target/debug/rill-host-tap"

NS="rill-fw-$$-$RANDOM"
LOG=$(mktemp)
SERVER_PID=
cleanup() {
    status=$?
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    ip netns del "$NS" 2>/dev/null || true
    if [ "$status" -ne 0 ]; then
        echo "--- host-tap server log ---" >&2
        cat "$LOG" >&2
    fi
    rm -f "$LOG"
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
assert get("/tokens?x=1")[0] == 200  # page until the WebSocket upgrade lands
print("GET /nope -> 404, GET /tokens -> 200")

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

# ---------------------------------------------------------------------------------------------------------------
# HOOK: extra in-namespace clients (Python `websockets` clients, the Autobahn fuzzing client, ...).
# Add them here, run through `in_ns timeout SECONDS ...` against "$RILL_FW_URL" (ws://10.99.0.2/echo etc.),
# or pass one as this script's arguments.
if [ "$#" -gt 0 ]; then
    echo "== extra client: $*"
    in_ns timeout "$SERVER_SECONDS" "$@"
fi
# ---------------------------------------------------------------------------------------------------------------

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "host-tap server exited early" >&2
    exit 1
fi
echo "firmware host-tap checks passed"
