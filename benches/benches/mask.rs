//! Micro benchmarks of the byte-moving primitives, in bytes/s:
//!
//! - `copy`: `copy_from_slice`, the physical reference any masking loop is judged against;
//! - `mask`: the public (un)masking functions of the WebSocket libraries. Of the anchors fastwebsockets
//!   (`fastwebsockets::unmask`) and sockudo-ws (`sockudo_ws::simd::apply_mask`, SIMD with the `simd` feature)
//!   expose one; tungstenite's and tokio-websockets' are private.
//!
//! To add an implementation, add one row to [`MASKERS`].

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

/// Sizes measured: a typical frame buffer and a large message.
const SIZES: [usize; 2] = [4 * 1024, 1024 * 1024];

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masking function: XORs `buf` in place with the 4-byte key, repeated.
type MaskFn = fn(&mut [u8], [u8; 4]);

/// Implementations under test, one row each.
const MASKERS: &[(&str, MaskFn)] = &[
    ("rill", |buf, key| rill_ws::frame::apply_mask(buf, key, 0)),
    ("fastwebsockets", fastwebsockets::unmask),
    ("sockudo-ws", sockudo_ws::simd::apply_mask),
    ("byte-loop", byte_loop),
];

/// The byte-at-a-time loop embedded WebSocket crates use: the floor rill's word loop is compared with.
fn byte_loop(buf: &mut [u8], key: [u8; 4]) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}

fn copy(c: &mut Criterion) {
    let mut group = c.benchmark_group("copy");
    for size in SIZES {
        let src = vec![0x5au8; size];
        let mut dst = vec![0u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("copy_from_slice", size), |b| {
            b.iter(|| dst.copy_from_slice(black_box(&src)))
        });
    }
    group.finish();
}

fn mask(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for size in SIZES {
        let mut buf = vec![0x5au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        for (name, mask) in MASKERS {
            group.bench_function(BenchmarkId::new(*name, size), |b| {
                b.iter(|| mask(black_box(&mut buf), black_box(KEY)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, copy, mask);
criterion_main!(benches);
