//! Session rules, each driven the way the adapters drive it: lent buffers, explicit instants.

extern crate std;

use super::*;
use crate::{CloseCode, MessageKind, SendError};
use core::time::Duration;
use std::vec::Vec;

const T0: Instant = Instant(0);

fn at(secs: u64) -> Instant {
    Instant(secs * 1_000_000)
}

/// One end: a session with its read and write buffers.
struct End_ {
    session: Session,
    read: [u8; 256],
    write: [u8; 256],
}

impl End_ {
    fn new(role: Role, config: SessionConfig) -> Self {
        End_ {
            session: Session::new(role, config, [7; 32], T0),
            read: [0; 256],
            write: [0; 256],
        }
    }

    /// Runs the transmit pump into `wire` until it is idle; returns whether it asked for a shutdown.
    fn transmit(&mut self, wire: &mut [u8; 8192], wire_len: &mut usize, now: Instant) -> bool {
        let mut shutdown = false;
        loop {
            match self.session.poll_transmit(&mut self.write, now) {
                Transmit::Write { start, end, .. } => {
                    wire[*wire_len..*wire_len + end - start]
                        .copy_from_slice(&self.write[start..end]);
                    *wire_len += end - start;
                    self.session.wrote(end - start, now);
                }
                Transmit::Flush => {}
                Transmit::Shutdown => shutdown = true,
                Transmit::Idle => return shutdown,
            }
        }
    }

    /// Sends a whole message, writing out into `wire` whenever the buffer needs room.
    fn send(&mut self, kind: MessageKind, payload: &[u8], wire: &mut [u8; 8192], len: &mut usize) {
        self.session.begin(kind).unwrap();
        let mut done = 0;
        loop {
            done = self
                .session
                .send_chunk(&mut self.write, &[payload], done, true, T0, NO_DEFLATER)
                .unwrap();
            if done == payload.len() && !self.session.in_message() {
                break;
            }
            self.transmit(wire, len, T0);
        }
        self.session.flush_by_policy();
        self.transmit(wire, len, T0);
    }

    /// Feeds `wire` through the read buffer in reads of at most `chunk` bytes, collecting every event.
    fn receive(&mut self, wire: &[u8], chunk: usize, now: Instant) -> (Vec<Event>, Vec<u8>) {
        let (mut events, mut data) = (Vec::new(), Vec::new());
        let mut pos = 0;
        loop {
            match self.session.poll_event(&mut self.read, NO_INFLATER) {
                Event::NeedInput if pos < wire.len() => {
                    let n = chunk.min(wire.len() - pos).min(self.read.len());
                    self.read[..n].copy_from_slice(&wire[pos..pos + n]);
                    pos += n;
                    self.session.handle_input(0..n, now);
                }
                Event::NeedInput => return (events, data),
                Event::Piece(at) => {
                    data.extend_from_slice(at.of(&self.read).payload);
                    events.push(Event::Piece(at));
                }
                event => {
                    events.push(event);
                    if matches!(event, Event::End(_) | Event::Close) {
                        return (events, data);
                    }
                }
            }
        }
    }
}

#[test]
fn a_message_larger_than_both_buffers_arrives_whole_in_pieces() {
    let mut client = End_::new(Role::Client, SessionConfig::default());
    let mut server = End_::new(Role::Server, SessionConfig::default());
    let payload: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let (mut wire, mut len) = ([0u8; 8192], 0);
    client.send(MessageKind::Binary, &payload, &mut wire, &mut len);
    let (events, data) = server.receive(&wire[..len], 100, T0);
    assert_eq!(data, payload);
    let pieces: Vec<PieceAt> = events
        .iter()
        .filter_map(|e| match e {
            Event::Piece(piece) => Some(*piece),
            _ => None,
        })
        .collect();
    assert!(pieces.first().unwrap().first && pieces.last().unwrap().last);
    assert!(pieces.iter().skip(1).all(|p| !p.first));
}

