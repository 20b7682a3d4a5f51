//! One test per receiving rule of RFC 6455: each fault, its error and the close code the peer gets.

mod common;
use common::{drive, masked, unmasked, Item};
use rill_ws::session::{NO_DEFLATER, NO_INFLATER};
use rill_ws::{
    CloseCode, Event, Instant, Limits, MessageKind, ProtocolError, Receiver, Role, Session,
    SessionConfig, Transmit,
};

const KEY: [u8; 4] = [1, 2, 3, 4];

fn server_items(wire: &[u8]) -> Vec<Item> {
    drive(
        &mut Receiver::new(Role::Server, Limits::default()),
        wire,
        &[],
    )
}

/// Asserts the server fails with `error` and queues a close frame carrying `code`.
fn assert_fails(wire: &[u8], error: ProtocolError, code: u16) {
    let mut rx = Receiver::new(Role::Server, Limits::default());
    let items = drive(&mut rx, wire, &[]);
    assert_eq!(items.last(), Some(&Item::Error(error)), "items: {items:?}");
    assert_eq!(error.close_code(), CloseCode(code));
    assert!(rx.replies().pong().is_none());
    assert_eq!(
        rx.replies().close(),
        Some(Some(CloseCode(code))),
        "a close reply is queued"
    );
    // A failed receiver keeps failing: it never resynchronises on garbage.
    assert_eq!(rx.receive(&mut masked(0x81, b"ok", KEY)), Err(error));
}

#[test]
fn reserved_opcodes_fail_with_1002() {
    for opcode in [3u8, 7, 0xB, 0xF] {
        assert_fails(
            &masked(0x82, b"", KEY)
                .iter()
                .enumerate()
                .map(|(i, &b)| if i == 0 { 0x80 | opcode } else { b })
                .collect::<Vec<_>>(),
            ProtocolError::ReservedOpcode,
            1002,
        );
    }
}

#[test]
fn rsv_bits_without_extension_fail_with_1002() {
    for first in [0xC1u8, 0xA1, 0x91] {
        assert_fails(&masked(first, b"x", KEY), ProtocolError::ReservedBits, 1002);
    }
}

#[test]
fn sixty_four_bit_length_with_msb_set_fails() {
    let wire = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4];
    assert_fails(&wire, ProtocolError::LengthMsbSet, 1002);
}

#[test]
fn masking_follows_the_role() {
    assert_fails(&unmasked(0x81, b"hi"), ProtocolError::UnmaskedFrame, 1002);
    let mut client = Receiver::new(Role::Client, Limits::default());
    assert_eq!(
        drive(&mut client, &masked(0x81, b"hi", KEY), &[]),
        [Item::Error(ProtocolError::MaskedFrame)]
    );
}

#[test]
fn control_frames_must_be_short_and_final() {
    assert_fails(
        &masked(0x89, &[0; 126], KEY),
        ProtocolError::ControlFrameTooLong,
        1002,
    );
    assert_fails(
        &masked(0x09, b"x", KEY),
        ProtocolError::FragmentedControlFrame,
        1002,
    );
    assert_eq!(
        server_items(&masked(0x89, &[7; 125], KEY)),
        [Item::Ping(vec![7; 125])]
    );
}

#[test]
fn fragmentation_rules() {
    assert_fails(
        &masked(0x80, b"orphan", KEY),
        ProtocolError::OrphanContinuation,
        1002,
    );
    let mut interrupted = masked(0x01, b"a", KEY);
    interrupted.extend(masked(0x81, b"b", KEY));
    assert_fails(&interrupted, ProtocolError::MessageInterrupted, 1002);
}

#[test]
fn control_frames_interleave_with_fragments() {
    let mut wire = masked(0x01, b"Hel", KEY);
    wire.extend(masked(0x89, b"p", KEY));
    wire.extend(masked(0x00, b"", KEY));
    wire.extend(masked(0x8A, b"q", KEY));
    wire.extend(masked(0x80, b"lo", KEY));
    assert_eq!(
        server_items(&wire),
        [
            Item::Ping(b"p".to_vec()),
            Item::Pong(b"q".to_vec()),
            Item::Message(MessageKind::Text, b"Hello".to_vec())
        ]
    );
}

#[test]
fn invalid_utf8_fails_on_the_first_bad_byte_before_the_message_ends() {
    // The first fragment ends with 0xF4 0x90: invalid already, though the message is unfinished.
    let mut wire = masked(0x01, &[b'o', b'k', 0xF4, 0x90], KEY);
    wire.extend(masked(0x80, &[0x80, 0x80], KEY));
    let mut rx = Receiver::new(Role::Server, Limits::default());
    let mut first = masked(0x01, &[b'o', b'k', 0xF4, 0x90], KEY);
    assert_eq!(rx.receive(&mut first), Err(ProtocolError::InvalidUtf8));
    assert_fails(&wire, ProtocolError::InvalidUtf8, 1007);
    // A message that stops inside a code point is invalid too.
    assert_fails(
        &masked(0x81, &[0xE2, 0x82], KEY),
        ProtocolError::InvalidUtf8,
        1007,
    );
}

