//! The writing half and the state both halves share, in memory the caller owns.
//!
//! The write side sits behind an async mutex held only while bytes are written. Replies the reader owes
//! the peer (pong, close) wait in a fixed-size outbox; whoever holds the write lock sends them before
//! letting go and looks again after, so a reply is never stranded and never waits for the application.

use crate::{Config, Error, Timeout};
use core::cell::RefCell;
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_sync::blocking_mutex::Mutex as BlockingMutex;
use embassy_sync::mutex::{Mutex, MutexGuard};
use embassy_sync::signal::Signal;
use embassy_time::{with_timeout, Duration, Instant};
use embedded_io_async::Write;
use rill::buffered::{Fill, FrameCopy};
use rill::connection::{ControlFrame, FrameHead, Outbox};
use rill::streams::{Envelope, EnvelopeKind, ReplayWindow, Resumption};
use rill::{CloseCode, MessageKind, Role, Sender};

struct WriteSide<'b, W> {
    io: W,
    sender: Sender,
    buf: &'b mut [u8],
    /// Bytes of `buf` waiting to be written.
    len: usize,
    /// Bytes of `buf[..len]` already written.
    sent: usize,
}

/// Small state both halves touch briefly, never across an await.
struct Common {
    outbox: Outbox,
    next_ping: u64,
    ping: u64,
    ping_sent: Option<Instant>,
}

/// What the reader and writer halves of one connection share. Create it with the write half of the
/// stream and a write buffer (at least 14 bytes; a few hundred to a few KiB is typical).
pub struct Shared<'b, M: RawMutex, W> {
    write: Mutex<M, WriteSide<'b, W>>,
    common: BlockingMutex<M, RefCell<Common>>,
    pong: Signal<M, (u64, Duration)>,
    pub(crate) config: Config,
    pub(crate) role: Role,
}

/// When an operation flushes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flush {
    Always,
    Never,
}

impl<'b, M: RawMutex, W: Write> Shared<'b, M, W> {
    /// State for one connection: `io` is the stream's write half; `mask_seed` seeds a client's masking keys
    /// (take it from the board's RNG; ignored for a server).
    pub fn new(io: W, write_buf: &'b mut [u8], role: Role, mask_seed: u64, config: Config) -> Self {
        Shared {
            write: Mutex::new(WriteSide {
                io,
                sender: Sender::new(role, mask_seed),
                buf: write_buf,
                len: 0,
                sent: 0,
            }),
            common: BlockingMutex::new(RefCell::new(Common {
                outbox: Outbox::new(),
                next_ping: 1,
                ping: 0,
                ping_sent: None,
            })),
            pong: Signal::new(),
            config,
            role,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Common) -> T) -> T {
        self.common.lock(|common| f(&mut common.borrow_mut()))
    }

    /// Queues the replies the reader owes the peer and sends them now unless a writer holding the lock will.
    pub(crate) async fn reply(&self, receiver: &mut rill::Receiver) -> Result<(), Error<W::Error>> {
        if self.with(|c| {
            receiver.move_replies(&mut c.outbox);
            c.outbox.is_empty()
        }) {
            return Ok(());
        }
        self.drain_outbox().await
    }

    /// Sends whatever the outbox holds if the write lock is free (its holder sends it otherwise).
    async fn drain_outbox(&self) -> Result<(), Error<W::Error>> {
        while !self.with(|c| c.outbox.is_empty()) {
            let Ok(mut side) = self.write.try_lock() else {
                return Ok(());
            };
            self.finish(&mut side, Flush::Always).await?;
        }
        Ok(())
    }

    /// Records a pong; wakes [`Writer::ping`] if it answers the outstanding ping.
    pub(crate) fn pong(&self, payload: &[u8]) {
        let Ok(id) = <[u8; 8]>::try_from(payload).map(u64::from_be_bytes) else {
            return;
        };
        let answered = self.with(|c| match c.ping_sent {
            Some(sent) if c.ping == id => {
                c.ping_sent = None;
                Some(sent.elapsed())
            }
            _ => None,
        });
        if let Some(rtt) = answered {
            self.pong.signal((id, rtt));
        }
    }

    /// Sends a ping carrying a fresh id; returns the id.
    pub(crate) async fn send_ping(&self) -> Result<u64, Error<W::Error>> {
        let id = self.with(|c| {
            let id = c.next_ping;
            c.next_ping += 1;
            (c.ping, c.ping_sent) = (id, Some(Instant::now()));
            id
        });
        let frame = ControlFrame::ping(&id.to_be_bytes())?;
        self.control(&frame).await?;
        Ok(id)
    }