#[test]
fn a_pong_is_placed_whole_before_data_and_never_split_by_it() {
    let mut server = End_::new(Role::Server, SessionConfig::default());
    // A masked ping with a 100-byte payload from a client.
    let mut client = End_::new(Role::Client, SessionConfig::default());
    let id = client.session.ping(T0).unwrap();
    let (mut wire, mut len) = ([0u8; 8192], 0);
    client.transmit(&mut wire, &mut len, T0);
    server.receive(&wire[..len], 3, T0);
    // The server's write buffer is nearly full of unflushed data when the pong is due.
    server.session.begin(MessageKind::Text).unwrap();
    let filler = [b'x'; 200];
    let placed = server
        .session
        .send_chunk(&mut server.write, &[&filler], 0, true, T0, NO_DEFLATER)
        .unwrap();
    assert_eq!(placed, 200, "the pong went first and the data still fit");
    let (mut out, mut out_len) = ([0u8; 8192], 0);
    server.transmit(&mut out, &mut out_len, T0);
    assert_eq!(
        &out[..2],
        &[0x8A, 8],
        "an unmasked pong with the 8-byte ping id comes first"
    );
    assert_eq!(&out[2..10], &id.to_be_bytes());
    let (events, _) = client.receive(&out[..out_len], 5, at(1));
    assert_eq!(events[0], Event::Pong(id));
    assert_eq!(client.session.rtt(id), Some(Duration::from_secs(1)));
}

#[test]
fn a_control_frame_that_does_not_fit_waits_for_room_instead_of_splitting() {
    let mut server = End_::new(Role::Server, SessionConfig::default());
    server.session.begin(MessageKind::Binary).unwrap();
    let filler = [1u8; 200];
    server
        .session
        .send_chunk(&mut server.write, &[&filler], 0, true, T0, NO_DEFLATER)
        .unwrap();
    server.session.ping(T0).unwrap();
    // 256 - 204 bytes left: the 10-byte ping fits; a close frame with a 100-byte reason does not.
    let reason = "r".repeat(100);
    assert_eq!(
        server
            .session
            .close(CloseCode::NORMAL, &reason, &mut server.write, T0),
        Ok(false),
        "the close frame waits for room"
    );
    match server.session.poll_transmit(&mut server.write, T0) {
        Transmit::Write { start: 0, end, .. } => assert_eq!(end, 204 + 10),
        other => panic!("expected a write, got {other:?}"),
    }
    server.session.wrote(100, T0); // a partial write, then the pump is dropped
    match server.session.poll_transmit(&mut server.write, T0) {
        Transmit::Write {
            start: 100,
            end: 214,
            unbuffered: 0,
        } => {}
        other => panic!("the rest of the same bytes, got {other:?}"),
    }
    server.session.wrote(114, T0);
    assert_eq!(
        server
            .session
            .close(CloseCode::NORMAL, &reason, &mut server.write, T0),
        Ok(true)
    );
    match server.session.poll_transmit(&mut server.write, T0) {
        Transmit::Write { start: 0, end, .. } => assert_eq!(end, 2 + 102),
        other => panic!("the close frame whole in the empty buffer, got {other:?}"),
    }
}

#[test]
fn an_empty_final_chunk_behind_an_owed_pong_waits_for_room_and_a_tiny_buffer_is_refused() {
    // Uncompressed, the room check comes before every index into the write buffer: every pong size
    // with every small buffer, after some data or none, and the last piece empty.
    for len in MIN_WRITE_BUFFER..=170 {
        for ping in 0..=125 {
            for head in [0usize, 20] {
                let mut server = End_::new(Role::Server, SessionConfig::default());
                server.session.begin(MessageKind::Binary).unwrap();
                let data = [b'd'; 20];
                let placed = server.session.send_chunk(
                    &mut server.write[..len],
                    &[&data[..head]],
                    0,
                    false,
                    T0,
                    NO_DEFLATER,
                );
                assert_eq!(placed, Ok(head));
                let mut frame = [0u8; 256];
                let ping_frame = crate::codec::ControlFrame::ping(&[b'p'; 125][..ping]);
                let n = Sender::client([3; 32])
                    .encode_control(&ping_frame.unwrap(), &mut frame)
                    .unwrap();
                server.read[..n].copy_from_slice(&frame[..n]);
                server.session.handle_input(0..n, T0);
                assert_eq!(
                    server.session.poll_event(&mut server.read, NO_INFLATER),
                    Event::Ping
                );
                let (mut wire, mut wire_len) = ([0u8; 8192], 0);
                for round in 0.. {
                    assert!(round < 4, "buffer {len} ping {ping}: no progress");
                    let sent = server.session.send_chunk(
                        &mut server.write[..len],
                        &[b""],
                        0,
                        true,
                        T0,
                        NO_DEFLATER,
                    );
                    assert_eq!(sent, Ok(0), "buffer {len} ping {ping}");
                    if !server.session.in_message() {
                        break;
                    }
                    let write = &mut server.write[..len];
                    while let Transmit::Write { start, end, .. } =
                        server.session.poll_transmit(write, T0)
                    {
                        wire[wire_len..wire_len + end - start].copy_from_slice(&write[start..end]);
                        wire_len += end - start;
                        server.session.wrote(end - start, T0);
                    }
                }
            }
        }
    }
    // A buffer too small for any frame is refused rather than waited on for ever.
    let mut server = End_::new(Role::Server, SessionConfig::default());
    server.session.begin(MessageKind::Binary).unwrap();
    assert_eq!(
        server
            .session
            .send_chunk(&mut server.write[..8], &[b"x"], 0, true, T0, NO_DEFLATER),
        Err(SendError::BufferTooSmall {
            needed: MIN_WRITE_BUFFER
        })
    );
}

