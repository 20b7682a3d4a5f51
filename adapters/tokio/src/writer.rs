//! The writing half: whole messages, chunked messages, relayed pieces, ping and close. Each operation
//! places frames in the session's write buffer and pumps it out; the session decides framing, replies
//! and flushing.

use crate::shared::{Shared, Unplaced, WriteSide};
use crate::{Error, Timeout};
use rill_ws::{CloseCode, MessageKind, Piece, SendError, Session};
use rill_zlib::ZlibDeflater;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWrite;
use tokio::sync::watch;

/// The writing half of a connection. Each `send_*` returns once the frame is written and flushed (unless a
/// [`crate::Batch`] policy is configured, or [`Writer::feed`] is used to batch explicitly).
pub struct Writer<S> {
    shared: Arc<Shared<S>>,
    pong: watch::Receiver<u64>,
}

impl<S: AsyncWrite> Writer<S> {
    pub(crate) fn new(shared: Arc<Shared<S>>) -> Self {
        let pong = shared.pong.subscribe();
        Writer { shared, pong }
    }

    /// Places frames with `place` until it reports everything placed, writing out whenever the buffer
    /// needs room; then flushes by policy when `flush` is set. `place` gets the bytes placed so far, and
    /// the compressor when the handshake agreed permessage-deflate. `data` is a data send's payload parts
    /// and whether they end the message: if this future is dropped before they are all placed, the rest
    /// is placed as the write side is put back, so the message still leaves whole.
    /// `whole` is the kind and payload of a whole message, sent unbuffered instead when
    /// [`Writer::sends_unbuffered`] says so (decided here, so that other sends pay for no extra future).
    async fn place(
        &mut self,
        len: usize,
        data: Option<(&[&[u8]], bool)>,
        flush: bool,
        whole: Option<(MessageKind, &[u8])>,
        mut place: impl FnMut(
            &mut Session,
            &mut [u8],
            Option<&mut ZlibDeflater>,
            usize,
            rill_ws::Instant,
        ) -> Result<Placed, SendError>,
    ) -> Result<(), Error> {
        if let Some((kind, payload)) = whole.filter(|(_, payload)| self.sends_unbuffered(payload)) {
            return self.unbuffered(kind, payload, flush).await;
        }
        let shared = &*self.shared;
        // A close frame starts the close timeout, which runs on the real clock.
        let clock = || {
            if data.is_some() {
                shared.place_now()
            } else {
                shared.now()
            }
        };
        let mut now = clock();
        // One placing step: size the empty buffer, place, flush by policy, and ask whether anything must
        // be written now (under a batch policy a full batch is written without a flush request).
        let mut step = |s: &mut Session, side: &mut WriteSide, done: usize, now| {
            let WriteSide { buf, deflater, .. } = side;
            if done == 0 && !s.has_pending_output() && size_buffer(buf, len, &shared.config) {
                shared.write_grown.store(true, Ordering::Relaxed);
            }
            // The compressor is made at the first message that leaves compressed.
            if let (0, Some((_, fin))) = (done, data) {
                deflater.prepare(s, len, fin);
            }
            let placed = place(s, buf, deflater.get(), done, now)?;
            if flush && matches!(placed, Placed::All) {
                s.flush_by_policy();
            }
            Ok::<_, SendError>((placed, s.wants_transmit() || shared.config.batch.is_some()))
        };
        // With the write side free, the first step runs where the side lies, under the session's lock: a
        // send with nothing to write ends there without taking the side.
        let mut first = shared.with_free_side(|s, side| step(s, side, 0, now));
        match first {
            Some(Ok((Placed::All, false))) => return Ok(()),
            // Placed and owed (a send that flushes): written at once where the socket has room.
            Some(Ok((Placed::All, true))) => {
                if let Some(done) = shared.at_once(false).await {
                    return done;
                }
            }
            _ => {}
        }
        // Waited for only when another task holds it (the waiting future costs more than the lock).
        let mut side = match shared.try_write_side() {
            Some(side) => side,
            None => shared.wait_write_side().await,
        };
        let mut done = 0;
        let owed = loop {
            let placed = match first.take() {
                Some(placed) => placed,
                None => shared.with(|s| step(s, &mut side, done, now)),
            };
            match placed {
                Ok((Placed::All, owed)) => break owed,
                Ok((Placed::Part(placed), _)) => done = placed,
                Err(error) => return Err(shared.ended().unwrap_or(Error::Send(error))),
            }
            // The message is begun: from here a dropped send still places the rest.
            side.placing(data.map(|(parts, fin)| Unplaced {
                parts,
                done,
                fin,
                flush,
            }));
            shared.transmit(&mut side, false, &[]).await?;
            now = clock();
        };
        side.placing(None);
        // A send that neither flushes nor fills the buffer has nothing to write yet.
        if owed {
            shared.transmit(&mut side, false, &[]).await?;
        }
        match shared.sent(side) {
            true => shared.transmit_owed(true).await,
            false => Ok(()),
        }
    }

