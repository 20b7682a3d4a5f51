//! The transmitting side of a session: frames placed whole in the adapter's write buffer, replies owed to
//! the peer, write progress, and the decisions to flush and to end TCP.

use super::clock::Stamp;
use super::{Instant, Phase, Session};
use crate::close::CloseCode;
use crate::codec::{ControlFrame, FrameHead, MessageKind, Piece, Role, Sender};
use crate::deflate::{bound, fits, Deflate, DeflateError, TAIL};
use crate::error::SendError;
use crate::frame::{OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};

/// The smallest write buffer the session works with: room for the longest frame header and the largest
/// control payload, so every control frame fits whole.
pub const MIN_WRITE_BUFFER: usize = MAX_HEADER_LEN + MAX_CONTROL_PAYLOAD;

/// The most payload one call compresses (a larger compressed message leaves as several fragments). Each
/// call runs where the adapter holds the session, which a reader half may be waiting for: zlib at level 6
/// takes about 0.5 ms for this much, against about 5 ms for a 112 KiB message at once (docs/design.md).
pub const MAX_COMPRESS_STEP: usize = 16 * 1024;

/// What the write side must do next; see [`Session::poll_transmit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transmit {
    /// Write `buf[start..end]` of the write buffer followed by the last `unbuffered` bytes of an unbuffered
    /// send's payload (see [`Session::send_unbuffered`]; 0 otherwise), in one write where the stream takes
    /// a vectored one, then report how much went with [`Session::wrote`].
    Write {
        /// First pending byte.
        start: usize,
        /// End of the pending bytes.
        end: usize,
        /// Payload bytes of an unbuffered send still to write after `buf[start..end]`.
        unbuffered: usize,
    },
    /// Everything is written: flush the stream (a TLS record, an embedded stack's queue).
    Flush,
    /// End our side of the TCP connection (half-close), then poll again.
    Shutdown,
    /// Nothing to do until the application or the peer acts, or [`Session::poll_timeout`] passes.
    Idle,
}

impl Session {
    /// What the write side must do next. Control frames owed to the peer (pongs, keepalive pings, close
    /// frames) are placed in `buf`, the write buffer, when they fit whole.
    pub fn poll_transmit(&mut self, buf: &mut [u8], now: Instant) -> Transmit {
        // Polled again: the flush asked for last time is done.
        self.flushed();
        if self.phase == Phase::Done {
            return self.shutdown_once();
        }
        self.place_control(buf, now);
        let (len, sent) = self.output;
        let batch_full = self.timeouts.batching() && len >= self.timeouts.batch_bytes;
        let pending = self.has_pending_output();
        if pending && (self.flush_requested || self.need_room || batch_full) {
            if self.clock.stalled_since.get().is_none() {
                self.clock.stalled_since = Stamp::new(Some(now));
            }
            return Transmit::Write {
                start: sent,
                end: len,
                unbuffered: self.unbuffered as usize,
            };
        }
        if !pending && self.flush_requested {
            self.flush_requested = false;
            // The write timeout bounds the flush too, until the adapter reports it done.
            self.flushing = true;
            self.clock.stalled_since = Stamp::new(Some(now));
            return Transmit::Flush;
        }
        // RFC 6455 section 7.1.1: the server ends TCP first once its close frame is out; a client waits
        // for the server (lingering), then ends it.
        if self.phase == Phase::Lingering && self.role == Role::Server && self.close_written {
            return self.shutdown_once();
        }
        Transmit::Idle
    }

    /// Records that `written` bytes of the range [`Transmit::Write`] gave (and of the unbuffered payload
    /// after it) were written.
    pub fn wrote(&mut self, written: usize, now: Instant) {
        let (len, sent) = self.output;
        let from_buffer = written.min(len - sent);
        let sent = sent + from_buffer;
        if self.unbuffered > 0 {
            self.unbuffered -= (written - from_buffer).min(self.unbuffered as usize) as u32;
        }
        if written > 0 {
            self.clock.stalled_since = Stamp::new(Some(now));
        }
        if self.close_at.is_some_and(|at| sent >= at) {
            self.close_at = None;
            self.close_written = true;
        }
        if sent == len {
            // The buffer is free from its start again; everything is out unless an unbuffered payload
            // still follows.
            self.output = (0, 0);
            if self.unbuffered == 0 {
                self.need_room = false;
                self.clock.stalled_since = Stamp::NONE;
                self.clock.oldest = Stamp::NONE;
            }
        } else {
            self.output = (len, sent);
        }
    }

