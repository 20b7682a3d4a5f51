#!/usr/bin/env bash
# Real-browser test of the token_stream demo: headless Debian Chromium + playwright-core + `node --test`
# (docs/browser-test.md). Installs what it needs (apt chromium, npm ci), builds the example in release
# with TLS (scripts/lib/release.sh), starts three demo servers on 127.0.0.1 (a free port each; the third over
# HTTPS/WSS with a throwaway self-signed certificate, docs/tls.md), runs tests/browser (deflate.test.mjs: the
# browser agreed permessage-deflate with the demo, ws.extensions and the 101 seen over the DevTools protocol;
# h2.test.mjs: axum_chat over HTTPS with ALPN h2, its page over HTTP/2 and its socket working, the socket's
# protocol read from the DevTools protocol and printed), stops the servers.
#
# Env: CARGO_TARGET_DIR (honoured), CARGO_BUILD_JOBS (default 1), CHROMIUM (default /usr/bin/chromium),
# RILL_SCREENSHOT (default docs/img/token_stream.png; "0" for none).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

# 1. Chromium from Debian (playwright cannot download its own browser here), and a font for the screenshot.
if [ ! -x "$CHROMIUM" ] || ! fc-list 2>/dev/null | grep -qi dejavu; then
    echo "browser-test: installing chromium from apt"
    timeout 300 $SUDO apt-get update -qq
    timeout 900 $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
"$CHROMIUM" --version

# 2. playwright-core, pinned by tests/browser/package-lock.json.
(cd tests/browser && timeout 300 npm ci --no-audit --no-fund --loglevel=error)

# 3. The demo server, in release, in the build every test script shares (scripts/lib/release.sh).
source scripts/lib/release.sh
build_release
BIN="$RELEASE_DIR/examples/token_stream"
[ -x "$BIN" ] || { echo "browser-test: $BIN not found" >&2; exit 1; }

# 4. Two servers, port 0 = a free port chosen by the OS; each prints its URL, then its --events.
WORK="$(mktemp -d)"
source scripts/lib/servers.sh

# start_server NAME ARGS...: sets URL to the server's http(s)://127.0.0.1:PORT/ once it listens (SERVER: the
# example, token_stream unless set).
start_server() {
    local name="$1"; shift
    local server="${SERVER:-token_stream}"
    : >"$WORK/$name.out"
    timeout 600 "$RELEASE_DIR/examples/$server" --addr 127.0.0.1:0 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PIDS+=("$!")
    for _ in $(seq 100); do
        URL="$(sed -n "s|^$server: open \\(https\\{0,1\\}://[^ ]*\\)\$|\\1|p" "$WORK/$name.out" | head -n1)"
        [ -n "$URL" ] && { echo "browser-test: $name server at $URL"; return 0; }
        kill -0 "$!" 2>/dev/null || break
        sleep 0.1
    done
    echo "browser-test: $name server did not start" >&2
    cat "$WORK/$name.err" >&2
    exit 1
}

start_server plain --interval-ms 15 --events
export RILL_URL="$URL" RILL_EVENTS="$WORK/plain.out"
start_server drop --interval-ms 15 --events --drop-after 30
export RILL_DROP_URL="$URL" RILL_DROP_EVENTS="$WORK/drop.out"
# A self-signed certificate for 127.0.0.1; Chromium accepts exactly its key (the SPKI hash), nothing else.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$WORK/tls.key" -out "$WORK/tls.pem" 2>/dev/null
start_server tls --interval-ms 15 --tls-cert "$WORK/tls.pem" --tls-key "$WORK/tls.key"
RILL_TLS_SPKI="$(openssl x509 -in "$WORK/tls.pem" -pubkey -noout | openssl pkey -pubin -outform der \
    | openssl dgst -sha256 -binary | base64)"
export RILL_TLS_URL="$URL" RILL_TLS_SPKI
# axum_chat with the same certificate: HTTP/1.1 and HTTP/2 on one port, ALPN choosing.
SERVER=axum_chat start_server axum --tls-cert "$WORK/tls.pem" --tls-key "$WORK/tls.key"
export RILL_AXUM_URL="$URL"

# 5. The tests.
cd tests/browser
status=0
timeout 300 node --test --test-concurrency=1 token_stream.test.mjs tls.test.mjs deflate.test.mjs h2.test.mjs \
    || status=$?
if [ "$status" != 0 ]; then
    for name in plain drop tls axum; do
        echo "--- $name server stderr" >&2
        cat "$WORK/$name.err" >&2
    done
fi
exit "$status"