#[test]
fn keepalive_pings_then_idle_ends_the_connection_whatever_the_writer_does() {
    let config = SessionConfig {
        keepalive: Some(Duration::from_secs(2)),
        idle_timeout: Some(Duration::from_secs(5)),
        ..SessionConfig::default()
    };
    let mut server = End_::new(Role::Server, config);
    assert_eq!(server.session.poll_timeout(), Some(at(2)));
    server.session.handle_timeout(at(2));
    assert!(server.session.wants_transmit(), "a keepalive ping is owed");
    // The writer is stuck: nothing is written, yet the idle deadline holds.
    assert_eq!(server.session.poll_timeout(), Some(at(4)));
    server.session.handle_timeout(at(5));
    assert_eq!(server.session.end(), Some(End::Timeout(Timeout::Idle)));
    assert_eq!(
        server.session.poll_event(&mut server.read, NO_INFLATER),
        Event::End(End::Timeout(Timeout::Idle))
    );
    assert_eq!(
        server.session.begin(MessageKind::Text),
        Err(SendError::Closed)
    );
}

#[test]
fn output_that_makes_no_progress_fails_after_the_write_timeout() {
    let config = SessionConfig {
        write_timeout: Some(Duration::from_secs(3)),
        ..SessionConfig::default()
    };
    let mut server = End_::new(Role::Server, config);
    server.session.begin(MessageKind::Text).unwrap();
    server
        .session
        .send_chunk(&mut server.write, &[b"token"], 0, true, T0, NO_DEFLATER)
        .unwrap();
    server.session.flush_by_policy();
    assert!(matches!(
        server.session.poll_transmit(&mut server.write, at(1)),
        Transmit::Write { .. }
    ));
    assert_eq!(server.session.poll_timeout(), Some(at(4)));
    server.session.handle_timeout(at(4));
    assert_eq!(server.session.end(), Some(End::Timeout(Timeout::Write)));
}

#[test]
fn a_write_timeout_started_at_an_unknown_instant_runs_from_the_next_handle_timeout() {
    let config = SessionConfig {
        write_timeout: Some(Duration::from_secs(3)),
        idle_timeout: None,
        keepalive: None,
        ..SessionConfig::default()
    };
    let mut server = End_::new(Role::Server, config);
    server.session.begin(MessageKind::Text).unwrap();
    let placed = (server.session).send_chunk(
        &mut server.write,
        &[b"token"],
        0,
        true,
        Instant::UNKNOWN,
        NO_DEFLATER,
    );
    assert_eq!(placed, Ok(5));
    server.session.flush_by_policy();
    // The adapter writes part of it without reading the clock, then the socket is full.
    let Transmit::Write { start, end, .. } = server
        .session
        .poll_transmit(&mut server.write, Instant::UNKNOWN)
    else {
        panic!("the frame is written");
    };
    server.session.wrote((end - start) / 2, Instant::UNKNOWN);
    assert_eq!(
        server.session.poll_timeout(),
        Some(Instant(u64::MAX)),
        "no deadline from an unknown start"
    );
    // Before it waits, it gives the session the time: the write timeout runs from there, not from the
    // origin (which would fail it at once, 100 s later).
    server.session.handle_timeout(at(100));
    assert_eq!(server.session.end(), None);
    assert_eq!(server.session.poll_timeout(), Some(at(103)));
    server.session.handle_timeout(at(102));
    assert_eq!(server.session.end(), None);
    server.session.handle_timeout(at(103));
    assert_eq!(server.session.end(), Some(End::Timeout(Timeout::Write)));
}