    /// Records that the flush [`Transmit::Flush`] asked for finished, so the write timeout stops running
    /// for it. Polling [`Session::poll_transmit`] again says the same; an adapter that stops after a flush
    /// calls this instead (otherwise the write timeout would still run from the flush).
    pub fn flushed(&mut self) {
        if core::mem::take(&mut self.flushing) {
            self.clock.stalled_since = Stamp::NONE;
        }
    }

    /// Records that the flush [`Transmit::Flush`] asked for was given up before it finished (the adapter's
    /// future was dropped): it is asked for again, so bytes a stream holds (a TLS record) still leave.
    pub fn flush_abandoned(&mut self) {
        if core::mem::take(&mut self.flushing) {
            self.flush_requested = true;
        }
    }

    /// True when bytes are waiting in the write buffer (or an unbuffered payload after it).
    pub fn has_pending_output(&self) -> bool {
        self.output.1 < self.output.0 || self.unbuffered > 0
    }

    /// True when [`Session::poll_transmit`] has work: replies owed, bytes to write, a flush or shutdown due.
    pub fn wants_transmit(&self) -> bool {
        if self.phase == Phase::Done {
            return !self.shut_down;
        }
        let owed = self.owes_control();
        let lingering_server = self.phase == Phase::Lingering
            && self.role == Role::Server
            && self.close_written
            && !self.shut_down;
        owed || self.flush_requested || self.need_room || lingering_server
    }

    /// Asks for everything placed so far to be written and flushed.
    pub fn flush(&mut self) {
        self.flush_requested = true;
    }

    /// Ends a send: flushes at once, or, under a [`super::Batch`] policy, once it is due.
    pub fn flush_by_policy(&mut self) {
        if !self.timeouts.batching() || self.output.0 >= self.timeouts.batch_bytes {
            self.flush_requested = true;
        }
    }

    /// Begins a data message of `kind`, sent with [`Session::send_chunk`].
    pub fn begin(&mut self, kind: MessageKind) -> Result<(), SendError> {
        self.check_send()?;
        self.sender.begin(kind)
    }

    /// Places the next frame of the message begun with [`Session::begin`] in `buf`: the payload is the
    /// concatenation of `parts` after its first `skip` bytes, and `fin` ends the message. Returns how many
    /// payload bytes (counting `skip`) are now placed. When that is less than the whole payload, or when
    /// `fin` is set and the final frame is not placed yet, run [`Session::poll_transmit`] to make room and
    /// call again with the new `skip`: a payload larger than the buffer leaves as several frames, each
    /// whole in the buffer before any byte of it is written.
    ///
    /// `deflater` (the same one every time) compresses the message when the handshake agreed
    /// permessage-deflate and the message is not below the threshold given to [`Session::set_deflate`]
    /// (decided at its first chunk); each chunk then ends with a sync flush, so it leaves at once and
    /// decodes on arrival. A connection without permessage-deflate passes [`NO_DEFLATER`].
    pub fn send_chunk<D: Deflate + ?Sized>(
        &mut self,
        buf: &mut [u8],
        parts: &[&[u8]],
        skip: usize,
        fin: bool,
        now: Instant,
        deflater: Option<&mut D>,
    ) -> Result<usize, SendError> {
        self.check_send()?;
        if !self.sender.in_message() {
            return Err(SendError::NoMessageInProgress);
        }
        self.place_control(buf, now);
        let total: usize = parts.iter().map(|part| part.len()).sum();
        let rest = total.saturating_sub(skip);
        if self.sender.is_unstarted() && self.outflow.is_none() {
            let compress = deflater.is_some() && self.compresses(rest, fin);
            self.outflow = compress.then_some(Outflow::default());
        }
        if self.outflow.is_some() {
            let deflater = deflater.ok_or(SendError::Compression)?;
            return self.place_compressed(buf, parts, skip, fin, now, deflater);
        }
        let (len, _) = self.output;
        let free = self.free(buf);
        let take = if frame_len(rest) <= free {
            rest
        } else if self.has_pending_output() {
            // Write out what is pending first: the frame may fit whole in the empty buffer.
            self.need_room = true;
            return Ok(skip);
        } else if free <= MAX_HEADER_LEN {
            // Nothing to write out would make room: waiting would never end.
            return Err(SendError::BufferTooSmall {
                needed: MIN_WRITE_BUFFER,
            });
        } else {
            // Larger than the whole buffer: a non-final fragment that fills it.
            free - MAX_HEADER_LEN
        };
        let last = fin && take == rest;
        let head = self.sender.chunk(take as u64, last)?;
        let end = place(buf, len, &head, parts, skip, take);
        self.placed(end, now);
        self.need_room = take < rest;
        Ok(skip + take)
    }

