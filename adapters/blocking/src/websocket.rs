//! [`WebSocket`]: one connection over a blocking stream, used from one thread (see
//! [`WebSocket::split`] for two).

use crate::pump::{Core, Input, Link, Output};
use crate::{Config, Error, Timeouts};
use rill::{CloseCode, Message, MessageKind, Piece, Role, Session};
use std::io::{Read, Write};
use std::ops::Range;
use std::time::Duration;

/// A WebSocket connection after the handshake, over a blocking stream `S`.
pub struct WebSocket<S> {
    pub(crate) core: Core,
    pub(crate) stream: S,
    pub(crate) input: Input,
    pub(crate) output: Output,
    protocol: Option<String>,
}

/// Splits `self` into the session's core and a [`Link`] for the input side, whose transmit runs the
/// output pump on the same stream.
macro_rules! link {
    ($self:ident, $input:ident, $link:ident) => {
        let WebSocket {
            core,
            stream,
            input: $input,
            output,
            ..
        } = $self;
        let $link = &mut Link {
            core,
            io: stream,
            tx: &mut |io: &mut S| output.pump(core, io),
        };
    };
}

impl<S: Read + Write + Timeouts> WebSocket<S> {
    /// A connection whose handshake left `buf[early]` unread (frames sent right after it).
    pub(crate) fn new(
        stream: S,
        role: Role,
        config: Config,
        mut buf: Vec<u8>,
        early: Range<usize>,
        protocol: Option<String>,
    ) -> Result<Self, Error> {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
        let origin = std::time::Instant::now();
        let mut session = Session::new(
            role,
            config.session,
            u64::from_le_bytes(seed),
            rill::Instant(0),
        );
        let early_len = early.len();
        buf.copy_within(early, 0);
        // The handshake needed room for a whole header block; the connection reads `read_buffer` at a time.
        buf.truncate(config.read_buffer.max(early_len).max(1));
        if early_len > 0 {
            session.handle_input(early_len, rill::Instant(0));
        }
        Ok(WebSocket {
            core: Core::new(session, origin),
            stream,
            input: Input::new(buf, config.max_message),
            output: Output::new(config.write_buffer),
            protocol,
        })
    }

    /// The next whole message, reassembled in memory up to [`Config::max_message`] (beyond it the peer
    /// gets close code 1009 and this returns [`Error::Protocol`]). Pings are answered meanwhile. The
    /// peer's close frame is returned as [`Message::Close`] (the reply is sent); later calls read until
    /// the peer ends the connection, then return [`Error::Closed`].
    pub fn recv(&mut self) -> Result<Message<'_>, Error> {
        link!(self, input, link);
        input.recv(link)
    }

    /// The next piece of a message as it arrives (at most [`Config::read_buffer`] bytes, no limit on
    /// the message); `None` once the peer's close frame arrived ([`WebSocket::close_frame`]). Later calls
    /// read until the peer ends the connection, then return [`Error::Closed`].
    pub fn recv_piece(&mut self) -> Result<Option<Piece<'_>>, Error> {
        link!(self, input, link);
        input.recv_piece(link)
    }

    /// Sends a whole message and writes it out (under a batch policy: once the batch is due).
    pub fn send(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error> {
        self.feed(kind, payload)?;
        self.output.flush(&self.core, &mut self.stream, false)
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send(MessageKind::Text, text.as_bytes())
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.send(MessageKind::Binary, bytes)
    }

    /// Places a whole message in the write buffer without flushing it: it is written once the buffer
    /// fills or at the next [`WebSocket::flush`].
    pub fn feed(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error> {
        self.output
            .feed(&self.core, &mut self.stream, kind, payload)
    }

    /// Writes out and flushes everything fed so far.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.output.flush(&self.core, &mut self.stream, true)
    }

    /// Begins a message sent in chunks, for a payload that is produced as it goes.
    pub fn begin(&mut self, kind: MessageKind) -> Result<Chunks<'_>, Error> {
        let begun = self.core.lock().begin(kind);
        begun.map_err(|error| crate::pump::refused(&self.core.lock(), error))?;
        let WebSocket {
            core,
            stream,
            output,
            ..
        } = self;
        Ok(Chunks::new(move |chunk: &[u8], fin: bool| {
            output.chunk(core, stream, chunk, fin)?;
            output.flush(core, stream, false)
        }))
    }

    /// Sends a ping and reads until its pong: `Some` round-trip time, or `None` when a message (or the
    /// peer's close frame) arrived first. Call it between messages; what arrived first is not lost: the
    /// next `recv` or `recv_piece` returns it. [`Error::Timeout`] when no pong came within `timeout`.
    pub fn ping(&mut self, timeout: Duration) -> Result<Option<Duration>, Error> {
        link!(self, input, link);
        input.ping(link, timeout)
    }

    /// Closes: sends a close frame with `code` and `reason` (at most 123 bytes), then reads (discarding
    /// data) until the peer's close frame and the end of the connection, within the session's close
    /// timeout. `Ok` when the close handshake finished cleanly.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let now = self.core.now();
        let closed = self.core.lock().close(code, reason, now);
        match closed {
            // Already closing (the peer's close frame came first): finish the handshake.
            Ok(()) | Err(rill::SendError::Closed) => {}
            Err(error) => return Err(error.into()),
        }
        link!(self, input, link);
        input.finish(link)
    }

    /// The peer's close frame, once it arrived: its code (absent in an empty frame) and reason.
    pub fn close_frame(&self) -> (Option<CloseCode>, String) {
        let session = self.core.lock();
        let (code, reason) = session.close_frame();
        (code, reason.to_owned())
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }
}

/// A message being sent in chunks; from [`WebSocket::begin`] or [`crate::Writer::begin`]. Each chunk
/// leaves as a frame of its own. Dropping it without [`Chunks::finish`] leaves the message open: later
/// sends are refused.
pub struct Chunks<'a> {
    send: Box<dyn FnMut(&[u8], bool) -> Result<(), Error> + 'a>,
}

impl<'a> Chunks<'a> {
    pub(crate) fn new(send: impl FnMut(&[u8], bool) -> Result<(), Error> + 'a) -> Self {
        Chunks {
            send: Box::new(send),
        }
    }

    /// Sends the next chunk of the message and writes it out.
    pub fn send(&mut self, chunk: &[u8]) -> Result<(), Error> {
        (self.send)(chunk, false)
    }

    /// Sends the last chunk (may be empty) and ends the message.
    pub fn finish(mut self, last: &[u8]) -> Result<(), Error> {
        (self.send)(last, true)
    }
}
