//! Micro benchmarks of rill's core hot paths, in bytes/s: frame header parse and emit, UTF-8 validation
//! of a 64 KiB text message as the receiver does it (incrementally), and decoding a stream of small masked
//! frames (the server's receive loop without I/O).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rill_ws::frame::{FrameHeader, OpCode};
use rill_ws::session::NO_INFLATER;
use rill_ws::utf8::Utf8Validator;
use rill_ws::{Event, Instant, MessageKind, Role, Sender, Session, SessionConfig};
use std::hint::black_box;

fn header(c: &mut Criterion) {
    let mut group = c.benchmark_group("header");
    let header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode: OpCode::Binary,
        mask: Some([1, 2, 3, 4]),
        payload_len: 1000,
    };
    let mut bytes = [0u8; 14];
    let len = header.emit(&mut bytes).unwrap_or(0);
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| {
        b.iter(|| FrameHeader::parse(black_box(&bytes[..len])))
    });
    group.bench_function("emit", |b| {
        b.iter(|| black_box(&header).emit(black_box(&mut bytes)))
    });
    group.finish();
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    let text = "WebSocket streams tokens; κόσμε — 𝄞 ".repeat(2000);
    let text = &text.as_bytes()[..64 * 1024 - 3];
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("rill-incremental-64KiB", |b| {
        b.iter(|| {
            let mut validator = Utf8Validator::new();
            for piece in black_box(text).chunks(4096) {
                validator.feed(piece).ok();
            }
            validator.finish().ok()
        })
    });
    group.bench_function("std-from_utf8-64KiB", |b| {
        b.iter(|| std::str::from_utf8(black_box(text)).is_ok())
    });
    group.finish();
}

fn decode_small_frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    let mut sender = Sender::client([7; 32]);
    let mut wire = Vec::new();
    let mut out = [0u8; 64];
    for _ in 0..1000 {
        let len = sender
            .message(MessageKind::Binary, 16)
            .and_then(|h| h.encode(&[0x42; 16], &mut out))
            .unwrap_or(0);
        wire.extend_from_slice(&out[..len]);
    }
    let mut input = wire.clone();
    group.throughput(Throughput::Elements(1000));
    group.bench_function("1000-masked-16B-frames", |b| {
        b.iter(|| {
            input.copy_from_slice(&wire);
            // Decoded by the session, as the adapters drive it.
            let mut session =
                Session::new(Role::Server, SessionConfig::default(), [0; 32], Instant(0));
            session.handle_input(0..input.len(), Instant(0));
            let mut messages = 0;
            loop {
                match session.poll_event(&mut input, NO_INFLATER) {
                    Event::Piece(at) => messages += usize::from(at.last),
                    Event::NeedInput | Event::End(_) => break,
                    _ => {}
                }
            }
            messages
        })
    });
    group.finish();
}

criterion_group!(benches, header, utf8, decode_small_frames);
criterion_main!(benches);
