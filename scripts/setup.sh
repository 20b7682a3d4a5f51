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
# chromium and a font for its screenshot (the real-browser test), nodejs and npm (the browser test's
# playwright-core and the Node `ws` interop peers in tests/interop/node), nginx and Redis (the docs-cluster
# test). The scripts that need them install them too when run alone, but test-all.sh runs steps at once, and a
# second apt-get beside the first fails on dpkg's lock: so all of them here, before any step.
missing=()
command -v patch >/dev/null || missing+=(patch)
command -v ip >/dev/null || missing+=(iproute2)
command -v chromium >/dev/null || missing+=(chromium)
fc-list 2>/dev/null | grep -qi dejavu || missing+=(fonts-dejavu-core)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v tinyproxy >/dev/null || missing+=(tinyproxy) # the HTTP CONNECT proxy of scripts/proxy-test.sh
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: need root to install ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
