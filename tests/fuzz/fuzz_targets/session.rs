//! The session as the adapters drive it: arbitrary input in arbitrary reads, interleaved with arbitrary
//! application calls (whole sends, unbuffered sends that may be cut short and absorbed, chunked messages,
//! relays of received pieces, ping, close), partial writes and deadlines, in both roles and with lent
//! buffers of many sizes; optionally with permessage-deflate (zlib compressing what we send, miniz_oxide
//! inflating what arrives through windows down to 2^8 bytes), where pongs owed while an empty final piece
//! of a compressed message is placed are the case of issue 23.
//!
//! Invariants: nothing panics; every byte the session asks to write parses as a valid frame stream for its
//! role (checked by a receiver of the other role, so masking, fragmentation order and control frames are
//! all checked); nothing follows our close frame; every pong answers a ping the peer sent, whole.
//!
//! Input layout: byte 0 holds flags (bit 0: client role; bits 1-2: the write buffer size; bits 3-4: the
//! read buffer size; bits 5-6: limits; bit 7: permessage-deflate, configured by the next byte: bits 0-2 the
//! receive window bits 8 + n, bit 3 no context takeover, bits 4-5 the send window bits 9 + 2n, bit 6 a
//! compress threshold of 16 bytes), then operations, each an opcode byte and its arguments (see `op`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill_ws::codec::Decoded;
use rill_ws::deflate::{DeflateParams, Inflate, Inflater};
use rill_ws::session::MIN_WRITE_BUFFER;
use rill_ws::{
    CloseCode, Event, Instant, Limits, MessageKind, Receiver, Role, SendError, Session,
    SessionConfig, Transmit,
};
use rill_zlib::ZlibDeflater;
use std::time::Duration;

// Small buffers, where an owed control frame leaves little room for the next frame, and one large one.
const WRITE_BUFFERS: [usize; 4] = [MIN_WRITE_BUFFER, 150, 200, 8192];
const READ_BUFFERS: [usize; 4] = [1, 14, 200, 4096];
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

struct Driver {
    session: Session,
    read: Vec<u8>,
    write: Vec<u8>,
    now: Instant,
    /// Places and writes without reading the clock ([`Instant::UNKNOWN`]), as rill-tokio does.
    unclocked: bool,
    /// Everything written, in order.
    out: Vec<u8>,
    /// Pings the peer sent, as their payloads; a pong must carry one of them.
    pings: Vec<Vec<u8>>,
    /// A message this driver began is open: only its own chunks continue it (chunks appended to a relayed
    /// text message could split a character, which is the application's fault, not the session's).
    own_message: bool,
    /// A received message is being relayed: its later pieces continue the relayed message.
    relaying: bool,
    /// The payload of an unbuffered send in progress: its unwritten end follows every buffer range.
    payload: Vec<u8>,
    /// permessage-deflate's inflater and compressor, when it is on.
    inflater: Option<Inflater<Vec<u8>>>,
    deflater: Option<ZlibDeflater>,
}

impl Driver {
    /// The instant given to placing and writing calls.
    fn placing_now(&self) -> Instant {
        if self.unclocked {
            Instant::UNKNOWN
        } else {
            self.now
        }
    }

    /// Runs the transmit pump, writing at most `limit` bytes per write (a slow peer).
    fn transmit(&mut self, limit: usize, rounds: usize) {
        for _ in 0..rounds {
            let now = self.placing_now();
            match self.session.poll_transmit(&mut self.write, now) {
                Transmit::Write { start, end, unbuffered } => {
                    assert!(start <= end && end <= self.write.len());
                    assert!(start < end || unbuffered > 0, "an empty write");
                    // Once absorbed (the payload cleared), no write may ask for the payload again.
                    assert!(
                        unbuffered <= self.payload.len(),
                        "a write asked for {unbuffered} bytes of an absorbed payload"
                    );
                    let mut bytes = self.write[start..end].to_vec();
                    bytes.extend_from_slice(&self.payload[self.payload.len() - unbuffered..]);
                    let n = bytes.len().min(limit.max(1));
                    self.out.extend_from_slice(&bytes[..n]);
                    self.session.wrote(n, now);
                    if self.unclocked && n < bytes.len() {
                        // rill-tokio's write that has to wait tells the session the time first.
                        self.session.handle_timeout(self.now);
                    }
                }
                Transmit::Flush | Transmit::Shutdown => {}
                Transmit::Idle => return,
            }
        }
    }

