//! The writing half and the state both halves share.
//!
//! The socket's write side sits behind an async mutex held only while bytes are written, never between the
//! chunks of a chunked message. Replies the reader owes the peer (pong, close) go into a fixed-size
//! [`Outbox`]; whoever holds the write lock sends them before letting go, and after letting go looks again,
//! so a reply is never stranded and never waits for the application to send something.

use crate::{Batch, Config, Error, Timeout};
use rill::buffered::{Fill, FrameCopy};
use rill::connection::{ControlFrame, FrameHead, Outbox};
use rill::{CloseCode, MessageKind, Sender};
use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::sync::watch;
use tokio::time::Instant;

/// State shared by the reader and writer halves of one connection.
pub(crate) struct Shared<S> {
    io: tokio::sync::Mutex<WriteSide<S>>,
    outbox: Mutex<Outbox>,
    /// The peer's close frame arrived (or the connection failed): the reader is done.
    peer_closed: AtomicBool,
    pings: Mutex<PingClock>,
    pong_seen: watch::Sender<u64>,
    next_ping: AtomicU64,
    pub(crate) config: Config,
    pub(crate) role: rill::Role,
}

/// When each outstanding ping left, to turn its pong into a round-trip time.
#[derive(Default)]
struct PingClock {
    id: u64,
    sent: Option<Instant>,
    rtt: Option<Duration>,
}

struct WriteSide<S> {
    io: WriteHalf<S>,
    sender: Sender,
    /// The write buffer, allocated at the first write (an idle connection never touches it).
    buf: Box<[u8]>,
    capacity: usize,
    /// Bytes of `buf` waiting to be written.
    len: usize,
    /// Bytes of `buf[..len]` already written.
    sent: usize,
    /// When the oldest byte in `buf` was buffered (batching only).
    oldest: Option<Instant>,
    shut_down: bool,
}

