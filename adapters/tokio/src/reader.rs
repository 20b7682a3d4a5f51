//! The reading half: whole messages (reassembled up to the size limit) or pieces of any size, streamed.

use crate::writer::Shared;
use crate::{Error, Timeout};
use rill::buffered::{next_wake, Inbound, Step, Wake};
use rill::{CloseCode, MessageKind};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
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

/// Where the reading half is in the connection's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// The close frame arrived or the connection failed: wait for the TCP connection to end.
    Lingering,
    Done,
}

/// The reading half of a connection. Pings are answered and pongs recorded while it reads.
pub struct Reader<S> {
    io: ReadHalf<S>,
    /// The read buffer: its length is the bytes read, its capacity the most one read may take. Reads go
    /// into spare capacity, so pages an idle connection never fills are never touched.
    buf: Vec<u8>,
    inbound: Inbound,
    message: Vec<u8>,
    state: State,
    /// The last read filled the whole buffer.
    saturated: bool,
    last_heard: Instant,
    last_ping: Instant,
    shared: Arc<Shared<S>>,
}

impl<S: AsyncRead + AsyncWrite> Reader<S> {
    /// A reader over `io`; `buf[start..end]` holds bytes that followed the handshake.
    pub(crate) fn new(
        io: ReadHalf<S>,
        buf: Vec<u8>,
        start: usize,
        end: usize,
        shared: Arc<Shared<S>>,
    ) -> Self {
        let now = Instant::now();
        Reader {
            io,
            buf,
            inbound: Inbound::new(shared.role, shared.config.limits, start, end),
            message: Vec::new(),
            state: State::Open,
            saturated: false,
            last_heard: now,
            last_ping: now,
            shared,
        }
    }

