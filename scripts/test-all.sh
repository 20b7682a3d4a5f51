#!/usr/bin/env bash
# The whole test suite: what CI runs and what a developer runs before pushing.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
