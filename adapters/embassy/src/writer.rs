//! The writing half: whole messages, messages in chunks, relayed pieces, pings and the close frame.
//!
//! Every frame is placed whole in the write buffer by the session before any byte of it is written, so a
//! cancelled send never leaves half a frame on the wire: the rest goes out with the next write.

use crate::shared::{after, now, Shared};
use crate::{Error, Timeout};
use core::time::Duration;
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_time::with_deadline;
use embedded_io_async::Write;
use rill_ws::streams::{Envelope, EnvelopeKind, ReplayWindow, Resumption};
use rill_ws::{CloseCode, MessageKind, Piece, SendError};

/// The writing half. Each `send_*` returns once the message is written and flushed (or, under a
/// [`crate::Batch`] policy, placed to leave with its batch); [`Writer::feed`] and [`Writer::feed_piece`]
/// place without flushing, for replies to input that arrived together.
///
/// A copy is another handle on the same write side (e.g. for a task that streams while another echoes):
/// each send holds the write side while it writes, so frames never interleave.
pub struct Writer<'s, 'b, M: RawMutex, W> {
    shared: &'s Shared<'b, M, W>,
}

impl<M: RawMutex, W> Clone for Writer<'_, '_, M, W> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: RawMutex, W> Copy for Writer<'_, '_, M, W> {}

impl<'s, 'b, M: RawMutex, W: Write> Writer<'s, 'b, M, W> {
    /// The writing half of the connection `shared` belongs to.
    pub fn new(shared: &'s Shared<'b, M, W>) -> Self {
        Writer { shared }
    }

    /// Sends a message of `kind`; the bytes of a text message must be UTF-8 (the peer closes with 1007
    /// otherwise).
    pub async fn send(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error<W::Error>> {
        self.send_parts(kind, &[payload]).await
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error<W::Error>> {
        self.send_parts(MessageKind::Text, &[text.as_bytes()]).await
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, bytes: &[u8]) -> Result<(), Error<W::Error>> {
        self.send_parts(MessageKind::Binary, &[bytes]).await
    }

    /// Sends one message whose payload is the concatenation of `parts` (e.g. a header and a body), as one
    /// frame when it fits the write buffer, else as several.
    pub async fn send_parts(
        &mut self,
        kind: MessageKind,
        parts: &[&[u8]],
    ) -> Result<(), Error<W::Error>> {
        self.shared.send(Some(kind), parts, true, true).await
    }

    /// Places a message without flushing; call [`Writer::flush`] when no more messages are ready.
    pub async fn feed(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error<W::Error>> {
        self.shared.send(Some(kind), &[payload], true, false).await
    }

    /// Places a piece received from a [`crate::Reader`] as the matching frame of the same message, without
    /// flushing: this echoes or relays a message of any size piece by piece.
    pub async fn feed_piece(&mut self, piece: &Piece<'_>) -> Result<(), Error<W::Error>> {
        // What `Session::relay` does (begin at the first piece, then the matching frame), spelled out so that
        // pieces share the one placing loop of every send.
        let begin = piece.first.then_some(piece.kind);
        self.shared
            .send(begin, &[piece.payload], piece.last, false)
            .await
    }

    /// Writes and flushes everything placed.
    pub async fn flush(&mut self) -> Result<(), Error<W::Error>> {
        self.shared.with(rill_ws::Session::flush);
        self.shared.transmit().await
    }

    /// Begins a message sent in chunks (e.g. from flash or a generator); for text, the chunks together must
    /// be UTF-8.
    pub async fn begin(
        &mut self,
        kind: MessageKind,
    ) -> Result<Chunks<'_, 's, 'b, M, W>, Error<W::Error>> {
        let shared = self.shared;
        shared
            .with(|s| s.begin(kind))
            .map_err(|e| shared.refused(e))?;
        Ok(Chunks { writer: self })
    }

    /// Sends a ping and waits for its pong; returns the round-trip time. The reader must be running (the
    /// pong is seen there).
    pub async fn ping(&mut self, timeout: Duration) -> Result<Duration, Error<W::Error>> {
        let shared = self.shared;
        shared.pong.reset();
        let id = shared
            .with(|s| s.ping(now()))
            .ok_or_else(|| shared.refused(SendError::Closed))?;
        shared.transmit().await?;
        let answered = async {
            loop {
                match shared.pong.wait().await {
                    seen if seen == id => return Ok(()),
                    // The connection is closing or over: no pong will come.
                    0 => return Err(shared.refused(SendError::Closed)),
                    _ => {}
                }
            }
        };
        with_deadline(after(timeout), answered)
            .await
            .map_err(|_| Error::Timeout(Timeout::Ping))??;
        Ok(shared.with(|s| s.rtt(id)).unwrap_or_default())
    }

    /// Sends a close frame with `code` and `reason` (at most 123 bytes). Nothing may be sent after it; the
    /// reader sees the peer's reply, then the end of the connection.
    pub async fn send_close(
        &mut self,
        code: CloseCode,
        reason: &str,
    ) -> Result<(), Error<W::Error>> {
        self.shared.close(code, reason).await
    }

    /// Sends the next envelope of `stream` (docs/streams.md) and records it in the stream's replay window,
    /// which the caller owns (e.g. a static array per stream).
    pub async fn send_envelope<T: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        window: &mut ReplayWindow<T>,
        stream: u32,
        kind: EnvelopeKind,
        payload: &[u8],
    ) -> Result<Envelope, Error<W::Error>> {
        let envelope = window.record(kind, stream, payload);
        self.send_parts(MessageKind::Binary, &[&envelope.header(), payload])
            .await?;
        Ok(envelope)
    }

    /// Answers a receiver's request to resume `stream` from `sequence`: resends what `window` kept, or a
    /// gone envelope. Returns how many envelopes were resent.
    pub async fn resume<T: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        window: &ReplayWindow<T>,
        stream: u32,
        sequence: u32,
    ) -> Result<usize, Error<W::Error>> {
        match window.resume(stream, sequence) {
            Resumption::Gone(gone) => self.send_binary(&gone).await.map(|()| 0),
            Resumption::Replay(replay) => {
                let mut resent = 0;
                for envelope in replay {
                    self.feed(MessageKind::Binary, envelope).await?;
                    resent += 1;
                }
                self.flush().await.map(|()| resent)
            }
        }
    }
}

/// A message being sent in chunks: each [`Chunks::send`] places the chunk as one frame (or several, when it
/// is larger than the write buffer) and flushes by the session's policy, like a send; [`Chunks::finish`]
/// sends the final frame.
pub struct Chunks<'w, 's, 'b, M: RawMutex, W> {
    writer: &'w mut Writer<'s, 'b, M, W>,
}

impl<M: RawMutex, W: Write> Chunks<'_, '_, '_, M, W> {
    /// Sends the next chunk as a non-final frame.
    pub async fn send(&mut self, chunk: &[u8]) -> Result<(), Error<W::Error>> {
        self.writer.shared.send(None, &[chunk], false, true).await
    }

    /// Sends `last` as the final frame, ending the message.
    pub async fn finish(self, last: &[u8]) -> Result<(), Error<W::Error>> {
        self.writer.shared.send(None, &[last], true, true).await
    }
}