#[test]
fn close_handshake_server_ends_tcp_first_and_client_lingers_until_it_does() {
    let mut client = End_::new(Role::Client, SessionConfig::default());
    let mut server = End_::new(Role::Server, SessionConfig::default());
    assert_eq!(
        client
            .session
            .close(CloseCode::NORMAL, "bye", &mut client.write, T0),
        Ok(true)
    );
    let (mut wire, mut len) = ([0u8; 8192], 0);
    assert!(!client.transmit(&mut wire, &mut len, T0));
    let (events, _) = server.receive(&wire[..len], 64, T0);
    assert_eq!(events, [Event::Close]);
    assert_eq!(
        server.session.close_frame(),
        (Some(CloseCode::NORMAL), "bye")
    );
    let (mut back, mut back_len) = ([0u8; 8192], 0);
    assert!(
        server.transmit(&mut back, &mut back_len, T0),
        "server shuts down after its reply"
    );
    assert_eq!(&back[..back_len], &[0x88, 2, 0x03, 0xE8]);
    let (events, _) = client.receive(&back[..back_len], 64, T0);
    assert_eq!(events, [Event::Close]);
    assert_eq!(
        client.session.poll_event(&mut client.read, NO_INFLATER),
        Event::NeedInput
    );
    client.session.handle_eof();
    assert_eq!(client.session.end(), Some(End::Closed));
    assert_eq!(
        client.session.poll_transmit(&mut client.write, T0),
        Transmit::Shutdown
    );
}

#[test]
fn a_protocol_error_closes_with_its_code_and_is_reported_after_lingering() {
    let mut server = End_::new(Role::Server, SessionConfig::default());
    // An unmasked frame from a client.
    let (events, _) = server.receive(&[0x81, 0x01, b'a'], 64, T0);
    assert_eq!(events, []);
    let (mut out, mut len) = ([0u8; 8192], 0);
    assert!(server.transmit(&mut out, &mut len, T0));
    assert_eq!(&out[..len], &[0x88, 2, 0x03, 0xEA], "close 1002");
    assert_eq!(
        server.session.poll_timeout(),
        Some(at(5)),
        "lingering is bounded"
    );
    server.session.handle_timeout(at(5));
    assert_eq!(
        server.session.poll_event(&mut server.read, NO_INFLATER),
        Event::End(End::Protocol(ProtocolError::UnmaskedFrame))
    );
}

#[test]
fn a_pong_owed_when_we_close_goes_out_before_our_close_frame_and_none_after_it() {
    let mut client = End_::new(Role::Client, SessionConfig::default());
    let mut server = End_::new(Role::Server, SessionConfig::default());
    let (mut wire, mut len) = ([0u8; 8192], 0);
    client.session.ping(T0).unwrap();
    client.transmit(&mut wire, &mut len, T0);
    let (events, _) = server.receive(&wire[..len], 64, T0);
    assert_eq!(events, [Event::Ping]);
    // The pong is owed, not yet placed, when the application closes.
    assert_eq!(
        server
            .session
            .close(CloseCode::GOING_AWAY, "bye", &mut server.write, T0),
        Ok(true)
    );
    let (mut out, mut out_len) = ([0u8; 8192], 0);
    server.transmit(&mut out, &mut out_len, T0);
    assert_eq!(&out[..2], &[0x8A, 8], "the pong first");
    assert_eq!(
        &out[10..out_len],
        &[0x88, 5, 0x03, 0xE9, b'b', b'y', b'e'],
        "then our close frame, whole"
    );
    // A ping that arrives after our close frame gets no pong: nothing follows a close frame.
    let mut len = 0;
    client.session.ping(T0).unwrap();
    client.transmit(&mut wire, &mut len, T0);
    let (events, _) = server.receive(&wire[..len], 64, T0);
    assert_eq!(events, [Event::Ping]);
    let mut more = 0;
    server.transmit(&mut out, &mut more, T0);
    assert_eq!(more, 0, "nothing after our close frame");
}

#[test]
fn a_close_without_reply_times_out() {
    let mut client = End_::new(Role::Client, SessionConfig::default());
    assert_eq!(
        client
            .session
            .close(CloseCode::NORMAL, "", &mut client.write, T0),
        Ok(true)
    );
    let (mut wire, mut len) = ([0u8; 8192], 0);
    client.transmit(&mut wire, &mut len, T0);
    client.session.handle_timeout(at(5));
    assert_eq!(client.session.end(), Some(End::Timeout(Timeout::Close)));
}

