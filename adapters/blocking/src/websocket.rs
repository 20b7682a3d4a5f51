//! [`WebSocket`]: one connection over a blocking stream, and its [`Reader`] half once split for two
//! threads.

use crate::pump::{Core, Input, Link, Output, Stream};
use crate::{Config, Error, Timeouts, Writer};
use rill_ws::{CloseCode, Message, Piece, Role, SendError, Session};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::ops::{Deref, DerefMut, Range};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A WebSocket connection after the handshake, over a blocking stream `S`. Sending is [`Writer`]'s
/// (`send`, `send_text`, `send_binary`, `feed`, `flush`, `begin`), reached through `Deref`.
pub struct WebSocket<S> {
    /// The write side, and in its `input` the receiving side: a send that waits reads what the peer sent.
    writer: Writer<S>,
    protocol: Option<String>,
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
        deflate: Option<rill_ws::deflate::DeflateParams>,
    ) -> Result<Self, Error> {
        // RFC 6455 section 5.3: a client's masking keys come from a strong source of entropy, so without
        // one it fails (an I/O error of kind `Other`) rather than masking predictably. A server masks
        // nothing and needs none.
        let mut seed = [0u8; 32];
        if role == Role::Client {
            getrandom::fill(&mut seed).map_err(|e| {
                Error::Io(std::io::Error::other(format!(
                    "no OS entropy for the WebSocket masking keys: {e}"
                )))
            })?;
        }
        let origin = std::time::Instant::now();
        let mut session = Session::new(role, config.session, seed, rill_ws::Instant(0));
        session.set_deflate(deflate, config.deflate.map_or(0, |d| d.compress_threshold));
        let early_len = early.len();
        buf.copy_within(early, 0);
        if early_len > 0 {
            session.handle_input(0..early_len, rill_ws::Instant(0));
        }
        // The handshake needed room for a header block; the connection reads `read_buffer` at a time.
        buf.truncate(config.read_buffer.max(early_len).max(1));
        let deflater = rill_zlib::LazyDeflater::new(config.deflate.unwrap_or_default());
        let out = Mutex::new((stream, Output::new(config.write_buffer, deflater)));
        let core = Arc::new(Core::new(session, origin));
        let writer = Writer {
            core,
            out: Arc::new(out),
            input: Some(Input::new(buf, config.max_message)),
        };
        Ok(WebSocket { writer, protocol })
    }

    /// Runs a receive: one thread owns the connection, so the write side is held throughout and the
    /// replies the session owes go out on the same stream.
    fn link<'a, R>(&'a mut self, f: impl FnOnce(&'a mut Input, &mut Link<'_>) -> R) -> R {
        let Writer { core, out, input } = &mut self.writer;
        let input = input
            .as_mut()
            .expect("a WebSocket holds its receiving side until split");
        let mut guard = out.lock().unwrap_or_else(PoisonError::into_inner);
        let (stream, output) = &mut *guard;
        let core = &**core;
        let tx = &mut |io: &mut dyn Stream, close: Option<CloseCode>| match close {
            Some(code) => output.close(core, io, None, code, rill_net::GOING_AWAY_REASON),
            None => output.pump(core, io, None),
        };
        f(
            input,
            &mut Link {
                core,
                io: stream,
                tx,
            },
        )
    }

    /// The next whole message, reassembled up to [`Config::max_message`] (beyond it the peer gets close
    /// code 1009 and this returns [`Error::Protocol`]); pings are answered meanwhile. The peer's close
    /// frame is returned as [`Message::Close`] (the reply is sent); later calls read until the peer
    /// ends the connection, then return [`Error::Closed`].
    pub fn recv(&mut self) -> Result<Message<'_>, Error> {
        self.link(|input, link| input.recv(link))
    }

    /// The next piece of a message as it arrives (at most [`Config::read_buffer`] bytes; no limit on
    /// the message), or `None` once the peer's close frame arrived ([`WebSocket::close_frame`]). Later
    /// calls read until the peer ends the connection, then return [`Error::Closed`].
    pub fn recv_piece(&mut self) -> Result<Option<Piece<'_>>, Error> {
        self.link(|input, link| input.recv_piece(link))
    }

    /// Sends a ping and reads until its pong: `Some` round-trip time, or `None` when a message piece
    /// or the peer's close frame came first. That is not lost: the next receive returns it. Call it
    /// between messages. [`Error::Timeout`] when no pong came within `timeout`.
    pub fn ping(&mut self, timeout: Duration) -> Result<Option<Duration>, Error> {
        self.link(|input, link| input.ping(link, timeout))
    }

    /// Closes: sends a close frame with `code` and `reason` (at most 123 bytes), then reads (and drops)
    /// what arrives until the peer's close frame and the end of the connection, within the session's
    /// close timeout. `Ok` when the close handshake finished.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let closed = {
            let Writer { core, out, input } = &mut self.writer;
            let mut guard = out.lock().unwrap_or_else(PoisonError::into_inner);
            let (stream, output) = &mut *guard;
            output.close(core, stream, input.as_mut(), code, reason)
        };
        match closed {
            // `Closed`: the peer's close frame came first; finish its handshake.
            Ok(()) | Err(Error::Send(SendError::Closed)) => {
                self.link(|input, link| input.finish(link))
            }
            Err(error) => Err(error),
        }
    }

    /// The peer's close frame, once it arrived: its code (absent in an empty frame) and reason.
    pub fn close_frame(&self) -> (Option<CloseCode>, String) {
        self.writer.core.close_frame()
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Enrolls the connection in `drain`: once it starts, the next receive (a blocked one within 100 ms)
    /// sends close 1001, discards the messages that still arrive and returns the peer's close frame.
    /// Connections from a [`crate::Listener`] given a drain are enrolled already; for them this does
    /// nothing.
    pub fn enroll(&mut self, drain: &crate::Drain) {
        let _ = self
            .writer
            .core
            .ticket
            .set(rill_net::Ticket::enrolled(drain));
    }

    /// Holds `ticket` (a listener's limits and drain) for as long as the connection lives.
    pub(crate) fn admitted(self, ticket: rill_net::Ticket) -> Self {
        let _ = self.writer.core.ticket.set(ticket);
        self
    }
}

