#!/usr/bin/env bash
# Measures the flash rill costs on a Cortex-M4F: builds firmware-examples/size-probe (rill-embassy's accept with
# full validation, then a streaming echo through its reader and writer, under embassy_futures::block_on; and a
# client: connect, then the same echo; and the server's handshake alone) as a staticlib, links only what each
# exported function reaches, and prints text + rodata with the largest symbols and the breakdown by crate.
# Compares the totals with issue 25's targets (server 18,000 B, client 16,500 B); with
# SIZE_BUDGET=<bytes> set it also fails above that budget, for CI. It also prints the RAM one connection takes beyond its buffers (the connection
# future's layout for the target); RAM_BUDGET=<bytes> fails above that.
set -euo pipefail
cd "$(dirname "$0")/../firmware-examples/size-probe"

target=thumbv7em-none-eabihf
target_bytes=18000
client_target_bytes=16500
rustup target add "$target" >/dev/null
rustup component add llvm-tools >/dev/null 2>&1 || rustup component add llvm-tools-preview >/dev/null
bin="$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin"

# The server and the client are built apart (feature `client`), so that neither changes what the optimiser
# inlines into the other.
CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" cargo build --release --target "$target" --locked --features client
cp "target/$target/release/librill_size_probe.a" target/librill_size_probe_client.a
# The server's handshake alone (feature `handshake-only`: rill_serve returns after accept), for docs/size.md.
CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" cargo build --release --target "$target" --locked --features handshake-only
cp "target/$target/release/librill_size_probe.a" target/librill_size_probe_handshake.a
CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" cargo build --release --target "$target" --locked
lib="target/$target/release/librill_size_probe.a"
elf="target/size-probe.elf"
# link ENTRY ELF: the entry point roots --gc-sections at ENTRY (rill_serve: the server; rill_client: the
# client); the stream, clock and random functions the platform would provide are absolute symbols (odd:
# Thumb code), so the link completes without pulling in any platform code.
link() { # link ENTRY ELF LIB
    "$bin/rust-lld" -flavor gnu --gc-sections --entry="$1" \
        --defsym=rill_read=0x1001 --defsym=rill_write=0x1001 --defsym=rill_now=0x1001 \
        --defsym=rill_random=0x1001 -Map "${2%.elf}.map" -o "$2" "$3"
}
link rill_serve "$elf" "$lib"
link rill_client target/size-probe-client.elf target/librill_size_probe_client.a
link rill_serve target/size-probe-handshake.elf target/librill_size_probe_handshake.a

echo "== sections (llvm-size -A)"
"$bin/llvm-size" -A "$elf" | grep -E '^\.(text|rodata|data|bss|ARM)'
section() { "$bin/llvm-size" -A "$2" | awk -v s="$1" '$1 == s { print $2 }'; }
# image ELF: sets TEXT, RODATA and TOTAL (text + rodata) of that image.
image() {
    TEXT="$(section .text "$1")" RODATA="$(section .rodata "$1")"
    RODATA=${RODATA:-0}
    TOTAL=$((TEXT + RODATA))
}
image target/size-probe-client.elf
client="$TOTAL bytes (text $TEXT, rodata $RODATA); target $client_target_bytes (difference $((TOTAL - client_target_bytes)))"
image target/size-probe-handshake.elf
handshake="$TOTAL bytes (text $TEXT, rodata $RODATA)"
image "$elf"
total=$TOTAL

echo "== largest symbols (bytes, t = code, r = read-only data)"
"$bin/llvm-nm" --size-sort --radix=d -S --demangle "$elf" | awk '$2 + 0 >= 100 { printf "%6d %s %s\n", $2, $3, $4 }' \
    | sed -E 's/::h[0-9a-f]{16}$//' | sort -rn
