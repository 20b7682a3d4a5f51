#!/usr/bin/env bash
# Benchmark runner (issue 6): echo servers vs the same load generator, token latency, memory, allocations;
# --uws (issue 13): every server on one pinned core under uWebSockets' own load generator, next to uWebSockets.
# All traffic goes to 127.0.0.1; every run is bounded in time; servers are killed on exit.
# Results (raw CSV, logs, SVG chart) go to target/bench/. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

usage() {
    cat <<'USAGE'
usage: scripts/bench.sh [options] [sections]

sections (default: --throughput; several may be given):
  --throughput      msgs/s, MB/s, round-trip percentiles, server CPU per message over the C x S x D matrix
  --tokens          token-stream one-way latency, with a TCP_NODELAY-off control run
  --memory          server RSS per idle connection (--idle-conns connections)
  --alloc           allocations and bytes per echoed message (builds the `count-alloc` feature)
  --all             all of the above
  --uws             third-party comparison: uWebSockets' load_test against uWebSockets' echo server and every
                    Rust server, each on one thread pinned to core 0 (generator on core 1), plus thread-per-core
                    rill vs rill on tokio's multi-thread runtime (both cores); server CPU per message in all, in
                    user space and in the kernel. Builds load_test and echo_uws with
                    ../shared/uws/build.sh target/uws (needs gcc, g++, zlib1g-dev). Not part of --all.
  --tls             TLS (issue 12): rill-tokio against tokio-tungstenite with rustls, in one process (tls-compare):
                    handshake time (TCP + TLS + WebSocket) and echo msgs/s, --runs rounds interleaved; servers
                    pinned to core 0, clients to core 1 in-process. Not part of --all.

options:
  --quick           a one-minute look: 1 run, short runs, fewer points, 1000 idle connections; --uws: 1 round,
                    1 report per run (about 5 minutes)
  --runs N          runs per point, interleaved across servers (default 3)
  --secs T          measured seconds per throughput run (default 5)
  --warmup T        warm-up seconds per throughput run (default 1)
  --servers "A B"   servers to run (default: "rill rill-relay tungstenite fastws tokio-websockets sockudo"; missing
                    binaries are skipped; rill-relay has no token mode and sits out --tokens)
  --points "C:S:D .."  --throughput: only these points (connections:payload bytes:depth), e.g. the pipelined
                    ones "1:16:16 64:1024:16" (default: the full matrix, C 1 64 x S 16 1024 65536 x D 1 16)
  --idle-conns N    connections for --memory (default 10000)
  --bulk-bytes B    --memory: each connection first echoes one message of B bytes, then idles (post-bulk memory)
  --port-base P     first TCP port to use on 127.0.0.1 (default 19400)
  --uws-servers "A B"  rows of --uws (default: "uws rill rill-relay tungstenite fastws tokio-websockets sockudo
                    rill-per-core rill-multi"; the last two use both cores and skip the 1-connection points;
                    also rill-no-deadlines: echo-rill with its idle, keepalive and write timeouts off)
  --uws-reports N   --uws: load_test reports (4 s each) averaged per run, after the first one (warm-up) (default 2;
                    --uws uses the ports from --port-base + 50 on)
  --uws-points "C:S .."  --uws: only these points (connections:payload bytes), e.g. "10:1024" (default: 1:20
                    10:1024 100:20 500:16384 1:65536)
  --uws-perf        --uws: also sample the server with `perf record -e cpu-clock` over the measured window and
                    split its CPU time between user space and the kernel from the samples (apt-get install
                    linux-perf). /proc's user and system ticks attribute whole 10 ms ticks, which is noise where
                    user space is a few percent of the server's time (every point but 500 x 16 KiB)
  --uws-summarize CSV  print the --uws tables and draw its charts for an existing uws CSV (no build, no run)
  --build-only      build every benchmark binary in release and exit (what CI runs; not load_test/echo_uws)
USAGE
}

RUNS=3 SECS=5 WARMUP=1 QUICK=0 BUILD_ONLY=0 UWS_PERF=0 IDLE_CONNS=10000 PORT_BASE=19400 BULK_BYTES=0 UWS_REPORTS=2 POINTS=""
SECTIONS=()
# `rill` is the subject (whole messages, like the anchors); `rill-relay` relays pieces, a row of its own that never
# counts as "rill" in the ratios.
SERVERS=(rill rill-relay tungstenite fastws tokio-websockets sockudo)
ANCHORS=(tungstenite fastws tokio-websockets sockudo)
UWS_SERVERS=(uws rill rill-relay tungstenite fastws tokio-websockets sockudo rill-per-core rill-multi)