impl<S> Deref for WebSocket<S> {
    type Target = Writer<S>;
    fn deref(&self) -> &Writer<S> {
        &self.writer
    }
}

impl<S> DerefMut for WebSocket<S> {
    fn deref_mut(&mut self) -> &mut Writer<S> {
        &mut self.writer
    }
}

impl WebSocket<TcpStream> {
    /// Splits the connection into a reader and a writer for two threads (the stream is cloned).
    pub fn split(self) -> Result<(Reader, Writer), Error> {
        let stream = self.writer.lock().0.try_clone().map_err(Error::Io)?;
        let mut writer = self.writer;
        let (core, out) = (writer.core.clone(), writer.out.clone());
        // From here the reader's thread hears the peer: neither writer reads.
        let input = writer
            .input
            .take()
            .expect("a WebSocket holds its receiving side until split");
        let reader = Reader {
            input,
            stream,
            writer,
        };
        Ok((
            reader,
            Writer {
                core,
                out,
                input: None,
            },
        ))
    }
}

/// The receiving half from [`WebSocket::split`]. It also sends the replies the peer is owed, but
/// never waits for the write side: when the [`Writer`] holds it, the writer sends them after unlocking.
pub struct Reader {
    input: Input,
    stream: TcpStream,
    writer: Writer,
}

impl Reader {
    fn link<'a, R>(&'a mut self, f: impl FnOnce(&'a mut Input, &mut Link<'_>) -> R) -> R {
        let Reader {
            input,
            stream,
            writer,
        } = self;
        let tx = &mut |_: &mut dyn Stream, close: Option<CloseCode>| match close {
            // A handle of its own: the reader keeps using `writer` meanwhile.
            Some(code) => Writer {
                core: writer.core.clone(),
                out: writer.out.clone(),
                input: None,
            }
            .close(code, rill_net::GOING_AWAY_REASON),
            None => writer.try_pump(),
        };
        f(
            input,
            &mut Link {
                core: &writer.core,
                io: stream,
                tx,
            },
        )
    }

    /// The next whole message; see [`WebSocket::recv`].
    pub fn recv(&mut self) -> Result<Message<'_>, Error> {
        self.link(|input, link| input.recv(link))
    }

    /// The next piece of a message; see [`WebSocket::recv_piece`].
    pub fn recv_piece(&mut self) -> Result<Option<Piece<'_>>, Error> {
        self.link(|input, link| input.recv_piece(link))
    }

    /// The peer's close frame, once it arrived: its code and reason.
    pub fn close_frame(&self) -> (Option<CloseCode>, String) {
        self.writer.core.close_frame()
    }
}