#[test]
fn utf8_split_across_frames_and_reads_is_valid() {
    let text = "€𝄞κόσμε".as_bytes();
    let mut wire = masked(0x01, &text[..2], KEY);
    wire.extend(masked(0x00, &text[2..5], KEY));
    wire.extend(masked(0x80, &text[5..], KEY));
    for split in 1..wire.len() {
        let items = drive(
            &mut Receiver::new(Role::Server, Limits::default()),
            &wire,
            &[split],
        );
        assert_eq!(
            items,
            [Item::Message(MessageKind::Text, text.to_vec())],
            "reads of {split}"
        );
    }
}

#[test]
fn close_frames_are_validated() {
    assert_fails(
        &masked(0x88, &[0x03], KEY),
        ProtocolError::InvalidClosePayload,
        1002,
    );
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        assert_fails(
            &masked(0x88, &code.to_be_bytes(), KEY),
            ProtocolError::InvalidCloseCode(code),
            1002,
        );
    }
    assert_fails(
        &masked(0x88, &[0x03, 0xE8, 0xFF], KEY),
        ProtocolError::InvalidUtf8,
        1007,
    );
}

/// A server session fed `wire` in one read; returns its events (pings not answered in between).
fn session_events(session: &mut Session, wire: &[u8]) -> Vec<Event> {
    let mut buf = wire.to_vec();
    session.handle_input(0..buf.len(), Instant(0));
    let mut events = Vec::new();
    loop {
        match session.poll_event(&mut buf, NO_INFLATER) {
            Event::NeedInput => return events,
            event => events.push(event),
        }
    }
}

/// Everything the session writes now, and whether it asked to end TCP.
fn session_output(session: &mut Session, write: &mut [u8]) -> (Vec<u8>, bool) {
    let (mut out, mut shutdown) = (Vec::new(), false);
    loop {
        match session.poll_transmit(write, Instant(0)) {
            Transmit::Write { start, end, .. } => {
                out.extend_from_slice(&write[start..end]);
                session.wrote(end - start, Instant(0));
            }
            Transmit::Flush => {}
            Transmit::Shutdown => shutdown = true,
            Transmit::Idle => return (out, shutdown),
        }
    }
}

fn server() -> Session {
    Session::new(Role::Server, SessionConfig::default(), [0; 32], Instant(0))
}

#[test]
fn close_is_echoed_once_and_later_input_ignored() {
    let mut session = server();
    let mut wire = masked(0x88, &[0x0B, 0xB8, b'b', b'y', b'e'], KEY);
    wire.extend(masked(0x81, b"after close", KEY));
    wire.extend(masked(0x88, &[0x03, 0xE8], KEY));
    assert_eq!(session_events(&mut session, &wire), [Event::Close]);
    assert_eq!(session.close_frame(), (Some(CloseCode(3000)), "bye"));
    let mut write = [0u8; 256];
    assert_eq!(
        session_output(&mut session, &mut write),
        (vec![0x88, 0x02, 0x0B, 0xB8], true),
        "the close reply, then the server ends TCP"
    );
    assert_eq!(
        session_output(&mut session, &mut write),
        (vec![], false),
        "the close reply goes out once"
    );
    assert_eq!(
        session.begin(MessageKind::Text),
        Err(rill_ws::SendError::Closed)
    );
}

#[test]
fn empty_close_gets_an_empty_close_reply() {
    let mut session = server();
    assert_eq!(
        session_events(&mut session, &masked(0x88, b"", KEY)),
        [Event::Close]
    );
    assert_eq!(session.close_frame(), (None, ""));
    let mut write = [0u8; 256];
    assert_eq!(session_output(&mut session, &mut write).0, [0x88, 0x00]);
}

#[test]
fn no_close_reply_after_our_own_close() {
    let mut session = server();
    let mut write = [0u8; 256];
    assert_eq!(
        session.close(CloseCode::GOING_AWAY, "", &mut write, Instant(0)),
        Ok(true)
    );
    assert_eq!(
        session_output(&mut session, &mut write).0,
        [0x88, 0x02, 0x03, 0xE9]
    );
    assert_eq!(
        session_events(&mut session, &masked(0x88, &[0x03, 0xE9], KEY)),
        [Event::Close]
    );
    assert_eq!(
        session_output(&mut session, &mut write),
        (vec![], true),
        "no second close; TCP ends"
    );
}