#[test]
fn a_batch_flushes_at_its_size_or_when_its_timer_fires() {
    let config = SessionConfig {
        batch: Some(Batch {
            max_bytes: 100,
            max_delay: Duration::from_millis(10),
        }),
        ..SessionConfig::default()
    };
    let mut server = End_::new(Role::Server, config);
    let send = |server: &mut End_, now| {
        server.session.begin(MessageKind::Text).unwrap();
        server
            .session
            .send_chunk(&mut server.write, &[&[b'a'; 30]], 0, true, now, NO_DEFLATER)
            .unwrap();
        server.session.flush_by_policy();
    };
    send(&mut server, T0);
    assert_eq!(
        server.session.poll_transmit(&mut server.write, T0),
        Transmit::Idle
    );
    assert_eq!(server.session.poll_timeout(), Some(Instant(10_000)));
    server.session.handle_timeout(Instant(10_000));
    assert_eq!(
        server
            .session
            .poll_transmit(&mut server.write, Instant(10_000)),
        Transmit::Write {
            start: 0,
            end: 32,
            unbuffered: 0
        }
    );
    server.session.wrote(32, Instant(10_000));
    for _ in 0..4 {
        send(&mut server, Instant(10_001));
    }
    assert_eq!(
        server
            .session
            .poll_transmit(&mut server.write, Instant(10_001)),
        Transmit::Write {
            start: 0,
            end: 128,
            unbuffered: 0
        },
        "the size bound flushes without waiting for the timer"
    );
}

