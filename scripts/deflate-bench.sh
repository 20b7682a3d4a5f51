#!/usr/bin/env bash
# permessage-deflate numbers (issue #11, docs/deflate.md "Numbers"). Not part of CI: run by hand on a quiet
# machine (it refuses when the 1-minute load is 1.0 or more, or when CI is set).
#
#   bash scripts/deflate-bench.sh [--rounds 3] [--messages 20000] [--connections 1000] [--out docs/bench]
#
# 1. Ratio and echo rate: one client for all servers, `wsdeflate --mode bench` (benches/src/bin/wsdeflate.rs,
#    rill-tokio; counts the frame bytes on its socket after the handshake), 32 messages in flight, each
#    echo checked byte for byte, against three echo servers on 127.0.0.1:
#    Every endpoint compresses every message (rill: --compress-threshold 0 on both sides, ws: threshold: 0),
#    so the rows compare compressors; rill's default threshold (1 KiB) is measured in docs/deflate.md.
#      rill     adapters/tokio/examples/echo_server (Config::default(): compress with 12 bits, level 6,
#               memLevel 5, inflate with 15)
#      python   websockets (tests/interop/requirements.txt) serve(..., extensions=[ServerPerMessageDeflateFactory(
#               server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5})]):
#               websockets' own default, zlib level 6 (its default)
#      node     ws (tests/interop/node) perMessageDeflate {serverMaxWindowBits: 12, threshold: 0,
#               zlibDeflateOptions: {level: 6, memLevel: 5}} (ws' default threshold, 1024, would leave
#               every token uncompressed)
#    The client (rill's default: compresses with 12 bits, inflates with 15) offers
#    `permessage-deflate; client_max_window_bits`; rill and ws answer `server_max_window_bits=12`, websockets
#    also `client_max_window_bits=12`: every server compresses with a 12-bit window, level 6, memLevel 5,
#    and the client with 12 bits toward all three. Corpora: `tokens` (English text tokens of 3-20 bytes, one
#    message each) and `chunks` (300-500 bytes), seeded. Each also without deflate (the client offers none).
#    Columns: wire bytes / payload bytes sent by the client (up: rill's compressor for all rows) and sent by
#    the server (down: that server's compressor), frame headers included; echoed messages per second.
# 2. Memory: RSS of echo_server (with and without --no-deflate, a fresh server per round) before any
#    connection, with --connections idle connections (that agreed deflate, or not), right after each
#    echoed one 16 KiB binary message, and 1.5 s later; reported as bytes per connection over the RSS
#    before.
# Medians of --rounds rounds. Results: $OUT/deflate-<date>.csv and $OUT/deflate-memory-<date>.csv.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3
MESSAGES=20000
CONNECTIONS=1000
OUT=docs/bench
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --messages) MESSAGES=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        *) echo "usage: $0 [--rounds N] [--messages N] [--connections N] [--out DIR]" >&2; exit 2 ;;
    esac
done

if [ -n "${CI:-}" ]; then
    echo "deflate-bench: not in CI (numbers from a shared runner mean nothing)" >&2
    exit 1
fi
load=$(cut -d' ' -f1 /proc/loadavg)
if ! awk -v l="$load" 'BEGIN { exit !(l < 1.0) }'; then
    echo "deflate-bench: load average $load >= 1.0: wait for a quiet machine" >&2
    exit 1
fi

export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
source scripts/lib/peers.sh
install_interop_venv
(cd tests/interop/node && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
# echo_server and wsdeflate, built as scripts/interop.sh builds them (scripts/lib/release.sh).
source scripts/lib/release.sh
build_release
ECHO=$RELEASE_DIR/examples/echo_server
CLIENT=$RELEASE_DIR/wsdeflate
WORK=$(mktemp -d)
mkdir -p "$OUT"
DATE=$(date -u +%Y-%m-%d)
CSV=$OUT/deflate-$DATE.csv
MEMCSV=$OUT/deflate-memory-$DATE.csv

source scripts/lib/servers.sh

cat >"$WORK/py_server.py" <<'EOF'
import asyncio, sys
from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

async def echo(ws):
    async for message in ws:
        await ws.send(message)

async def main(port):
    pmd = ServerPerMessageDeflateFactory(server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5})
    async with serve(echo, "127.0.0.1", port, extensions=[pmd], max_size=None):
        await asyncio.Future()

asyncio.run(main(int(sys.argv[1])))
EOF

