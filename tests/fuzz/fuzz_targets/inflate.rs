//! permessage-deflate through two sessions as the adapters drive them: one compresses messages chunk by
//! chunk (zlib, rill-zlib's `ZlibDeflater`) into write buffers of many sizes, the other reads the bytes in
//! reads of many sizes and inflates them (miniz_oxide, `Inflater`) through `poll_event`. Optionally one
//! byte on the wire is flipped, or the compressed payload is replaced by arbitrary bytes.
//!
//! Invariants: nothing panics; without corruption every message arrives byte-exact with its kind; the
//! inflated size of a message never exceeds the receiver's limit; with corruption the receiver either
//! delivers messages or ends the connection with a protocol error, never more than the limit per message.
//!
//! Input layout: byte 0: bits 0-2 window bits (9 + n % 7), bit 3 no context takeover, bit 4 the client
//! sends, bits 5-6 read size, bit 7 write buffer; byte 1: corruption (0 none, else the wire offset
//! `byte * 7`, flipped), then messages: a header byte (bit 0 binary, bits 1-3 chunk size, bits 4-7 length
//! scale) and the payload bytes it names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill_ws::deflate::{DeflateParams, Inflate, Inflater};
use rill_ws::{Event, Instant, Limits, MessageKind, Role, Session, SessionConfig, Transmit};
use rill_zlib::ZlibDeflater;

const READS: [usize; 4] = [1, 7, 300, 4096];
const WRITE_BUFFERS: [usize; 2] = [rill_ws::session::MIN_WRITE_BUFFER, 2048];
const CHUNKS: [usize; 8] = [1, 2, 5, 16, 100, 1000, 5000, usize::MAX];
const LIMIT: u64 = 1 << 20;
const NOW: Instant = Instant(0);

fuzz_target!(|data: &[u8]| {
    let [flags, corrupt, rest @ ..] = data else {
        return;
    };
    let bits = 9 + (flags & 7) % 7;
    let params = DeflateParams {
        server_no_context_takeover: flags & 8 != 0,
        client_no_context_takeover: flags & 8 != 0,
        server_max_window_bits: bits,
        client_max_window_bits: bits,
    };
    let (from, to) = if flags & 16 != 0 {
        (Role::Client, Role::Server)
    } else {
        (Role::Server, Role::Client)
    };
    let config = SessionConfig {
        limits: Limits {
            max_frame_len: LIMIT,
            max_message_len: LIMIT,
        },
        ..SessionConfig::default()
    };
    let mut sender = Session::new(from, config, [3; 32], NOW);
    sender.set_deflate(Some(params), 0);
    let mut receiver = Session::new(to, config, [4; 32], NOW);
    receiver.set_deflate(Some(params), 0);
    let Some(mut deflater) = ZlibDeflater::new(6, bits, 1 + flags % 9) else {
        return;
    };
    let mut write_buf = vec![0u8; WRITE_BUFFERS[usize::from(flags >> 7)]];

    // Compress the messages onto the wire.
    let mut wire = Vec::new();
    let mut sent = Vec::new();
    let mut input = rest;
    while let [header, tail @ ..] = input {
        let kind = if header & 1 != 0 { MessageKind::Binary } else { MessageKind::Text };
        let chunk = CHUNKS[usize::from((header >> 1) & 7)];
        let len = (usize::from(header >> 4) * 37).min(tail.len());
        let (payload, next) = tail.split_at(len);
        input = next;
        // Text must be UTF-8 for the sender; make it so.
        let payload: Vec<u8> = match kind {
            MessageKind::Text => String::from_utf8_lossy(payload).into_owned().into_bytes(),
            MessageKind::Binary => payload.to_vec(),
        };
        if sender.begin(kind).is_err() {
            return;
        }
        let pieces: Vec<&[u8]> = if payload.is_empty() {
            vec![&[]]
        } else {
            payload.chunks(chunk.min(payload.len())).collect()
        };
        for (i, piece) in pieces.iter().enumerate() {
            let fin = i + 1 == pieces.len();
            let mut placed = 0;
            loop {
                let result =
                    sender.send_chunk(&mut write_buf, &[piece], placed, fin, NOW, Some(&mut deflater));
                placed = result.expect("a compressed send is accepted");
                sender.flush();
                drain(&mut sender, &mut write_buf, &mut wire);
                if placed == piece.len() && !(fin && sender.in_message()) {
                    break;
                }
            }
        }
        sent.push((kind, payload));
    }
    let corrupted = *corrupt != 0 && usize::from(*corrupt) * 7 < wire.len();
    if corrupted {
        wire[usize::from(*corrupt) * 7] ^= 0x5a;
    }

    // Read it back.
    let read = READS[usize::from((flags >> 5) & 3)];
    let mut read_buf = vec![0u8; read];
    let mut inflater = Inflater::new(vec![0u8; 1 << bits]);
    let mut received = Vec::new();
    let mut current: Option<(MessageKind, Vec<u8>)> = None;
    'reading: for bytes in wire.chunks(read) {
        read_buf[..bytes.len()].copy_from_slice(bytes);
        receiver.handle_input(0..bytes.len(), NOW);
        loop {
            match receiver.poll_event(&mut read_buf, Some(&mut inflater)) {
                Event::NeedInput => break,
                Event::Piece(at) => {
                    let source = if at.inflated { inflater.window() } else { &read_buf[..] };
                    let piece = at.of(source);
                    if piece.first {
                        assert!(current.is_none(), "a message began inside another");
                        current = Some((piece.kind, Vec::new()));
                    }
                    let (_, bytes) = current.as_mut().expect("a piece outside a message");
                    bytes.extend_from_slice(piece.payload);
                    assert!(bytes.len() as u64 <= LIMIT, "inflated past the limit");
                    if piece.last {
                        received.push(current.take().unwrap());
                    }
                }
                Event::End(_) => break 'reading,
                Event::NeedInflater => unreachable!("an inflater is lent"),
                Event::Ping | Event::Pong(_) | Event::Close => {}
            }
        }
        if receiver.end().is_some() {
            break;
        }
    }
    if !corrupted {
        assert!(receiver.end().is_none(), "a clean stream ended the connection: {:?}", receiver.end());
        assert_eq!(received, sent, "messages differ after a round trip");
    }
});

/// Moves everything the session placed onto the wire.
fn drain(session: &mut Session, buf: &mut [u8], wire: &mut Vec<u8>) {
    loop {
        match session.poll_transmit(buf, NOW) {
            Transmit::Write { start, end, .. } => {
                wire.extend_from_slice(&buf[start..end]);
                session.wrote(end - start, NOW);
            }
            Transmit::Flush => {}
            Transmit::Idle | Transmit::Shutdown => return,
        }
    }
}
