//! The reading half: whole messages (in a buffer the caller lends) or pieces of any size, streamed.

use crate::writer::Shared;
use crate::{Error, Timeout, Upgraded};
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_time::{with_deadline, Instant};
use embedded_io_async::{ErrorType, Read, Write};
use rill::buffered::{next_wake, Inbound, Step, Wake};
use rill::{CloseCode, MessageKind, Role};

/// A complete message.
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// The peer's close frame (its reply was sent). Close the socket now; later calls return
    /// [`Error::Closed`].
    Close(Option<CloseCode>, &'a str),
}

/// A piece of a message as it arrived, or the peer's close frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Part of a text or binary message, with flags for its first and last piece.
    Data(rill::Data<'a>),
    /// The peer's close frame (its reply was sent). Close the socket now; later calls return
    /// [`Error::Closed`].
    Close(Option<CloseCode>, &'a str),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// A client got the close frame: the next call waits for the server to end the connection.
    Lingering,
    Done,
}

/// The reading half of a connection. Pings are answered and pongs recorded while it reads.
pub struct Reader<'s, 'b, M: RawMutex, R, W> {
    io: R,
    buf: &'b mut [u8],
    message: &'b mut [u8],
    message_len: usize,
    inbound: Inbound,
    state: State,
    last_heard: Instant,
    last_ping: Instant,
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
    /// [`Reader::recv`] reassembles messages that span reads (may be empty: then only messages that
    /// arrive in one read fit; [`Reader::recv_piece`] needs none).
    pub fn new(
        io: R,
        read_buf: &'b mut [u8],
        upgraded: Upgraded,
        message_buf: &'b mut [u8],
        shared: &'s Shared<'b, M, W>,
    ) -> Self {
        let now = Instant::now();
        Reader {
            io,
            buf: read_buf,
            message: message_buf,
            message_len: 0,
            inbound: Inbound::new(
                shared.role,
                shared.config.limits,
                upgraded.start,
                upgraded.end,
            ),
            state: State::Open,
            last_heard: now,
            last_ping: now,
            shared,
        }
    }

    /// Receives the next complete message: straight from the read buffer when it arrived in one read,
    /// reassembled in the message buffer otherwise ([`Error::MessageTooLarge`] when it does not fit).
    pub async fn recv(&mut self) -> Result<Message<'_>, Error<W::Error>> {
        let (kind, in_read_buf) = loop {
            let Step::Data {
                start,
                end,
                kind,
                first,
                last,
            } = self.step().await?
            else {
                let (code, reason) = self.inbound.close_frame();
                return Ok(Message::Close(code, reason));
            };
            if first && last {
                break (kind, Some((start, end)));
            }
            if first {
                self.message_len = 0;
            }
            let piece = &self.buf[start..end];
            let slot = self
                .message
                .get_mut(self.message_len..self.message_len + piece.len())
                .ok_or(Error::MessageTooLarge)?;
            slot.copy_from_slice(piece);
            self.message_len += piece.len();
            if last {
                break (kind, None);
            }
        };
        let bytes = match in_read_buf {
            Some((start, end)) => &self.buf[start..end],
            None => &self.message[..self.message_len],
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
    /// the read buffer.
    pub async fn recv_piece(&mut self) -> Result<Piece<'_>, Error<W::Error>> {
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

    /// True when bytes already read are waiting to be decoded: flush replies once this is false.
    pub fn has_buffered_input(&self) -> bool {
        self.inbound.has_buffered_input()
    }

    async fn step(&mut self) -> Result<Step, Error<W::Error>> {
        loop {
            match self.state {
                State::Open => {}
                State::Lingering => {
                    self.state = State::Done;
                    let deadline = Instant::now() + self.shared.config.close_timeout;
                    let drain = async {
                        while matches!(self.io.read(self.buf).await, Ok(read) if read > 0) {}
                    };
                    let _ = with_deadline(deadline, drain).await;
                    return Err(Error::Closed);
                }
                State::Done => return Err(Error::Closed),
            }
            let step = match self.inbound.step(self.buf) {
                Ok(step) => step,
                Err(error) => {
                    self.state = State::Done;
                    self.shared.reply(&mut self.inbound.receiver).await?;
                    return Err(Error::Protocol(error));
                }
            };
            match step {
                Step::NeedInput => {
                    let read = self.read_some().await?;
                    self.inbound.filled(read);
                }
                Step::Ping => self.shared.reply(&mut self.inbound.receiver).await?,
                Step::Pong => self.shared.pong(self.inbound.receiver.control_payload()),
                Step::Close => {
                    self.state = if self.shared.role == Role::Client {
                        State::Lingering
                    } else {
                        State::Done
                    };
                    self.shared.reply(&mut self.inbound.receiver).await?;
                    return Ok(step);
                }
                Step::Data { .. } => return Ok(step),
            }
        }
    }

    /// Reads into the whole buffer, sending keepalive pings and enforcing the idle timeout.
    async fn read_some(&mut self) -> Result<usize, Error<W::Error>> {
        let config = self.shared.config;
        loop {
            let wake = next_wake(
                self.last_heard,
                self.last_ping,
                config.idle_timeout,
                config.keepalive,
            );
            let read = self.io.read(self.buf);
            let result = match wake {
                None => read.await,
                Some(wake) => match with_deadline(wake.at(), read).await {
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
