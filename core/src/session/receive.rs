//! The receiving side of a session: decoding from the adapter's read buffer into events.

use super::{End, Instant, Phase, Session};
use crate::close::CloseCode;
use crate::codec::{Decoded, MessageKind, Piece};
use crate::deflate::Inflate;
use crate::error::ProtocolError;
use crate::utf8::Utf8Validator;

/// What [`Session::poll_event`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Everything read is decoded: read into the read buffer (from its start, as much as it holds), then
    /// call [`Session::handle_input`] (or [`Session::handle_eof`]).
    NeedInput,
    /// A piece of a message, unmasked in place in the read buffer.
    Piece(PieceAt),
    /// The peer's ping arrived and its pong is owed: transmit (if the write side is free), then poll
    /// again. Stopping here lets every ping of a burst get its own pong; a pong not yet placed when the
    /// next ping arrives is replaced by the newer one (RFC 6455 section 5.5.3).
    Ping,
    /// The pong for ping `id` arrived ([`Session::rtt`] has its round-trip time).
    Pong(u64),
    /// The peer's close frame arrived ([`Session::close_frame`]); our reply is queued.
    Close,
    /// The connection is over.
    End(End),
    /// A compressed message arrived and [`Session::poll_event`] was lent no inflater: lend one and poll
    /// again (so a connection that never receives a compressed message never allocates one), or fail the
    /// connection ([`Session::fail`] with [`ProtocolError::InvalidCompressedData`]).
    NeedInflater,
}

/// Where a piece of a message lies in the read buffer, and its place in the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PieceAt {
    /// Offset of the piece in the read buffer.
    pub start: usize,
    /// End of the piece in the read buffer.
    pub end: usize,
    /// Text or binary.
    pub kind: MessageKind,
    /// The piece starts a message.
    pub first: bool,
    /// The piece ends the message.
    pub last: bool,
    /// The piece lies in the inflater's window ([`Inflate::window`]), not in the read buffer: the
    /// message was compressed.
    pub inflated: bool,
}

/// A compressed message being inflated: what is known of it, and its compressed bytes not yet inflated.
#[derive(Clone, Copy, Debug)]
pub(super) struct Inflow {
    kind: MessageKind,
    /// No piece of it was given out yet.
    first: bool,
    /// Inflated bytes so far (limited by [`crate::Limits::max_message_len`]).
    len: u64,
    /// Validates a text message's inflated bytes.
    utf8: Utf8Validator,
    /// Compressed bytes of the read buffer not yet inflated, and whether they end the message.
    pending: Option<(usize, usize, bool)>,
}

/// A backend for sessions without permessage-deflate: never called, since the receiver refuses RSV1.
#[derive(Debug)]
pub enum NoInflate {}

/// The inflater a session without permessage-deflate lends [`Session::poll_event`]: none.
pub const NO_INFLATER: Option<&'static mut NoInflate> = None;

impl Inflate for NoInflate {
    fn inflate(
        &mut self,
        _: &[u8],
        _: bool,
        _: usize,
    ) -> Result<crate::deflate::Inflated, crate::deflate::InflateError> {
        match *self {}
    }

    fn window(&self) -> &[u8] {
        match *self {}
    }

    fn reset(&mut self) {
        match *self {}
    }
}

impl PieceAt {
    /// The piece of a session polled with an inflater ([`Session::poll_event`]): borrowed from the read
    /// buffer `read`, or from `inflater`'s window when [`PieceAt::inflated`].
    pub fn of_with<'b, I: Inflate + ?Sized>(
        &self,
        read: &'b [u8],
        inflater: Option<&'b I>,
    ) -> Piece<'b> {
        match inflater {
            Some(inflater) if self.inflated => self.of(inflater.window()),
            _ => self.of(read),
        }
    }

    /// The piece, borrowed from the read buffer it was decoded from.
    pub fn of<'b>(&self, buf: &'b [u8]) -> Piece<'b> {
        Piece {
            kind: self.kind,
            payload: buf.get(self.start..self.end).unwrap_or_default(),
            first: self.first,
            last: self.last,
        }
    }
}

