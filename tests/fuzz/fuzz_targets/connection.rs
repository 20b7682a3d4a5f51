//! The connection state machine: a receiver (alone, or inside a `Connection` that also answers and echoes)
//! fed arbitrary bytes in arbitrary reads, in both roles.
//!
//! Input layout: byte 0 holds flags (bit 0: client role; bit 1: drive a whole `Connection`, draining replies
//! with `poll_transmit` and echoing data through the `Sender`; bits 2-3: size limits; bits 4-6: the size of
//! the reply buffer), byte 1 the number of read sizes (1 to 8) that follow it, each a byte; the rest is the
//! wire. Reads cycle through the sizes, a 0 meaning "call again with no new bytes".
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill::frame::{apply_mask, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD};
use rill::{Connection, Event, Limits, MessageKind, ProtocolError, Role};

const LIMITS: [Limits; 4] = [
    Limits {
        max_frame_len: 16 << 20,
        max_message_len: 64 << 20,
    },
    Limits {
        max_frame_len: 16,
        max_message_len: 64,
    },
    Limits {
        max_frame_len: 125,
        max_message_len: 300,
    },
    Limits {
        max_frame_len: 0,
        max_message_len: 0,
    },
];

/// Reply buffer sizes: too small for any frame, exactly a bare header, one short control frame, the
/// largest control frame (2 + 4 + 125), and room for a pong and a close together.
const REPLY_BUFFERS: [usize; 8] = [0, 1, 2, 6, 8, 131, 200, 262];

fuzz_target!(|data: &[u8]| {
    let [flags, count, rest @ ..] = data else {
        return;
    };
    let count = usize::from(count % 8) + 1;
    let Some((reads, wire)) = rest.split_at_checked(count) else {
        return;
    };
    let role = if flags & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let limits = LIMITS[usize::from(flags >> 2) & 3];
    let reply_len = REPLY_BUFFERS[usize::from(flags >> 4) & 7];
    let mut driver = Driver {
        conn: Connection::new(role, limits, u64::from(*flags)),
        role,
        limits,
        echo: flags & 2 != 0,
        reply_len,
        message: None,
        last_ping: None,
        failed: None,
        peer_closed: false,
        close_expected: None,
        close_sent: false,
    };

    let mut pending = Vec::new();
    let mut fed = 0;
    // Zero-sized reads make the loop call the receiver without new bytes; bound them so a corpus of zeros
    // still ends, then deliver what is left.
    for &size in reads.iter().cycle().take(wire.len() * 2 + 16) {
        let end = (fed + usize::from(size)).min(wire.len());
        pending.extend_from_slice(&wire[fed..end]);
        fed = end;
        driver.drain(&mut pending);
        if fed == wire.len() {
            break;
        }
    }
    pending.extend_from_slice(&wire[fed..]);
    driver.drain(&mut pending);
    // Whatever the peer did, the replies can be flushed through a buffer that holds the largest frame.
    if driver.echo {
        driver.reply_len = 2 + 4 + MAX_CONTROL_PAYLOAD;
        driver.transmit();
        driver.transmit();
        assert!(driver.conn.receiver.peek_reply().is_none());
    }
});

struct Driver {
    conn: Connection,
    role: Role,
    limits: Limits,
    echo: bool,
    reply_len: usize,
    /// The data message in progress: its kind, its length so far, and its bytes when it is text.
    message: Option<(MessageKind, u64, Vec<u8>)>,
    last_ping: Option<Vec<u8>>,
    failed: Option<ProtocolError>,
    peer_closed: bool,
    /// The close frame owed to the peer: `Some(None)` for an empty one, `Some(Some(code))` with a code.
    close_expected: Option<Option<u16>>,
    close_sent: bool,
}

