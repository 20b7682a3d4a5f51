//! The adapter's error type, generic over the stream's I/O error.

use core::fmt;
use rill::handshake::client::ResponseError;
use rill::handshake::server::RequestError;
use rill::handshake::EncodeError;

/// Everything that can go wrong on a connection; `E` is the stream's error type.
#[derive(Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error<E> {
    /// The stream failed.
    Io(E),
    /// The peer broke the protocol; the close frame with [`rill::ProtocolError::close_code`] was sent.
    Protocol(rill::ProtocolError),
    /// The application asked for a send the connection state does not allow.
    Send(rill::SendError),
    /// The client's upgrade request was invalid; the matching HTTP error was sent.
    Request(RequestError),
    /// The server's handshake response was not acceptable.
    Response(ResponseError),
    /// A handshake message did not fit the buffer or had an invalid header.
    Encode(EncodeError),
    /// The application rejected the request (or answered it as plain HTTP) with this status.
    Rejected(u16),
    /// A timeout expired.
    Timeout(Timeout),
    /// A message did not fit the message buffer; use [`crate::Reader::recv_piece`] instead.
    MessageTooLarge,
    /// The close handshake finished: no more messages.
    Closed,
    /// The peer ended the TCP connection without a close frame (close code 1006).
    AbnormalClosure,
}

/// Which timeout expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Timeout {
    /// The opening handshake.
    Handshake,
    /// No bytes from the peer within the idle timeout.
    Idle,
    /// No pong for a ping.
    Ping,
    /// No close reply from the peer.
    Close,
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e:?}"),
            Error::Protocol(e) => {
                write!(f, "protocol error (closed with {}): {e}", e.close_code().0)
            }
            Error::Send(e) => write!(f, "send refused: {e}"),
            Error::Request(e) => write!(f, "bad upgrade request (answered {}): {e}", e.status()),
            Error::Response(e) => write!(f, "bad handshake response: {e}"),
            Error::Encode(e) => write!(f, "handshake encoding failed: {e}"),
            Error::Rejected(status) => write!(f, "request answered with HTTP {status}"),
            Error::Timeout(which) => write!(f, "{which:?} timeout expired"),
            Error::MessageTooLarge => f.write_str("message larger than the message buffer"),
            Error::Closed => f.write_str("connection closed"),
            Error::AbnormalClosure => {
                f.write_str("peer closed the connection without a close frame")
            }
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

impl<E> From<rill::SendError> for Error<E> {
    fn from(e: rill::SendError) -> Self {
        Error::Send(e)
    }
}

impl<E> From<EncodeError> for Error<E> {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e)
    }
}
