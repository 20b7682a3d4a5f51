//! The reading half: whole messages (in a buffer the caller lends) or pieces of any size, streamed.
//!
//! It reads when the session needs input and hands each event on: pieces to the caller, pongs to a
//! waiting [`crate::Writer::ping`], the peer's close frame as the end of the stream. Replies the session
//! owes (pongs, the close reply, keepalive pings) are sent on the way, if the write side is free.

use crate::shared::{now, Shared};
use crate::{Error, Upgraded};
use core::pin::pin;
use embassy_sync::blocking_mutex::raw::RawMutex;
use embedded_io_async::{ErrorType, Read, Write};
use rill_ws::{CloseCode, Event, Message, Piece, PieceAt, ProtocolError, Session};

/// The reading half of a connection. Pings are answered and pongs recorded while it reads.
///
/// `'s` is what it borrows (the buffers, the [`Shared`] state), `'b` the write buffer the shared state holds.
pub struct Reader<'s, 'b, M: RawMutex, R, W> {
    io: R,
    buf: &'s mut [u8],
    message: &'s mut [u8],
    /// Bytes of the message being reassembled in `message`; a field, so that a cancelled
    /// [`Reader::recv`] resumes the same message.
    message_len: usize,
    /// The peer's close code and the length of its reason, kept at the start of the read buffer (the
    /// session's copy is behind the lock); later reads, all discarded, go after it.
    close: Option<(Option<CloseCode>, usize)>,
    /// permessage-deflate's inflater, lent with `Reader::inflating` (feature `deflate`).
    inflater: Option<&'s mut (dyn rill_ws::deflate::Inflate + Send)>,
    shared: &'s Shared<'b, M, W>,
}