    /// True when a whole message with `payload` leaves from where it lies: it would not fit the write
    /// buffer and leaves unchanged (a server's, uncompressed). Only messages up to `max_write_buffer` do:
    /// a cancelled send copies its unwritten rest into the write buffer, which so never holds more than
    /// that; larger ones leave as frames of that size.
    #[inline]
    fn sends_unbuffered(&self, payload: &[u8]) -> bool {
        let config = &self.shared.config;
        let frame = rill_ws::frame::MAX_HEADER_LEN + payload.len();
        let large = frame > config.write_buffer && frame <= config.max_write_buffer;
        large && self.shared.with(|s| s.sends_unbuffered(payload.len()))
    }

    /// Sends a message without copying its payload into the write buffer (see
    /// [`rill_ws::Session::send_unbuffered`]): its header goes after the pending bytes, and the payload
    /// follows them in one vectored write, before this returns. Cancelled before the payload is out, the
    /// unwritten rest is copied into the write buffer as the write side is put back, so the frame still
    /// leaves whole; otherwise the write buffer never grows for such a message.
    async fn unbuffered(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        flush: bool,
    ) -> Result<(), Error> {
        let shared = &*self.shared;
        let mut side = match shared.try_write_side() {
            Some(side) => side,
            None => shared.wait_write_side().await,
        };
        side.allocate(&shared.config);
        let mut now = shared.place_now();
        loop {
            match shared.with(|s| s.send_unbuffered(&mut side.buf, kind, payload.len(), now)) {
                Ok(true) => break,
                // The pending bytes leave first to make room for the header.
                Ok(false) => shared.transmit(&mut side, false, &[]).await?,
                Err(error) => return Err(shared.ended().unwrap_or(Error::Send(error))),
            }
            now = shared.place_now();
        }
        side.hold(payload);
        if flush {
            shared.with(|s| s.flush_by_policy());
        }
        shared.transmit(&mut side, false, payload).await?;
        match shared.sent(side) {
            true => shared.transmit_owed(true).await,
            false => Ok(()),
        }
    }