/// When an operation flushes the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flush {
    /// Now (explicit flush, end of a chunked message, control frames).
    Always,
    /// Now unless a [`Batch`] policy says the batch may grow.
    Policy,
    /// Not now: the caller batches and flushes later.
    Never,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values are plain data with no invariant a panic could break.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<S: AsyncWrite> Shared<S> {
    pub(crate) fn new(io: WriteHalf<S>, role: rill::Role, config: Config) -> Arc<Self> {
        let mut seed = [0u8; 8];
        // Without OS entropy a client still works; its masking keys are then merely less unpredictable.
        let _ = getrandom::fill(&mut seed);
        Arc::new(Shared {
            io: tokio::sync::Mutex::new(WriteSide {
                io,
                sender: Sender::new(role, u64::from_ne_bytes(seed)),
                buf: Box::default(),
                capacity: config.write_buffer.max(rill::frame::MAX_HEADER_LEN),
                len: 0,
                sent: 0,
                oldest: None,
                shut_down: false,
            }),
            outbox: Mutex::new(Outbox::new()),
            peer_closed: AtomicBool::new(false),
            pings: Mutex::new(PingClock::default()),
            pong_seen: watch::Sender::new(0),
            next_ping: AtomicU64::new(1),
            config,
            role,
        })
    }

    /// Queues replies the reader owes the peer and sends them now unless a writer holding the lock will.
    pub(crate) async fn reply(&self, replies: &mut rill::Receiver) -> Result<(), Error> {
        {
            let mut outbox = lock(&self.outbox);
            replies.move_replies(&mut outbox);
            if outbox.is_empty() {
                return Ok(());
            }
        }
        while !lock(&self.outbox).is_empty() {
            let Ok(mut side) = self.io.try_lock() else {
                // The holder sends the outbox before it lets go, and looks again after.
                return Ok(());
            };
            self.finish(&mut side, Flush::Always).await?;
        }
        Ok(())
    }

    /// Marks the reading side done (close frame received or connection failed).
    pub(crate) async fn peer_closed(&self) -> Result<(), Error> {
        self.peer_closed.store(true, Ordering::Release);
        let side = self.acquire().await;
        self.release(side, Flush::Always).await
    }

    /// Ends our side of the TCP connection (once): after the close handshake, or after lingering.
    pub(crate) async fn shutdown(&self) -> Result<(), Error> {
        self.acquire().await.end().await
    }

    /// Records a pong; wakes [`Writer::ping`] if it answers the outstanding ping.
    pub(crate) fn pong(&self, payload: &[u8]) {
        let Ok(id) = <[u8; 8]>::try_from(payload).map(u64::from_be_bytes) else {
            return;
        };
        let mut clock = lock(&self.pings);
        if let (true, Some(sent)) = (clock.id == id, clock.sent.take()) {
            clock.rtt = Some(sent.elapsed());
            self.pong_seen.send_replace(id);
        }
    }

    /// Sends a ping (used by the keepalive and by [`Writer::ping`]); returns its id.
    pub(crate) async fn send_ping(&self) -> Result<u64, Error> {
        let id = self.next_ping.fetch_add(1, Ordering::Relaxed);
        let frame = ControlFrame::ping(&id.to_be_bytes())?;
        let mut side = self.acquire().await;
        *lock(&self.pings) = PingClock {
            id,
            sent: Some(Instant::now()),
            rtt: None,
        };
        let result = side.control(&frame).await;
        self.release(side, Flush::Always).await?;
        result.map(|()| id)
    }

    /// Takes the write lock for one operation; pair with [`Shared::release`].
    async fn acquire(&self) -> tokio::sync::MutexGuard<'_, WriteSide<S>> {
        self.io.lock().await
    }

    /// Ends an operation: sends queued replies, flushes as `flush` says, lets go of the lock, then looks at
    /// the outbox again so no reply queued meanwhile is stranded.
    async fn release(
        &self,
        mut side: tokio::sync::MutexGuard<'_, WriteSide<S>>,
        flush: Flush,
    ) -> Result<(), Error> {
        self.finish(&mut side, flush).await?;
        drop(side);
        while !lock(&self.outbox).is_empty() {
            let Ok(mut side) = self.io.try_lock() else {
                break;
            };
            self.finish(&mut side, Flush::Always).await?;
        }
        Ok(())
    }

    /// Sends queued replies, flushes as the policy says, and shuts the socket once both closes are done.
    async fn finish(&self, side: &mut WriteSide<S>, flush: Flush) -> Result<(), Error> {
        let mut sent_reply = false;
        loop {
            let Some(frame) = lock(&self.outbox).take() else {
                break;
            };
            // After our own close nothing more may be sent: a pending reply is simply dropped.
            if let Ok(head) = side.sender.control(&frame) {
                side.write_frame(&head, frame.payload()).await?;
                sent_reply = true;
            }
        }
        let due = match flush {
            Flush::Always => true,
            Flush::Policy => side.batch_due(self.config.batch),
            Flush::Never => false,
        };
        if due || sent_reply {
            side.flush().await?;
        }
        // RFC 6455 section 7.1.1: the server closes the TCP connection first; a client waits for it.
        let both_closed = side.sender.is_closed() && self.peer_closed.load(Ordering::Acquire);
        if both_closed && self.role == rill::Role::Server {
            side.end().await?;
        }
        Ok(())
    }
}

impl<S: AsyncWrite> WriteSide<S> {
    /// Buffers a frame whose payload is `payload`; see [`WriteSide::write_frame_parts`].
    async fn write_frame(&mut self, head: &FrameHead, payload: &[u8]) -> Result<(), Error> {
        self.write_frame_parts(head, &[payload]).await
    }

    /// Buffers a frame whose payload is the concatenation of `parts`, writing out the buffer as it fills.
    async fn write_frame_parts(&mut self, head: &FrameHead, parts: &[&[u8]]) -> Result<(), Error> {
        if self.buf.is_empty() {
            self.buf = vec![0; self.capacity].into();
        }
        let mut copy = FrameCopy::new(*head, parts);
        loop {
            match copy.fill(&mut self.buf, &mut self.len) {
                Fill::Done => break,
                Fill::Flush => self.write_buffered().await?,
                Fill::Direct(payload) => {
                    write_all_vectored(&mut self.io, &self.buf[self.sent..self.len], payload)
                        .await?;
                    (self.sent, self.len) = (0, 0);
                }
            }
        }
        self.oldest.get_or_insert_with(Instant::now);
        Ok(())
    }

