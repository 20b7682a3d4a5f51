#!/usr/bin/env bash
# The client through real proxies nobody here wrote, driven end to end with the `wscat` example (stdin lines
# in, echoed lines out): Debian's tinyproxy (HTTP CONNECT, with and without Basic auth) and PyPI's pproxy
# (SOCKS5, with and without username/password), each started here on a free 127.0.0.1 port, in front of
# rill's echo_server over ws:// and wss:// (a CA made for this run, passed with --ca). Checks: every line
# comes back in order through each proxy, each proxy's log shows the tunnel, a refused CONNECT exits
# non-zero with the proxy's status line (407, 401), a refused SOCKS5 login likewise, HTTP_PROXY / HTTPS_PROXY /
# ALL_PROXY are honoured, and NO_PROXY sends the client straight to the server although the proxy variable
# points at a dead port. See docs/client.md.
#
#   bash scripts/proxy-test.sh
#
# tinyproxy comes from scripts/setup.sh, pproxy from tests/interop/requirements.txt (scripts/lib/peers.sh).
# Builds with scripts/lib/release.sh (shared with the other release steps). Every wscat run is bounded by
# `timeout`; the proxies and servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

# The environment's proxy settings would change what is tested: each case sets its own.
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
source scripts/lib/peers.sh
source scripts/lib/release.sh
install_interop_venv
command -v tinyproxy >/dev/null || { echo "proxy-test: tinyproxy missing (scripts/setup.sh)" >&2; exit 1; }
build_release
BIN=$RELEASE_DIR/examples
source scripts/lib/servers.sh
WORK=$(mktemp -d)
PPROXY=$PWD/target/interop-venv/bin/pproxy

# The servers: echo over ws:// and over wss:// with a certificate for localhost from a CA made now.
"$PY" - "$WORK" <<'EOF'
import sys, trustme
ca = trustme.CA()
ca.cert_pem.write_to_path(f"{sys.argv[1]}/ca.pem")
cert = ca.issue_cert("localhost")
cert.private_key_pem.write_to_path(f"{sys.argv[1]}/key.pem")
cert.cert_chain_pems[0].write_to_path(f"{sys.argv[1]}/cert.pem")
EOF
start() { # PORT LOG COMMAND...: starts COMMAND in the background and waits for PORT
    local port=$1 log=$2
    shift 2
    "$@" >"$WORK/$log" 2>&1 3>&- & # not holding wscat's input open (fd 3, below)
    PIDS+=($!)
    wait_port "$port" "$!" || { cat "$WORK/$log"; exit 1; }
}
WS_PORT=$(free_port)
start "$WS_PORT" echo.log "$BIN/echo_server" --addr "127.0.0.1:$WS_PORT"
WSS_PORT=$(free_port)
start "$WSS_PORT" echo-tls.log "$BIN/echo_server" --addr "127.0.0.1:$WSS_PORT" \
    --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"

