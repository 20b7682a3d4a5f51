//! The session with permessage-deflate, end to end in memory: a sender's frames (zlib) parsed and inflated
//! by a receiver's session (miniz_oxide), over buffers and reads of many sizes.

use rill_ws::deflate::{DeflateParams, Inflate, Inflater};
use rill_ws::session::NO_INFLATER;
use rill_ws::{End, Event, Instant, MessageKind, ProtocolError, Role, Session, Transmit};
use rill_zlib::ZlibDeflater;

const NOW: Instant = Instant(0);

struct Peer {
    session: Session,
    write_buf: Vec<u8>,
    read_buf: Vec<u8>,
    inflater: Inflater<Vec<u8>>,
    deflater: Option<ZlibDeflater>,
}

fn peer(role: Role, params: DeflateParams, write_buf: usize, read_buf: usize) -> Peer {
    let mut session = Session::new(role, rill_ws::SessionConfig::default(), [7; 32], NOW);
    session.set_deflate(Some(params), 0);
    Peer {
        session,
        write_buf: vec![0; write_buf],
        read_buf: vec![0; read_buf],
        inflater: Inflater::new(vec![0; 1 << params.receive_window_bits(role).max(9)]),
        deflater: ZlibDeflater::new(6, params.send_window_bits(role), 5),
    }
}

/// Writes out everything the session has placed.
fn drain(peer: &mut Peer, wire: &mut Vec<u8>) {
    loop {
        match peer.session.poll_transmit(&mut peer.write_buf, NOW) {
            Transmit::Write { start, end, .. } => {
                wire.extend_from_slice(&peer.write_buf[start..end]);
                peer.session.wrote(end - start, NOW);
            }
            Transmit::Flush => {}
            Transmit::Idle | Transmit::Shutdown => return,
        }
    }
}

/// Sends one message in chunks of `chunk` bytes; returns the bytes on the wire.
fn send(peer: &mut Peer, kind: MessageKind, payload: &[u8], chunk: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    peer.session.begin(kind).unwrap();
    let chunks: Vec<&[u8]> = if payload.is_empty() {
        vec![&[][..]]
    } else {
        payload.chunks(chunk).collect()
    };
    for (i, part) in chunks.iter().enumerate() {
        let fin = i + 1 == chunks.len();
        let mut placed = 0;
        loop {
            placed = peer
                .session
                .send_chunk(
                    &mut peer.write_buf,
                    &[part],
                    placed,
                    fin,
                    NOW,
                    peer.deflater.as_mut(),
                )
                .unwrap();
            peer.session.flush();
            drain(peer, &mut wire);
            if placed == part.len() && !(fin && peer.session.in_message()) {
                break;
            }
        }
    }
    wire
}

/// Feeds `wire` to the receiving session in reads of `read` bytes; returns the messages and the events
/// that ended the exchange, if any.
fn receive(
    peer: &mut Peer,
    wire: &[u8],
    read: usize,
) -> (Vec<(MessageKind, Vec<u8>)>, Option<Event>) {
    let mut messages = Vec::new();
    let mut current: Option<(MessageKind, Vec<u8>)> = None;
    let read = read.min(peer.read_buf.len());
    for input in wire.chunks(read) {
        peer.read_buf[..input.len()].copy_from_slice(input);
        peer.session.handle_input(0..input.len(), NOW);
        loop {
            let event = peer
                .session
                .poll_event(&mut peer.read_buf, Some(&mut peer.inflater));
            match event {
                Event::NeedInput => break,
                Event::Piece(at) => {
                    let source = if at.inflated {
                        peer.inflater.window()
                    } else {
                        &peer.read_buf[..]
                    };
                    let piece = at.of(source);
                    if piece.first {
                        assert!(current.is_none());
                        current = Some((piece.kind, Vec::new()));
                    }
                    current.as_mut().unwrap().1.extend_from_slice(piece.payload);
                    if piece.last {
                        messages.push(current.take().unwrap());
                    }
                }
                // A pong answers a ping the test sent for it; the messages are what is compared.
                Event::Pong(_) => {}
                other => return (messages, Some(other)),
            }
        }
    }
    (messages, None)
}