while [ $# -gt 0 ]; do
    case $1 in
        --quick) QUICK=1 ;;
        --build-only) BUILD_ONLY=1 ;;
        --runs) RUNS=$2; shift ;;
        --secs) SECS=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --servers) read -r -a SERVERS <<<"$2"; shift ;;
        --points) POINTS=$2; shift ;;
        --idle-conns) IDLE_CONNS=$2; shift ;;
        --bulk-bytes) BULK_BYTES=$2; shift ;;
        --port-base) PORT_BASE=$2; shift ;;
        --uws-servers) read -r -a UWS_SERVERS <<<"$2"; shift ;;
        --uws-reports) UWS_REPORTS=$2; UWS_REPORTS_GIVEN=1; shift ;;
        --uws-summarize) UWS_SUMMARIZE=$2; shift ;;
        --uws-perf) UWS_PERF=1 ;;
        --uws-points) UWS_POINTS=$2; shift ;;
        --throughput | --tokens | --memory | --alloc | --uws | --tls) SECTIONS+=("${1#--}") ;;
        --all) SECTIONS=(throughput tokens memory alloc) ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[ ${#SECTIONS[@]} -gt 0 ] || SECTIONS=(throughput)
if [ "$QUICK" = 1 ]; then
    RUNS=1 SECS=2 WARMUP=0.5
    [ -n "${UWS_REPORTS_GIVEN:-}" ] || UWS_REPORTS=1
    [ "$IDLE_CONNS" = 10000 ] && IDLE_CONNS=1000
fi

source scripts/lib/release.sh # TARGET_DIR, and build_release for --build-only
BIN=$RELEASE_DIR
ALLOC_TARGET_DIR=$TARGET_DIR/count-alloc
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$ROOT/target/bench
LOGS=$OUT/logs-$STAMP

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }

build() {
    log "building benchmark binaries (release)"
    if [ "$BUILD_ONLY" = 1 ]; then
        # CI's check that every benchmark binary builds: the test scripts' shared build has them all, so after the
        # other steps this is a no-op.
        build_release
    else
        # What is measured is built with rill-benches' features alone: the shared build would add those of
        # rill-tokio's dev-dependencies (tokio's test-util among them) to the servers.
        cargo build --release -p rill-benches --bins --benches
    fi
}

if [ -z "${UWS_SUMMARIZE:-}" ]; then
    build
    [ "$BUILD_ONLY" = 1 ] && exit 0
fi

mkdir -p "$OUT" "$LOGS"

# Servers whose binary exists, in the order given.
PRESENT=()
for s in "${SERVERS[@]}"; do
    if [ -x "$BIN/echo-$s" ]; then PRESENT+=("$s"); else log "skipping $s: no $BIN/echo-$s"; fi
done
[ ${#PRESENT[@]} -gt 0 ] || die "no server binary found"

# ---- server processes ---------------------------------------------------------------------------------
STARTED=()
cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${STARTED[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server BINARY PORT LOGFILE [server flags...]: starts it, waits until it listens, sets SERVER_PID.
start_server() {
    local binary=$1 port=$2 logfile=$3
    shift 3
    : >"$logfile" # truncate here, not in the child: a stale `listening` line must not be seen as this start's
    "$binary" --addr "127.0.0.1:$port" "$@" 2>>"$logfile" &
    SERVER_PID=$!
    STARTED+=("$SERVER_PID")
    local i
    for i in $(seq 100); do
        grep -q 'listening on' "$logfile" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || die "$binary exited: $(cat "$logfile")"
        sleep 0.1
    done
    die "$binary did not start listening on port $port within 10 s"
}

stop_server() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# ---- summaries ------------------------------------------------------------------------------------------
# summarize CSV COLUMN TITLE BETTER(high|low): median of COLUMN per point (conns/size/depth) and server, plus
# rill / best anchor. Plain POSIX awk (no gawk extensions), so it runs on a fresh Debian.
summarize() {
    awk -F, -v col="$2" -v title="$3" -v better="$4" -v servers="${PRESENT[*]}" -v anchors="${ANCHORS[*]}" '
    function median(list,    v, n, i, j, t) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    NR == 1 { for (i = 1; i <= NF; i++) idx[$i] = i; next }
    {
        point = $idx["conns"] "/" $idx["size"] "/" $idx["depth"]
        if (!(point in seen)) { seen[point] = 1; order[++npoints] = point }
        if ($idx[col] != "") vals[point, $idx["label"]] = vals[point, $idx["label"]] " " $idx[col]
    }
    END {
        ns = split(servers, srv, " "); na = split(anchors, anc, " ")
        printf "\n%s (median per point)\n%-16s", title, "C/S/D"
        for (s = 1; s <= ns; s++) printf " %16s", srv[s]
        printf " %16s\n", "rill/best-anchor"
        for (p = 1; p <= npoints; p++) {
            point = order[p]; printf "%-16s", point; best = ""
            for (s = 1; s <= ns; s++) {
                m = ((point, srv[s]) in vals) ? median(vals[point, srv[s]]) : ""
                med[srv[s]] = m
                printf " %16s", m == "" ? "-" : sprintf("%.1f", m)
            }
            for (a = 1; a <= na; a++) {
                m = med[anc[a]]
                if (m != "" && (best == "" || (better == "high" ? m > best : m < best))) best = m
            }
            r = med["rill"]
            printf " %16s\n", (r == "" || best == "" || best == 0) ? "n/a" : sprintf("%.2f", r / best)
        }
    }' "$1"
}

# summarize_tail CSV: fairness under pipelining. At every point with depth > 1, per server, the median p50 and p99
# round trip over the runs and p99/p50: a server that serves its connections' messages evenly keeps the ratio
# near 1 (every message waits behind about the same queue); a large ratio means some messages wait much longer.
summarize_tail() {
    awk -F, -v servers="${PRESENT[*]}" '
    function median(list,    v, n, i, j, t) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    NR == 1 { for (i = 1; i <= NF; i++) idx[$i] = i; next }
    $idx["depth"] > 1 && $idx["p50_us"] != "" {
        point = $idx["conns"] "/" $idx["size"] "/" $idx["depth"]
        if (!(point in seen)) { seen[point] = 1; order[++npoints] = point }
        p50[point, $idx["label"]] = p50[point, $idx["label"]] " " $idx["p50_us"]
        p99[point, $idx["label"]] = p99[point, $idx["label"]] " " $idx["p99_us"]
    }
    END {
        if (npoints == 0) exit
        ns = split(servers, srv, " ")
        printf "\nround trip under pipelining: p50 / p99 us (p99/p50), median per point\n%-16s", "C/S/D"
        for (s = 1; s <= ns; s++) printf " %24s", srv[s]
        printf "\n"
        for (p = 1; p <= npoints; p++) {
            point = order[p]; printf "%-16s", point
            for (s = 1; s <= ns; s++) {
                if (!((point, srv[s]) in p50)) { printf " %24s", "-"; continue }
                a = median(p50[point, srv[s]]); b = median(p99[point, srv[s]])
                printf " %24s", sprintf("%.0f / %.0f (%.2f)", a, b, (a > 0) ? b / a : 0)
            }
            printf "\n"
        }
    }' "$1"
}

# ---- throughput -------------------------------------------------------------------------------------------
section_throughput() {
    local points csv port i run point c s d k n line server
    if [ -n "$POINTS" ]; then
        read -r -a points <<<"$POINTS"
    elif [ "$QUICK" = 1 ]; then
        points=(1:16:1 64:16:16 64:1024:16 1:65536:16)
    else
        points=()
        for c in 1 64; do for s in 16 1024 65536; do for d in 1 16; do points+=("$c:$s:$d"); done; done; done
    fi
    csv=$OUT/throughput-$STAMP.csv
    declare -A pid
    port=$PORT_BASE
    for server in "${PRESENT[@]}"; do
        start_server "$BIN/echo-$server" "$port" "$LOGS/echo-$server.log"
        pid[$server]=$SERVER_PID
        port=$((port + 1))
    done
    log "throughput: ${#points[@]} points x ${#PRESENT[@]} servers x $RUNS runs x (${WARMUP}s + ${SECS}s)"
    { printf 'run,'; "$BIN/wsload" --print-header; } >"$csv"
    n=${#PRESENT[@]}
    for run in $(seq "$RUNS"); do
        for point in "${points[@]}"; do
            IFS=: read -r c s d <<<"$point"
            # Interleave servers, rotating which goes first on each run.
            for k in $(seq 0 $((n - 1))); do
                i=$(((k + run - 1) % n))
                server=${PRESENT[$i]}
                if line=$("$BIN/wsload" --addr "127.0.0.1:$((PORT_BASE + i))" --conns "$c" --size "$s" --depth "$d" \
                    --secs "$SECS" --warmup "$WARMUP" --server-pid "${pid[$server]}" --label "$server" \
                    2>>"$LOGS/wsload.log"); then
                    echo "$run,$line" >>"$csv"
                    tail -n 1 "$LOGS/wsload.log" >&2
                else
                    log "wsload failed for $server at $point (see $LOGS/wsload.log)"
                fi
            done
        done
    done
    for server in "${PRESENT[@]}"; do stop_server "${pid[$server]}"; done
    summarize "$csv" msgs_per_s "msgs/s" high
    summarize "$csv" server_cpu_us_per_msg "server CPU us per message" low
    summarize "$csv" p99_us "round-trip p99 us" low
    summarize_tail "$csv"
    echo
    echo "raw results: $csv"
    if command -v python3 >/dev/null; then
        python3 scripts/bench-chart.py "$csv" -o "${csv%.csv}.svg" && echo "chart: ${csv%.csv}.svg"
    else
        echo "(no python3: skipped the chart; run scripts/bench-chart.py $csv later)"
    fi
}

# ---- token latency ------------------------------------------------------------------------------------------
# Each server sends 1000 stamped text messages, one per millisecond; wstokens reports one-way delay. The client
# answers every 10th token (as an interactive client would), which puts its TCP in delayed-ACK mode: that is
# what makes Nagle's algorithm visible in the `nodelay=false` control run (tens of ms instead of tens of us).
section_tokens() {
    local csv run server nodelay line port=$PORT_BASE
    csv=$OUT/tokens-$STAMP.csv
    log "tokens: ${#PRESENT[@]} servers x nodelay true/false x $RUNS runs x 1 s"
    { printf 'run,server,nodelay,'; "$BIN/wstokens" --print-header | cut -d, -f2-; } >"$csv"
    for run in $(seq "$RUNS"); do
        for server in "${PRESENT[@]}"; do
            [ "$server" = rill-relay ] && continue # echo mode only
            for nodelay in true false; do
                start_server "$BIN/echo-$server" "$port" "$LOGS/tokens-$server-$nodelay-$run.log" \
                    --tokens --token-count 1000 --token-interval-us 1000 --nodelay "$nodelay"
                if line=$("$BIN/wstokens" --addr "127.0.0.1:$port" --count 1000 --reply-every 10 \
                    --label "$server" 2>>"$LOGS/wstokens.log"); then
                    echo "$run,$server,$nodelay,${line#*,}" >>"$csv"
                else
                    log "wstokens failed for $server nodelay=$nodelay (see $LOGS/wstokens.log)"
                fi
                stop_server "$SERVER_PID"
            done
        done
    done
    echo
    echo "token one-way delay, us (median of $RUNS runs)"
    awk -F, '
    function median(list,    v, n, i, j, t) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    NR == 1 { for (i = 1; i <= NF; i++) idx[$i] = i; printf "%-18s %8s %10s %10s %10s\n", "server", "nodelay", "p50", "p99", "max"; next }
    {
        key = $idx["server"] "," $idx["nodelay"]
        if (!(key in seen)) { seen[key] = 1; order[++n] = key }
        p50[key] = p50[key] " " $idx["p50_us"]; p99[key] = p99[key] " " $idx["p99_us"]; mx[key] = mx[key] " " $idx["max_us"]
    }
    END {
        for (k = 1; k <= n; k++) {
            split(order[k], f, ",")
            printf "%-18s %8s %10.1f %10.1f %10.1f\n", f[1], f[2], median(p50[order[k]]), median(p99[order[k]]), median(mx[order[k]])
        }
    }' "$csv"
    echo "raw results: $csv"
}

# ---- memory per idle connection ---------------------------------------------------------------------------
vm_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

section_memory() {
    local csv server before after n idle_pid i port=$PORT_BASE conns=$IDLE_CONNS
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((conns + 256)) ]; then
        conns=$(($(ulimit -n) - 256))
        log "ulimit -n is $(ulimit -n): holding $conns connections instead of $IDLE_CONNS"
    fi
    csv=$OUT/memory-$STAMP.csv
    log "memory: ${#PRESENT[@]} servers x $conns idle connections"
    echo "server,conns,bulk_bytes,rss_before_kib,rss_after_kib,bytes_per_conn" >"$csv"
    for server in "${PRESENT[@]}"; do
        start_server "$BIN/echo-$server" "$port" "$LOGS/memory-$server.log"
        sleep 0.2
        before=$(vm_rss_kib "$SERVER_PID")
        "$BIN/wsidle" --addr "127.0.0.1:$port" --conns "$conns" --hold-secs 300 --bulk-bytes "$BULK_BYTES" \
            >"$LOGS/wsidle-$server.out" 2>"$LOGS/wsidle-$server.log" &
        idle_pid=$!
        STARTED+=("$idle_pid")
        for i in $(seq 1200); do
            grep -q '^ready' "$LOGS/wsidle-$server.out" && break
            kill -0 "$idle_pid" 2>/dev/null || break
            sleep 0.1
        done
        if grep -q '^ready' "$LOGS/wsidle-$server.out"; then
            # Past the servers' quiet-connection timers (rill returns burst memory after 0.5 s).
            sleep 1.5
            after=$(vm_rss_kib "$SERVER_PID")
            n=$(awk '{ print $2 }' "$LOGS/wsidle-$server.out")
            echo "$server,$n,$BULK_BYTES,$before,$after,$(((after - before) * 1024 / n))" >>"$csv"
        else
            log "wsidle did not get $conns connections up for $server (see $LOGS/wsidle-$server.log)"
        fi
        stop_server "$idle_pid"
        stop_server "$SERVER_PID"
    done
    echo
    echo "server RSS with idle connections"
    awk -F, 'NR == 1 { printf "%-18s %8s %10s %14s %14s %14s\n", "server", "conns", "bulk", "RSS before KiB", "RSS after KiB", "bytes/conn"; next }
        { printf "%-18s %8s %10s %14s %14s %14s\n", $1, $2, $3, $4, $5, $6 }' "$csv"
    echo "raw results: $csv"
}

# ---- allocations per message --------------------------------------------------------------------------------
# Servers built with `count-alloc` print `alloc-report:` lines on SIGUSR1 (counts since the previous report).
# A warm-up load, one SIGUSR1 to reset, then the measured load and a second SIGUSR1; connection setup and
# teardown of the measured load are included (amortised over its messages).
# alloc_load PORT C S D SECS: one unmeasured load run (the server counts).
alloc_load() {
    "$BIN/wsload" --addr "127.0.0.1:$1" --conns "$2" --size "$3" --depth "$4" --secs "$5" --warmup 0 \
        >/dev/null 2>>"$LOGS/wsload-alloc.log"
}

section_alloc() {
    local csv server point c s d report port=$PORT_BASE bin
    log "alloc: building the count-alloc servers into $ALLOC_TARGET_DIR"
    cargo build --release -p rill-benches --features count-alloc --bins --target-dir "$ALLOC_TARGET_DIR"
    csv=$OUT/alloc-$STAMP.csv
    echo "server,conns,size,depth,msgs,allocs_per_msg,bytes_per_msg" >"$csv"
    for server in "${PRESENT[@]}"; do
        bin=$ALLOC_TARGET_DIR/release/echo-$server
        [ -x "$bin" ] || { log "skipping $server: no $bin"; continue; }
        for point in 1:16:1 1:1024:1 64:1024:16; do
            IFS=: read -r c s d <<<"$point"
            start_server "$bin" "$port" "$LOGS/alloc-$server-$c-$s-$d.log"
            # Warm-up load, reset (first report), measured load, second report.
            if alloc_load "$port" "$c" "$s" "$d" 0.5 && kill -USR1 "$SERVER_PID" &&
                alloc_load "$port" "$c" "$s" "$d" 1 && kill -USR1 "$SERVER_PID"; then
                sleep 0.2
                report=$(grep 'alloc-report:' "$LOGS/alloc-$server-$c-$s-$d.log" | tail -n 1)
                echo "$server,$c,$s,$d,$(echo "$report" | sed -E 's/.*msgs=([0-9]+).*allocs_per_msg=([0-9.]+) bytes_per_msg=([0-9.]+).*/\1,\2,\3/')" >>"$csv"
            else
                log "alloc run failed for $server at $point (see $LOGS/wsload-alloc.log)"
            fi
            stop_server "$SERVER_PID"
        done
    done
    echo
    echo "allocations per echoed message (server side)"
    awk -F, 'NR == 1 { printf "%-18s %-14s %10s %14s %14s\n", "server", "C/S/D", "msgs", "allocs/msg", "bytes/msg"; next }
        { printf "%-18s %-14s %10s %14s %14s\n", $1, $2 "/" $3 "/" $4, $5, $6, $7 }' "$csv"
    echo "raw results: $csv"
}

# ---- third party: uWebSockets' load generator, every server on one pinned core ----------------------------
# load_test (uWebSockets' benchmarks/load_test.c, the tool fastwebsockets and tokio-websockets publish with) opens
# C connections; each sends one masked binary message of S bytes, waits for the whole echo (it counts bytes: the
# reply must be one unmasked frame of the same size) and sends the next. It prints `Msg/sec: N` every 4 s; the
# first report covers connection set-up and a partial period and is skipped; the next --uws-reports are averaged.
# Single-core rows: the server on core 0 (`taskset -c 0`; the Rust servers with `--runtime current`), load_test on
# core 1. Two-core rows (rill-per-core, rill-multi): server and load_test unpinned, sharing both cores.
UWS_DIR=$ROOT/target/uws

# uws_server_cmd NAME PORT: sets SERVER_BIN, CMD (the server's command line) and CORES (1: pinned to core 0;
# 2: unpinned, two threads). Statuses and names never contain commas (they go into the CSV as they are).
uws_server_cmd() {
    local name=$1 port=$2
    CORES=1
    case $name in
        uws) SERVER_BIN=$UWS_DIR/echo_uws CMD=(taskset -c 0 "$SERVER_BIN" "$port") ;;
        rill-per-core)
            SERVER_BIN=$BIN/examples/echo_per_core CORES=2
            CMD=("$SERVER_BIN" --addr "127.0.0.1:$port" --threads 2)
            ;;
        rill-multi)
            SERVER_BIN=$BIN/echo-rill CORES=2
            CMD=("$SERVER_BIN" --addr "127.0.0.1:$port" --runtime multi --workers 2)
            ;;
        # echo-rill with its idle, keepalive and write timeouts off: what the deadlines cost.
        rill-no-deadlines)
            SERVER_BIN=$BIN/echo-rill
            CMD=(env ECHO_RILL_DEADLINES=off taskset -c 0 "$SERVER_BIN" --addr "127.0.0.1:$port" --runtime current)
            ;;
        *)
            SERVER_BIN=$BIN/echo-$name
            CMD=(taskset -c 0 "$SERVER_BIN" --addr "127.0.0.1:$port" --runtime current)
            ;;
    esac
}