impl Session {
    /// Records input that lies in `buf[range]`, the read buffer: after [`Event::NeedInput`], a read into
    /// its start (`0..n`, `n` above zero; an end of stream is [`Session::handle_eof`]); or bytes that lie
    /// further in, which are decoded where they are: bytes that came right behind the handshake, or the
    /// rest of a frame read straight behind its first piece ([`Session::payload_left`]). Later reads go to
    /// the buffer's start as usual, once [`Session::poll_event`] has consumed these.
    pub fn handle_input(&mut self, range: core::ops::Range<usize>, now: Instant) {
        self.clock.last_heard = now;
        self.input = match self.phase {
            Phase::Open | Phase::Closing => (range.start.min(range.end), range.end),
            // Lingering discards what arrives; a finished session ignores it.
            Phase::Lingering | Phase::Done => (0, 0),
        };
    }

    /// Records that the adapter stopped reading by choice (`held`: it keeps a piece the application has not
    /// taken yet, and reads on only once it has, as rill-tokio does while a send waits), or reads again
    /// at `now`. The peer's silence while input is held is not held against it: the idle timeout does not
    /// run, and runs from `now` once reading resumes.
    pub fn hold_input(&mut self, held: bool, now: Instant) {
        if self.input_held && !held {
            self.clock.last_heard = self.clock.last_heard.max(now);
        }
        self.input_held = held;
    }

    /// Records that the peer ended the stream.
    pub fn handle_eof(&mut self) {
        self.input = (0, 0);
        match self.phase {
            Phase::Lingering => self.finish(self.end.unwrap_or(End::Closed)),
            _ => self.finish(End::Abnormal),
        }
    }

    /// True when bytes already read are waiting to be decoded, counting a compressed message's bytes not
    /// yet inflated (they stay in the read buffer while the inflater's window is full). The one answer to
    /// "may the read buffer be reused": while this is true, it must not be.
    pub fn has_buffered_input(&self) -> bool {
        self.input.0 < self.input.1 || self.inflow.is_some_and(|flow| flow.pending.is_some())
    }

    /// The payload bytes still to come of the uncompressed data frame in progress, once the input read so
    /// far is decoded (`None` otherwise). The next read may go anywhere the adapter likes, up to this
    /// many bytes: they are the frame's payload and nothing else. An adapter gathering a whole message
    /// reads them straight behind the bytes gathered so far (rill-tokio: in the read buffer, behind the
    /// frame's first piece), hands them over with [`Session::handle_input`], and the piece comes
    /// back unmasked where it lies: the message is never copied to be made whole.
    pub fn payload_left(&self) -> Option<u64> {
        match self.phase {
            Phase::Open | Phase::Closing if !self.has_buffered_input() => {
                self.receiver.payload_left()
            }
            _ => None,
        }
    }

    /// Decodes the next event from `buf`, the read buffer (the same one every time). Pings are answered
    /// (the pong is queued for [`Session::poll_transmit`]) and pongs recorded on the way. Events happen
    /// at the instant their input arrived (the one given to [`Session::handle_input`]): a pong's
    /// round-trip time ends when its bytes were read, and no clock is read per event.
    ///
    /// `inflater` (the same one every time) inflates compressed messages when the handshake agreed
    /// permessage-deflate; their pieces then lie in its window ([`PieceAt::inflated`]), handed out as
    /// they are inflated, never reassembled first, and the message limit applies to the inflated size.
    /// Without one, a compressed message is [`Event::NeedInflater`]: lend one, or fail the connection.
    /// A connection without permessage-deflate passes [`NO_INFLATER`] (the inflating code is then left
    /// out of the binary).
    pub fn poll_event<I: Inflate + ?Sized>(
        &mut self,
        buf: &mut [u8],
        mut inflater: Option<&mut I>,
    ) -> Event {
        let now = self.clock.last_heard;
        loop {
            match self.phase {
                Phase::Open | Phase::Closing => {}
                Phase::Lingering => return Event::NeedInput,
                Phase::Done => return Event::End(self.end.unwrap_or(End::Abnormal)),
            }
            if self.inflow.is_some_and(|flow| flow.pending.is_some()) {
                if inflater.is_none() {
                    return Event::NeedInflater;
                }
                match self.inflate_step(buf, inflater.as_deref_mut()) {
                    Ok(Some(piece)) => return Event::Piece(piece),
                    Ok(None) => continue,
                    Err(error) => {
                        self.inflow = None;
                        self.fail(error, now);
                        continue;
                    }
                }
            }
            let (start, end) = self.input;
            let Some(input) = buf.get_mut(start..end).filter(|input| !input.is_empty()) else {
                return Event::NeedInput;
            };
            let base = input.as_ptr() as usize;
            let received = match self.receiver.receive(input) {
                Ok(received) => received,
                Err(error) => {
                    self.input = (0, 0);
                    self.linger(End::Protocol(error), now);
                    continue;
                }
            };
            self.input.0 += received.consumed;
            let event = match received.event {
                None => continue,
                Some(Decoded::Data(piece)) => {
                    let offset = piece.payload.as_ptr() as usize - base;
                    Event::Piece(PieceAt {
                        start: start + offset,
                        end: start + offset + piece.payload.len(),
                        kind: piece.kind,
                        first: piece.first,
                        last: piece.last,
                        inflated: false,
                    })
                }
                Some(Decoded::Compressed(piece)) => {
                    let offset = piece.payload.as_ptr() as usize - base;
                    let at = start + offset;
                    let pending = Some((at, at + piece.payload.len(), piece.last));
                    let flow = match self.inflow {
                        Some(flow) if !piece.first => flow,
                        _ => Inflow {
                            kind: piece.kind,
                            first: true,
                            len: 0,
                            utf8: Utf8Validator::new(),
                            pending: None,
                        },
                    };
                    self.inflow = Some(Inflow { pending, ..flow });
                    continue;
                }
                Some(Decoded::Ping(_)) => {
                    self.flush_requested = true;
                    Event::Ping
                }
                Some(Decoded::Pong(payload)) => match self.clock.pong(payload, now) {
                    Some(id) => Event::Pong(id),
                    None => continue,
                },
                Some(Decoded::Close { .. }) => {
                    self.input = (0, 0);
                    self.linger(End::Closed, now);
                    Event::Close
                }
            };
            return event;
        }
    }