    /// Feeds `wire` through the read buffer, decoding every event; echoes data pieces when `echo`.
    /// With `answer`, pings are answered at once; without, their pongs stay owed until the next transmit
    /// (the next send places them first). With `behind`, the rest of a data frame is fed as rill-tokio's
    /// `recv` reads it: at an offset of the buffer, no more than `Session::payload_left`, and it must
    /// come back as one piece exactly where it was put.
    fn receive(&mut self, wire: &[u8], echo: bool, answer: bool, behind: bool) {
        let mut pos = 0;
        let mut fed_at = None;
        for _ in 0..10_000 {
            let event = self.session.poll_event(&mut self.read, self.inflater.as_mut());
            if let Some(range) = fed_at.take() {
                // The rest comes back as one piece where it was read; only a protocol error in it (the
                // session then lingers or ends) gives anything else.
                match event {
                    Event::Piece(at) => assert_eq!(at.start..at.end, range, "the rest where it was read"),
                    Event::End(_) | Event::NeedInput => {}
                    other => panic!("the rest of a frame decoded as {other:?}"),
                }
            }
            match event {
                Event::NeedInput => {
                    if pos >= wire.len() {
                        return;
                    }
                    // Behind 7 bytes, in buffers that have room for some of it.
                    const AT: usize = 7;
                    let left = self.session.payload_left().filter(|_| behind && self.read.len() > AT);
                    if let Some(left) = left.and_then(|left| usize::try_from(left).ok()) {
                        let n = (wire.len() - pos).min(left).min(self.read.len() - AT);
                        self.read[AT..AT + n].copy_from_slice(&wire[pos..pos + n]);
                        pos += n;
                        self.session.handle_input(AT..AT + n, self.now);
                        fed_at = Some(AT..AT + n);
                        continue;
                    }
                    let n = (wire.len() - pos).min(self.read.len());
                    self.read[..n].copy_from_slice(&wire[pos..pos + n]);
                    pos += n;
                    self.session.handle_input(0..n, self.now);
                }
                Event::Piece(at) => {
                    let source = match (&self.inflater, at.inflated) {
                        (Some(inflater), true) => inflater.window(),
                        _ => &self.read[..],
                    };
                    assert!(at.start <= at.end && at.end <= source.len());
                    // A correct relay forwards a message from its first piece, never into another one.
                    let relay = if at.first { echo && !self.own_message } else { self.relaying };
                    if relay {
                        let piece = at.of(source);
                        let payload = piece.payload.to_vec();
                        let relayed = rill_ws::Piece {
                            payload: &payload,
                            ..piece
                        };
                        let mut done = 0;
                        for _ in 0..64 {
                            let now = self.placing_now();
                            let deflater = self.deflater.as_mut();
                            match self.session.relay(&mut self.write, &relayed, done, now, deflater) {
                                Ok(placed) if placed == payload.len() && !(relayed.last && self.session.in_message()) => break,
                                Ok(placed) => done = placed,
                                Err(_) => break,
                            }
                            self.transmit(usize::MAX, 64);
                        }
                    }
                    self.relaying = relay && !at.last && self.session.in_message();
                }
                Event::Ping if answer => self.transmit(usize::MAX, 64),
                Event::Ping => {}
                Event::Pong(_) | Event::Close => {}
                Event::End(_) => return,
                // Without deflate no compressed message is accepted; with it the inflater is always lent.
                Event::NeedInflater => unreachable!("poll_event asked for an inflater"),
            }
        }
    }

    /// Closes with `code` and a reason of `len` bytes as the adapters do: while the close frame waits for
    /// room, what is pending is written out and the close is tried again.
    fn close(&mut self, code: CloseCode, len: usize) {
        let reason = "r".repeat(len);
        for _ in 0..64 {
            match self.session.close(code, &reason, &mut self.write, self.now) {
                Ok(false) => self.transmit(usize::MAX, 64),
                Ok(true) | Err(_) => return,
            }
        }
    }

