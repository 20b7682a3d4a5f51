//! rill-tokio's receive path as applications drive it: a server `WebSocket` from `accept` reads valid
//! client traffic (masked data messages in one or more fragments, pings between and inside them, then a
//! close) that arrives in reads of arbitrary sizes, some of them pending first, through read buffers from
//! one byte to 64 KiB. This is the reader's own logic that the core's `session` target cannot reach: the
//! thread's buffer pool, growing the read buffer, reassembling a message across reads and completing a
//! frame that spans reads in place, behind the bytes already read.
//!
//! Invariants: every message comes out whole and unchanged, in order, whether received whole (`recv`) or
//! as pieces (`recv_piece`, concatenated); then the peer's close, then the end; every byte the server
//! writes is a valid unmasked frame, each pong carrying a ping's payload, the last frame our close reply.
//! With one byte of the traffic flipped (bit 1 of the first byte), the invariant is only that nothing
//! panics and the connection ends within a bounded number of receives.
//!
//! With bit 7 of the flags the server answers every message it received with a small one of its own, and
//! every write of the server's is pending a few times first: most sends wait, so the connection reads on
//! while it waits (`WebSocket::send`'s read-ahead), keeping what it read for the next receive. The same
//! invariants hold, and every answer is in the server's bytes, in order.
//!
//! Input layout: byte 0 holds flags (bit 0: `recv_piece` instead of `recv`; bit 1: flip a byte; bits 2-4:
//! the read buffer; bits 5-6: how far it may grow; bit 7: answer), then operations, each an opcode byte and
//! its arguments (see `script`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill_tokio::{accept, Config, Error, Message, MessageKind};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const READ_BUFFERS: [usize; 8] = [1, 7, 64, 139, 512, 4096, 8192, 65536];
const GROWTH: [usize; 4] = [1, 2, 8, 64];
const MAX_TRAFFIC: usize = 96 << 10;
const REQUEST: &[u8] =
    b"GET / HTTP/1.1\r\nHost: fuzz\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The client's side of the connection: what the server reads, in the reads it gets, and what it wrote.
struct Peer {
    /// Each read returns at most the front chunk (the rest stays at the front); `true`: pending first.
    reads: VecDeque<(Vec<u8>, bool)>,
    /// How much of the front chunk earlier reads returned.
    taken: usize,
    written: Rc<RefCell<Vec<u8>>>,
    /// Every write is pending a few times before it is taken: 1 to 5 polls, varying from write to write,
    /// so that some sends finish within their first poll and others wait and read ahead for one or more
    /// rounds (a send polls its write up to three times before it first returns pending).
    stall: bool,
    /// How often the write now asked for was pending already.
    stalled: u8,
    /// Writes taken so far.
    writes: u8,
}