    /// Places the frame that relays a received `piece` as the matching frame of an outgoing message (a
    /// whole message, or its next fragment); `skip` and `deflater` as in [`Session::send_chunk`]. Echo
    /// servers and proxies forward a message of any size this way.
    pub fn relay<D: Deflate + ?Sized>(
        &mut self,
        buf: &mut [u8],
        piece: &Piece<'_>,
        skip: usize,
        now: Instant,
        deflater: Option<&mut D>,
    ) -> Result<usize, SendError> {
        // A first piece that found no room yet has begun its message already.
        if piece.first && skip == 0 && !self.sender.is_unstarted() {
            self.begin(piece.kind)?;
        }
        self.send_chunk(buf, &[piece.payload], skip, piece.last, now, deflater)
    }

    /// Places the next frame of a compressed message: as much of the payload as surely fits compressed,
    /// ending with a sync flush. The last four bytes of each frame's output are held back for the next
    /// frame, so the final frame can drop [`TAIL`] whatever the split (RFC 7692 section 7.2.1).
    fn place_compressed<D: Deflate + ?Sized>(
        &mut self,
        buf: &mut [u8],
        parts: &[&[u8]],
        skip: usize,
        fin: bool,
        now: Instant,
        deflater: &mut D,
    ) -> Result<usize, SendError> {
        let Some(mut flow) = self.outflow else {
            return Err(SendError::Compression);
        };
        let total: usize = parts.iter().map(|part| part.len()).sum();
        let rest = total.saturating_sub(skip);
        let (len, _) = self.output;
        let area = len + MAX_HEADER_LEN;
        let held = usize::from(flow.held_len);
        let room = self.free(buf).saturating_sub(MAX_HEADER_LEN + held);
        let take = rest.min(fits(room)).min(MAX_COMPRESS_STEP);
        // An empty rest still costs the header, the held-back bytes and the deflater's sync flush: an owed
        // pong placed first can leave less than that.
        let stuck = if rest == 0 {
            room < bound(0)
        } else {
            take == 0
        };
        if (take < rest || stuck) && self.has_pending_output() {
            // Write out what is pending first (an unbuffered payload in flight too): the whole rest may
            // fit in the empty buffer.
            self.need_room = true;
            return Ok(skip);
        }
        if stuck {
            return Err(SendError::BufferTooSmall {
                needed: MIN_WRITE_BUFFER,
            });
        }
        buf[area..area + held].copy_from_slice(&flow.held[..held]);
        let mut end = area + held;
        let compress = |input: &[u8], out: &mut [u8], flush, deflater: &mut D| {
            deflater
                .deflate(input, out, flush)
                .map_err(|DeflateError| SendError::Compression)
        };
        if take == 0 {
            end += compress(&[], &mut buf[end..], true, deflater)?;
        }
        let mut left = take;
        for piece in segments(parts, skip, take) {
            left -= piece.len();
            end += compress(piece, &mut buf[end..], left == 0, deflater)?;
        }
        let last = fin && take == rest;
        let keep = if last {
            flow.held_len = 0;
            if buf[area..end].ends_with(&TAIL) {
                // The sync flush's empty block, which the receiver adds back.
                end - TAIL.len()
            } else if end == area {
                // Nothing was compressed since the last flush: an empty stored block's header byte.
                buf[area] = 0;
                area + 1
            } else {
                return Err(SendError::Compression);
            }
        } else {
            let keep = end.saturating_sub(TAIL.len()).max(area);
            flow.held_len = (end - keep) as u8;
            flow.held[..end - keep].copy_from_slice(&buf[keep..end]);
            keep
        };
        let payload = keep - area;
        if payload > 0 || last {
            let head = self.sender.compressed_chunk(payload as u64, last)?;
            let header = head.as_bytes();
            let start = len + header.len();
            buf.copy_within(area..keep, start);
            buf[len..start].copy_from_slice(header);
            head.payload_masker()
                .apply(&mut buf[start..start + payload]);
            self.placed(start + payload, now);
        }
        self.outflow = (!last).then_some(flow);
        if last
            && self
                .deflate
                .is_some_and(|params| params.send_resets(self.role))
        {
            deflater.reset();
        }
        self.need_room = take < rest || (fin && !last);
        Ok(skip + take)
    }

