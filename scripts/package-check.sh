#!/usr/bin/env bash
# The crates as users get them: packages every library crate in dependency order and builds the packaged
# sources against each other (cargo's local registry overlay, all features), then builds the libraries with
# the declared minimum Rust (`rust-version` in Cargo.toml): the core and rill-embassy for a board target, the
# std adapters with every feature. A file or feature missing from a package, or a dependency that needs a
# newer compiler, fails here.
set -euo pipefail
cd "$(dirname "$0")/.."

msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
echo "== cargo package (libraries, all features, verified from the packaged sources)"
# The packaged crates all have version 0.1.0 from the same local registry, so cargo would reuse what an
# earlier run unpacked and built from them: verify in a target dir of its own, without those leftovers.
verify=target/package-verify
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/rill-* "$verify"/debug/{deps,.fingerprint,build}/*rill*
CARGO_TARGET_DIR=$verify cargo package --workspace --exclude docs-cluster --exclude rill-benches --all-features \
    --allow-dirty --quiet
for crate in "$verify"/package/*.crate; do echo "packaged $(basename "$crate")"; done

echo "== minimum Rust $msrv"
rustup toolchain list | grep -q "^$msrv-" || rustup toolchain install "$msrv" --profile minimal
rustup target add --toolchain "$msrv" thumbv7em-none-eabihf >/dev/null
export CARGO_TARGET_DIR=target/msrv
cargo "+$msrv" check --quiet -p rill-ws -p rill-embassy --target thumbv7em-none-eabihf --features rill-embassy/deflate,rill-embassy/defmt
cargo "+$msrv" check --quiet -p rill-tokio -p rill-blocking -p rill-zlib --all-features
echo "ok: packages build and rust $msrv builds the libraries"
