#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz for SECONDS each (default 60) and prints the executions each
# one made. Fails if any target crashes, panics or trips a sanitizer; the input that did it is left in
# tests/fuzz/artifacts/<target>/ (see docs/fuzzing.md for reproducing it).
#
# The committed seeds in tests/fuzz/corpus/<target>/ are read only: what libFuzzer discovers goes to
# tests/fuzz/corpus-work/<target>/ (git-ignored), so runs build on each other without growing the repo.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
fuzz_dir=tests/fuzz
targets=(server_handshake client_handshake frame_header session extensions inflate)

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# Two shared cores: one compile job, one fuzzing process.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

cargo +nightly fuzz build --fuzz-dir "$fuzz_dir"

mkdir -p "$fuzz_dir/artifacts"
declare -A execs
failed=()
for target in "${targets[@]}"; do
    work="$fuzz_dir/corpus-work/$target"
    log="$fuzz_dir/artifacts/$target.log"
    mkdir -p "$work" "$fuzz_dir/corpus/$target"
    echo "fuzz: $target for ${seconds}s (log: $log)"
    status=0
    cargo +nightly fuzz run --fuzz-dir "$fuzz_dir" "$target" "$work" "$fuzz_dir/corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || status=$?
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
printf '%-18s %14s %10s\n' target executions per-second
for target in "${targets[@]}"; do
    count="${execs[$target]}"
    rate='?'
    [[ "$count" =~ ^[0-9]+$ ]] && rate=$((count / seconds))
    printf '%-18s %14s %10s\n' "$target" "$count" "$rate"
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: crashes in: ${failed[*]}"
    exit 1
fi
echo "fuzz: no crash in ${#targets[@]} targets"