# start_cmd LOGFILE COMMAND...: starts it (stdout and stderr to LOGFILE), waits for `listening on`, sets SERVER_PID.
start_cmd() {
    local logfile=$1 i
    shift
    : >"$logfile"
    "$@" >>"$logfile" 2>&1 &
    SERVER_PID=$!
    STARTED+=("$SERVER_PID")
    for i in $(seq 100); do
        grep -q 'listening on' "$logfile" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || die "$* exited: $(cat "$logfile")"
        sleep 0.1
    done
    die "$* did not start listening within 10 s"
}

# cpu_ticks PID [split]: utime + stime of the whole process (all threads), in clock ticks; with `split`, utime and
# stime apart ("U S"). Empty if it is gone.
cpu_ticks() {
    local stat mode=${2:-}
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 0
    # Fields after the `)` closing the command name: utime and stime are the 12th and 13th.
    set -- ${stat##*) }
    if [ "$mode" = split ]; then echo "${12} ${13}"; else echo $((${12} + ${13})); fi
}

# uws_measure PORT CONNS SIZE CORES SERVER_PID LOG: one load_test run. Sets M_STATUS (ok or why not), M_RATE (mean
# Msg/sec of the measured reports), M_REPORTS (them, `;`-separated), M_WALL (s), M_SCPU and M_CCPU (server and
# load_test CPU seconds over the measured window, between the first and the last measured report), M_SUSER and
# M_SSYS (the server's CPU seconds in user space and in the kernel, which make up M_SCPU); with --uws-perf, M_PUSER
# (the share of the server's perf samples outside the kernel over the same window).
uws_measure() {
    local port=$1 conns=$2 size=$3 cores=$4 spid=$5 log=$6
    local -a gen=("$UWS_DIR/load_test" "$conns" 127.0.0.1 "$port" 0 0 "$size")
    [ "$cores" = 1 ] && gen=(taskset -c 1 "${gen[@]}")
    local limit=$((4 * (UWS_REPORTS + 2) + 20)) fd gpid cpid="" line k=0 t0="" s0="" c0="" t1 s1 c1 v handshakes=0
    local perf_pid="" perf_data=$OUT/uws-perf.data
    M_STATUS="no report within ${limit}s" M_RATE="" M_REPORTS="" M_WALL="" M_SCPU="" M_CCPU="" M_SUSER="" M_SSYS="" M_PUSER=""
    printf '== load_test %s\n' "${gen[*]}" >>"$log"
    # stdbuf: load_test prints with stdio, which a pipe would otherwise buffer past the end of the run.
    exec {fd}< <(exec timeout "$limit" stdbuf -oL "${gen[@]}" 2>&1)
    gpid=$!
    while IFS= read -r line <&"$fd"; do
        case $line in
            "Response: HTTP/1.1 101"*) handshakes=$((handshakes + 1)) ;;
            "Msg/sec: "*)
                echo "$line" >>"$log"
                k=$((k + 1))
                [ -n "$cpid" ] || cpid=$(cat "/proc/$gpid/task/$gpid/children" 2>/dev/null | awk '{ print $1 }')
                if [ "$k" = 1 ]; then
                    t0=$EPOCHREALTIME s0=$(cpu_ticks "$spid" split) c0=$(cpu_ticks "${cpid:-0}")
                    if [ "$UWS_PERF" = 1 ]; then
                        perf record -q -e cpu-clock -F 4999 -p "$spid" -o "$perf_data" 2>>"$log" &
                        perf_pid=$!
                    fi
                    continue
                fi
                v=${line#Msg/sec: }
                M_REPORTS=$M_REPORTS${M_REPORTS:+;}$v
                if [ "$k" -gt "$UWS_REPORTS" ]; then
                    t1=$EPOCHREALTIME s1=$(cpu_ticks "$spid" split) c1=$(cpu_ticks "${cpid:-0}")
                    [ -z "$perf_pid" ] || kill -INT "$perf_pid" 2>/dev/null || true
                    M_STATUS=ok
                    break
                fi
                ;;
            "ERROR: outstanding bytes negative"*)
                echo "$line" >>"$log"
                M_STATUS="echo is not one frame per message (load_test: outstanding bytes negative)"
                ;;
            "Closed!"*) [ "$M_STATUS" = ok ] || M_STATUS="server closed a connection" ;;
            *) case $line in Using* | Running*) echo "$line" >>"$log" ;; esac ;;
        esac
    done
    kill "$gpid" 2>/dev/null || true
    exec {fd}<&-
    wait "$gpid" 2>/dev/null || true
    if [ -n "$perf_pid" ]; then
        # Stopped at the last report already, unless the run ended without it.
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
        [ "$M_STATUS" = ok ] && M_PUSER=$(perf_user_share "$perf_data")
    fi
    echo "   handshakes: $handshakes, status: $M_STATUS" >>"$log"
    [ "$M_STATUS" = ok ] || return 0
    read -r M_RATE M_WALL M_SCPU M_SUSER M_SSYS M_CCPU < <(awk -v r="$M_REPORTS" -v t0="$t0" -v t1="$t1" -v s0="$s0" \
        -v s1="$s1" -v c0="$c0" -v c1="$c1" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        n = split(r, v, ";"); sum = 0; for (i = 1; i <= n; i++) sum += v[i]
        split(s0, a, " "); split(s1, b, " "); user = (b[1] - a[1]) / hz; sys = (b[2] - a[2]) / hz
        printf "%.1f %.3f %.2f %.2f %.2f %s\n", sum / n, t1 - t0, user + sys, user, sys,
            ((c0 == "" || c1 == "") ? "" : sprintf("%.2f", (c1 - c0) / hz))
    }')
}