impl AsyncRead for Peer {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let peer = &mut *self;
        let Some((chunk, pending)) = peer.reads.front_mut() else {
            return Poll::Ready(Ok(())); // the end of the stream
        };
        if std::mem::take(pending) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let rest = &chunk[peer.taken..];
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        peer.taken += n;
        if peer.taken == chunk.len() {
            peer.reads.pop_front();
            peer.taken = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Peer {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.stall && self.stalled < 1 + self.writes.wrapping_mul(3) % 5 {
            self.stalled += 1;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.stalled = 0;
        self.writes = self.writes.wrapping_add(1);
        self.written.borrow_mut().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Appends one masked client frame (an independent encoder, RFC 6455 section 5.2).
fn frame(wire: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8], key: [u8; 4]) {
    wire.push(u8::from(fin) << 7 | opcode);
    match payload.len() {
        n if n < 126 => wire.push(0x80 | n as u8),
        n if n <= 0xffff => {
            wire.push(0x80 | 126);
            wire.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            wire.push(0x80 | 127);
            wire.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    wire.extend_from_slice(&key);
    wire.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
}

/// What the fuzzer's operations make: the client's wire bytes, where the read size changes, the messages
/// and ping payloads sent.
#[derive(Default)]
struct Script {
    wire: Vec<u8>,
    /// (offset into `wire`, read size from there on, the first read there is pending)
    splits: Vec<(usize, usize, bool)>,
    messages: Vec<(MessageKind, Vec<u8>)>,
    pings: Vec<Vec<u8>>,
}

/// Reads the operations; an opcode's bits 0-1 say which:
/// - 0, a data message: bit 2 text, bits 3-4 its fragments less one, bit 5 a ping between fragments with
///   40 times bits 6-7 bytes; each fragment's length is the next two bytes;
/// - 1, a ping of `2 * (op >> 2) % 126` bytes;
/// - 2 or 3, reads from here on of one more byte than the next two bytes say, the first one pending first
///   when bit 2 is set.
fn script(ops: &[u8]) -> Script {
    let mut s = Script::default();
    let mut bytes = ops.iter().copied();
    let mut next = move || bytes.next();
    let mut counter = 0u8;
    let mut fill = |len: usize, text: bool| -> Vec<u8> {
        (0..len)
            .map(|i| {
                counter = counter.wrapping_add(1);
                let b = (i as u8).wrapping_mul(31) ^ counter;
                if text {
                    b & 0x7f
                } else {
                    b
                }
            })
            .collect()
    };
    // Traffic is capped (a few large messages say what many would, and keep runs fast under ASan).
    while let Some(op) = next().filter(|_| s.wire.len() < MAX_TRAFFIC) {
        let key = [op, op ^ 0x5a, op.wrapping_add(7), 0xa5];
        match op & 3 {
            0 => {
                let kind = if op & 4 != 0 {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                let fragments = 1 + usize::from(op >> 3 & 3);
                let ping_inside = op & 0x20 != 0;
                let mut message = Vec::new();
                for i in 0..fragments {
                    // A message the input cuts short never gets its final frame: it is not expected.
                    let (Some(hi), Some(lo)) = (next(), next()) else {
                        return s;
                    };
                    let len = usize::from(u16::from_be_bytes([hi, lo]));
                    let piece = fill(len, kind == MessageKind::Text);
                    let opcode = match (i, kind) {
                        (0, MessageKind::Text) => 1,
                        (0, MessageKind::Binary) => 2,
                        _ => 0,
                    };
                    frame(&mut s.wire, i + 1 == fragments, opcode, &piece, key);
                    message.extend_from_slice(&piece);
                    if ping_inside && i + 1 < fragments {
                        let ping = fill(usize::from(op >> 6) * 40, false);
                        frame(&mut s.wire, true, 9, &ping, key);
                        s.pings.push(ping);
                    }
                }
                s.messages.push((kind, message));
            }
            1 => {
                let ping = fill(usize::from(op >> 2) * 2 % 126, false);
                frame(&mut s.wire, true, 9, &ping, key);
                s.pings.push(ping);
            }
            _ => {
                let (Some(hi), Some(lo)) = (next(), next()) else {
                    break;
                };
                let size = 1 + usize::from(u16::from_be_bytes([hi, lo]));
                s.splits.push((s.wire.len(), size, op & 4 != 0));
            }
        }
    }
    s
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, ops)) = data.split_first() else {
        return;
    };
    let s = script(ops);
    let read_buffer = READ_BUFFERS[usize::from(flags >> 2 & 7)];
    let config = Config {
        read_buffer,
        max_read_buffer: read_buffer * GROWTH[usize::from(flags >> 5 & 3)],
        max_message: 1 << 20,
        idle_timeout: None,
        keepalive: None,
        write_timeout: None,
        ..Config::default()
    };
    let pieces = flags & 1 != 0;
    let flip = flags & 2 != 0;
    let answer = flags & 0x80 != 0;
    let mut wire = s.wire.clone();
    frame(&mut wire, true, 8, &1000u16.to_be_bytes(), [1, 2, 3, 4]);
    if flip && !wire.is_empty() {
        let at = usize::from(ops.first().copied().unwrap_or(0)) * 97 % wire.len();
        wire[at] ^= 0x41;
    }
    let traffic = wire.len();
    let written = Rc::new(RefCell::new(Vec::new()));
    let peer = Peer {
        reads: reads(&wire, &s.splits),
        taken: 0,
        written: written.clone(),
        stall: answer,
        stalled: 0,
        writes: 0,
    };
    let answers = RUNTIME.with(|rt| rt.block_on(drive(peer, traffic, config, pieces, flip, answer, &s)));
    if !flip {
        let written = written.borrow();
        let head = written
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a 101 response");
        check_written(&written[head + 4..], &s.pings, &answers);
    }
});

/// The wire bytes cut into reads by the script's read sizes (the handshake arrives in one read first).
fn reads(wire: &[u8], splits: &[(usize, usize, bool)]) -> VecDeque<(Vec<u8>, bool)> {
    let mut reads = VecDeque::from([(REQUEST.to_vec(), false)]);
    let mut at = 0;
    let (mut size, mut pending) = (usize::MAX, false);
    let mut changes = splits.iter().peekable();
    while at < wire.len() {
        while let Some(&&(from, new, wait)) = changes.peek() {
            if from > at {
                break;
            }
            (size, pending) = (new, wait);
            changes.next();
        }
        let until = changes.peek().map_or(wire.len(), |c| c.0.max(at + 1));
        let end = at.saturating_add(size).min(until).min(wire.len());
        reads.push_back((wire[at..end].to_vec(), std::mem::take(&mut pending)));
        at = end;
    }
    reads
}

/// The answer the server sends to message `i` when it answers (see the module documentation).
fn answer_to(i: usize, message: &[u8]) -> Vec<u8> {
    vec![i as u8; message.len() % 120]
}

/// Receives until the connection ends, answering every message when `answer`; returns the answers sent.
async fn drive(
    peer: Peer,
    traffic: usize,
    config: Config,
    pieces: bool,
    flip: bool,
    answer: bool,
    s: &Script,
) -> Vec<Vec<u8>> {
    let mut ws = accept(peer, config)
        .await
        .expect("a valid request is accepted");
    let mut got: Vec<(MessageKind, Vec<u8>)> = Vec::new();
    let mut closed = false;
    let mut current: Option<(MessageKind, Vec<u8>)> = None;
    // Each receive that returns something consumes a byte of traffic or ends a frame (a piece may be
    // empty only when it begins or ends a message): a connection that never ends fails here.
    let mut left = 2 * traffic + 100;
    let mut answers = Vec::new();
    let end = loop {
        left -= 1;
        assert!(left > 0, "the connection did not end");
        let received = if pieces {
            ws.recv_piece().await.map(|piece| match piece {
                Some(piece) => {
                    let (kind, bytes) = current.get_or_insert_with(|| (piece.kind, Vec::new()));
                    assert_eq!(*kind, piece.kind, "a message changed kind");
                    bytes.extend_from_slice(piece.payload);
                    if piece.last {
                        got.extend(current.take());
                    }
                }
                None => closed = true,
            })
        } else {
            ws.recv().await.map(|message| match message {
                Message::Text(text) => got.push((MessageKind::Text, text.as_bytes().to_vec())),
                Message::Binary(bytes) => got.push((MessageKind::Binary, bytes.to_vec())),
                Message::Close(..) => closed = true,
            })
        };
        if let Err(error) = received {
            break error;
        }
        // Answered at once, while the next message may already be arriving: the send waits on its write
        // and reads on meanwhile.
        if answer && answers.len() < got.len() {
            let reply = answer_to(answers.len(), &got[answers.len()].1);
            if let Err(error) = ws.send_binary(&reply).await {
                break error;
            }
            answers.push(reply);
        }
    };
    // Every later receive reports how the connection ended.
    let again = ws.recv().await.err().map(|error| error.to_string());
    assert_eq!(
        again,
        Some(end.to_string()),
        "a later receive reported another end"
    );
    if flip {
        return answers;
    }
    assert!(matches!(end, Error::Closed), "valid traffic failed: {end}");
    assert!(closed, "the peer's close was not reported");
    assert_eq!(got.len(), s.messages.len(), "messages lost or added");
    for (i, (got, sent)) in got.iter().zip(&s.messages).enumerate() {
        assert!(
            got == sent,
            "message {i} changed ({} bytes sent, {} received)",
            sent.1.len(),
            got.1.len()
        );
    }
    answers
}

/// The server's frames: unmasked, pongs carrying a ping's payload, the answers whole and in order, a close
/// last.
fn check_written(written: &[u8], pings: &[Vec<u8>], answers: &[Vec<u8>]) {
    let mut answered = answers.iter();
    let mut at = 0;
    let mut closed = false;
    while at < written.len() {
        assert!(!closed, "a frame followed the close");
        let opcode = written[at] & 0x0f;
        assert_eq!(written[at + 1] & 0x80, 0, "a server frame was masked");
        let len = usize::from(written[at + 1] & 0x7f);
        assert!(len < 126, "a control frame over 125 bytes");
        let payload = &written[at + 2..at + 2 + len];
        match opcode {
            10 => assert!(
                pings.iter().any(|p| p == payload),
                "a pong answered no ping"
            ),
            8 => closed = true,
            2 => {
                assert_eq!(written[at] & 0x80, 0x80, "an answer was fragmented");
                assert_eq!(Some(payload), answered.next().map(|a| &a[..]), "an answer changed");
            }
            other => panic!("the server sent opcode {other} unasked"),
        }
        at += 2 + len;
    }
    assert!(answered.next().is_none(), "an answer is missing");
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
}