fn params(server_bits: u8, client_bits: u8, no_takeover: bool) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: no_takeover,
        client_no_context_takeover: no_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    }
}

/// A deterministic token stream: English-like words, what a language model streams.
fn text(seed: u64, len: usize) -> Vec<u8> {
    const WORDS: [&str; 12] = [
        "the ",
        "model ",
        "streams ",
        "tokens ",
        "to ",
        "a ",
        "browser ",
        "over ",
        "one ",
        "socket, ",
        "quickly ",
        "compressed. ",
    ];
    let mut x = seed;
    let mut out = Vec::new();
    while out.len() < len {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.extend_from_slice(WORDS[(x >> 33) as usize % WORDS.len()].as_bytes());
    }
    out.truncate(len);
    out
}

#[test]
fn messages_round_trip_through_every_buffer_and_chunk_size() {
    for (bits, no_takeover) in [(15, false), (9, false), (12, true), (10, true)] {
        for (write_buf, read_buf, chunk) in [
            (139, 64, 7),
            (512, 1, 100),
            (4096, 4096, 100_000),
            (200, 33, 3),
        ] {
            let agreed = params(bits, bits, no_takeover);
            let mut client = peer(Role::Client, agreed, write_buf, read_buf);
            let mut server = peer(Role::Server, agreed, write_buf, read_buf);
            for (i, len) in [0usize, 1, 20, 300, 5000, 70_000, 3]
                .into_iter()
                .enumerate()
            {
                let payload = text(i as u64, len);
                let kind = if i % 2 == 0 {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                let (from, to) = if i % 3 == 0 {
                    (&mut client, &mut server)
                } else {
                    (&mut server, &mut client)
                };
                let wire = send(from, kind, &payload, chunk);
                let (messages, end) = receive(to, &wire, read_buf);
                assert_eq!(
                    end, None,
                    "bits {bits} buffers {write_buf}/{read_buf} message {i}"
                );
                assert_eq!(
                    messages,
                    vec![(kind, payload.clone())],
                    "bits {bits} message {i}"
                );
                if len >= 5000 && chunk > len {
                    assert!(
                        wire.len() < len / 2,
                        "{len} bytes of text went out as {}",
                        wire.len()
                    );
                }
            }
        }
    }
}

/// The lengths of the (unmasked, server) frames on `wire`.
fn frame_lengths(wire: &[u8]) -> Vec<usize> {
    let (mut at, mut lengths) = (0, Vec::new());
    while at < wire.len() {
        let (len, head) = match wire[at + 1] & 0x7f {
            126 => (u16::from_be_bytes([wire[at + 2], wire[at + 3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(wire[at + 2..at + 10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        lengths.push(len);
        at += head + len;
    }
    lengths
}

/// Issue 23, item 5: one placing call compressed a whole message that fit the (grown) write buffer, about
/// 5 ms of zlib for 112 KiB under the lock the reader half waits for. Each call now compresses at most
/// `MAX_COMPRESS_STEP`: a larger message leaves as several fragments, and arrives whole.
#[test]
fn one_call_compresses_at_most_max_compress_step_and_the_message_arrives_whole() {
    let agreed = params(15, 15, false);
    let mut server = peer(Role::Server, agreed, 256 * 1024, 256 * 1024);
    let mut client = peer(Role::Client, agreed, 4096, 256 * 1024);
    let message = text(7, 112 * 1024);
    let wire = send(&mut server, MessageKind::Text, &message, message.len());
    let frames = frame_lengths(&wire);
    let steps = message.len().div_ceil(rill_ws::session::MAX_COMPRESS_STEP);
    assert_eq!(frames.len(), steps, "one fragment per compression step");
    let (messages, end) = receive(&mut client, &wire, 64 * 1024);
    assert_eq!(end, None);
    assert!(messages == vec![(MessageKind::Text, message)]);
}

#[test]
fn rsv1_marks_only_the_first_frame_of_a_compressed_message() {
    let agreed = params(15, 15, false);
    let mut server = peer(Role::Server, agreed, 200, 200);
    let wire = send(&mut server, MessageKind::Text, &text(1, 1000), 1000);
    // A 200-byte buffer splits the message into frames; walk their headers (server frames: unmasked).
    let mut at = 0;
    let mut frames = Vec::new();
    while at < wire.len() {
        let (first, second) = (wire[at], wire[at + 1]);
        let (len, head) = match second & 0x7f {
            126 => (u16::from_be_bytes([wire[at + 2], wire[at + 3]]) as usize, 4),
            127 => unreachable!(),
            n => (n as usize, 2),
        };
        frames.push(first);
        at += head + len;
    }
    assert!(frames.len() > 1, "the message spans frames");
    assert_eq!(frames[0] & 0x70, 0x40, "RSV1 on the first frame");
    assert_eq!(frames[0] & 0x0f, 0x1, "a text frame");
    for later in &frames[1..] {
        assert_eq!(later & 0x70, 0, "no RSV bits on continuation frames");
        assert_eq!(later & 0x0f, 0x0);
    }
    assert_eq!(frames.last().unwrap() & 0x80, 0x80, "FIN on the last");
}

#[test]
fn a_compression_bomb_fails_with_1009_after_bounded_output() {
    let agreed = params(15, 15, false);
    let mut client = peer(Role::Client, agreed, 1 << 16, 4096);
    let mut server = peer(Role::Server, agreed, 4096, 4096);
    let limit = 1 << 20;
    server.session = Session::new(
        Role::Server,
        rill_ws::SessionConfig {
            limits: rill_ws::Limits {
                max_message_len: limit,
                ..rill_ws::Limits::default()
            },
            ..rill_ws::SessionConfig::default()
        },
        [1; 32],
        NOW,
    );
    server.session.set_deflate(Some(agreed), 0);
    // 8 MiB of zeros compress to about 21 KiB (512 fragments of one compression step each).
    let wire = send(&mut client, MessageKind::Binary, &vec![0; 8 << 20], 8 << 20);
    assert!(
        wire.len() < 32 << 10,
        "the bomb is small on the wire: {}",
        wire.len()
    );
    let mut inflated = 0u64;
    let mut ended = None;
    for input in wire.chunks(4096) {
        server.read_buf[..input.len()].copy_from_slice(input);
        server.session.handle_input(0..input.len(), NOW);
        loop {
            match server
                .session
                .poll_event(&mut server.read_buf, Some(&mut server.inflater))
            {
                Event::NeedInput => break,
                Event::Piece(at) => inflated += (at.end - at.start) as u64,
                other => {
                    ended = Some(other);
                    break;
                }
            }
        }
        if ended.is_some() || server.session.end().is_some() {
            break;
        }
    }
    assert!(
        inflated <= limit,
        "at most the limit was handed out: {inflated}"
    );
    let mut wire = Vec::new();
    drain(&mut server, &mut wire);
    assert_eq!(&wire[..4], &[0x88, 0x02, 0x03, 0xf1], "close 1009 goes out");
    server.session.handle_eof();
    assert_eq!(
        server.session.end(),
        Some(End::Protocol(ProtocolError::MessageTooLarge { limit }))
    );
}

#[test]
fn corrupt_deflate_data_fails_with_1007() {
    let agreed = params(15, 15, false);
    let mut server = peer(Role::Server, agreed, 4096, 4096);
    // A masked, compressed text frame whose data uses the reserved block type 3.
    let payload = [0xffu8, 0xff, 0xff];
    let mut frame = vec![0xc1, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(&payload);
    let (messages, _) = receive(&mut server, &frame, 4096);
    assert!(messages.is_empty());
    let mut wire = Vec::new();
    drain(&mut server, &mut wire);
    assert_eq!(&wire[..4], &[0x88, 0x02, 0x03, 0xef], "close 1007 goes out");
}

#[test]
fn without_deflate_rsv1_is_a_protocol_error() {
    let mut server = peer(Role::Server, params(15, 15, false), 4096, 4096);
    server.session.set_deflate(None, 0);
    let frame = [0xc1u8, 0x81, 0, 0, 0, 0, b'a'];
    receive(&mut server, &frame, 4096);
    let mut wire = Vec::new();
    drain(&mut server, &mut wire);
    assert_eq!(&wire[..4], &[0x88, 0x02, 0x03, 0xea], "close 1002 goes out");
}

#[test]
fn a_small_compressed_message_arrives_as_one_piece() {
    let agreed = params(15, 15, false);
    let mut client = peer(Role::Client, agreed, 4096, 4096);
    let mut server = peer(Role::Server, agreed, 4096, 4096);
    let wire = send(
        &mut client,
        MessageKind::Text,
        b"hello, compressed world",
        4096,
    );
    assert_eq!(wire[0], 0xc1, "FIN, RSV1, text");
    server.read_buf[..wire.len()].copy_from_slice(&wire);
    server.session.handle_input(0..wire.len(), NOW);
    let event = server
        .session
        .poll_event(&mut server.read_buf, Some(&mut server.inflater));
    let Event::Piece(at) = event else {
        panic!("expected a piece, got {event:?}");
    };
    assert!(at.first && at.last && at.inflated, "{at:?}");
    assert_eq!(
        at.of(server.inflater.window()).payload,
        b"hello, compressed world"
    );
}

#[test]
fn the_inflater_is_asked_for_only_when_a_compressed_message_arrives() {
    let agreed = params(15, 15, false);
    let mut client = peer(Role::Client, agreed, 4096, 4096);
    let mut server = peer(Role::Server, agreed, 4096, 4096);
    // Uncompressed messages (below the threshold) need no inflater.
    client.session.set_deflate(Some(agreed), 100);
    let mut wire = send(&mut client, MessageKind::Text, b"short", 4096);
    wire.extend(send(&mut client, MessageKind::Text, &text(3, 500), 4096));
    assert_eq!(wire[0], 0x81, "below the threshold: no RSV1");
    server.read_buf[..wire.len()].copy_from_slice(&wire);
    server.session.handle_input(0..wire.len(), NOW);
    let none = None::<&mut Inflater<Vec<u8>>>;
    let Event::Piece(at) = server.session.poll_event(&mut server.read_buf, none) else {
        panic!("the uncompressed message comes without an inflater");
    };
    assert!(!at.inflated);
    let none = None::<&mut Inflater<Vec<u8>>>;
    let event = server.session.poll_event(&mut server.read_buf, none);
    assert_eq!(event, Event::NeedInflater);
    let event = server
        .session
        .poll_event(&mut server.read_buf, Some(&mut server.inflater));
    let Event::Piece(at) = event else {
        panic!("expected the compressed message, got {event:?}");
    };
    assert!(at.first && at.last && at.inflated);
    assert_eq!(at.of(server.inflater.window()).payload, &text(3, 500)[..]);
}

#[test]
fn a_pump_with_no_inflater_to_lend_fails_a_compressed_message_with_1007() {
    let agreed = params(15, 15, false);
    let mut client = peer(Role::Client, agreed, 4096, 4096);
    let mut server = peer(Role::Server, agreed, 4096, 4096);
    let wire = send(&mut client, MessageKind::Text, &text(5, 300), 4096);
    server.read_buf[..wire.len()].copy_from_slice(&wire);
    server.session.handle_input(0..wire.len(), NOW);
    assert_eq!(
        server.session.poll_event(&mut server.read_buf, NO_INFLATER),
        Event::NeedInflater
    );
    // What rill-embassy does when no inflater was lent to its reader.
    (server.session).fail(ProtocolError::InvalidCompressedData, NOW);
    assert!(matches!(
        server.session.poll_event(&mut server.read_buf, NO_INFLATER),
        Event::NeedInput
    ));
    let mut out = Vec::new();
    drain(&mut server, &mut out);
    assert_eq!(&out[..4], &[0x88, 0x02, 0x03, 0xef], "close 1007 goes out");
}

/// Hands `peer` a ping with `payload` from the other end, so a pong is owed.
fn owe_pong(peer: &mut Peer, payload: &[u8]) {
    let mut frame = [0u8; 256];
    let ping = rill_ws::codec::ControlFrame::ping(payload).unwrap();
    let len = rill_ws::Sender::client([3; 32])
        .encode_control(&ping, &mut frame)
        .unwrap();
    peer.read_buf[..len].copy_from_slice(&frame[..len]);
    peer.session.handle_input(0..len, NOW);
    loop {
        match peer
            .session
            .poll_event(&mut peer.read_buf, Some(&mut peer.inflater))
        {
            Event::Ping => {}
            Event::NeedInput => return,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn an_empty_final_piece_of_a_compressed_message_waits_for_room_behind_an_owed_pong() {
    // An owed pong placed first can leave fewer bytes than the frame header, the held-back output and
    // the deflater's empty sync flush need: the step must wait for the buffer to be written out (issue
    // 23: it indexed past the buffer). Every pong size and small buffer, with and without earlier data.
    let agreed = params(15, 15, false);
    // Each pong size leaves a different number of bytes free, so a few buffer sizes cover every case.
    let min = rill_ws::session::MIN_WRITE_BUFFER;
    for write_buf in [min, min + 1, min + 11, 170] {
        for ping in 0..=125 {
            for head in [&b""[..], b"hello, compressed world"] {
                let mut server = peer(Role::Server, agreed, write_buf, 256);
                let mut client = peer(Role::Client, agreed, 256, 256);
                let mut wire = Vec::new();
                server.session.begin(MessageKind::Text).unwrap();
                if !head.is_empty() {
                    let placed = server
                        .session
                        .send_chunk(
                            &mut server.write_buf,
                            &[head],
                            0,
                            false,
                            NOW,
                            server.deflater.as_mut(),
                        )
                        .unwrap();
                    assert_eq!(placed, head.len());
                }
                owe_pong(&mut server, &vec![b'p'; ping]);
                // The empty final piece (`Chunks::finish(b"")`, or a relayed empty final continuation).
                for round in 0.. {
                    assert!(round < 4, "buffer {write_buf} ping {ping}: no progress");
                    server
                        .session
                        .send_chunk(
                            &mut server.write_buf,
                            &[b""],
                            0,
                            true,
                            NOW,
                            server.deflater.as_mut(),
                        )
                        .unwrap_or_else(|e| {
                            panic!(
                                "buffer {write_buf} ping {ping} head {} round {round}: {e:?}",
                                head.len()
                            )
                        });
                    server.session.flush();
                    drain(&mut server, &mut wire);
                    if !server.session.in_message() {
                        break;
                    }
                }
                let (messages, end) = receive(&mut client, &wire, 256);
                assert_eq!(end, None, "buffer {write_buf} ping {ping}");
                assert_eq!(messages, vec![(MessageKind::Text, head.to_vec())]);
            }
        }
    }
}

#[test]
fn the_compressor_is_made_at_the_first_message_that_leaves_compressed() {
    let params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 12,
        client_max_window_bits: 12,
    };
    let mut session = Session::new(
        Role::Server,
        rill_ws::SessionConfig::default(),
        [7; 32],
        NOW,
    );
    session.set_deflate(Some(params), 1024);
    let mut lazy = rill_zlib::LazyDeflater::new(rill_ws::deflate::DeflateConfig::default());
    // Whole messages below the threshold: no compressor.
    lazy.prepare(&session, 1023, true);
    assert!(lazy.get().is_none());
    // The first frame of a message sent in chunks is compressed whatever its size; so is a whole one at
    // the threshold.
    lazy.prepare(&session, 10, false);
    assert!(lazy.get().is_some());
    let mut at_threshold = rill_zlib::LazyDeflater::new(rill_ws::deflate::DeflateConfig::default());
    at_threshold.prepare(&session, 1024, true);
    assert!(at_threshold.get().is_some());
    // Without an agreement, never.
    let mut plain = Session::new(
        Role::Server,
        rill_ws::SessionConfig::default(),
        [7; 32],
        NOW,
    );
    plain.set_deflate(None, 0);
    let mut none = rill_zlib::LazyDeflater::new(rill_ws::deflate::DeflateConfig::default());
    none.prepare(&plain, 1 << 20, false);
    assert!(none.get().is_none());
}