    /// The peer's close frame after [`Event::Close`]: its code (absent when the frame was empty) and
    /// reason.
    pub fn close_frame(&self) -> (Option<CloseCode>, &str) {
        self.receiver.close_frame()
    }
}

impl Session {
    /// Inflates what is pending of a compressed message: the next piece of output, `None` when this
    /// input is used up without output to give.
    fn inflate_step<I: Inflate + ?Sized>(
        &mut self,
        buf: &[u8],
        inflater: Option<&mut I>,
    ) -> Result<Option<PieceAt>, ProtocolError> {
        let (Some(mut flow), Some(inflater)) = (self.inflow, inflater) else {
            return Err(ProtocolError::InvalidCompressedData);
        };
        let Some((start, end, last)) = flow.pending else {
            return Ok(None);
        };
        let limit = self.receiver.limits().max_message_len;
        // One byte over the limit is enough to know the message is too large.
        let allowed = limit.saturating_sub(flow.len).saturating_add(1);
        // The bytes must still be where they were decoded: an adapter that reused the read buffer while
        // `has_buffered_input` was true lost them, and inflating anything else would corrupt the message.
        let input = buf
            .get(start..end)
            .ok_or(ProtocolError::InvalidCompressedData)?;
        let step = inflater
            .inflate(input, last, usize::try_from(allowed).unwrap_or(usize::MAX))
            .map_err(|_| ProtocolError::InvalidCompressedData)?;
        if step.consumed == 0 && step.start == step.end && !step.finished && !input.is_empty() {
            // An inflater that neither takes input nor gives output would be called forever.
            return Err(ProtocolError::InvalidCompressedData);
        }
        let start = start + step.consumed;
        flow.pending = if step.finished || (start == end && !last) {
            None
        } else {
            Some((start, end, last))
        };
        let output = inflater
            .window()
            .get(step.start..step.end)
            .unwrap_or_default();
        flow.len += output.len() as u64;
        if flow.len > limit {
            return Err(ProtocolError::MessageTooLarge { limit });
        }
        if flow.kind == MessageKind::Text {
            flow.utf8
                .feed(output)
                .map_err(|_| ProtocolError::InvalidUtf8)?;
            if step.finished {
                flow.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        if output.is_empty() && !step.finished {
            self.inflow = Some(flow);
            return Ok(None);
        }
        let first = flow.first;
        flow.first = false;
        self.inflow = (!step.finished).then_some(flow);
        if step.finished
            && self
                .deflate
                .is_some_and(|params| params.receive_resets(self.role))
        {
            inflater.reset();
        }
        Ok(Some(PieceAt {
            start: step.start,
            end: step.end,
            kind: flow.kind,
            first,
            last: step.finished,
            inflated: true,
        }))
    }
}