    /// Receives the next complete message. A message that arrived in one read is returned straight from the
    /// read buffer; a larger one is reassembled in memory that is kept for reuse, up to
    /// `limits.max_message_len` (close code 1009 beyond it). Use [`Reader::recv_piece`] to stream instead.
    ///
    /// Cancel-safe: dropped while waiting (e.g. in `tokio::select!`), it loses nothing; the next call
    /// continues the message where this one stopped.
    pub async fn recv(&mut self) -> Result<Message<'_>, Error> {
        let (kind, in_buffer) = loop {
            let Step::Data {
                start,
                end,
                kind,
                first,
                last,
            } = self.step().await?
            else {
                return Ok(self.close_message());
            };
            if first && last {
                break (kind, Some((start, end)));
            }
            if first {
                self.message.clear();
            }
            self.message.extend_from_slice(&self.buf[start..end]);
            if last {
                break (kind, None);
            }
        };
        let bytes = match in_buffer {
            Some((start, end)) => &self.buf[start..end],
            None => &self.message[..],
        };
        Ok(match kind {
            // The core validated the text as it arrived.
            MessageKind::Text => Message::Text(
                rill::utf8::as_str(bytes)
                    .ok_or(Error::Protocol(rill::ProtocolError::InvalidUtf8))?,
            ),
            MessageKind::Binary => Message::Binary(bytes),
        })
    }

    /// Receives the next piece of a message as soon as it arrives: a message of any size streams through
    /// the read buffer. Text pieces may end inside a character; the message as a whole is validated UTF-8.
    pub async fn recv_piece(&mut self) -> Result<Piece<'_>, Error> {
        Ok(match self.step().await? {
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
            _ => {
                let (code, reason) = self.inbound.close_frame();
                Piece::Close(code, reason)
            }
        })
    }

    /// True when bytes already read are waiting to be decoded.
    pub fn has_buffered_input(&self) -> bool {
        self.inbound.has_buffered_input()
    }

    /// True when more input is ready now: bytes already read, or bytes the socket hands over without
    /// waiting (one non-blocking read). A server that batches replies with `feed` flushes once this is
    /// false: under load, replies to everything that is ready leave in one write; when idle, each reply
    /// leaves at once.
    pub fn input_ready(&mut self) -> bool {
        if self.inbound.has_buffered_input() {
            return true;
        }
        if self.state != State::Open {
            return false;
        }
        self.buf.clear();
        let mut context = Context::from_waker(Waker::noop());
        match std::pin::pin!(self.io.read_buf(&mut self.buf)).poll(&mut context) {
            Poll::Ready(Ok(read)) if read > 0 => {
                self.saturated = read == self.buf.capacity();
                self.last_heard = Instant::now();
                self.inbound.filled(read);
                true
            }
            // End of stream or an error: the next receive reads it again and reports it.
            Poll::Ready(_) => true,
            Poll::Pending => false,
        }
    }

    /// Reads and discards until the peer ends the TCP connection or `close_timeout` passes. Closing a
    /// socket with unread bytes makes the kernel send a reset, which can destroy the close frame just
    /// sent before the peer reads it (RFC 7230 section 6.6); a client also waits here for the server to
    /// close first (RFC 6455 section 7.1.1).
    async fn linger(&mut self) {
        let drain = async {
            loop {
                self.buf.clear();
                if !matches!(self.io.read_buf(&mut self.buf).await, Ok(read) if read > 0) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(self.shared.config.close_timeout, drain).await;
        self.state = State::Done;
        // The connection is over either way; a client ends its side now that the server has.
        let _ = self.shared.shutdown().await;
    }

    fn close_message(&self) -> Message<'_> {
        let (code, reason) = self.inbound.close_frame();
        Message::Close(code, reason)
    }

    /// Decodes until a data piece or the close frame (returned as [`Step::Data`] or [`Step::Close`]);
    /// reads when the buffer runs dry, answers pings and records pongs on the way.
    async fn step(&mut self) -> Result<Step, Error> {
        loop {
            match self.state {
                State::Open => {}
                State::Lingering => {
                    self.linger().await;
                    return Err(Error::Closed);
                }
                State::Done => return Err(Error::Closed),
            }
            let step = match self.inbound.step(&mut self.buf) {
                Ok(step) => step,
                Err(error) => {
                    self.state = State::Lingering;
                    self.shared.reply(&mut self.inbound.receiver).await?;
                    self.shared.peer_closed().await?;
                    self.linger().await;
                    return Err(Error::Protocol(error));
                }
            };
            match step {
                // The buffer changes only once the read completes, so a cancelled read loses nothing.
                Step::NeedInput => {
                    self.grow_if_saturated();
                    let read = self.read_some().await?;
                    self.saturated = read == self.buf.capacity();
                    self.inbound.filled(read);
                }
                Step::Ping => self.shared.reply(&mut self.inbound.receiver).await?,
                Step::Pong => self.shared.pong(self.inbound.receiver.control_payload()),
                Step::Close => {
                    // The next call waits for the end of the TCP connection, then reports it closed.
                    self.state = State::Lingering;
                    self.shared.reply(&mut self.inbound.receiver).await?;
                    self.shared.peer_closed().await?;
                    return Ok(step);
                }
                Step::Data { .. } => return Ok(step),
            }
        }
    }

    /// Doubles the read buffer (up to `max_read_buffer`) when the last read filled it: bulk transfers then
    /// take far fewer system calls, while idle connections and light traffic keep the small buffer. Growth is
    /// kept, so it costs at most a few allocations in a connection's life.
    fn grow_if_saturated(&mut self) {
        let max = self.shared.config.max_read_buffer;
        if self.saturated && self.buf.capacity() < max {
            let grown = (self.buf.capacity() * 2).min(max);
            self.buf = Vec::with_capacity(grown);
        }
    }

    /// Reads into the empty buffer, sending keepalive pings and enforcing the idle timeout.
    async fn read_some(&mut self) -> Result<usize, Error> {
        let config = self.shared.config;
        loop {
            let wake = next_wake(
                self.last_heard,
                self.last_ping,
                config.idle_timeout,
                config.keepalive,
            );
            self.buf.clear();
            let read = self.io.read_buf(&mut self.buf);
            let result = match wake {
                None => read.await,
                Some(wake) => match tokio::time::timeout_at(wake.at(), read).await {
                    Ok(result) => result,
                    Err(_) if matches!(wake, Wake::Idle(_)) => {
                        self.state = State::Done;
                        return Err(Error::Timeout(Timeout::Idle));
                    }
                    Err(_) => {
                        self.last_ping = Instant::now();
                        self.shared.send_ping().await?;
                        continue;
                    }
                },
            };
            let read = result.map_err(Error::Io)?;
            if read == 0 {
                self.state = State::Done;
                return Err(if self.inbound.receiver.is_closed() {
                    Error::Closed
                } else {
                    Error::AbnormalClosure
                });
            }
            self.last_heard = Instant::now();
            return Ok(read);
        }
    }
}
