#!/usr/bin/env bash
# Builds every firmware example in release and prints its flash and static RAM use; also runs the checks that
# belong to them (rustfmt, clippy for their own target, the shared `app` crate's tests, including the in-process
# WebSocket test that scripts/firmware-test.sh runs alone).
#
# Usage: scripts/firmware-build.sh [PACKAGE...]   (default: all; names are directories under firmware-examples/)
# Each package is its own cargo project (own target, .cargo/config.toml, Cargo.lock), excluded from the workspace.
# nucleo-f767zi is also built with feature `deflate` (permessage-deflate, inflate only: docs/deflate.md) and with
# feature `tls` (the wss:// client on embedded-tls, docs/tls.md "On a board") against a throwaway CA made with
# openssl, to report what each adds; RILL_FW_TLS=0 skips the TLS build.
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
    cargo clippy --locked --all-targets --features net,log,tls -- -D warnings
    cargo clippy --locked --all-targets --features net,log,deflate -- -D warnings
    # thumbv6m: the smallest target, without compare-and-swap atomics; the boards' feature set.
    cargo clippy --locked --target thumbv6m-none-eabi --features net,defmt -- -D warnings
    # Unit tests and tests/in_process.rs (server and client over two in-memory embassy-net stacks).
    cargo test --locked --features net,log,tls
)

echo "== host-tap: fmt, clippy"
(
    cd firmware-examples/host-tap
    cargo fmt --check
    cargo clippy --locked -- -D warnings
)

report=()
# Builds one board (extra cargo flags after the name) and adds its sizes to the report under `label`.
build_board() { # board label [cargo flags...]
    local board=$1 label=$2
    shift 2
    echo "== $label: fmt, clippy, release build"
    dir="firmware-examples/$board"
    start=$(date +%s)
    (
        cd "$dir"
        cargo fmt --check
        # The target comes from the package's .cargo/config.toml.
        cargo clippy --locked --release "$@" -- -D warnings
        cargo build --locked --release "$@"
    )
    seconds=$(($(date +%s) - start))
    target=$(sed -n 's/^target = "\(.*\)"/\1/p' "$dir/.cargo/config.toml")
    elf="$dir/target/$target/release/rill-$board"
    # Berkeley format: text (vectors, code, rodata, boot2) | data | bss (incl. .uninit). Flash holds text and the
    # initial values of data; static RAM is data + bss (stacks and heap are not static and not counted).
    read -r text data bss _ < <("$SIZE" "$elf" | awk 'NR == 2')
    report+=("$(awk -v b="$label" -v t="$target" -v f=$((text + data)) -v r=$((data + bss)) -v s="$seconds" \
        'BEGIN { printf "%-20s %-22s flash %7d B (%6.1f KiB)   static RAM %6d B (%5.1f KiB)   %4ds", b, t, f, f / 1024, r, r / 1024, s }')")
}

for board in "${BOARDS[@]}"; do
    build_board "$board" "$board"
    if [ "$board" = nucleo-f767zi ] && [ "${RILL_FW_TLS:-1}" != 0 ]; then
        # The TLS client needs a server URL and a CA certificate at build time: a throwaway CA will do to build
        # and measure it (the host-tap TLS step runs the same client code against a real server).
        ca_dir=$(mktemp -d)
        timeout 60 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=rill-size-ca \
            -keyout "$ca_dir/ca.key" -outform DER -out "$ca_dir/ca.der" 2>/dev/null
        RILL_TLS_URL=wss://10.99.0.1:9443/ RILL_TLS_CA_DER="$ca_dir/ca.der" build_board "$board" "$board +tls" --features tls
        rm -rf "$ca_dir"
    fi
    if [ "$board" = nucleo-f767zi ]; then
        # permessage-deflate, inflate only (docs/deflate.md "On a board"): what accepting browsers' compressed
        # messages costs in flash and RAM.
        build_board "$board" "$board +deflate" --features deflate
    fi
done

echo
echo "== sizes (release, opt-level s, fat LTO; time = fmt + clippy + build of the package)"
printf '%s\n' "${report[@]}"