# The proxies. tinyproxy allows every CONNECT port when its config names none.
tinyproxy_conf() { # PORT [USER PASSWORD]
    printf 'Port %s\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nLogLevel Connect\nAllow 127.0.0.1\n' "$1"
    [ $# -eq 1 ] || printf 'BasicAuth %s %s\n' "$2" "$3"
}
HTTP_PORT=$(free_port)
tinyproxy_conf "$HTTP_PORT" >"$WORK/tinyproxy.conf"
start "$HTTP_PORT" tinyproxy.log tinyproxy -d -c "$WORK/tinyproxy.conf"
HTTP_AUTH_PORT=$(free_port)
tinyproxy_conf "$HTTP_AUTH_PORT" alice s3cr3t >"$WORK/tinyproxy-auth.conf"
start "$HTTP_AUTH_PORT" tinyproxy-auth.log tinyproxy -d -c "$WORK/tinyproxy-auth.conf"
SOCKS_PORT=$(free_port)
start "$SOCKS_PORT" pproxy.log "$PPROXY" -v -l "socks5://127.0.0.1:$SOCKS_PORT"
SOCKS_AUTH_PORT=$(free_port)
# --auth 0: check the password on every connection (pproxy otherwise trusts an address that logged in once).
start "$SOCKS_AUTH_PORT" pproxy-auth.log "$PPROXY" -v --auth 0 -l "socks5://127.0.0.1:$SOCKS_AUTH_PORT#bob:pa@ss"
DEAD_PORT=$(free_port) # nothing listens there

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $1"; }
fail() { failed=$((failed + 1)); echo "FAILED: $1"; }

# wscat_echo NAME COMMAND...: sends three lines (one with spaces and non-ASCII text) to COMMAND (wscat, maybe
# under env) and expects them back in order, then a normal close (exit 0).
LINES=$'first line\nsecond: d\xc3\xa9j\xc3\xa0 vu\nthird'
wscat_echo() {
    local name=$1
    shift
    local out
    if out=$(printf '%s\n' "$LINES" | timeout 20 "$@" 2>"$WORK/stderr") \
        && [ "$out" = "$LINES" ]; then
        ok "$name"
    else
        fail "$name: stdout [$out], stderr [$(cat "$WORK/stderr")]"
    fi
}
# wscat_refused NAME PATTERN COMMAND...: expects a non-zero exit with PATTERN in the message.
wscat_refused() {
    local name=$1 pattern=$2
    shift 2
    if printf 'x\n' | timeout 20 "$@" >/dev/null 2>"$WORK/stderr"; then
        fail "$name: exited 0"
    elif grep -q -- "$pattern" "$WORK/stderr"; then
        ok "$name: $(cat "$WORK/stderr")"
    else
        fail "$name: expected [$pattern], got [$(cat "$WORK/stderr")]"
    fi
}
# tunnels LOG PORT: how many tunnels to localhost:PORT the proxy's log shows.
tunnels() { grep -c "localhost:$2" "$WORK/$1" || true; }

WS=ws://localhost:$WS_PORT/
WSS=wss://localhost:$WSS_PORT/
CA=(--ca "$WORK/ca.pem")
W=$BIN/wscat
wscat_echo "direct ws://" "$W" --url "$WS"
wscat_echo "direct wss://" "$W" --url "$WSS" "${CA[@]}"

for via in \
    "tinyproxy.log http://127.0.0.1:$HTTP_PORT" \
    "tinyproxy-auth.log http://alice:s3cr3t@127.0.0.1:$HTTP_AUTH_PORT" \
    "pproxy.log socks5://127.0.0.1:$SOCKS_PORT" \
    "pproxy-auth.log socks5h://bob:pa%40ss@127.0.0.1:$SOCKS_AUTH_PORT"; do
    read -r log proxy <<<"$via"
    for url in "$WS" "$WSS"; do
        port=${url##*:}
        port=${port%/}
        before=$(tunnels "$log" "$port")
        wscat_echo "$url through $proxy" "$W" --url "$url" --proxy "$proxy" "${CA[@]}"
        after=$(tunnels "$log" "$port")
        if [ "$after" -gt "$before" ]; then ok "$log shows the tunnel"; else fail "$log shows no tunnel to $port"; fi
    done
done

wscat_refused "CONNECT without credentials" "407 Proxy Authentication Required" \
    "$W" --url "$WS" --proxy "http://127.0.0.1:$HTTP_AUTH_PORT"
# tinyproxy answers a wrong password with 401 (what matters: its status line reaches the user as sent).
wscat_refused "CONNECT with a wrong password" "proxy refused CONNECT: 401 Unauthorized" \
    "$W" --url "$WS" --proxy "http://alice:wrong@127.0.0.1:$HTTP_AUTH_PORT"
# pproxy hangs up on a wrong password instead of answering RFC 1929's failure status.
wscat_refused "SOCKS5 with a wrong password" "proxy 127.0.0.1:$SOCKS_AUTH_PORT: the proxy closed the connection before answering" \
    "$W" --url "$WS" --proxy "socks5://bob:wrong@127.0.0.1:$SOCKS_AUTH_PORT"
wscat_refused "a dead proxy" "proxy 127.0.0.1:$DEAD_PORT" "$W" --url "$WS" --proxy "http://127.0.0.1:$DEAD_PORT"

# The environment: the variable for the URL's scheme, else ALL_PROXY; NO_PROXY exempts the host.
before=$(tunnels tinyproxy.log "$WS_PORT")
wscat_echo "HTTP_PROXY for ws://" env HTTP_PROXY="http://127.0.0.1:$HTTP_PORT" \
    "$W" --url "$WS"
[ "$(tunnels tinyproxy.log "$WS_PORT")" -gt "$before" ] && ok "HTTP_PROXY was used" || fail "HTTP_PROXY was not used"
before=$(tunnels tinyproxy.log "$WSS_PORT")
wscat_echo "HTTPS_PROXY for wss://" env HTTPS_PROXY="http://127.0.0.1:$HTTP_PORT" \
    HTTP_PROXY="http://127.0.0.1:$DEAD_PORT" "$W" --url "$WSS" "${CA[@]}"
[ "$(tunnels tinyproxy.log "$WSS_PORT")" -gt "$before" ] && ok "HTTPS_PROXY was used" || fail "HTTPS_PROXY was not used"
before=$(tunnels pproxy.log "$WS_PORT")
wscat_echo "ALL_PROXY (SOCKS5) for ws://" env ALL_PROXY="socks5://127.0.0.1:$SOCKS_PORT" \
    "$W" --url "$WS"
[ "$(tunnels pproxy.log "$WS_PORT")" -gt "$before" ] && ok "ALL_PROXY was used" || fail "ALL_PROXY was not used"
wscat_refused "HTTP_PROXY at a dead port" "proxy 127.0.0.1:$DEAD_PORT" \
    env HTTP_PROXY="http://127.0.0.1:$DEAD_PORT" "$W" --url "$WS"
wscat_echo "NO_PROXY exempts the host" env HTTP_PROXY="http://127.0.0.1:$DEAD_PORT" \
    NO_PROXY="example.com, .localhost" "$W" --url "$WS"
wscat_echo "NO_PROXY exempts the host:port" env HTTPS_PROXY="http://127.0.0.1:$DEAD_PORT" \
    no_proxy="localhost:$WSS_PORT" "$W" --url "$WSS" "${CA[@]}"

# wscat --reconnect: the server is killed (SIGKILL) between two lines and started again on the same port;
# wscat says it is reconnecting, comes back, sends the second line there, and exits 0 after its 1000 close.
# Waits are bounded polls of wscat's output (until_in FILE TEXT).
until_in() {
    local deadline=$((SECONDS + 15))
    until grep -q -- "$2" "$1"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.05
    done
}
RE_PORT=$(free_port)
start "$RE_PORT" echo-re.log "$BIN/echo_server" --addr "127.0.0.1:$RE_PORT"
re_server=$!
mkfifo "$WORK/in"
timeout 60 "$W" --reconnect --url "ws://127.0.0.1:$RE_PORT/" <"$WORK/in" >"$WORK/re.out" 2>"$WORK/re.err" &
re_client=$!
exec 3>"$WORK/in"
echo "before the kill" >&3
if until_in "$WORK/re.out" "before the kill" && kill -KILL "$re_server" && until_in "$WORK/re.err" "reconnecting in"; then
    start "$RE_PORT" echo-re2.log "$BIN/echo_server" --addr "127.0.0.1:$RE_PORT"
    echo "after the restart" >&3
    until_in "$WORK/re.out" "after the restart" || true
fi
exec 3>&-
re_status=0
wait "$re_client" || re_status=$?
if [ "$re_status" -eq 0 ] && [ "$(cat "$WORK/re.out")" = $'before the kill\nafter the restart' ]; then
    ok "wscat --reconnect: $(tr '\n' ' ' <"$WORK/re.err")"
else
    fail "wscat --reconnect: exit $re_status, stdout [$(cat "$WORK/re.out")], stderr [$(cat "$WORK/re.err")]"
fi

# rill-blocking's client through the same proxies (its tests there are ignored by a plain `cargo test`).
# `--workspace` resolves features as the workspace step's `cargo test --workspace` does, so the test binary
# reuses that step's build instead of building the crates again with other features.
if RILL_ECHO_WS=$WS RILL_PROXY_HTTP="http://127.0.0.1:$HTTP_PORT" \
    RILL_PROXY_HTTP_AUTH="http://alice:s3cr3t@127.0.0.1:$HTTP_AUTH_PORT" \
    RILL_PROXY_SOCKS5="socks5://127.0.0.1:$SOCKS_PORT" \
    RILL_PROXY_SOCKS5_AUTH="socks5://bob:pa%40ss@127.0.0.1:$SOCKS_AUTH_PORT" \
    timeout 600 cargo test -q --workspace --test proxy -- --ignored; then
    ok "rill-blocking through the proxies"
else
    fail "rill-blocking through the proxies"
fi

echo "proxy-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
