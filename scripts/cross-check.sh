#!/usr/bin/env bash
# Builds the core crate for the bare-metal targets rill promises to support, so a change that needs std,
# alloc or compare-and-swap atomics (absent on thumbv6m and riscv32imc) fails here and not on a board.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf)
rustup target add "${targets[@]}"

# A target dir of our own, so concurrent builds in the workspace do not wait on each other's lock.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/cross-check}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

failed=0
build() {
    local label="$1"
    shift
    if cargo build -p rill-ws --release "$@"; then
        echo "cross-check: ok     $label"
    else
        echo "cross-check: FAILED $label"
        failed=1
    fi
}

for target in "${targets[@]}"; do
    build "$target" --target "$target"
done
# defmt is only meaningful on an Arm MCU with a defmt logger; one target is enough to prove it compiles.
build "thumbv7em-none-eabihf +defmt" --target thumbv7em-none-eabihf --features defmt

exit "$failed"
