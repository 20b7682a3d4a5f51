//! The receiving side of a session: decoding from the adapter's read buffer into events.

use super::{End, Instant, Phase, Session};
use crate::close::CloseCode;
use crate::connection::{Decoded, MessageKind, Piece};

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
}

impl PieceAt {
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
    /// Records `read` bytes read into `buf[..read]` after [`Event::NeedInput`]; `read` must be above zero
    /// (an end of stream is [`Session::handle_eof`]).
    pub fn handle_input(&mut self, read: usize, now: Instant) {
        self.clock.last_heard = now;
        self.input = match self.phase {
            Phase::Open | Phase::Closing => (0, read),
            // Lingering discards what arrives; a finished session ignores it.
            Phase::Lingering | Phase::Done => (0, 0),
        };
    }

    /// Records that the peer ended the stream.
    pub fn handle_eof(&mut self) {
        self.input = (0, 0);
        match self.phase {
            Phase::Lingering => self.finish(self.end.unwrap_or(End::Closed)),
            _ => self.finish(End::Abnormal),
        }
    }

    /// True when bytes already read are waiting to be decoded.
    pub fn has_buffered_input(&self) -> bool {
        self.input.0 < self.input.1
    }

    /// True while the session wants input read: open, closing, or lingering until the peer ends TCP.
    pub fn wants_input(&self) -> bool {
        self.phase != Phase::Done
    }

    /// Decodes the next event from `buf`, the read buffer (the same one every time). Pings are answered
    /// (the pong is queued for [`Session::poll_transmit`]) and pongs recorded on the way. Events happen
    /// at the instant their input arrived (the one given to [`Session::handle_input`]): a pong's
    /// round-trip time ends when its bytes were read, and no clock is read per event.
    pub fn poll_event(&mut self, buf: &mut [u8]) -> Event {
        let now = self.clock.last_heard;
        loop {
            match self.phase {
                Phase::Open | Phase::Closing => {}
                Phase::Lingering => return Event::NeedInput,
                Phase::Done => return Event::End(self.end.unwrap_or(End::Abnormal)),
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
                    })
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