# perf_user_share FILE: the share (0-1) of the samples in a `perf record` file taken outside the kernel.
perf_user_share() {
    perf report -i "$1" --stdio --sort dso 2>/dev/null | awk '
        /^ *[0-9.]+%/ { share = $1; sub(/%/, "", share); total += share; if ($2 != "[kernel.kallsyms]") user += share }
        END { if (total > 0) printf "%.4f\n", user / total }'
}

# summarize_uws CSV COLUMN TITLE BETTER(high|low|none) FORMAT: rows = servers, columns = points, median over rounds;
# then (unless BETTER is none) rill / best Rust anchor, rill / uWebSockets and thread-per-core / multi-thread runtime.
# rill-relay is a row of its own: never "rill", never an anchor.
summarize_uws() {
    awk -F, -v col="$2" -v title="$3" -v better="$4" -v fmt="$5" -v servers="${UWS_PRESENT[*]}" \
        -v anchors="${ANCHORS[*]}" '
    function median(list,    v, n, i, j, t) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.2f", a / b) }
    NR == 1 { for (i = 1; i <= NF; i++) idx[$i] = i; next }
    {
        point = $idx["conns"] "x" $idx["size"]
        if (!(point in seen)) { seen[point] = 1; order[++npoints] = point }
        if ($idx["status"] != "ok") failed[point, $idx["label"]] = 1
        else if ((col in idx) && $idx[col] != "") vals[point, $idx["label"]] = vals[point, $idx["label"]] " " $idx[col]
    }
    END {
        ns = split(servers, srv, " "); na = split(anchors, anc, " ")
        printf "\n%s (median of rounds; conns x bytes)\n%-16s", title, "server"
        for (p = 1; p <= npoints; p++) printf " %12s", order[p]
        printf "\n"
        for (s = 1; s <= ns; s++) {
            printf "%-16s", srv[s]
            for (p = 1; p <= npoints; p++) {
                key = order[p] SUBSEP srv[s]
                m = (key in vals) ? median(vals[key]) : ""
                med[key] = m
                printf " %12s", m != "" ? sprintf(fmt, m) : (key in failed) ? "failed" : "-"
            }
            printf "\n"
        }
        for (row = 1; row <= (better == "none" ? 0 : 3); row++) {
            printf "%-16s", row == 1 ? "rill/best-Rust" : row == 2 ? "rill/uWS" : "per-core/multi"
            for (p = 1; p <= npoints; p++) {
                r = med[order[p] SUBSEP "rill"]
                if (row == 1) {
                    best = ""
                    for (a = 1; a <= na; a++) {
                        m = med[order[p] SUBSEP anc[a]]
                        if (m != "" && (best == "" || (better == "high" ? m > best : m < best))) best = m
                    }
                    printf " %12s", ratio(r, best)
                } else if (row == 2) printf " %12s", ratio(r, med[order[p] SUBSEP "uws"])
                else printf " %12s", ratio(med[order[p] SUBSEP "rill-per-core"], med[order[p] SUBSEP "rill-multi"])
            }
            printf "\n"
        }
    }' "$1"
}