    async fn control(&self, frame: &ControlFrame) -> Result<(), Error<W::Error>> {
        let mut side = self.write.lock().await;
        let result = match side.sender.control(frame) {
            Ok(head) => side.write_frame(&head, &[frame.payload()]).await,
            Err(error) => Err(Error::Send(error)),
        };
        self.release(side, Flush::Always).await?;
        result
    }

    /// Ends an operation: sends queued replies, flushes as asked, lets go, then looks at the outbox again.
    async fn release(
        &self,
        mut side: MutexGuard<'_, M, WriteSide<'b, W>>,
        flush: Flush,
    ) -> Result<(), Error<W::Error>> {
        self.finish(&mut side, flush).await?;
        drop(side);
        self.drain_outbox().await
    }

    /// Sends queued replies and flushes. (`embedded-io-async` has no half-close: after the close handshake
    /// the application closes the socket, e.g. embassy-net's `TcpSocket::close` then `flush`.)
    async fn finish(
        &self,
        side: &mut WriteSide<'b, W>,
        flush: Flush,
    ) -> Result<(), Error<W::Error>> {
        let mut sent_reply = false;
        while let Some(frame) = self.with(|c| c.outbox.take()) {
            // After our own close nothing more may be sent: a pending reply is dropped.
            if let Ok(head) = side.sender.control(&frame) {
                side.write_frame(&head, &[frame.payload()]).await?;
                sent_reply = true;
            }
        }
        if flush == Flush::Always || sent_reply {
            side.flush().await?;
        }
        Ok(())
    }
}