    /// Sends a message of `len` bytes unbuffered, as rill-tokio does for a message larger than its write
    /// buffer; the sender lets go of the payload after at most `writes` writes of at most `limit` bytes
    /// (a cancelled send), handing the unwritten rest to the session.
    fn send_unbuffered(&mut self, kind: MessageKind, len: usize, limit: usize, writes: usize) {
        if !self.session.sends_unbuffered(len) {
            return;
        }
        for _ in 0..64 {
            let now = self.placing_now();
            match self.session.send_unbuffered(&mut self.write, kind, len, now) {
                Ok(true) => break,
                Ok(false) => self.transmit(usize::MAX, 64),
                Err(_) => return,
            }
        }
        self.payload = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        self.transmit(limit, writes);
        if let Err(SendError::BufferTooSmall { needed }) =
            self.session.absorb_unbuffered(&mut self.write, &self.payload)
        {
            self.write.resize(needed, 0);
            self.session.absorb_unbuffered(&mut self.write, &self.payload).unwrap();
        }
        // The payload is gone from here on (`transmit` asserts no write asks for it).
        self.payload.clear();
        self.session.flush_by_policy();
    }

    /// Sends a message of `len` bytes whole, or as one chunk of a begun message.
    fn send(&mut self, kind: Option<MessageKind>, len: usize, fin: bool) {
        let payload = vec![b'a'; len];
        if let Some(kind) = kind {
            if self.session.begin(kind).is_err() {
                return;
            }
        }
        let mut done = 0;
        for _ in 0..64 {
            let now = self.placing_now();
            let deflater = self.deflater.as_mut();
            match self.session.send_chunk(&mut self.write, &[&payload], done, fin, now, deflater) {
                Ok(placed) if placed == len && !(fin && self.session.in_message()) => break,
                Ok(placed) => done = placed,
                Err(_) => return,
            }
            self.transmit(usize::MAX, 64);
        }
        self.session.flush_by_policy();
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, ops @ ..] = data else {
        return;
    };
    let role = if flags & 1 == 0 { Role::Server } else { Role::Client };
    let config = SessionConfig {
        limits: LIMITS[usize::from(flags >> 5) & 3],
        idle_timeout: Some(Duration::from_secs(30)),
        keepalive: Some(Duration::from_secs(10)),
        close_timeout: Duration::from_secs(5),
        write_timeout: Some(Duration::from_secs(20)),
        batch: None,
    };
    let mut rest = ops;
    let mut session = Session::new(role, config, [*flags; 32], Instant(0));
    let (mut inflater, mut deflater) = (None, None);
    if flags & 0x80 != 0 {
        let Some((&deflate, tail)) = rest.split_first() else { return };
        rest = tail;
        let (receive_bits, send_bits) = (8 + (deflate & 7), 9 + 2 * ((deflate >> 4) & 3));
        let (server_bits, client_bits) = match role {
            Role::Server => (send_bits, receive_bits),
            Role::Client => (receive_bits, send_bits),
        };
        let params = DeflateParams {
            server_no_context_takeover: deflate & 8 != 0,
            client_no_context_takeover: deflate & 8 != 0,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        };
        session.set_deflate(Some(params), if deflate & 0x40 != 0 { 16 } else { 0 });
        inflater = Some(Inflater::new(vec![0u8; 1 << receive_bits]));
        deflater = Some(ZlibDeflater::new(6, send_bits, 1 + deflate % 9).expect("zlib takes 9..=15 bits"));
    }
    let mut driver = Driver {
        session,
        read: vec![0; READ_BUFFERS[usize::from(flags >> 3) & 3]],
        write: vec![0; WRITE_BUFFERS[usize::from(flags >> 1) & 3]],
        now: Instant(0),
        unclocked: false,
        out: Vec::new(),
        pings: Vec::new(),
        own_message: false,
        relaying: false,
        payload: Vec::new(),
        inflater,
        deflater,
    };
    let peer = match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    // The peer's frames come from the fuzzer's bytes; the pings among them are recorded by a receiver of
    // our role reading the same bytes first.
    let mut peer_view = Receiver::new(role, Limits::default());
    peer_view.set_deflate(flags & 0x80 != 0);
    while let [op, tail @ ..] = rest {
        rest = tail;
        match op % 9 {
            0 => {
                let Some((&len, tail)) = rest.split_first() else { break };
                let take = usize::from(len).min(tail.len());
                let (wire, tail) = tail.split_at(take);
                rest = tail;
                record_pings(&mut peer_view, wire, &mut driver.pings);
                driver.receive(wire, op & 0x80 != 0, op & 0x40 == 0, op & 0x20 != 0);
            }
            1 | 2 => {
                let Some((&len, tail)) = rest.split_first() else { break };
                rest = tail;
                let kind = if op & 0x10 == 0 { MessageKind::Binary } else { MessageKind::Text };
                let len = usize::from(len) * (1 + usize::from(op >> 5));
                if op % 9 == 1 && op & 0x08 != 0 {
                    let Some((&cut, tail)) = rest.split_first() else { break };
                    rest = tail;
                    driver.send_unbuffered(kind, len * 8, usize::from(cut) * 16, usize::from(cut & 7));
                } else if op % 9 == 1 {
                    driver.send(Some(kind), len, true);
                } else if driver.session.begin(kind).is_ok() {
                    driver.send(None, len / 2, false);
                    driver.own_message = driver.session.in_message();
                }
            }
            3 => {
                let Some((&len, tail)) = rest.split_first() else { break };
                rest = tail;
                if driver.own_message {
                    driver.send(None, usize::from(len), op & 0x10 != 0);
                    driver.own_message = driver.session.in_message();
                }
            }
            4 if op & 0x80 != 0 => driver.unclocked = !driver.unclocked,
            4 => drop(driver.session.ping(driver.now)),
            5 => {
                let Some((&code, tail)) = rest.split_first() else { break };
                rest = tail;
                let code = CloseCode(if code < 128 { 1000 + u16::from(code) } else { 3000 + u16::from(code) });
                driver.close(code, usize::from(code.0 % 124));
            }
            6 => {
                let Some((&step, tail)) = rest.split_first() else { break };
                rest = tail;
                driver.now = driver.now.after(Duration::from_millis(u64::from(step) * 100));
                driver.session.handle_timeout(driver.now);
                // Every deadline `now` reached was acted on: the next one is later (a deadline left in the
                // past would have the adapter's timer ring again at once, forever).
                if let (None, Some(deadline)) = (driver.session.end(), driver.session.poll_timeout()) {
                    assert!(deadline > driver.now, "deadline {deadline:?} not after {:?}", driver.now);
                }
            }
            7 => {
                let Some((&limit, tail)) = rest.split_first() else { break };
                rest = tail;
                driver.transmit(usize::from(limit), 8);
            }
            // rill-tokio's and rill-blocking's read-ahead keeping a piece, and their owner taking it.
            8 if op & 0x80 != 0 => driver.session.hold_input(op & 0x40 != 0, driver.now),
            _ => driver.session.handle_eof(),
        }
    }
    driver.transmit(usize::MAX, 1024);
    check_output(peer, &driver.out, &driver.pings, flags & 0x80 != 0);
});

