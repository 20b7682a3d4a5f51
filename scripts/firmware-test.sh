#!/usr/bin/env bash
# The firmware logic's tests that need no root, no TAP and no board: the shared `app` crate's unit tests and
# tests/in_process.rs, where the boards' server (`app::net::listen`) and the board client (`app::client`) talk
# over two embassy-net stacks joined by an in-memory Ethernet cable: page, 64 KiB echo through 2 KiB buffers,
# ping, close, and a whole token stream. (scripts/firmware-host-tap.sh runs the same server against real clients.)
#
# Usage: scripts/firmware-test.sh [cargo test args...]
set -euo pipefail
cd "$(dirname "$0")/../firmware-examples/app"
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
timeout 900 cargo test --locked --features net,log "$@"
