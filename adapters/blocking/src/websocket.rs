//! [`WebSocket`]: one connection over a blocking stream, used from one thread (see
//! [`WebSocket::split`] for two).

use crate::pump::{Core, Input, Link, Output, Stream};
use crate::{Config, Error, Timeouts};
use rill::{CloseCode, Message, MessageKind, Piece, Role, SendError, Session};
use std::io::{Read, Write};
use std::time::Duration;

/// A WebSocket connection after the handshake, over a blocking stream `S`.
pub struct WebSocket<S> {
    pub(crate) core: Core,
    pub(crate) stream: S,
    pub(crate) input: Input,
    pub(crate) output: Output,
    protocol: Option<String>,
}

/// Binds `$link`, a [`Link`] for `$input` whose replies go out through the output pump on the same
/// stream.
macro_rules! link {
    ($self:ident, $input:ident, $link:ident) => {
        let WebSocket {
            core,
            stream,
            input: $input,
            output,
            ..
        } = $self;
        let tx = &mut |io: &mut dyn Stream| output.pump(core, io);
        let $link = &mut Link {
            core,
            io: stream,
            tx,
        };
    };
}

impl<S: Read + Write + Timeouts> WebSocket<S> {
    /// A connection whose handshake left `buf[early..len]` unread (frames sent right after it).
    pub(crate) fn new(
        stream: S,
        role: Role,
        config: Config,
        mut buf: Vec<u8>,
        early: usize,
        len: usize,
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
        buf.copy_within(early..len, 0);
        if len > early {
            session.handle_input(len - early, rill::Instant(0));
        }
        // The handshake needed room for a header block; the connection reads `read_buffer` at a time.
        buf.truncate(config.read_buffer.max(len - early).max(1));
        let (core, input) = (
            Core::new(session, origin),
            Input::new(buf, config.max_message),
        );
        let output = Output::new(config.write_buffer);
        Ok(WebSocket {
            core,
            stream,
            input,
            output,
            protocol,
        })
    }

    /// The next whole message, reassembled up to [`Config::max_message`] (beyond it the peer gets close
    /// code 1009 and this returns [`Error::Protocol`]); pings are answered meanwhile. The peer's close
    /// frame is returned as [`Message::Close`] (the reply is sent); later calls read until the peer
    /// ends the connection, then return [`Error::Closed`].
    pub fn recv(&mut self) -> Result<Message<'_>, Error> {
        link!(self, input, link);
        input.recv(link)
    }

    /// The next piece of a message as it arrives (at most [`Config::read_buffer`] bytes; no limit on
    /// the message), or `None` once the peer's close frame arrived ([`WebSocket::close_frame`]). Later
    /// calls read until the peer ends the connection, then return [`Error::Closed`].
    pub fn recv_piece(&mut self) -> Result<Option<Piece<'_>>, Error> {
        link!(self, input, link);
        input.recv_piece(link)
    }

    /// Sends a whole message and writes it out (under a batch policy, once the batch is due).
    pub fn send(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error> {
        self.output
            .send(&self.core, &mut self.stream, kind, payload, true)
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send(MessageKind::Text, text.as_bytes())
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.send(MessageKind::Binary, bytes)
    }

    /// Places a whole message in the write buffer; it is written once the buffer fills or at the next
    /// [`WebSocket::flush`].
    pub fn feed(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error> {
        self.output
            .send(&self.core, &mut self.stream, kind, payload, false)
    }

    /// Writes out and flushes everything fed so far.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.output.flush(&self.core, &mut self.stream)
    }

    /// Begins a message sent in chunks, for a payload produced as it goes.
    pub fn begin(&mut self, kind: MessageKind) -> Result<Chunks<'_>, Error> {
        let begun = self.core.lock().begin(kind);
        begun.map_err(|error| self.core.refused(error))?;
        let WebSocket {
            core,
            stream,
            output,
            ..
        } = self;
        Ok(Chunks::new(move |chunk, fin| {
            output.chunk(core, stream, chunk, fin, true)
        }))
    }

    /// Sends a ping and reads until its pong: `Some` round-trip time, or `None` when a message piece
    /// or the peer's close frame came first. That is not lost: the next receive returns it. Call it
    /// between messages. [`Error::Timeout`] when no pong came within `timeout`.
    pub fn ping(&mut self, timeout: Duration) -> Result<Option<Duration>, Error> {
        link!(self, input, link);
        input.ping(link, timeout)
    }

    /// Closes: sends a close frame with `code` and `reason` (at most 123 bytes), then reads (and drops)
    /// what arrives until the peer's close frame and the end of the connection, within the session's
    /// close timeout. `Ok` when the close handshake finished.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let now = self.core.now();
        let closed = self.core.lock().close(code, reason, now);
        match closed {
            Err(error) if error != SendError::Closed => return Err(error.into()),
            // `Closed`: the peer's close frame came first; finish its handshake.
            _ => {}
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

/// A message being sent in chunks, from [`WebSocket::begin`] or [`crate::Writer::begin`]; each chunk
/// leaves as a frame. Dropped without [`Chunks::finish`], it leaves the message open and later sends
/// are refused.
pub struct Chunks<'a> {
    send: Box<SendChunk<'a>>,
}

/// Places a chunk, the last one when the flag is set, and writes it out.
type SendChunk<'a> = dyn FnMut(&[u8], bool) -> Result<(), Error> + 'a;

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

    /// Sends the last chunk (may be empty), ending the message.
    pub fn finish(mut self, last: &[u8]) -> Result<(), Error> {
        (self.send)(last, true)
    }
}
