# Sourced by the scripts that run the workspace's release binaries (autobahn.sh, interop.sh, browser-test.sh,
# docs-cluster.sh, firmware-host-tap.sh, bench.sh). They all build the same set, with one feature set, into one
# target dir: cargo resolves features over what one command builds, so a script that built only its own example
# with only its own features gave tokio, hyper, rill-tokio and the examples other hashes than the next script's,
# and each of them compiled most of the tree again. Now the first build pays and every later one is a no-op
# (test-all.sh runs six of them). The set is the union of what those scripts run; a feature one of them does not
# use (TLS, axum) only adds code to the binary, it changes nothing on the paths they test.
# Run from the repository root. Sets TARGET_DIR (absolute; honours CARGO_TARGET_DIR) and RELEASE_DIR, where the
# binaries are.

TARGET_DIR=$(realpath -m "${CARGO_TARGET_DIR:-target}")
RELEASE_DIR=$TARGET_DIR/release

build_release() {
    cargo build --release \
        -p rill-tokio -p rill-blocking -p rill-benches -p docs-cluster \
        --features rill-tokio/rustls-webpki-roots,rill-tokio/axum \
        --bins --examples --benches
}
