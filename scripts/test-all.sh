#!/usr/bin/env bash
# The whole test suite: what CI runs and what a developer runs before pushing. Installs what it needs
# (scripts/setup.sh), then runs each step and ends with a one-line summary. Any failed step fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || { echo "setup failed"; exit 1; }

passed=0
failed=0
failures=()
step() {
    local name="$1"
    shift
    echo
    echo "=== $name: $*"
    if "$@"; then
        passed=$((passed + 1))
        echo "=== $name: ok"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "=== $name: FAILED"
    fi
}

step format cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets --all-features -- -D warnings
step rustdoc env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features
step unit-and-integration cargo test --workspace
step core-without-features cargo test -p rill-ws
step futures-feature cargo test -p rill-tokio --features futures
step embassy-deflate cargo test -p rill-embassy --features deflate
step tls-axum cargo test -p rill-tokio --all-features --test tls --test axum --test server_life
step cross-builds bash scripts/cross-check.sh
step autobahn bash scripts/autobahn.sh
step autobahn-blocking bash scripts/autobahn.sh blocking
step autobahn-axum bash scripts/autobahn.sh axum
step interop bash scripts/interop.sh
step docs-cluster bash scripts/docs-cluster-test.sh
step browser env RILL_SCREENSHOT="$PWD/target/token_stream.png" bash scripts/browser-test.sh
step fuzz bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
step size-probe env SIZE_BUDGET=26987 RAM_BUDGET=1040 bash scripts/size-probe.sh
step firmware-build bash scripts/firmware-build.sh
step firmware-host-tap bash scripts/firmware-host-tap.sh
step bench-build bash scripts/bench.sh --build-only

echo
if [ ${#failures[@]} -gt 0 ]; then
    echo "failed steps: ${failures[*]}"
fi
echo "steps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
