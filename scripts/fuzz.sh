#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz and prints the executions each one made. Fails if any target
# crashes, panics or trips a sanitizer; the input that did it is left in tests/fuzz/artifacts/<target>/ (see
# docs/fuzzing.md for reproducing it).
#
#   scripts/fuzz.sh [SECONDS]   each target for SECONDS (default 60): a fuzzing session
#   scripts/fuzz.sh --ci        each target runs its corpus, then a fixed number of new inputs (the `runs` table
#                               below): what scripts/test-all.sh runs, the same work however busy the machine
#
# The committed seeds in tests/fuzz/corpus/<target>/ are read only: what libFuzzer discovers goes to
# tests/fuzz/corpus-work/<target>/ (git-ignored), so runs build on each other without growing the repo.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzz_dir=tests/fuzz
targets=(server_handshake client_handshake frame_header session tokio_recv extensions inflate head_scanner mask proxy_connect proxy_socks5)
# --ci: new inputs per target after its corpus, about 5-30 s each on one idle core: the targets differ 1,000-fold
# in speed (frame_header parses a few bytes, inflate compresses and inflates up to a few hundred KiB); see
# docs/fuzzing.md "In CI".
declare -A runs=([server_handshake]=500000 [client_handshake]=500000 [frame_header]=1000000 [session]=100000 [tokio_recv]=600
    [extensions]=150000 [inflate]=5000 [head_scanner]=500000 [mask]=500000 [proxy_connect]=500000
    [proxy_socks5]=500000)
if [ "${1:-}" = --ci ]; then
    seconds=
else
    seconds="${1:-60}"
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# Two shared cores: one compile job, one fuzzing process.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

cargo +nightly fuzz build --fuzz-dir "$fuzz_dir"

mkdir -p "$fuzz_dir/artifacts"
declare -A execs elapsed
failed=()
for target in "${targets[@]}"; do
    work="$fuzz_dir/corpus-work/$target"
    log="$fuzz_dir/artifacts/$target.log"
    mkdir -p "$work" "$fuzz_dir/corpus/$target"
    if [ -n "$seconds" ]; then
        limit=-max_total_time="$seconds"
        echo "fuzz: $target for ${seconds}s (log: $log)"
    else
        # libFuzzer's -runs counts every execution, the corpus's included.
        corpus=$(find "$work" "$fuzz_dir/corpus/$target" -type f | wc -l)
        limit=-runs=$((corpus + runs[$target]))
        echo "fuzz: $target: $corpus corpus inputs, then ${runs[$target]} new (log: $log)"
    fi
    start=$SECONDS
    status=0
    cargo +nightly fuzz run --fuzz-dir "$fuzz_dir" "$target" "$work" "$fuzz_dir/corpus/$target" -- \
        "$limit" -print_final_stats=1 >"$log" 2>&1 || status=$?
    elapsed[$target]=$((SECONDS - start))
    # -print_final_stats writes "stat::number_of_executed_units: N" when libFuzzer exits, crash or not.
    count=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    execs[$target]="${count:-?}"
    if [ "$status" -ne 0 ]; then
        failed+=("$target")
        echo "fuzz: $target FAILED (exit $status); last lines of its log:"
        tail -n 40 "$log"
    fi
done

echo
printf '%-18s %14s %8s %10s\n' target executions seconds per-second
for target in "${targets[@]}"; do
    count="${execs[$target]}"
    rate='?'
    [[ "$count" =~ ^[0-9]+$ ]] && rate=$((count / (elapsed[$target] > 0 ? elapsed[$target] : 1)))
    printf '%-18s %14s %8s %10s\n' "$target" "$count" "${elapsed[$target]}" "$rate"
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: crashes in: ${failed[*]}"
    exit 1
fi
echo "fuzz: no crash in ${#targets[@]} targets"