    /// Starts the close handshake: places a close frame with `code` and `reason` (at most 123 bytes) in
    /// `buf`, the write buffer, after the bytes pending there and the control frames owed before it (a
    /// pong), and asks for a flush. `Ok(false)` when it does not fit yet: write out what is pending
    /// ([`Session::poll_transmit`]) and call again. Data sends are refused from then on; the peer's data
    /// still arrives until its close frame. (Placed at once, the reason needs no room in the session.)
    pub fn close(
        &mut self,
        code: CloseCode,
        reason: &str,
        buf: &mut [u8],
        now: Instant,
    ) -> Result<bool, SendError> {
        let frame = ControlFrame::close(Some(code), reason)?;
        if self.sender.is_closed() || self.phase != Phase::Open {
            return Err(SendError::Closed);
        }
        self.place_control(buf, now);
        let Some(end) = self.place_close(&frame, buf, now)? else {
            return Ok(false);
        };
        self.close_at = Some(end);
        self.phase = Phase::Closing;
        self.clock.close_by = Stamp::new(super::clock::deadline(now, self.timeouts.close));
        self.flush_requested = true;
        Ok(true)
    }

    /// True while a data message is begun and not finished.
    pub fn in_message(&self) -> bool {
        self.sender.in_message()
    }

    pub(super) fn check_send(&self) -> Result<(), SendError> {
        match self.phase {
            Phase::Open => Ok(()),
            _ => Err(SendError::Closed),
        }
    }

    /// Moves owed control frames into the buffer, each only if it fits whole: the peer's pong first, then
    /// our ping, and the reply to the peer's close. Each is framed from where its payload lies (no copy
    /// of a 125-byte control frame on the stack).
    #[inline]
    pub(super) fn place_control(&mut self, buf: &mut [u8], now: Instant) {
        // Checked inline: every send and every transmit poll comes here, and almost never owes anything.
        if self.owes_control() {
            self.place_owed_control(buf, now);
        }
    }

    fn place_owed_control(&mut self, buf: &mut [u8], now: Instant) {
        while self.owes_control() {
            let len = self.output.0;
            let mut bytes = [0u8; 8];
            let (opcode, payload, owed) = match self.receiver.replies().pong() {
                Some(pong) => (OpCode::Pong, pong.payload(), Owed::Reply),
                None if self.own_ping => {
                    bytes = self.clock.latest_ping.to_be_bytes();
                    (OpCode::Ping, &bytes[..], Owed::Ping)
                }
                None => {
                    // A code taken from a received close frame or a protocol error is always sendable.
                    let code = self.receiver.replies().close().flatten();
                    let n = code.map_or(0, |code| {
                        bytes[..2].copy_from_slice(&code.0.to_be_bytes());
                        2
                    });
                    (OpCode::Close, &bytes[..n], Owed::Reply)
                }
            };
            if frame_len(payload.len()) > self.free(buf) && !self.sender.is_closed() {
                self.need_room = len > 0;
                return;
            }
            // After our close nothing more may be sent: a frame the sender refuses is dropped.
            let end = put_control(&mut self.sender, buf, len, opcode, payload).ok();
            match owed {
                Owed::Reply => self.receiver.reply_sent(),
                Owed::Ping => self.own_ping = false,
            }
            let Some(end) = end else {
                continue;
            };
            self.placed(end, now);
            self.flush_requested = true;
            if opcode == OpCode::Close {
                self.close_at = Some(end);
            }
        }
    }

