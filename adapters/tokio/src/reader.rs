//! The reading half: whole messages (reassembled up to the size limit) or pieces of any size, streamed.

use crate::writer::Shared;
use crate::{Error, Timeout};
use rill::{CloseCode, Event, MessageKind, Receiver};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadHalf};
use tokio::time::Instant;

/// A complete message.
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// The peer's close frame (its reply was sent). Every later call returns [`Error::Closed`].
    Close(Option<CloseCode>, &'a str),
}

/// A piece of a message as it arrived, or the peer's close frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Part of a text or binary message, with flags for its first and last piece.
    Data(rill::Data<'a>),
    /// The peer's close frame (its reply was sent). Every later call returns [`Error::Closed`].
    Close(Option<CloseCode>, &'a str),
}

/// Where the next result lies, as offsets, so the borrow of the buffers is taken once, after decoding.
enum Step {
    Data {
        start: usize,
        end: usize,
        kind: MessageKind,
        first: bool,
        last: bool,
    },
    Close,
}

/// The peer's close frame, kept so [`Message::Close`] can borrow it.
struct CloseFrame {
    code: Option<CloseCode>,
    reason: [u8; 123],
    len: usize,
}

/// The reading half of a connection. Pings are answered and pongs recorded while it reads.
pub struct Reader<S> {
    io: ReadHalf<S>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    receiver: Receiver,
    message: Vec<u8>,
    close: CloseFrame,
    finished: bool,
    last_heard: Instant,
    last_ping: Instant,
    shared: Arc<Shared<S>>,
}

impl<S: AsyncRead + AsyncWrite> Reader<S> {
    /// A reader over `io`; `buf[start..end]` holds bytes that followed the handshake.
    pub(crate) fn new(
        io: ReadHalf<S>,
        buf: Box<[u8]>,
        start: usize,
        end: usize,
        shared: Arc<Shared<S>>,
    ) -> Self {
        let now = Instant::now();
        Reader {
            io,
            buf,
            start,
            end,
            receiver: Receiver::new(shared.role, shared.config.limits),
            message: Vec::new(),
            close: CloseFrame {
                code: None,
                reason: [0; 123],
                len: 0,
            },
            finished: false,
            last_heard: now,
            last_ping: now,
            shared,
        }
    }

    /// Receives the next complete message. A message that arrived in one read is returned straight from the
    /// read buffer; a larger one is reassembled in memory that is kept for reuse, up to
    /// `limits.max_message_len` (close code 1009 beyond it). Use [`Reader::recv_piece`] to stream instead.
    pub async fn recv(&mut self) -> Result<Message<'_>, Error> {
        self.message.clear();
        let (kind, in_buffer) = loop {
            match self.step().await? {
                Step::Close => return Ok(self.close_message()),
                Step::Data {
                    start,
                    end,
                    kind,
                    first: true,
                    last: true,
                } => break (kind, Some((start, end))),
                Step::Data {
                    start,
                    end,
                    kind,
                    last,
                    ..
                } => {
                    self.message.extend_from_slice(&self.buf[start..end]);
                    if last {
                        break (kind, None);
                    }
                }
            }
        };
        let bytes = match in_buffer {
            Some((start, end)) => &self.buf[start..end],
            None => &self.message[..],
        };
        Ok(match kind {
            // The core validated the text as it arrived.
            MessageKind::Text => Message::Text(
                std::str::from_utf8(bytes)
                    .map_err(|_| Error::Protocol(rill::ProtocolError::InvalidUtf8))?,
            ),
            MessageKind::Binary => Message::Binary(bytes),
        })
    }

    /// Receives the next piece of a message as soon as it arrives: a message of any size streams through
    /// the read buffer. Text pieces may end inside a character; the message as a whole is validated UTF-8.
    pub async fn recv_piece(&mut self) -> Result<Piece<'_>, Error> {
        Ok(match self.step().await? {
            Step::Close => match self.close_message() {
                Message::Close(code, reason) => Piece::Close(code, reason),
                _ => unreachable!("close_message returns Message::Close"),
            },
            Step::Data {
                start,
                end,
                kind,
                first,
                last,
            } => Piece::Data(rill::Data {
                kind,
                payload: &self.buf[start..end],
                first,
                last,
            }),
        })
    }

    /// True when bytes already read are waiting to be decoded: a server that batches replies flushes once
    /// this is false, so replies to everything that arrived together leave in one write.
    pub fn has_buffered_input(&self) -> bool {
        self.start < self.end
    }

    /// After the close handshake, a client waits for the server to end the TCP connection first
    /// (RFC 6455 section 7.1.1); a server has already ended it.
    pub(crate) async fn wait_for_eof(&mut self) -> Result<(), Error> {
        if self.shared.role == rill::Role::Server {
            return Ok(());
        }
        while self.io.read(&mut self.buf).await? > 0 {}
        Ok(())
    }

    fn close_message(&self) -> Message<'_> {
        let reason = std::str::from_utf8(&self.close.reason[..self.close.len]).unwrap_or_default();
        Message::Close(self.close.code, reason)
    }

    /// Decodes until a data piece or the close frame; reads when the buffer runs dry.
    async fn step(&mut self) -> Result<Step, Error> {
        loop {
            if self.finished {
                return Err(Error::Closed);
            }
            if self.start == self.end {
                // Both offsets change only after the read completes, so a cancelled read loses nothing.
                let read = self.read_some().await?;
                (self.start, self.end) = (0, read);
                continue;
            }
            let base = self.buf.as_ptr() as usize;
            let (consumed, step, replies) =
                match self.receiver.receive(&mut self.buf[self.start..self.end]) {
                    Err(error) => {
                        self.finished = true;
                        self.shared.reply(&mut self.receiver).await?;
                        self.shared.peer_closed().await?;
                        return Err(Error::Protocol(error));
                    }
                    Ok(received) => match received.event {
                        None => (received.consumed, None, false),
                        Some(Event::Data(data)) => {
                            let start = data.payload.as_ptr() as usize - base;
                            let end = start + data.payload.len();
                            let step = Step::Data {
                                start,
                                end,
                                kind: data.kind,
                                first: data.first,
                                last: data.last,
                            };
                            (received.consumed, Some(step), false)
                        }
                        Some(Event::Ping(_)) => (received.consumed, None, true),
                        Some(Event::Pong(payload)) => {
                            self.shared.pong(payload);
                            (received.consumed, None, false)
                        }
                        Some(Event::Close { code, reason }) => {
                            self.close.code = code;
                            self.close.len = reason.len();
                            self.close.reason[..reason.len()].copy_from_slice(reason.as_bytes());
                            (received.consumed, Some(Step::Close), true)
                        }
                    },
                };
            self.start += consumed;
            if replies {
                self.shared.reply(&mut self.receiver).await?;
            }
            if let Some(step) = step {
                if matches!(step, Step::Close) {
                    self.finished = true;
                    self.shared.peer_closed().await?;
                }
                return Ok(step);
            }
        }
    }

    /// Reads into the empty buffer, sending keepalive pings and enforcing the idle timeout.
    async fn read_some(&mut self) -> Result<usize, Error> {
        let config = self.shared.config;
        loop {
            let idle_deadline = config.idle_timeout.map(|t| self.last_heard + t);
            let ping_deadline = config
                .keepalive
                .map(|k| self.last_heard.max(self.last_ping) + k);
            let deadline = match (idle_deadline, ping_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let read = self.io.read(&mut self.buf);
            let result = match deadline {
                None => read.await,
                Some(deadline) => match tokio::time::timeout_at(deadline, read).await {
                    Ok(result) => result,
                    Err(_) if idle_deadline.is_some_and(|d| Instant::now() >= d) => {
                        self.finished = true;
                        return Err(Error::Timeout(Timeout::Idle));
                    }
                    Err(_) => {
                        self.last_ping = Instant::now();
                        self.shared.send_ping().await?;
                        continue;
                    }
                },
            };
            let n = result?;
            if n == 0 {
                self.finished = true;
                return Err(if self.receiver.is_closed() {
                    Error::Closed
                } else {
                    Error::AbnormalClosure
                });
            }
            self.last_heard = Instant::now();
            return Ok(n);
        }
    }
}