/// Records the payloads of the pings in `wire` as the session will see them.
fn record_pings(view: &mut Receiver, wire: &[u8], pings: &mut Vec<Vec<u8>>) {
    let mut wire = wire.to_vec();
    let mut pos = 0;
    while pos < wire.len() {
        let Ok(received) = view.receive(&mut wire[pos..]) else { return };
        pos += received.consumed;
        if let Some(Decoded::Ping(payload)) = received.event {
            pings.push(payload.to_vec());
        }
        if received.consumed == 0 && received.event.is_none() {
            return;
        }
    }
}

/// Parses everything the session wrote as the peer would: valid frames for the role, pongs that answer
/// pings, nothing after our close frame.
fn check_output(peer: Role, out: &[u8], pings: &[Vec<u8>], deflate: bool) {
    let mut checker = Receiver::new(peer, Limits::default());
    checker.set_deflate(deflate);
    let original = out;
    let mut out = out.to_vec();
    let mut pos = 0;
    while pos < out.len() {
        let received = checker
            .receive(&mut out[pos..])
            .unwrap_or_else(|e| panic!("the session wrote an invalid frame stream: {e:?} at byte {pos} of {}", original.len()));
        pos += received.consumed;
        match received.event {
            Some(Decoded::Pong(payload)) => assert!(
                pings.iter().any(|ping| ping == payload),
                "a pong answers one of the peer's pings, whole"
            ),
            Some(Decoded::Close { .. }) => {
                assert_eq!(pos, out.len(), "nothing may follow our close frame");
                return;
            }
            _ => {}
        }
    }
}