    /// Places our close frame after what is pending, once nothing owed comes before it and it fits;
    /// returns its end, or `None` while it has to wait for room.
    fn place_close(
        &mut self,
        frame: &ControlFrame,
        buf: &mut [u8],
        now: Instant,
    ) -> Result<Option<usize>, SendError> {
        let (len, _) = self.output;
        let needed = frame_len(frame.payload().len());
        if buf.len() < needed {
            return Err(SendError::BufferTooSmall { needed });
        }
        if self.owes_control() || needed > self.free(buf) {
            self.need_room = len > 0;
            return Ok(None);
        }
        let end = put_control(&mut self.sender, buf, len, OpCode::Close, frame.payload())?;
        self.placed(end, now);
        Ok(Some(end))
    }

    /// True when a control frame is owed to the peer.
    fn owes_control(&self) -> bool {
        self.receiver.owes_reply() || self.own_ping
    }

    /// Room in `buf` after the pending bytes; none while an unbuffered payload must follow them first.
    pub(super) fn free(&self, buf: &[u8]) -> usize {
        match self.unbuffered {
            0 => buf.len().saturating_sub(self.output.0),
            _ => 0,
        }
    }

    pub(super) fn placed(&mut self, end: usize, now: Instant) {
        if self.output.0 == 0 {
            self.clock.oldest = Stamp::new(Some(now));
        }
        self.output.0 = end;
    }

    fn shutdown_once(&mut self) -> Transmit {
        if self.shut_down {
            Transmit::Idle
        } else {
            self.shut_down = true;
            Transmit::Shutdown
        }
    }
}

/// A compressed message being sent: the output bytes held back from the last frame.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Outflow {
    held: [u8; 4],
    held_len: u8,
}

/// A backend for sessions without permessage-deflate: never called.
#[derive(Debug)]
pub enum NoDeflate {}

/// The deflater a session without permessage-deflate lends [`Session::send_chunk`]: none.
pub const NO_DEFLATER: Option<&'static mut NoDeflate> = None;

impl Deflate for NoDeflate {
    fn deflate(&mut self, _: &[u8], _: &mut [u8], _: bool) -> Result<usize, DeflateError> {
        match *self {}
    }

    fn reset(&mut self) {
        match *self {}
    }
}

/// Where an owed control frame waits.
enum Owed {
    Reply,
    Ping,
}

/// Bytes a frame with `payload` bytes takes at most (its header at its longest).
pub(super) fn frame_len(payload: usize) -> usize {
    MAX_HEADER_LEN.saturating_add(payload)
}

/// Frames a control frame of `opcode` carrying `payload` (wherever it lies) and places it in `buf` at `at`
/// (the caller checked that it fits); returns its end. The sender refuses anything after our close frame.
fn put_control(
    sender: &mut Sender,
    buf: &mut [u8],
    at: usize,
    opcode: OpCode,
    payload: &[u8],
) -> Result<usize, SendError> {
    let head = sender.control_head(opcode, payload.len())?;
    Ok(place(buf, at, &head, &[payload], 0, payload.len()))
}

/// Copies the frame `head` with `take` payload bytes from `parts` (after `skip`) into `buf[at..]`, masking
/// as needed; returns the end of the frame. The caller checked that it fits.
fn place(
    buf: &mut [u8],
    at: usize,
    head: &FrameHead,
    parts: &[&[u8]],
    skip: usize,
    take: usize,
) -> usize {
    let header = head.as_bytes();
    let mut end = at + header.len();
    buf[at..end].copy_from_slice(header);
    let mut masker = head.payload_masker();
    for piece in segments(parts, skip, take) {
        let slot = &mut buf[end..end + piece.len()];
        slot.copy_from_slice(piece);
        masker.apply(slot);
        end += piece.len();
    }
    end
}

/// The non-empty slices of `parts` that make up the `take` bytes after the first `skip`.
fn segments<'p>(
    parts: &'p [&'p [u8]],
    skip: usize,
    take: usize,
) -> impl Iterator<Item = &'p [u8]> + 'p {
    let (mut skip, mut take) = (skip, take);
    parts.iter().filter_map(move |part| {
        let Some(rest) = part.get(skip..) else {
            skip -= part.len();
            return None;
        };
        skip = 0;
        let n = rest.len().min(take);
        take -= n;
        (n > 0).then(|| &rest[..n])
    })
}