impl<W: Write> WriteSide<'_, W> {
    async fn write_frame(
        &mut self,
        head: &FrameHead,
        parts: &[&[u8]],
    ) -> Result<(), Error<W::Error>> {
        let mut copy = FrameCopy::new(*head, parts);
        loop {
            match copy.fill(self.buf, &mut self.len) {
                Fill::Done => return Ok(()),
                Fill::Flush => self.write_buffered().await?,
                Fill::Direct(payload) => {
                    self.write_buffered().await?;
                    self.io.write_all(payload).await.map_err(Error::Io)?;
                }
            }
        }
    }

    /// Writes out `buf[sent..len]`, recording progress after every write: if the future is dropped
    /// midway (a reader cancelled in `select!` while sending a pong), the rest goes out with the next write
    /// instead of being lost or repeated.
    async fn write_buffered(&mut self) -> Result<(), Error<W::Error>> {
        while self.sent < self.len {
            let written = self
                .io
                .write(&self.buf[self.sent..self.len])
                .await
                .map_err(Error::Io)?;
            if written == 0 {
                // `embedded-io` writers return 0 only when they can take no more bytes, ever.
                return Err(Error::AbnormalClosure);
            }
            self.sent += written;
        }
        (self.sent, self.len) = (0, 0);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Error<W::Error>> {
        self.write_buffered().await?;
        self.io.flush().await.map_err(Error::Io)
    }

    async fn message(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error<W::Error>> {
        let head = self.sender.message(kind, payload.len() as u64)?;
        self.write_frame(&head, &[payload]).await
    }

    async fn chunk(&mut self, payload: &[u8], fin: bool) -> Result<(), Error<W::Error>> {
        let head = self.sender.chunk(payload.len() as u64, fin)?;
        self.write_frame(&head, &[payload]).await
    }

    async fn piece(&mut self, piece: &rill::Data<'_>) -> Result<(), Error<W::Error>> {
        let head = self.sender.relay(piece)?;
        self.write_frame(&head, &[piece.payload]).await
    }
}

/// The writing half. Each `send_*` returns once the frame is written and flushed; [`Writer::feed`] and
/// [`Writer::feed_piece`] buffer without flushing, for replies to input that arrived together.
pub struct Writer<'s, 'b, M: RawMutex, W> {
    shared: &'s Shared<'b, M, W>,
}

impl<'s, 'b, M: RawMutex, W: Write> Writer<'s, 'b, M, W> {
    /// The writing half of the connection `shared` belongs to.
    pub fn new(shared: &'s Shared<'b, M, W>) -> Self {
        Writer { shared }
    }

    async fn message(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        flush: Flush,
    ) -> Result<(), Error<W::Error>> {
        let mut side = self.shared.write.lock().await;
        let result = side.message(kind, payload).await;
        self.shared.release(side, flush).await?;
        result
    }

    /// Sends a text message as one frame, written and flushed when this returns.
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error<W::Error>> {
        self.message(MessageKind::Text, text.as_bytes(), Flush::Always)
            .await
    }

    /// Sends a binary message as one frame, written and flushed when this returns.
    pub async fn send_binary(&mut self, bytes: &[u8]) -> Result<(), Error<W::Error>> {
        self.message(MessageKind::Binary, bytes, Flush::Always)
            .await
    }

    /// Sends one message whose payload is the concatenation of `parts`, written and flushed.
    pub async fn send_parts(
        &mut self,
        kind: MessageKind,
        parts: &[&[u8]],
    ) -> Result<(), Error<W::Error>> {
        let mut side = self.shared.write.lock().await;
        let result = match side
            .sender
            .message(kind, parts.iter().map(|p| p.len() as u64).sum())
        {
            Ok(head) => side.write_frame(&head, parts).await,
            Err(error) => Err(Error::Send(error)),
        };
        self.shared.release(side, Flush::Always).await?;
        result
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

    /// Buffers a message without flushing; call [`Writer::flush`] when no more messages are ready.
    pub async fn feed(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error<W::Error>> {
        self.message(kind, payload, Flush::Never).await
    }

    /// Buffers a piece received from a [`crate::Reader`] as the matching frame of the same message, without
    /// flushing: this echoes or relays a message of any size piece by piece.
    pub async fn feed_piece(&mut self, piece: &rill::Data<'_>) -> Result<(), Error<W::Error>> {
        let mut side = self.shared.write.lock().await;
        let result = side.piece(piece).await;
        self.shared.release(side, Flush::Never).await?;
        result
    }

    /// Writes and flushes everything buffered.
    pub async fn flush(&mut self) -> Result<(), Error<W::Error>> {
        let side = self.shared.write.lock().await;
        self.shared.release(side, Flush::Always).await
    }

    /// Begins a message sent in chunks (e.g. from flash or a generator); for text, the chunks together must
    /// be UTF-8.
    pub async fn begin(
        &mut self,
        kind: MessageKind,
    ) -> Result<Chunks<'_, 's, 'b, M, W>, Error<W::Error>> {
        self.shared.write.lock().await.sender.begin(kind)?;
        Ok(Chunks { writer: self })
    }

    async fn chunk(&mut self, payload: &[u8], fin: bool) -> Result<(), Error<W::Error>> {
        let mut side = self.shared.write.lock().await;
        let result = side.chunk(payload, fin).await;
        self.shared.release(side, Flush::Always).await?;
        result
    }

    /// Sends a ping and waits for its pong; returns the round-trip time. The reader must be running (the
    /// pong is seen there).
    pub async fn ping(&mut self, timeout: Duration) -> Result<Duration, Error<W::Error>> {
        self.shared.pong.reset();
        let id = self.shared.send_ping().await?;
        let answered = async {
            loop {
                let (answered, rtt) = self.shared.pong.wait().await;
                if answered == id {
                    return rtt;
                }
            }
        };
        with_timeout(timeout, answered)
            .await
            .map_err(|_| Error::Timeout(Timeout::Ping))
    }

    /// Sends a close frame with `code` and `reason` (at most 123 bytes) and flushes. Nothing may be sent
    /// after it; the reader sees the peer's reply.
    pub async fn send_close(
        &mut self,
        code: CloseCode,
        reason: &str,
    ) -> Result<(), Error<W::Error>> {
        self.shared
            .control(&ControlFrame::close(Some(code), reason)?)
            .await
    }
}

/// A message being sent in chunks: each [`Chunks::send`] is one frame, written and flushed before it
/// returns; [`Chunks::finish`] sends the final frame.
pub struct Chunks<'w, 's, 'b, M: RawMutex, W> {
    writer: &'w mut Writer<'s, 'b, M, W>,
}

impl<M: RawMutex, W: Write> Chunks<'_, '_, '_, M, W> {
    /// Sends the next chunk as a non-final frame.
    pub async fn send(&mut self, chunk: &[u8]) -> Result<(), Error<W::Error>> {
        self.writer.chunk(chunk, false).await
    }

    /// Sends `last` as the final frame, ending the message.
    pub async fn finish(self, last: &[u8]) -> Result<(), Error<W::Error>> {
        self.writer.chunk(last, true).await
    }
}