SERVER_URL=
start() { # name: sets SERVER_URL
    case $1 in
        rill)
            local port; port=$(free_port)
            "$ECHO" --addr "127.0.0.1:$port" --compress-threshold 0 >"$WORK/rill.log" 2>&1 &
            PIDS+=($!); wait_port "$port" "$!"
            ;;
        python)
            local port; port=$(free_port)
            "$PY" "$WORK/py_server.py" "$port" >"$WORK/python.log" 2>&1 &
            PIDS+=($!); wait_port "$port" "$!"
            ;;
        node)
            coproc NODE { exec node tests/interop/node/server.mjs \
                '{"perMessageDeflate": {"serverMaxWindowBits": 12, "threshold": 0, "zlibDeflateOptions": {"level": 6, "memLevel": 5}}, "lifetimeMs": 3600000}'; }
            PIDS+=("$NODE_PID")
            local line; read -r -t 10 line <&"${NODE[0]}"
            local port; port=$("$PY" -c 'import json, sys; print(json.loads(sys.argv[1])["port"])' "$line")
            ;;
    esac
    SERVER_URL="ws://127.0.0.1:$port/"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
field() { "$PY" -c 'import json, sys; d = json.loads(sys.argv[1]); print(d[sys.argv[2]])' "$1" "$2"; }

echo "kind,server,corpus,deflate,answer,messages,payload_bytes,up_wire_per_payload,down_wire_per_payload,msgs_per_s_median,msgs_per_s_rounds" >"$CSV"
for server in rill python node; do
    start "$server"
    for corpus in tokens chunks; do
        for deflate in on off; do
            flags=(--compress-threshold 0); [ "$deflate" = off ] && flags=(--no-deflate)
            rates=(); up=; down=; answer=; payload=
            for round in $(seq "$ROUNDS"); do
                line=$(timeout 120 "$CLIENT" --url "$SERVER_URL" --mode bench --corpus "$corpus" \
                    --messages "$MESSAGES" --seed 1 "${flags[@]}")
                rates+=("$(field "$line" msgs_per_s)")
                up=$(field "$line" up_ratio); down=$(field "$line" down_ratio)
                answer=$(field "$line" answer); payload=$(field "$line" payload_bytes)
            done
            med=$(printf '%s\n' "${rates[@]}" | median)
            echo "echo,$server,$corpus,$deflate,\"$answer\",$MESSAGES,$payload,$up,$down,$med,$(IFS=/; echo "${rates[*]}")" | tee -a "$CSV"
        done
    done
done
for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
PIDS=()

echo "kind,server,deflate,connections,agreed,message_size,idle_bytes_per_conn,echoed_bytes_per_conn,settled_bytes_per_conn,rss_before_kib,rounds_idle/echoed/settled" >"$MEMCSV"
for deflate in on off; do
    flags=(); [ "$deflate" = off ] && flags=(--no-deflate)
    idle=(); echoed=(); settled=(); rounds=(); agreed=; before=
    for round in $(seq "$ROUNDS"); do
        port=$(free_port)
        "$ECHO" --addr "127.0.0.1:$port" "${flags[@]}" >"$WORK/mem.log" 2>&1 &
        pid=$!; PIDS=("$pid"); wait_port "$port" "$pid"
        line=$(timeout 300 "$CLIENT" --url "ws://127.0.0.1:$port/" --mode memory --connections "$CONNECTIONS" \
            --server-pid "$pid" --message-size 16384)
        kill "$pid"; wait "$pid" 2>/dev/null || true; PIDS=()
        before=$(field "$line" rss_before_kib); agreed=$(field "$line" agreed)
        i=$(( ($(field "$line" rss_idle_kib) - before) * 1024 / CONNECTIONS ))
        e=$(( ($(field "$line" rss_echoed_kib) - before) * 1024 / CONNECTIONS ))
        s=$(( ($(field "$line" rss_settled_kib) - before) * 1024 / CONNECTIONS ))
        idle+=("$i"); echoed+=("$e"); settled+=("$s"); rounds+=("$i/$e/$s")
    done
    echo "memory,rill,$deflate,$CONNECTIONS,$agreed,16384,$(printf '%s\n' "${idle[@]}" | median),$(printf '%s\n' "${echoed[@]}" | median),$(printf '%s\n' "${settled[@]}" | median),$before,$(IFS=' '; echo "${rounds[*]}")" | tee -a "$MEMCSV"
done
echo "deflate-bench: $CSV $MEMCSV (load before: $load, after: $(cut -d' ' -f1 /proc/loadavg))"