impl<'s, 'b, M, R, W> Reader<'s, 'b, M, R, W>
where
    M: RawMutex,
    W: Write,
    R: Read + ErrorType<Error = W::Error>,
{
    /// The reading half: `io` is the stream's read half, `read_buf` the buffer the handshake used
    /// (`upgraded` says which bytes in it are already WebSocket data), `message_buf` where
    /// [`Reader::recv`] reassembles messages that arrive in several pieces (may be empty: then only messages
    /// that arrive in one piece fit; [`Reader::recv_piece`] needs none).
    pub fn new(
        io: R,
        read_buf: &'s mut [u8],
        upgraded: Upgraded,
        message_buf: &'s mut [u8],
        shared: &'s Shared<'b, M, W>,
    ) -> Self {
        shared.begin(upgraded, read_buf.len());
        Self::over(io, read_buf, message_buf, shared)
    }

    /// The reading half of a connection whose session [`Shared::begin`] has started.
    pub(crate) fn over(
        io: R,
        read_buf: &'s mut [u8],
        message_buf: &'s mut [u8],
        shared: &'s Shared<'b, M, W>,
    ) -> Self {
        Reader {
            io,
            buf: read_buf,
            message: message_buf,
            message_len: 0,
            close: None,
            inflater: None,
            shared,
        }
    }

    /// Lends the buffer [`Reader::recv`] reassembles messages in that arrive in several pieces (replacing
    /// the one given to [`Reader::new`]; [`crate::accept`] and [`crate::connect`] give none).
    pub fn reassembling(mut self, message_buf: &'s mut [u8]) -> Self {
        self.message = message_buf;
        self
    }

    /// Lends the inflater compressed messages are inflated with (permessage-deflate, feature `deflate`):
    /// e.g. a `rill_ws::deflate::Inflater` over a window of `1 << receive_window_bits` bytes, as
    /// [`crate::Config::deflate`] agreed. Pieces of a compressed message then lie in its window.
    #[cfg(feature = "deflate")]
    pub fn inflating(mut self, inflater: &'s mut (dyn rill_ws::deflate::Inflate + Send)) -> Self {
        self.inflater = Some(inflater);
        self
    }

    /// The next event, inflating compressed messages when an inflater is lent (without the feature
    /// nothing is inflated, and the inflating code is not in the firmware).
    fn poll_event(&mut self) -> Event {
        #[cfg(feature = "deflate")]
        return (self.shared).with(|s| s.poll_event(self.buf, self.inflater.as_deref_mut()));
        #[cfg(not(feature = "deflate"))]
        self.shared
            .with(|s| s.poll_event(self.buf, rill_ws::session::NO_INFLATER))
    }

    /// Receives the next whole message: straight from the read buffer when it arrived in one piece,
    /// reassembled in the message buffer otherwise. A message that does not fit the message buffer fails
    /// the connection (close code 1009 to the peer, [`ProtocolError::MessageTooLarge`] here and from every
    /// later call). The peer's close frame is [`Message::Close`]; later calls return [`Error::Closed`]
    /// once the connection has ended.
    pub async fn recv(&mut self) -> Result<Message<'_>, Error<W::Error>> {
        let (kind, whole) = loop {
            let Some(at) = self.next().await? else {
                let (code, reason) = self.close_frame();
                return Ok(Message::Close(code, reason));
            };
            if at.first && at.last {
                break (at.kind, Some(at));
            }
            if at.first {
                self.message_len = 0;
            }
            let end = self.message_len + (at.end - at.start);
            if self.message.len() < end {
                return Err(self.too_large().await);
            }
            let piece = at.of_with(self.buf, self.inflater.as_deref()).payload;
            self.message[self.message_len..end].copy_from_slice(piece);
            self.message_len = end;
            if at.last {
                break (at.kind, None);
            }
        };
        let bytes = match whole {
            Some(at) => at.of_with(self.buf, self.inflater.as_deref()).payload,
            None => self.message.get(..self.message_len).unwrap_or_default(),
        };
        Ok(Message::new(kind, bytes))
    }

    /// Fails the connection because a message outgrew the message buffer, and sends the close frame now.
    async fn too_large(&mut self) -> Error<W::Error> {
        let error = ProtocolError::MessageTooLarge {
            limit: self.message.len() as u64,
        };
        self.shared.with(|s| s.fail(error, now()));
        self.shared.wake_both();
        // The close frame goes out now if the write side is free, else with its holder's next write; the
        // error is what the caller needs to hear either way.
        let _ = self.shared.try_pump().await;
        Error::Protocol(error)
    }

    /// Receives the next piece of a message as soon as it arrives: a message of any size streams through
    /// the read buffer. `None` means the peer's close frame arrived (its reply is sent; see
    /// [`Reader::close_frame`]); the next call lingers until the connection ends, then returns
    /// [`Error::Closed`].
    pub async fn recv_piece(&mut self) -> Result<Option<Piece<'_>>, Error<W::Error>> {
        let at = self.next().await?;
        Ok(at.map(|at| at.of_with(self.buf, self.inflater.as_deref())))
    }

    /// The peer's close frame once [`Reader::recv_piece`] returned `None`: its code (absent when the frame
    /// was empty) and reason.
    pub fn close_frame(&self) -> (Option<CloseCode>, &str) {
        match self.close {
            Some((code, len)) => {
                let reason = self.buf.get(..len).and_then(rill_ws::utf8::as_str);
                (code, reason.unwrap_or_default())
            }
            None => (None, ""),
        }
    }

    /// True when bytes already read are waiting to be decoded: flush replies once this is false.
    pub fn has_buffered_input(&self) -> bool {
        self.shared.with(|s| s.has_buffered_input())
    }

    /// The next piece, or `None` for the peer's close frame.
    async fn next(&mut self) -> Result<Option<PieceAt>, Error<W::Error>> {
        let shared = self.shared;
        loop {
            match self.poll_event() {
                Event::NeedInput => {
                    // Replies and pings first; the session may also have ended meanwhile.
                    if shared.try_pump().await? {
                        continue;
                    }
                    self.read().await?;
                }
                Event::Piece(at) => return Ok(Some(at)),
                // No inflater was lent (`Reader::inflating`): compressed data cannot be read.
                Event::NeedInflater => {
                    let error = ProtocolError::InvalidCompressedData;
                    shared.with(|s| s.fail(error, now()));
                }
                // Each ping of a burst gets its pong, sent now if the write side is free.
                Event::Ping => {
                    shared.try_pump().await?;
                }
                Event::Pong(id) => shared.pong.signal(id),
                Event::Close => {
                    self.keep_close_frame();
                    shared.wake_both();
                    // The reply goes out now if the write side is free; a failure to send it shows on the
                    // next call, while this one reports what arrived.
                    let _ = shared.try_pump().await;
                    return Ok(None);
                }
                Event::End(end) => {
                    shared.wake_both();
                    return Err(end.into());
                }
            }
        }
    }

    /// One read into the read buffer (after the kept close reason), bounded by the session's deadlines.
    async fn read(&mut self) -> Result<(), Error<W::Error>> {
        let shared = self.shared;
        let keep = self.close.map_or(0, |(_, len)| len);
        let mut read = pin!(self.io.read(self.buf.get_mut(keep..).unwrap_or_default()));
        loop {
            match shared.wait(read.as_mut(), &shared.reader_wake).await? {
                Some(0) => {
                    shared.with(Session::handle_eof);
                    shared.wake_both();
                    return Ok(());
                }
                Some(read) => {
                    shared.with(|s| s.handle_input(0..read, now()));
                    return Ok(());
                }
                // A deadline passed (a keepalive ping or a batch is due) or the writer changed something:
                // send what is due and keep the read going, unless the connection ended.
                None => {
                    shared.try_pump().await?;
                    if shared.with(|s| s.end().is_some()) {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Copies the peer's close reason to the start of the read buffer, cut at a character boundary to at
    /// most half the buffer so that lingering reads still have room.
    fn keep_close_frame(&mut self) {
        let room = self.buf.len() / 2;
        let buf = &mut *self.buf;
        self.close = Some(self.shared.with(|s| {
            let (code, reason) = s.close_frame();
            let mut len = reason.len().min(room);
            while !reason.is_char_boundary(len) {
                len -= 1;
            }
            buf[..len].copy_from_slice(&reason.as_bytes()[..len]);
            (code, len)
        }));
    }
}