by_crate() { # by_crate ELF: bytes per crate of the named symbols
    "$bin/llvm-nm" --radix=d -S --demangle "$1" | awk 'NF >= 4 {
        crate = $4
        gsub(/\.\./, "::", crate)            # legacy mangling demangles "<rill_ws::x as ...>" as "_$LT$rill_ws..x"
        sub(/^(_\$LT\$|<)/, "", crate)
        if (crate ~ /^\.L/) crate = "(anonymous constants: strings, tables)"
        else if (crate ~ /^(mem|__aeabi|compiler_builtins)/) crate = "compiler_builtins (mem*)"
        else sub(/::.*/, "", crate)
        sizes[crate] += $2
    } END { for (c in sizes) if (sizes[c] > 0) printf "%6d %s\n", sizes[c], c }' | sort -rn
}
echo "== by crate (named symbols; rill_serve is the probe with the rill, rill-embassy and embassy code inlined into it)"
by_crate "$elf"
echo "== the server's handshake alone, by crate (rill_serve: accept with rill and rill-embassy inlined)"
by_crate target/size-probe-handshake.elf

echo "text+rodata: $total bytes (text $TEXT, rodata $RODATA); target $target_bytes (difference $((total - target_bytes)))"
echo "client (connect + echo, rill_client): $client"
echo "server handshake alone (accept, no echo): $handshake"

# RAM per connection beyond the lent buffers: the probe's connection future (`serve`, which holds the
# Shared state with the Session, the Reader and the echo's futures; the buffers are outside it) as the
# compiler lays it out for this target. rustc prints type layouts only with an unstable flag, so this second
# build (own target directory, same profile) lets the stable compiler accept it; nothing of it ships.
for features in "" client; do
    # rustc prints the layouts only when it compiles the probe, so the probe is always compiled afresh.
    cargo clean --quiet --release --target "$target" --target-dir target/type-sizes -p rill-size-probe
    RUSTC_BOOTSTRAP=1 CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" CARGO_TARGET_DIR=target/type-sizes \
        cargo rustc --release --target "$target" --locked --quiet --features "$features" -- -Zprint-type-sizes
done >target/type-sizes.txt
echo "== RAM on $target (bytes; the full layouts are in firmware-examples/size-probe/target/type-sizes.txt)"
type_size() { # type_size PATTERN: the size of the first type whose name matches PATTERN
    grep -m 1 -E "^print-type-size type: \`$1" target/type-sizes.txt | sed -E 's/.*`: ([0-9]+) bytes.*/\1/'
}
ram="$(type_size '\{async fn body of serve\(\)\}')"
[ -n "$ram" ] || { echo "size-probe: rustc printed no layout for the connection future"; exit 1; }
printf '%6s %s\n' "$ram" "connection future (serve: handshake state or Shared + Reader + echo futures)" \
    "$(type_size '\{async fn body of client\(\)\}')" "client connection future (client: connect or the echo)" \
    "$(type_size 'rill_embassy::Shared<')" "rill_embassy::Shared (the Session, locks, signals)" \
    "$(type_size 'rill_ws::session::Session`')" "rill_ws::Session" \
    "$(type_size 'rill_embassy::Reader<')" "rill_embassy::Reader" \
    "$(type_size '\{async fn body of rill_embassy::accept')" "accept future" \
    "$(type_size '\{async fn body of rill_embassy::Reader<.*>::recv_piece\(\)')" "recv_piece future" \
    "$(type_size '\{async fn body of rill_embassy::Writer<.*>::feed_piece\(\)')" "feed_piece future"
echo "RAM per connection beyond the buffers: $ram bytes (server)"

if [ -n "${SIZE_BUDGET:-}" ] && [ "$total" -gt "$SIZE_BUDGET" ]; then
    echo "size-probe: over the budget of $SIZE_BUDGET bytes"
    exit 1
fi
if [ -n "${RAM_BUDGET:-}" ] && [ "$ram" -gt "$RAM_BUDGET" ]; then
    echo "size-probe: the connection takes $ram bytes of RAM, over the budget of $RAM_BUDGET"
    exit 1
fi