#[test]
fn pings_not_yet_answered_are_answered_with_the_latest_payload() {
    let mut session = server();
    let mut wire = masked(0x89, b"one", KEY);
    wire.extend(masked(0x89, b"two", KEY));
    assert_eq!(
        session_events(&mut session, &wire),
        [Event::Ping, Event::Ping]
    );
    let mut write = [0u8; 256];
    assert_eq!(
        session_output(&mut session, &mut write).0,
        [0x8A, 0x03, b't', b'w', b'o']
    );
}

#[test]
fn replies_go_out_while_a_chunked_message_is_open() {
    let mut session = server();
    let mut write = [0u8; 256];
    session.begin(MessageKind::Binary).unwrap();
    session
        .send_chunk(&mut write, &[b"ab"], 0, false, Instant(0), NO_DEFLATER)
        .unwrap();
    session.flush();
    let (mut wire, _) = session_output(&mut session, &mut write);
    assert_eq!(
        session_events(&mut session, &masked(0x89, b"p", KEY)),
        [Event::Ping]
    );
    wire.extend(session_output(&mut session, &mut write).0);
    session
        .send_chunk(&mut write, &[b"c"], 0, true, Instant(0), NO_DEFLATER)
        .unwrap();
    session.flush();
    wire.extend(session_output(&mut session, &mut write).0);
    assert_eq!(
        wire,
        &[0x02, 0x02, b'a', b'b', 0x8A, 0x01, b'p', 0x80, 0x01, b'c']
    );
    let mut client = Receiver::new(Role::Client, Limits::default());
    assert_eq!(
        drive(&mut client, &wire, &[1]),
        [
            Item::Pong(b"p".to_vec()),
            Item::Message(MessageKind::Binary, b"abc".to_vec())
        ]
    );
}

#[test]
fn size_limits_fail_with_1009() {
    let limits = Limits {
        max_frame_len: 10,
        max_message_len: 15,
    };
    let mut rx = Receiver::new(Role::Server, limits);
    let items = drive(&mut rx, &masked(0x82, &[0; 11], KEY), &[]);
    assert_eq!(
        items,
        [Item::Error(ProtocolError::FrameTooLarge { limit: 10 })]
    );
    let mut wire = masked(0x02, &[0; 10], KEY);
    wire.extend(masked(0x80, &[0; 6], KEY));
    let mut rx = Receiver::new(Role::Server, limits);
    let items = drive(&mut rx, &wire, &[]);
    assert_eq!(
        items,
        [Item::Error(ProtocolError::MessageTooLarge { limit: 15 })]
    );
    assert_eq!(
        ProtocolError::MessageTooLarge { limit: 15 }.close_code(),
        CloseCode::MESSAGE_TOO_BIG
    );
    assert_eq!(rx.replies().close(), Some(Some(CloseCode(1009))));
}

#[test]
fn one_byte_at_a_time_streams_payload_as_it_arrives() {
    let payload: Vec<u8> = (0..=255).cycle().take(70_000).collect();
    let wire = masked(0x82, &payload, KEY);
    let mut rx = Receiver::new(Role::Server, Limits::default());
    let mut pieces = 0;
    let mut got = Vec::new();
    let mut pending = Vec::new();
    for byte in &wire {
        pending.push(*byte);
        let received = rx.receive(&mut pending).unwrap();
        let consumed = received.consumed;
        if let Some(rill_ws::codec::Decoded::Data(data)) = received.event {
            pieces += 1;
            got.extend_from_slice(data.payload);
        }
        pending.drain(..consumed);
    }
    assert_eq!(got, payload);
    assert_eq!(
        pieces,
        payload.len(),
        "every payload byte is delivered the moment it arrives"
    );
}

#[test]
fn non_minimal_length_encoding_is_accepted() {
    let mut wire = vec![0x82, 0xFE, 0x00, 0x03];
    wire.extend_from_slice(&KEY);
    wire.extend([b'a' ^ 1, b'b' ^ 2, b'c' ^ 3]);
    assert_eq!(
        server_items(&wire),
        [Item::Message(MessageKind::Binary, b"abc".to_vec())]
    );
}

#[test]
fn empty_messages_are_delivered() {
    let mut wire = masked(0x81, b"", KEY);
    wire.extend(masked(0x02, b"", KEY));
    wire.extend(masked(0x80, b"", KEY));
    assert_eq!(
        server_items(&wire),
        [
            Item::Message(MessageKind::Text, vec![]),
            Item::Message(MessageKind::Binary, vec![])
        ]
    );
}