impl Driver {
    /// Calls the receiver until it needs more bytes, the way an adapter does, checking every answer.
    fn drain(&mut self, pending: &mut Vec<u8>) {
        let mut stalls = 0;
        loop {
            let len = pending.len();
            let result = self.conn.receiver.receive(pending);
            if let Some(error) = self.failed {
                assert_eq!(result, Err(error), "a failed connection must keep failing");
                return;
            }
            let received = match result {
                Ok(received) => received,
                Err(error) => {
                    self.failed = Some(error);
                    self.close_expected
                        .get_or_insert(Some(error.close_code().0));
                    assert!(self.conn.receiver.is_closed());
                    assert!(!self.peer_closed, "an error after the peer's close");
                    self.replies();
                    return;
                }
            };
            let consumed = received.consumed;
            assert!(consumed <= len);
            let Some(event) = received.event else {
                assert!(consumed > 0 || len == 0, "no event and no progress");
                pending.drain(..consumed);
                self.replies();
                return;
            };
            assert!(!self.peer_closed, "an event after the peer's close");
            match event {
                Event::Data(data) => {
                    let (kind, total, text) = match self.message.take() {
                        None => {
                            assert!(data.first, "a piece outside a message");
                            (data.kind, 0, Vec::new())
                        }
                        Some(open) => {
                            assert!(!data.first, "a message started inside another");
                            open
                        }
                    };
                    assert_eq!(kind, data.kind);
                    assert!(!data.payload.is_empty() || data.first || data.last);
                    let total = total + data.payload.len() as u64;
                    assert!(total <= self.limits.max_message_len);
                    let mut text = text;
                    if kind == MessageKind::Text {
                        text.extend_from_slice(data.payload);
                    }
                    if data.last {
                        assert!(
                            core::str::from_utf8(&text).is_ok(),
                            "invalid text delivered"
                        );
                    } else {
                        self.message = Some((kind, total, text));
                    }
                    if self.echo {
                        echo(&mut self.conn.sender, self.role, &data);
                    }
                }
                Event::Ping(payload) => {
                    assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
                    self.last_ping = Some(payload.to_vec());
                }
                Event::Pong(payload) => assert!(payload.len() <= MAX_CONTROL_PAYLOAD),
                Event::Close { code, reason } => {
                    assert!(code.is_none_or(|c| c.is_sendable()));
                    assert!(code.is_some() || reason.is_empty());
                    self.peer_closed = true;
                    self.message = None;
                    self.close_expected.get_or_insert(code.map(|c| c.0));
                    assert!(self.conn.receiver.is_closed());
                }
            }
            // An event without input would come again and again: the adapter would spin.
            stalls = if consumed == 0 { stalls + 1 } else { 0 };
            assert!(stalls < 2, "events without progress");
            pending.drain(..consumed);
            self.replies();
        }
    }

    /// Sends what the receiver owes the peer and checks each frame.
    fn replies(&mut self) {
        if self.echo {
            self.transmit();
        } else {
            // Without a sender, take the replies the way a split adapter does, through an outbox.
            let mut outbox = rill::connection::Outbox::new();
            self.conn.receiver.move_replies(&mut outbox);
            while let Some(frame) = outbox.take() {
                self.check_reply(frame.opcode(), frame.payload());
            }
            assert!(outbox.is_empty() && self.conn.receiver.peek_reply().is_none());
        }
    }

    fn transmit(&mut self) {
        let mut out = vec![0u8; self.reply_len];
        let written = self.conn.poll_transmit(&mut out);
        assert!(written <= out.len());
        let mut wire = &mut out[..written];
        while !wire.is_empty() {
            let (header, len) = FrameHeader::parse(wire)
                .expect("reply header parses")
                .expect("reply header complete");
            assert!(header.fin && header.rsv == 0);
            assert_eq!(header.mask.is_some(), self.role == Role::Client);
            let end = len + header.payload_len as usize;
            let (frame, rest) = wire.split_at_mut(end);
            let payload = &mut frame[len..];
            if let Some(key) = header.mask {
                apply_mask(payload, key, 0);
            }
            self.check_reply(header.opcode, payload);
            wire = rest;
        }
    }

    fn check_reply(&mut self, opcode: OpCode, payload: &[u8]) {
        assert!(!self.close_sent, "a frame after our close");
        match opcode {
            OpCode::Pong => assert_eq!(Some(payload), self.last_ping.as_deref()),
            OpCode::Close => {
                let expected = self.close_expected.expect("a close nobody asked for");
                let code = match payload {
                    [] => None,
                    [high, low] => Some(u16::from_be_bytes([*high, *low])),
                    other => panic!("close reply with a reason: {other:?}"),
                };
                assert_eq!(code, expected);
                self.close_sent = true;
            }
            other => panic!("unexpected reply opcode {other:?}"),
        }
    }
}

/// Echoes a received piece as the next chunk of an outgoing message and checks the frame produced.
fn echo(sender: &mut rill::Sender, role: Role, data: &rill::Data<'_>) {
    if data.first {
        if let Err(error) = sender.begin(data.kind) {
            // Only our own close (answering a fault) ends the sending side, and no data follows a fault.
            panic!("begin refused: {error:?}");
        }
    }
    let head = sender
        .chunk(data.payload.len() as u64, data.last)
        .expect("chunk inside a begun message");
    let mut out = vec![0u8; 14 + data.payload.len()];
    let len = head.encode(data.payload, &mut out).expect("buffer sized");
    let (header, header_len) = FrameHeader::parse(&out[..len]).unwrap().unwrap();
    assert_eq!(header_len + data.payload.len(), len);
    assert_eq!(header.fin, data.last);
    assert_eq!(header.mask.is_some(), role == Role::Client);
    let expected_opcode = match (data.first, data.kind) {
        (false, _) => OpCode::Continuation,
        (true, MessageKind::Text) => OpCode::Text,
        (true, MessageKind::Binary) => OpCode::Binary,
    };
    assert_eq!(header.opcode, expected_opcode);
    let payload = &mut out[header_len..len];
    if let Some(key) = header.mask {
        apply_mask(payload, key, 0);
    }
    assert_eq!(payload, data.payload);
}