    async fn message(&mut self, kind: MessageKind, parts: &[&[u8]]) -> Result<(), Error> {
        let len: usize = parts.iter().map(|part| part.len()).sum();
        let head = self.sender.message(kind, len as u64)?;
        self.write_frame_parts(&head, parts).await
    }

    async fn chunk(&mut self, payload: &[u8], fin: bool) -> Result<(), Error> {
        let head = self.sender.chunk(payload.len() as u64, fin)?;
        self.write_frame(&head, payload).await
    }

    async fn piece(&mut self, piece: &rill::Data<'_>) -> Result<(), Error> {
        let head = self.sender.relay(piece)?;
        self.write_frame(&head, piece.payload).await
    }

    async fn control(&mut self, frame: &ControlFrame) -> Result<(), Error> {
        let head = self.sender.control(frame)?;
        self.write_frame(&head, frame.payload()).await
    }

    /// Flushes and ends our side of the TCP connection, once.
    async fn end(&mut self) -> Result<(), Error> {
        if !self.shut_down {
            self.shut_down = true;
            self.flush().await?;
            self.io.shutdown().await.map_err(Error::Io)?;
        }
        Ok(())
    }

    /// Writes out `buf[sent..len]`, recording progress after every write: if the future is dropped
    /// midway (a reader cancelled in `select!` while sending a pong), the rest goes out with the next write
    /// instead of being lost or repeated.
    async fn write_buffered(&mut self) -> Result<(), Error> {
        while self.sent < self.len {
            let written = self
                .io
                .write(&self.buf[self.sent..self.len])
                .await
                .map_err(Error::Io)?;
            if written == 0 {
                return Err(Error::Io(write_zero()));
            }
            self.sent += written;
        }
        (self.sent, self.len) = (0, 0);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Error> {
        self.write_buffered().await?;
        self.oldest = None;
        self.io.flush().await.map_err(Error::Io)?;
        Ok(())
    }

    fn batch_due(&self, batch: Option<Batch>) -> bool {
        match (batch, self.oldest) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(batch), Some(oldest)) => {
                self.len >= batch.max_bytes || oldest.elapsed() >= batch.max_delay
            }
        }
    }
}

/// The error a writer reports as zero bytes written.
fn write_zero() -> std::io::Error {
    std::io::ErrorKind::WriteZero.into()
}

/// Writes `head` then `tail` with as few system calls as the stream allows (one `writev` on a socket).
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    io: &mut W,
    mut head: &[u8],
    mut tail: &[u8],
) -> Result<(), Error> {
    while !head.is_empty() || !tail.is_empty() {
        let written = io
            .write_vectored(&[IoSlice::new(head), IoSlice::new(tail)])
            .await
            .map_err(Error::Io)?;
        if written == 0 {
            return Err(Error::Io(write_zero()));
        }
        let from_head = written.min(head.len());
        head = &head[from_head..];
        tail = &tail[written - from_head..];
    }
    Ok(())
}

/// The writing half of a connection. Each `send_*` returns once the frame is written and flushed (unless a
/// [`Batch`] policy is configured, or [`Writer::feed`] is used to batch explicitly).
pub struct Writer<S> {
    shared: Arc<Shared<S>>,
    pong_seen: watch::Receiver<u64>,
}

impl<S: AsyncWrite> Writer<S> {
    pub(crate) fn new(shared: Arc<Shared<S>>) -> Self {
        let pong_seen = shared.pong_seen.subscribe();
        Writer { shared, pong_seen }
    }

    async fn message(
        &mut self,
        kind: MessageKind,
        parts: &[&[u8]],
        flush: Flush,
    ) -> Result<(), Error> {
        let mut side = self.shared.acquire().await;
        let result = side.message(kind, parts).await;
        self.shared.release(side, flush).await?;
        result
    }