section_uws() {
    local points csv port run point c s k n server cores line util us_per_msg user_us sys_us cutil puser_us
    command -v taskset >/dev/null && command -v stdbuf >/dev/null || die "--uws needs taskset and stdbuf (util-linux, coreutils)"
    [ "$UWS_PERF" = 0 ] || command -v perf >/dev/null || die "--uws-perf needs perf (apt-get install -y linux-perf)"
    [ "$(nproc)" -ge 2 ] || die "--uws pins the server and the generator to two different cores; this machine has $(nproc)"
    log "uws: building load_test and echo_uws (../shared/uws/build.sh target/uws) and the echo_per_core example"
    [ -f "$ROOT/../shared/uws/build.sh" ] || die "no ../shared/uws/build.sh (the uWebSockets sources live outside the repo)"
    bash "$ROOT/../shared/uws/build.sh" "$UWS_DIR" >/dev/null
    cargo build --release -p rill-tokio --example echo_per_core
    points=(1:20 10:1024 100:20 500:16384 1:65536)
    [ -z "${UWS_POINTS:-}" ] || read -r -a points <<<"$UWS_POINTS"
    UWS_PRESENT=()
    for server in "${UWS_SERVERS[@]}"; do
        uws_server_cmd "$server" 0
        if [ -x "$SERVER_BIN" ]; then UWS_PRESENT+=("$server"); else log "skipping $server: no $SERVER_BIN"; fi
    done
    [ ${#UWS_PRESENT[@]} -gt 0 ] || die "no server for --uws"
    csv=$OUT/uws-$STAMP.csv
    declare -A pid cores_of port_of
    port=$((PORT_BASE + 50))
    for server in "${UWS_PRESENT[@]}"; do
        uws_server_cmd "$server" "$port"
        start_cmd "$LOGS/uws-$server.log" "${CMD[@]}"
        pid[$server]=$SERVER_PID cores_of[$server]=$CORES port_of[$server]=$port
        port=$((port + 1))
    done
    log "uws: ${#points[@]} points x ${#UWS_PRESENT[@]} servers x $RUNS rounds x (first report + $UWS_REPORTS x 4 s)"
    echo "round,label,server_cores,conns,size,depth,msgs_per_s,reports,wall_s,server_cpu_s,server_cpu_util,server_cpu_us_per_msg,client_cpu_s,client_cpu_util,status,server_user_us_per_msg,server_sys_us_per_msg,server_user_us_per_msg_perf" >"$csv"
    n=${#UWS_PRESENT[@]}
    for run in $(seq "$RUNS"); do
        for point in "${points[@]}"; do
            IFS=: read -r c s <<<"$point"
            # Interleave servers, rotating which goes first on each round.
            for k in $(seq 0 $((n - 1))); do
                server=${UWS_PRESENT[$(((k + run - 1) % n))]}
                cores=${cores_of[$server]}
                # One connection cannot use two threads: the two-core rows skip those points.
                [ "$cores" = 2 ] && [ "$c" = 1 ] && continue
                if ! kill -0 "${pid[$server]}" 2>/dev/null; then
                    log "uws: $server had exited; restarting it (see $LOGS/uws-$server.log)"
                    uws_server_cmd "$server" "${port_of[$server]}"
                    start_cmd "$LOGS/uws-$server.log" "${CMD[@]}"
                    pid[$server]=$SERVER_PID
                fi
                uws_measure "${port_of[$server]}" "$c" "$s" "$cores" "${pid[$server]}" "$LOGS/load_test.log"
                # server_cpu_util, server_cpu_us_per_msg (and its user and kernel parts, and the user part by perf's
                # samples), client_cpu_util (empty when the run failed).
                line=$(awk -v rate="$M_RATE" -v wall="$M_WALL" -v cpu="$M_SCPU" -v user="$M_SUSER" -v sys="$M_SSYS" \
                    -v ccpu="$M_CCPU" -v puser="$M_PUSER" 'BEGIN {
                    if (rate == "" || wall == "" || wall <= 0 || rate <= 0) { print ",,,,,"; exit }
                    msgs = rate * wall
                    printf "%.3f,%.3f,%.3f,%.3f,%s,%s\n", cpu / wall, cpu * 1e6 / msgs, user * 1e6 / msgs,
                        sys * 1e6 / msgs, ((ccpu == "") ? "" : sprintf("%.3f", ccpu / wall)),
                        ((puser == "") ? "" : sprintf("%.3f", puser * cpu * 1e6 / msgs)) }')
                IFS=, read -r util us_per_msg user_us sys_us cutil puser_us <<<"$line"
                echo "$run,$server,$cores,$c,$s,1,$M_RATE,$M_REPORTS,$M_WALL,$M_SCPU,$util,$us_per_msg,$M_CCPU,$cutil,$M_STATUS,$user_us,$sys_us,$puser_us" >>"$csv"
                printf '%-16s %4s x %-6s round %s: %10s msg/s  %s\n' "$server" "$c" "$s" "$run" "${M_RATE:--}" \
                    "$([ "$M_STATUS" = ok ] && echo "server CPU $us_per_msg us/msg, $util cores; load_test $cutil cores" ||
                        echo "$M_STATUS")" >&2
                sleep 0.3 # let the closed connections go before the next server's run
            done
        done
    done
    for server in "${UWS_PRESENT[@]}"; do stop_server "${pid[$server]}"; done
    uws_report "$csv"
}

# uws_report CSV: the --uws tables and charts (UWS_PRESENT: the rows, in order).
uws_report() {
    local csv=$1
    summarize_uws "$csv" msgs_per_s "msgs/s (load_test)" high "%.0f"
    summarize_uws "$csv" server_cpu_us_per_msg "server CPU us per message" low "%.2f"
    # CSVs before 2026-11-29 05:42 have no user/kernel split.
    local split=0
    head -1 "$csv" | grep -q server_user_us_per_msg && split=1
    if [ "$split" = 1 ]; then
        summarize_uws "$csv" server_user_us_per_msg "server CPU us per message in user space (the server's own code)" low "%.2f"
        summarize_uws "$csv" server_sys_us_per_msg "server CPU us per message in the kernel (system calls, TCP)" low "%.2f"
    fi
    # Only runs with --uws-perf fill this column.
    if awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "server_user_us_per_msg_perf") c = i; next }
        c && $c != "" { found = 1; exit } END { exit !found }' "$csv"; then
        summarize_uws "$csv" server_user_us_per_msg_perf "server CPU us per message in user space, from perf's samples" low "%.2f"
    fi
    summarize_uws "$csv" server_cpu_util "server CPU use, cores (1.00 = one core busy)" none "%.2f"
    summarize_uws "$csv" client_cpu_util "load_test CPU use, cores (near 1.00: the generator is the limit)" none "%.2f"
    echo
    echo "1-core rows: server on core 0, load_test on core 1; 2-core rows (rill-per-core, rill-multi): both unpinned"
    echo "raw results: $csv"
    if command -v python3 >/dev/null; then
        python3 scripts/bench-chart.py "$csv" -o "${csv%.csv}.svg" \
            --title "uWebSockets load_test, echo servers on one pinned core" && echo "chart: ${csv%.csv}.svg"
        python3 scripts/bench-chart.py "$csv" -o "${csv%.csv}-cpu.svg" --column server_cpu_us_per_msg \
            --title "uWebSockets load_test, server CPU per message (lower is better)" && echo "chart: ${csv%.csv}-cpu.svg"
        if [ "$split" = 1 ]; then
            python3 scripts/bench-chart.py "$csv" -o "${csv%.csv}-user.svg" --column server_user_us_per_msg \
                --title "uWebSockets load_test, server CPU per message in user space (lower is better)" &&
                echo "chart: ${csv%.csv}-user.svg"
        fi
    else
        echo "(no python3: skipped the charts; run scripts/bench-chart.py $csv later)"
    fi
}

