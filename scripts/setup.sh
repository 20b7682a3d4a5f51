#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine with rustup. Idempotent: fast when done.
set -euo pipefail

rustup component add rustfmt clippy llvm-tools
rustup target add thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf
if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# Debian packages: patch (Autobahn build), iproute2 (network namespaces for the host-TAP firmware test),
# chromium (the real-browser test), nodejs and npm (the browser test's playwright-core and the Node `ws`
# interop peers in tests/interop/node).
missing=()
command -v patch >/dev/null || missing+=(patch)
command -v ip >/dev/null || missing+=(iproute2)
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: need root to install ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