    /// Sends one message of `kind` whose payload is the concatenation of `parts`. (Not an `async fn`: it
    /// returns `place`'s future itself rather than a future wrapping it, one state machine fewer.)
    fn message<'a>(
        &'a mut self,
        kind: MessageKind,
        parts: &'a [&'a [u8]],
        flush: bool,
    ) -> impl Future<Output = Result<(), Error>> + 'a {
        let total: usize = parts.iter().map(|part| part.len()).sum();
        let mut begun = false;
        let whole = match parts {
            [payload] => Some((kind, *payload)),
            _ => None,
        };
        self.place(
            total,
            Some((parts, true)),
            flush,
            whole,
            move |s, buf, deflater, done, now| {
                if !begun {
                    s.begin(kind)?;
                    begun = true;
                }
                let placed = s.send_chunk(buf, parts, done, true, now, deflater)?;
                Ok(Placed::after(placed, total, true, s))
            },
        )
    }

    /// Sends a text message, written and flushed when this returns.
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.message(MessageKind::Text, &[text.as_bytes()], true)
            .await
    }

    /// Sends a binary message, written and flushed when this returns.
    pub async fn send_binary(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.message(MessageKind::Binary, &[bytes], true).await
    }

    /// Sends a message of `kind`; the bytes of a text message must be UTF-8 (the peer closes with 1007
    /// otherwise). Written and flushed when this returns.
    pub async fn send(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error> {
        self.message(kind, &[payload], true).await
    }

    /// Sends one message whose payload is the concatenation of `parts` (e.g. an envelope header and its
    /// payload) without copying them together first. Written and flushed when this returns.
    pub async fn send_parts(&mut self, kind: MessageKind, parts: &[&[u8]]) -> Result<(), Error> {
        self.message(kind, parts, true).await
    }

    /// Buffers a message without flushing (the buffer is written when full). Call [`Writer::flush`] when no
    /// more messages are ready: under load this writes many messages per system call.
    pub async fn feed(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error> {
        self.message(kind, &[payload], false).await
    }

    /// Buffers a piece received from a [`crate::Reader`] as the matching frame of the same message, without
    /// flushing: echo servers and proxies relay a message of any size this way, piece by piece.
    pub async fn feed_piece(&mut self, piece: &Piece<'_>) -> Result<(), Error> {
        let total = piece.payload.len();
        let parts = &[piece.payload];
        let data = Some((&parts[..], piece.last));
        self.place(total, data, false, None, |s, buf, deflater, done, now| {
            let placed = s.relay(buf, piece, done, now, deflater)?;
            Ok(Placed::after(placed, total, piece.last, s))
        })
        .await
    }

    /// Writes and flushes everything buffered.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.shared.transmit_now(true).await
    }

    /// Begins a message sent in chunks of bytes; for text, the chunks together must be UTF-8 (a chunk may
    /// end inside a character). See [`Writer::begin_text`] for `&str` chunks.
    pub async fn begin(&mut self, kind: MessageKind) -> Result<Chunks<'_, S>, Error> {
        let begun = self.shared.with(|s| s.begin(kind));
        begun.map_err(|error| self.shared.ended().unwrap_or(Error::Send(error)))?;
        Ok(Chunks { writer: self })
    }

    /// Begins a text message sent in `&str` chunks.
    pub async fn begin_text(&mut self) -> Result<TextChunks<'_, S>, Error> {
        Ok(TextChunks(self.begin(MessageKind::Text).await?))
    }

    async fn chunk(&mut self, payload: &[u8], fin: bool) -> Result<(), Error> {
        let total = payload.len();
        let parts = &[payload];
        self.place(
            total,
            Some((parts, fin)),
            true,
            None,
            |s, buf, deflater, done, now| {
                let placed = s.send_chunk(buf, &[payload], done, fin, now, deflater)?;
                Ok(Placed::after(placed, total, fin, s))
            },
        )
        .await
    }

    /// Sends a ping and waits for its pong; returns the round-trip time. The pong is seen by the reader, so
    /// the reading half must be running (a task looping on `recv`) for this to return.
    pub async fn ping(&mut self, timeout: Duration) -> Result<Duration, Error> {
        let id = self.shared.with_now(|s, now| s.ping(now));
        let id = id.ok_or_else(|| self.shared.ended().unwrap_or(Error::Closed))?;
        self.shared.transmit_now(false).await?;
        let answered = self.pong.wait_for(|seen| *seen >= id);
        match tokio::time::timeout(timeout, answered).await {
            // A newer ping (a keepalive) replaced this one before its pong: the peer answers only the
            // latest (RFC 6455 section 5.5.3), so that answer's round trip is the measurement.
            Ok(Ok(seen)) => {
                let answered = *seen;
                self.shared
                    .with(|s| s.rtt(answered))
                    .ok_or(Error::Timeout(Timeout::Ping))
            }
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::Timeout(Timeout::Ping)),
        }
    }

    /// Sends a close frame with `code` and `reason` (at most 123 bytes) and flushes. Nothing may be sent
    /// after it; the reader sees the peer's reply.
    pub async fn send_close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.place(0, None, false, None, |s, buf, _, _, now| {
            // Not placed yet: the pending bytes are written out to make room, then it is tried again.
            Ok(match s.close(code, reason, buf, now)? {
                true => Placed::All,
                false => Placed::Part(0),
            })
        })
        .await
    }

    /// How long a graceful close waits for the peer.
    pub fn close_timeout(&self) -> Duration {
        self.shared.config.close_timeout
    }

    /// This end's role.
    pub fn role(&self) -> rill_ws::Role {
        self.shared.with(|s| s.role())
    }
}