# ---- TLS: rill-tokio against tokio-tungstenite over rustls (issue 12) ---------------------------------------
# One process (benches/src/bin/tls-compare.rs): a throwaway CA made in-process, both servers on a current-thread
# runtime pinned to core 0, the clients on core 1; --runs rounds, the libraries interleaved in each.
section_tls() {
    local csv=$OUT/tls-$STAMP.csv
    local -a sizes=()
    [ "$QUICK" = 1 ] && sizes=(--handshakes 100 --warmup-handshakes 20 --msgs 5000)
    log "tls: $RUNS rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    "$BIN/tls-compare" --rounds "$RUNS" "${sizes[@]}" --csv "$csv" 2>>"$LOGS/tls-compare.log"
    echo "raw results: $csv (progress: $LOGS/tls-compare.log)"
}

if [ -n "${UWS_SUMMARIZE:-}" ]; then
    [ -f "$UWS_SUMMARIZE" ] || die "no such CSV: $UWS_SUMMARIZE"
    UWS_PRESENT=()
    for server in "${UWS_SERVERS[@]}"; do
        awk -F, -v s="$server" 'NR > 1 && $2 == s { found = 1 } END { exit !found }' "$UWS_SUMMARIZE" && UWS_PRESENT+=("$server")
    done
    uws_report "$UWS_SUMMARIZE"
    exit 0
fi

for section in "${SECTIONS[@]}"; do
    "section_$section"
done