#[test]
fn every_ping_of_a_burst_gets_its_pong_when_the_pump_transmits_between_them() {
    let mut client = End_::new(Role::Client, SessionConfig::default());
    let mut server = End_::new(Role::Server, SessionConfig::default());
    let (mut wire, mut len) = ([0u8; 8192], 0);
    for _ in 0..3 {
        client.session.ping(T0).unwrap();
        client.transmit(&mut wire, &mut len, T0);
    }
    let (mut out, mut out_len) = ([0u8; 8192], 0);
    server.read[..len].copy_from_slice(&wire[..len]);
    server.session.handle_input(0..len, T0);
    let mut pings = 0;
    loop {
        match server.session.poll_event(&mut server.read, NO_INFLATER) {
            Event::Ping => {
                pings += 1;
                server.transmit(&mut out, &mut out_len, T0);
            }
            Event::NeedInput => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(pings, 3);
    let pongs = out[..out_len].iter().filter(|&&b| b == 0x8A).count();
    assert_eq!(
        (out_len, pongs),
        (3 * 10, 3),
        "three whole pongs of 8-byte ids"
    );
}

#[test]
fn a_relayed_first_piece_that_waits_for_room_is_relayed_whole_on_the_next_call() {
    let mut server = End_::new(Role::Server, SessionConfig::default());
    server.session.begin(MessageKind::Binary).unwrap();
    let filler = [1u8; 200];
    server
        .session
        .send_chunk(&mut server.write, &[&filler], 0, true, T0, NO_DEFLATER)
        .unwrap();
    let piece = crate::Piece {
        kind: MessageKind::Text,
        payload: &[b'x'; 60],
        first: true,
        last: false,
    };
    assert_eq!(
        server
            .session
            .relay(&mut server.write, &piece, 0, T0, NO_DEFLATER),
        Ok(0),
        "no room yet"
    );
    let (mut out, mut len) = ([0u8; 8192], 0);
    server.transmit(&mut out, &mut len, T0);
    assert_eq!(
        server
            .session
            .relay(&mut server.write, &piece, 0, T0, NO_DEFLATER),
        Ok(60)
    );
    server.session.flush();
    server.transmit(&mut out, &mut len, T0);
    assert_eq!(
        &out[204..206],
        &[0x01, 60],
        "a text frame starts the relayed message"
    );
}

#[test]
fn input_that_followed_the_handshake_is_decoded_where_it_lies() {
    let mut server = End_::new(Role::Server, SessionConfig::default());
    // A request head of 40 bytes, then a masked text frame "hi" (mask key 0) that came in the same read.
    let frame = [0x81, 0x82, 0, 0, 0, 0, b'h', b'i'];
    server.read[40..48].copy_from_slice(&frame);
    server.session.handle_input(40..48, T0);
    let Event::Piece(piece) = server.session.poll_event(&mut server.read, NO_INFLATER) else {
        panic!("the early frame is decoded");
    };
    assert_eq!(
        (piece.start, piece.end),
        (46, 48),
        "the payload where it lies"
    );
    assert_eq!(piece.of(&server.read).payload, b"hi");
    assert_eq!(
        server.session.poll_event(&mut server.read, NO_INFLATER),
        Event::NeedInput
    );
    // The next read goes to the buffer's start as usual.
    server.read[..3].copy_from_slice(&[0x81, 0x80, 0]);
    server.session.handle_input(0..3, T0);
    assert_eq!(
        server.session.poll_event(&mut server.read, NO_INFLATER),
        Event::NeedInput
    );
}

#[test]
fn the_rest_of_a_frame_read_into_another_buffer_is_unmasked_where_it_lies() {
    let mut server = End_::new(Role::Server, SessionConfig::default());
    let payload: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    // One masked binary frame of 1000 bytes.
    let key = [1, 2, 3, 4];
    let mut wire = std::vec![0x82, 0xFE, 0x03, 0xE8];
    wire.extend_from_slice(&key);
    wire.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    let len = wire.len();
    // The header (8 bytes with the mask key) and 93 payload bytes arrive in the read buffer.
    server.read[..101].copy_from_slice(&wire[..101]);
    server.session.handle_input(0..101, T0);
    assert_eq!(server.session.payload_left(), None, "input still to decode");
    let Event::Piece(first) = server.session.poll_event(&mut server.read, NO_INFLATER) else {
        panic!("the first piece");
    };
    assert_eq!(first.of(&server.read).payload, &payload[..93]);
    assert_eq!(server.session.payload_left(), Some(907));
    // The rest is read straight behind the first piece in a message buffer (at an odd offset, so the
    // mask runs on from where it stopped).
    let mut message = std::vec![0u8; 2000];
    message[..93].copy_from_slice(&payload[..93]);
    message[93..1000].copy_from_slice(&wire[101..len]);
    server.session.handle_input(93..1000, T0);
    let Event::Piece(rest) = server.session.poll_event(&mut message, NO_INFLATER) else {
        panic!("the rest");
    };
    assert_eq!(
        (rest.start, rest.end, rest.first, rest.last),
        (93, 1000, false, true)
    );
    assert_eq!(&message[..1000], &payload[..], "unmasked in place, whole");
    assert_eq!(server.session.payload_left(), None, "no frame in progress");
    assert_eq!(
        server.session.poll_event(&mut message, NO_INFLATER),
        Event::NeedInput
    );
    // Control frames and compressed messages have no such rest: only a data frame's header starts one.
    let mut ping = End_::new(Role::Server, SessionConfig::default());
    ping.read[..4].copy_from_slice(&[0x89, 0x85, 0, 0]);
    ping.session.handle_input(0..4, T0);
    assert_eq!(
        ping.session.poll_event(&mut ping.read, NO_INFLATER),
        Event::NeedInput
    );
    assert_eq!(ping.session.payload_left(), None);
}

#[test]
fn the_session_stays_small() {
    // Everything a connection keeps besides its buffers: decoder state, one 125-byte scratch for a split
    // header or a control payload, the pong owed, timeouts in microseconds, instants in 8 bytes each, and
    // permessage-deflate's agreement and message progress (the inflater and compressor are lent, not
    // kept), and a client's 32-byte masking key with its counter. Our close frame is placed at once,
    // never kept, and the first ping after the peer was last heard (8 bytes, for the idle timeout of a
    // session nobody drove for a while). 600 bytes on thumbv7em (scripts/size-probe.sh prints it).
    let size = core::mem::size_of::<Session>();
    std::eprintln!("size_of::<Session>() = {size}");
    assert!(
        size <= 640,
        "Session grew to {size} bytes (640 on 64-bit targets when this was written)"
    );
}

/// Runs the transmit pump of a server's unbuffered send: every write takes at most `step` bytes of the
/// buffer's range followed by the payload's unwritten rest, as a vectored write would.
fn transmit_unbuffered(end: &mut End_, payload: &[u8], step: usize, wire: &mut Vec<u8>) {
    loop {
        match end.session.poll_transmit(&mut end.write, T0) {
            Transmit::Write {
                start,
                end: stop,
                unbuffered,
            } => {
                let mut bytes = end.write[start..stop].to_vec();
                bytes.extend_from_slice(&payload[payload.len() - unbuffered..]);
                let n = step.min(bytes.len());
                wire.extend_from_slice(&bytes[..n]);
                end.session.wrote(n, T0);
            }
            Transmit::Flush => {}
            Transmit::Shutdown | Transmit::Idle => return,
        }
    }
}

#[test]
fn an_unbuffered_message_leaves_after_the_pending_bytes_with_only_its_header_in_the_buffer() {
    let mut server = End_::new(Role::Server, SessionConfig::default());
    // A small message waits unflushed; the large one's header goes after it, its payload stays here.
    server.session.begin(MessageKind::Text).unwrap();
    server
        .session
        .send_chunk(&mut server.write, &[b"hi"], 0, true, T0, NO_DEFLATER)
        .unwrap();
    let payload: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    assert!(server.session.sends_unbuffered(payload.len()));
    let placed = server
        .session
        .send_unbuffered(&mut server.write, MessageKind::Binary, payload.len(), T0)
        .unwrap();
    assert!(placed);
    assert_eq!(server.session.unbuffered as usize, 1000);
    assert!(
        server.session.wants_transmit(),
        "the payload is written at once"
    );
    let mut wire = Vec::new();
    // Writes of 7 bytes cross from the buffer into the payload mid-write.
    transmit_unbuffered(&mut server, &payload, 7, &mut wire);
    assert_eq!(server.session.unbuffered as usize, 0);
    assert!(!server.session.has_pending_output());
    assert_eq!(&wire[..4], &[0x81, 2, b'h', b'i']);
    assert_eq!(
        &wire[4..8],
        &[0x82, 126, 0x03, 0xE8],
        "an unmasked 1000-byte binary frame"
    );
    assert_eq!(&wire[8..], &payload[..]);
}

#[test]
fn nothing_is_placed_between_an_unbuffered_header_and_its_payload() {
    let mut server = End_::new(Role::Server, SessionConfig::default());
    let payload = [9u8; 600];
    assert!(server
        .session
        .send_unbuffered(&mut server.write, MessageKind::Binary, payload.len(), T0)
        .unwrap());
    // A ping arrives while the payload is not out yet: its pong waits until the payload is written.
    let mut client = End_::new(Role::Client, SessionConfig::default());
    let id = client.session.ping(T0).unwrap();
    let (mut ping, mut ping_len) = ([0u8; 8192], 0);
    client.transmit(&mut ping, &mut ping_len, T0);
    server.receive(&ping[..ping_len], 64, T0);
    // Neither a data frame nor a close frame may go in between either.
    server.session.begin(MessageKind::Text).unwrap();
    let placed = server
        .session
        .send_chunk(&mut server.write, &[b"later"], 0, true, T0, NO_DEFLATER)
        .unwrap();
    assert_eq!(placed, 0, "the text waits for room");
    let mut wire = Vec::new();
    transmit_unbuffered(&mut server, &payload, 100, &mut wire);
    assert_eq!(&wire[..4], &[0x82, 126, 0x02, 0x58]);
    assert_eq!(&wire[4..604], &payload[..]);
    // Then the pong and the text, framed after the payload.
    server
        .session
        .send_chunk(&mut server.write, &[b"later"], 0, true, T0, NO_DEFLATER)
        .unwrap();
    server.session.flush();
    transmit_unbuffered(&mut server, &[], 100, &mut wire);
    assert_eq!(&wire[604..606], &[0x8A, 8]);
    assert_eq!(&wire[606..614], &id.to_be_bytes());
    assert_eq!(&wire[614..], &[0x81, 5, b'l', b'a', b't', b'e', b'r']);
}

#[test]
fn a_cancelled_unbuffered_send_leaves_its_rest_in_the_buffer_and_the_frame_whole() {
    let mut server = End_::new(Role::Server, SessionConfig::default());
    let payload: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
    server
        .session
        .send_unbuffered(&mut server.write, MessageKind::Binary, payload.len(), T0)
        .unwrap();
    // One write took the header and 50 payload bytes; then the sender lets go of the payload.
    let mut wire = Vec::new();
    let Transmit::Write { start, end, .. } = server.session.poll_transmit(&mut server.write, T0)
    else {
        panic!("the header is pending");
    };
    wire.extend_from_slice(&server.write[start..end]);
    wire.extend_from_slice(&payload[..50]);
    server.session.wrote(end - start + 50, T0);
    assert_eq!(server.session.unbuffered as usize, 150);
    let mut small = [0u8; 100];
    assert_eq!(
        server.session.absorb_unbuffered(&mut small, &payload),
        Err(SendError::BufferTooSmall { needed: 150 })
    );
    server
        .session
        .absorb_unbuffered(&mut server.write, &payload)
        .unwrap();
    assert_eq!(server.session.unbuffered as usize, 0);
    transmit_unbuffered(&mut server, &[], 1000, &mut wire);
    let mut client = End_::new(Role::Client, SessionConfig::default());
    let (_, data) = client.receive(&wire, 64, T0);
    assert_eq!(data, payload);
}

#[test]
fn the_rest_of_an_unbuffered_payload_is_dropped_once_the_connection_is_over() {
    let mut server = End_::new(Role::Server, SessionConfig::default());
    server
        .session
        .send_unbuffered(&mut server.write, MessageKind::Binary, 5000, T0)
        .unwrap();
    server.session.abort();
    let mut small = [0u8; 16];
    assert_eq!(
        server.session.absorb_unbuffered(&mut small, &[1u8; 5000]),
        Ok(())
    );
    assert_eq!(server.session.unbuffered as usize, 0);
}

#[test]
fn only_unmasked_uncompressed_messages_go_unbuffered() {
    let mut client = End_::new(Role::Client, SessionConfig::default());
    assert!(!client.session.sends_unbuffered(1000), "a client masks");
    assert_eq!(
        client
            .session
            .send_unbuffered(&mut client.write, MessageKind::Binary, 1000, T0),
        Err(SendError::BufferTooSmall { needed: 1014 })
    );
    let mut server = End_::new(Role::Server, SessionConfig::default());
    server.session.begin(MessageKind::Binary).unwrap();
    assert!(
        !server.session.sends_unbuffered(1000),
        "a message is in progress"
    );
}

#[test]
fn silence_nobody_listened_to_is_not_the_peers_a_keepalive_ping_goes_first() {
    let config = SessionConfig {
        keepalive: Some(Duration::from_secs(2)),
        idle_timeout: Some(Duration::from_secs(5)),
        ..SessionConfig::default()
    };
    let mut server = End_::new(Role::Server, config);
    // Nobody drove the session for 100 s (the application did not receive): a ping goes out first,
    // and the peer has the 3 s it has after a ping on time.
    server.session.handle_timeout(at(100));
    assert_eq!(server.session.end(), None);
    assert!(server.session.wants_transmit(), "a keepalive ping is owed");
    assert_eq!(server.session.poll_timeout(), Some(at(102)));
    // Further keepalive pings do not push the deadline on.
    server.session.handle_timeout(at(102));
    assert_eq!(server.session.poll_timeout(), Some(at(103)));
    server.session.handle_timeout(at(103));
    assert_eq!(server.session.end(), Some(End::Timeout(Timeout::Idle)));
}

#[test]
fn a_peer_driven_on_time_is_idle_at_the_timeout_however_often_it_is_pinged() {
    let config = SessionConfig {
        keepalive: Some(Duration::from_secs(1)),
        idle_timeout: Some(Duration::from_secs(5)),
        ..SessionConfig::default()
    };
    let mut server = End_::new(Role::Server, config);
    for secs in 1..5 {
        assert_eq!(server.session.poll_timeout(), Some(at(secs)));
        server.session.handle_timeout(at(secs));
        assert_eq!(server.session.end(), None);
    }
    assert_eq!(server.session.poll_timeout(), Some(at(5)));
    server.session.handle_timeout(at(5));
    assert_eq!(server.session.end(), Some(End::Timeout(Timeout::Idle)));
}

#[test]
fn held_input_stops_the_idle_timeout_until_reading_resumes() {
    let config = SessionConfig {
        keepalive: None,
        idle_timeout: Some(Duration::from_secs(5)),
        ..SessionConfig::default()
    };
    let mut server = End_::new(Role::Server, config);
    server.session.hold_input(true, Instant::UNKNOWN);
    assert_eq!(server.session.poll_timeout(), None);
    server.session.handle_timeout(at(50));
    assert_eq!(
        server.session.end(),
        None,
        "the peer is not read: not its silence"
    );
    server.session.hold_input(false, at(60));
    assert_eq!(server.session.poll_timeout(), Some(at(65)));
    server.session.handle_timeout(at(65));
    assert_eq!(server.session.end(), Some(End::Timeout(Timeout::Idle)));
}