/// How far a placing step got.
enum Placed {
    /// Everything is placed (and a final frame ended the message).
    All,
    /// This many payload bytes are placed; make room and go on.
    Part(usize),
}

impl Placed {
    /// After placing `placed` of `total` payload bytes of a frame that ends the message when `fin`.
    fn after(placed: usize, total: usize, fin: bool, session: &Session) -> Placed {
        if placed == total && !(fin && session.in_message()) {
            Placed::All
        } else {
            Placed::Part(placed)
        }
    }
}

/// Sizes the empty write buffer for a message of `len` bytes: allocated at the first write (an idle
/// connection never touches it) and grown so a large message leaves in one frame and one write (up to
/// `max_write_buffer`). It stays grown while traffic continues; the reader returns it to its configured
/// size once the connection has been quiet for a moment. True when it grew beyond `write_buffer`.
fn size_buffer(buf: &mut Vec<u8>, len: usize, config: &crate::Config) -> bool {
    let base = config.write_buffer.max(rill_ws::session::MIN_WRITE_BUFFER);
    let want = len.saturating_add(rill_ws::frame::MAX_HEADER_LEN);
    let size = if want <= base {
        base
    } else {
        want.next_power_of_two()
            .min(config.max_write_buffer.max(base))
    };
    if buf.len() < size {
        *buf = vec![0; size];
        return size > config.write_buffer;
    }
    false
}

/// A message being sent in chunks: each [`Chunks::send`] is one frame (or several, for a chunk larger
/// than the write buffer), written and flushed before it returns; [`Chunks::finish`] sends the final
/// frame. Dropping it unfinished leaves the message open and later data sends fail with
/// [`rill_ws::SendError::MessageInProgress`]; pings, pongs and close still work.
pub struct Chunks<'w, S: AsyncWrite> {
    writer: &'w mut Writer<S>,
}

impl<S: AsyncWrite> Chunks<'_, S> {
    /// Sends the next chunk as a non-final frame.
    pub async fn send(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.writer.chunk(chunk, false).await
    }

    /// Sends `last` as the final frame, ending the message (`last` may be empty).
    pub async fn finish(self, last: &[u8]) -> Result<(), Error> {
        self.writer.chunk(last, true).await
    }
}

/// A text message being sent in `&str` chunks; see [`Chunks`].
pub struct TextChunks<'w, S: AsyncWrite>(Chunks<'w, S>);

impl<S: AsyncWrite> TextChunks<'_, S> {
    /// Sends the next chunk as a non-final frame.
    pub async fn send(&mut self, chunk: &str) -> Result<(), Error> {
        self.0.send(chunk.as_bytes()).await
    }

    /// Sends `last` as the final frame, ending the message.
    pub async fn finish(self, last: &str) -> Result<(), Error> {
        self.0.finish(last.as_bytes()).await
    }
}
