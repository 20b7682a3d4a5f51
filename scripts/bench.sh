#!/usr/bin/env bash
# Benchmark runner (issue 6): echo servers vs the same load generator, token latency, memory, allocations.
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

options:
  --quick           a one-minute look: 1 run, short runs, fewer points, 1000 idle connections
  --runs N          runs per point, interleaved across servers (default 3)
  --secs T          measured seconds per throughput run (default 5)
  --warmup T        warm-up seconds per throughput run (default 1)
  --servers "A B"   servers to run (default: "rill tungstenite fastws tokio-websockets"; missing binaries are skipped)
  --idle-conns N    connections for --memory (default 10000)
  --bulk-bytes B    --memory: each connection first echoes one message of B bytes, then idles (post-bulk memory)
  --port-base P     first TCP port to use on 127.0.0.1 (default 19400)
  --build-only      build every benchmark binary in release and exit (what CI runs)
USAGE
}

RUNS=3 SECS=5 WARMUP=1 QUICK=0 BUILD_ONLY=0 IDLE_CONNS=10000 PORT_BASE=19400 BULK_BYTES=0
SECTIONS=()
# The rill server slot: `echo-rill` (benches/src/bin/echo-rill.rs) is benchmarked as soon as it exists.
SERVERS=(rill tungstenite fastws tokio-websockets)
ANCHORS=(tungstenite fastws tokio-websockets)

while [ $# -gt 0 ]; do
    case $1 in
        --quick) QUICK=1 ;;
        --build-only) BUILD_ONLY=1 ;;
        --runs) RUNS=$2; shift ;;
        --secs) SECS=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --servers) read -r -a SERVERS <<<"$2"; shift ;;
        --idle-conns) IDLE_CONNS=$2; shift ;;
        --bulk-bytes) BULK_BYTES=$2; shift ;;
        --port-base) PORT_BASE=$2; shift ;;
        --throughput | --tokens | --memory | --alloc) SECTIONS+=("${1#--}") ;;
        --all) SECTIONS=(throughput tokens memory alloc) ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[ ${#SECTIONS[@]} -gt 0 ] || SECTIONS=(throughput)
if [ "$QUICK" = 1 ]; then
    RUNS=1 SECS=2 WARMUP=0.5
    [ "$IDLE_CONNS" = 10000 ] && IDLE_CONNS=1000
fi

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
ALLOC_TARGET_DIR=$TARGET_DIR/count-alloc
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$ROOT/target/bench
LOGS=$OUT/logs-$STAMP

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }

build() {
    log "building benchmark binaries (release)"
    cargo build --release -p rill-benches --bins --benches
}

build
[ "$BUILD_ONLY" = 1 ] && exit 0

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

# ---- throughput -------------------------------------------------------------------------------------------
section_throughput() {
    local points csv port i run point c s d k n line server
    if [ "$QUICK" = 1 ]; then
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

for section in "${SECTIONS[@]}"; do
    "section_$section"
done