    /// Sends a text message as one frame, written and flushed when this returns.
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.message(MessageKind::Text, &[text.as_bytes()], Flush::Policy)
            .await
    }

    /// Sends a binary message as one frame, written and flushed when this returns.
    pub async fn send_binary(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.message(MessageKind::Binary, &[bytes], Flush::Policy)
            .await
    }

    /// Sends a message of `kind`; the bytes of a text message must be UTF-8 (the peer closes with 1007
    /// otherwise). Written and flushed when this returns.
    pub async fn send(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error> {
        self.message(kind, &[payload], Flush::Policy).await
    }

    /// Sends one message whose payload is the concatenation of `parts` (e.g. an envelope header and its
    /// payload) without copying them together first. Written and flushed when this returns.
    pub async fn send_parts(&mut self, kind: MessageKind, parts: &[&[u8]]) -> Result<(), Error> {
        self.message(kind, parts, Flush::Policy).await
    }

    /// Buffers a message without flushing (the buffer is written when full). Call [`Writer::flush`] when no
    /// more messages are ready: under load this writes many messages per system call.
    pub async fn feed(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error> {
        self.message(kind, &[payload], Flush::Never).await
    }

    /// Buffers a piece received from a [`crate::Reader`] as the matching frame of the same message, without
    /// flushing: echo servers and proxies relay a message of any size this way, piece by piece.
    pub async fn feed_piece(&mut self, piece: &rill::Data<'_>) -> Result<(), Error> {
        let mut side = self.shared.acquire().await;
        let result = side.piece(piece).await;
        self.shared.release(side, Flush::Never).await?;
        result
    }

    /// Writes and flushes everything buffered.
    pub async fn flush(&mut self) -> Result<(), Error> {
        let side = self.shared.acquire().await;
        self.shared.release(side, Flush::Always).await
    }

    /// Begins a message sent in chunks of bytes; for text, the chunks together must be UTF-8 (a chunk may
    /// end inside a character). See [`Writer::begin_text`] for `&str` chunks.
    pub async fn begin(&mut self, kind: MessageKind) -> Result<Chunks<'_, S>, Error> {
        self.shared.acquire().await.sender.begin(kind)?;
        Ok(Chunks { writer: self })
    }

    /// Begins a text message sent in `&str` chunks.
    pub async fn begin_text(&mut self) -> Result<TextChunks<'_, S>, Error> {
        Ok(TextChunks(self.begin(MessageKind::Text).await?))
    }

    async fn chunk(&mut self, payload: &[u8], fin: bool) -> Result<(), Error> {
        let mut side = self.shared.acquire().await;
        let result = side.chunk(payload, fin).await;
        self.shared
            .release(side, if fin { Flush::Always } else { Flush::Policy })
            .await?;
        result
    }

    /// Sends a ping and waits for its pong; returns the round-trip time. The pong is seen by the reader, so
    /// the reading half must be running (a task looping on `recv`) for this to return.
    pub async fn ping(&mut self, timeout: Duration) -> Result<Duration, Error> {
        let id = self.shared.send_ping().await?;
        let answered = self.pong_seen.wait_for(|seen| *seen >= id);
        match tokio::time::timeout(timeout, answered).await {
            Ok(Ok(_)) => lock(&self.shared.pings)
                .rtt
                .ok_or(Error::Timeout(Timeout::Ping)),
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::Timeout(Timeout::Ping)),
        }
    }

    /// Sends a close frame with `code` and `reason` (at most 123 bytes) and flushes. Nothing may be sent
    /// after it; the reader sees the peer's reply.
    pub async fn send_close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let frame = ControlFrame::close(Some(code), reason)?;
        let mut side = self.shared.acquire().await;
        let result = side.control(&frame).await;
        self.shared.release(side, Flush::Always).await?;
        result
    }

    /// How long a graceful close waits for the peer.
    pub fn close_timeout(&self) -> Duration {
        self.shared.config.close_timeout
    }

    /// The negotiated role of this end.
    pub fn role(&self) -> rill::Role {
        self.shared.role
    }
}

/// A message being sent in chunks: each [`Chunks::send`] is one frame, written and flushed before it
/// returns; [`Chunks::finish`] sends the final frame. Dropping it unfinished leaves the message open and
/// later data sends fail with [`rill::SendError::MessageInProgress`]; pings, pongs and close still work.
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
