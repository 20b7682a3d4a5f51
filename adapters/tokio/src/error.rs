//! The adapter's error type: I/O, protocol faults (with the close code sent), handshake failures, timeouts.

use rill::handshake::client::ResponseError;
use rill::handshake::server::RequestError;
use rill::handshake::EncodeError;
use std::{fmt, io};

/// Everything that can go wrong on a connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed.
    Io(io::Error),
    /// The peer broke the protocol; the close frame with [`rill::ProtocolError::close_code`] was sent.
    Protocol(rill::ProtocolError),
    /// The application asked for a send the connection state does not allow.
    Send(rill::SendError),
    /// The client's upgrade request was invalid; the matching HTTP error was sent.
    Request(RequestError),
    /// The server's handshake response was not acceptable.
    Response(ResponseError),
    /// A handshake message could not be encoded (e.g. a header value with CR/LF).
    Encode(EncodeError),
    /// The application rejected the request (or answered it as plain HTTP) with this status.
    Rejected(u16),
    /// A `ws://` URL could not be understood.
    InvalidUrl(&'static str),
    /// A timeout expired.
    Timeout(Timeout),
    /// A message exceeded the memory that [`crate::Reader::recv`] may use; use the streaming API instead.
    MessageTooLarge,
    /// The close handshake finished: no more messages.
    Closed,
    /// The peer closed the TCP connection without a close frame (close code 1006).
    AbnormalClosure,
}

/// Which timeout expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Protocol(e) => {
                write!(f, "protocol error (closed with {}): {e}", e.close_code().0)
            }
            Error::Send(e) => write!(f, "send refused: {e}"),
            Error::Request(e) => write!(f, "bad upgrade request (answered {}): {e}", e.status()),
            Error::Response(e) => write!(f, "bad handshake response: {e}"),
            Error::Encode(e) => write!(f, "handshake encoding failed: {e}"),
            Error::Rejected(status) => write!(f, "request answered with HTTP {status}"),
            Error::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            Error::Timeout(which) => write!(f, "{which:?} timeout expired"),
            Error::MessageTooLarge => {
                f.write_str("message exceeds max_message_len; use the streaming API")
            }
            Error::Closed => f.write_str("connection closed"),
            Error::AbnormalClosure => {
                f.write_str("peer closed the connection without a close frame")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Send(e) => Some(e),
            Error::Request(e) => Some(e),
            Error::Response(e) => Some(e),
            Error::Encode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<rill::SendError> for Error {
    fn from(e: rill::SendError) -> Self {
        Error::Send(e)
    }
}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e)
    }
}
