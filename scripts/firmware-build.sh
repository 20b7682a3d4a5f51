#!/usr/bin/env bash
# Builds every firmware example in release and prints its flash and static RAM use; also runs the checks that
# belong to them (rustfmt, clippy for their own target, the shared `app` crate's tests, including the in-process
# WebSocket test that scripts/firmware-test.sh runs alone).
#
# Usage: scripts/firmware-build.sh [PACKAGE...]   (default: all; names are directories under firmware-examples/)
# Each package is its own cargo project (own target, .cargo/config.toml, Cargo.lock), excluded from the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
BOARDS=(nucleo-f767zi pico-w)
if [ "$#" -gt 0 ]; then BOARDS=("$@"); fi

# Fresh machines (CI) have neither the embedded targets nor llvm-size.
installed_targets=$(rustup target list --installed)
for t in thumbv6m-none-eabi thumbv7em-none-eabihf; do
    grep -qx "$t" <<<"$installed_targets" || rustup target add "$t"
done
rustup component list --installed | grep -q '^llvm-tools' || rustup component add llvm-tools
SIZE="$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-size"

echo "== app (shared logic): fmt, clippy (host and thumbv6m), tests"
(
    cd firmware-examples/app
    cargo fmt --check
    cargo clippy --locked --all-targets --features net,log -- -D warnings
    # thumbv6m: the smallest target, without compare-and-swap atomics; the boards' feature set.
    cargo clippy --locked --target thumbv6m-none-eabi --features net,defmt -- -D warnings
    # Unit tests and tests/in_process.rs (server and client over two in-memory embassy-net stacks).
    cargo test --locked --features net,log
)

echo "== host-tap: fmt, clippy"
(
    cd firmware-examples/host-tap
    cargo fmt --check
    cargo clippy --locked -- -D warnings
)

report=()
for board in "${BOARDS[@]}"; do
    echo "== $board: fmt, clippy, release build"
    dir="firmware-examples/$board"
    start=$(date +%s)
    (
        cd "$dir"
        cargo fmt --check
        # The target comes from the package's .cargo/config.toml.
        cargo clippy --locked --release -- -D warnings
        cargo build --locked --release
    )
    seconds=$(($(date +%s) - start))
    target=$(sed -n 's/^target = "\(.*\)"/\1/p' "$dir/.cargo/config.toml")
    elf="$dir/target/$target/release/rill-$board"
    # Berkeley format: text (vectors, code, rodata, boot2) | data | bss (incl. .uninit). Flash holds text and the
    # initial values of data; static RAM is data + bss (stacks and heap are not static and not counted).
    read -r text data bss _ < <("$SIZE" "$elf" | awk 'NR == 2')
    report+=("$(awk -v b="$board" -v t="$target" -v f=$((text + data)) -v r=$((data + bss)) -v s="$seconds" \
        'BEGIN { printf "%-16s %-22s flash %7d B (%6.1f KiB)   static RAM %6d B (%5.1f KiB)   %4ds", b, t, f, f / 1024, r, r / 1024, s }')")
done

echo
echo "== sizes (release, opt-level s, fat LTO; time = fmt + clippy + build of the package)"
printf '%s\n' "${report[@]}"
