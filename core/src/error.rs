//! Error values, one enum per layer. Each protocol fault maps to the close code the peer receives;
//! [`Error`] is what the adapters report, whatever the I/O underneath.

use crate::close::CloseCode;
use crate::handshake::client::ResponseError;
use crate::handshake::server::RequestError;
use crate::handshake::EncodeError;
use core::fmt;

/// A fault in the bytes the peer sent after the handshake. The connection is failed with
/// [`ProtocolError::close_code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ProtocolError {
    /// An opcode from the reserved ranges 3-7 or 11-15.
    ReservedOpcode,
    /// An RSV bit set without a negotiated extension that defines it.
    ReservedBits,
    /// A 64-bit payload length with its most significant bit set.
    LengthMsbSet,
    /// A server received a frame without a masking key.
    UnmaskedFrame,
    /// A client received a masked frame.
    MaskedFrame,
    /// A control frame with a payload over 125 bytes.
    ControlFrameTooLong,
    /// A control frame without the FIN bit.
    FragmentedControlFrame,
    /// A continuation frame with no message in progress.
    OrphanContinuation,
    /// A new text or binary frame while a fragmented message was still open.
    MessageInterrupted,
    /// A text message or close reason that is not valid UTF-8.
    InvalidUtf8,
    /// A compressed message (permessage-deflate) whose data is not valid DEFLATE.
    InvalidCompressedData,
    /// A close frame whose payload is a single byte.
    InvalidClosePayload,
    /// A close frame carrying a code that may not be sent on the wire.
    InvalidCloseCode(u16),
    /// A frame longer than the configured limit.
    FrameTooLarge {
        /// The configured maximum frame payload, in bytes.
        limit: u64,
    },
    /// A message longer than the configured limit.
    MessageTooLarge {
        /// The configured maximum message size, in bytes.
        limit: u64,
    },
}

impl ProtocolError {
    /// The close code sent to the peer for this fault.
    pub const fn close_code(self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedOpcode => f.write_str("frame uses a reserved opcode"),
            ProtocolError::ReservedBits => {
                f.write_str("RSV bits set without a negotiated extension")
            }
            ProtocolError::LengthMsbSet => {
                f.write_str("64-bit payload length has its most significant bit set")
            }
            ProtocolError::UnmaskedFrame => f.write_str("client frame is not masked"),
            ProtocolError::MaskedFrame => f.write_str("server frame is masked"),
            ProtocolError::ControlFrameTooLong => {
                f.write_str("control frame payload exceeds 125 bytes")
            }
            ProtocolError::FragmentedControlFrame => f.write_str("control frame is fragmented"),
            ProtocolError::OrphanContinuation => {
                f.write_str("continuation frame without a message in progress")
            }
            ProtocolError::MessageInterrupted => {
                f.write_str("new data frame before the previous message finished")
            }
            ProtocolError::InvalidUtf8 => f.write_str("text is not valid UTF-8"),
            ProtocolError::InvalidCompressedData => {
                f.write_str("compressed message is not valid DEFLATE data")
            }
            ProtocolError::InvalidClosePayload => f.write_str("close frame payload of one byte"),
            ProtocolError::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
            ProtocolError::FrameTooLarge { limit } => {
                write!(f, "frame exceeds the limit of {limit} bytes")
            }
            ProtocolError::MessageTooLarge { limit } => {
                write!(f, "message exceeds the limit of {limit} bytes")
            }
        }
    }
}

impl core::error::Error for ProtocolError {}

/// A send that the connection's state does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SendError {
    /// A data message was started while another one is still being sent in chunks.
    MessageInProgress,
    /// A chunk was sent with no chunked message begun.
    NoMessageInProgress,
    /// A close frame was already sent: no data frame may follow it.
    Closed,
    /// A control payload over 125 bytes, or a close code that may not be sent.
    InvalidControl,
    /// The compressor failed, or a compressed message went on without it (permessage-deflate).
    Compression,
    /// The output buffer cannot hold the frame.
    BufferTooSmall {
        /// Bytes the frame needs.
        needed: usize,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::MessageInProgress => f.write_str("a chunked message is still in progress"),
            SendError::NoMessageInProgress => f.write_str("no chunked message in progress"),
            SendError::Closed => f.write_str("the close frame was already sent"),
            SendError::InvalidControl => {
                f.write_str("control payload over 125 bytes or a close code that may not be sent")
            }
            SendError::Compression => f.write_str("the compressor failed"),
            SendError::BufferTooSmall { needed } => write!(f, "output buffer needs {needed} bytes"),
        }
    }
}

impl core::error::Error for SendError {}

/// What can end or refuse a connection driven by an adapter; `E` is the stream's I/O error. rill-tokio and
/// rill-embassy both report this type.
#[derive(Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error<E> {
    /// The stream failed.
    Io(E),
    /// The peer broke the protocol; the close frame with [`ProtocolError::close_code`] was sent.
    Protocol(ProtocolError),
    /// The application asked for a send the connection state does not allow.
    Send(SendError),
    /// The client's upgrade request was invalid; the matching HTTP error was sent.
    Request(RequestError),
    /// The server's handshake response was not acceptable.
    Response(ResponseError),
    /// A handshake message could not be encoded (buffer too small, header value with CR/LF...).
    Encode(EncodeError),
    /// The application rejected the request (or answered it as plain HTTP) with this status.
    Rejected(u16),
    /// A URL given to a connect helper could not be understood.
    InvalidUrl(&'static str),
    /// A timeout expired.
    Timeout(Timeout),
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
    /// Pending output made no progress (the peer stopped reading).
    Write,
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
            Error::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            Error::Timeout(which) => write!(f, "{which:?} timeout expired"),
            Error::Closed => f.write_str("connection closed"),
            Error::AbnormalClosure => {
                f.write_str("peer closed the connection without a close frame")
            }
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

impl<E> From<SendError> for Error<E> {
    fn from(e: SendError) -> Self {
        Error::Send(e)
    }
}

impl<E> From<EncodeError> for Error<E> {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e)
    }
}

impl<E> From<crate::End> for Error<E> {
    fn from(end: crate::End) -> Self {
        match end {
            crate::End::Closed => Error::Closed,
            crate::End::Abnormal => Error::AbnormalClosure,
            crate::End::Protocol(error) => Error::Protocol(error),
            crate::End::Timeout(which) => Error::Timeout(which),
        }
    }
}

impl<E> From<ProtocolError> for Error<E> {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}
