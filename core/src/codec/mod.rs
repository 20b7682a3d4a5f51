//! The frame codec: a [`Receiver`] that decodes what the peer sends, a [`Sender`] that frames what the
//! application sends, and the control replies owed in between; and the types the whole API shares
//! ([`Role`], [`Message`], [`MessageKind`], [`Piece`], [`Limits`]), re-exported at the crate root.
//!
//! [`crate::Session`] combines the codec with the rest of a connection's life; the codec itself is public
//! only with feature `codec` (tests and fuzz targets drive it directly).

mod chacha;
mod control;
mod receiver;
mod sender;

pub use control::{ControlFrame, Outbox};
pub use receiver::{Decoded, Piece, Received, Receiver};
pub use sender::{FrameHead, PayloadMasker, Sender};

use crate::frame::OpCode;

/// Which end of the connection this is: it decides who masks (RFC 6455 section 5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Role {
    /// The accepting end: receives masked frames, sends unmasked ones.
    Server,
    /// The connecting end: masks every frame it sends, rejects masked frames.
    Client,
}

/// A complete message, or the peer's close frame, as the adapters' `recv` returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (validated UTF-8).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// The peer's close frame: its code (absent when the frame was empty) and reason. The reply is sent;
    /// later receives report [`crate::Error::Closed`] once the connection has ended.
    Close(Option<crate::CloseCode>, &'a str),
}

impl<'a> Message<'a> {
    /// A whole message of `kind` from its bytes (text was validated by the session as it arrived).
    pub fn new(kind: MessageKind, bytes: &'a [u8]) -> Self {
        match kind {
            MessageKind::Text => Message::Text(crate::utf8::as_str(bytes).unwrap_or_default()),
            MessageKind::Binary => Message::Binary(bytes),
        }
    }
}

/// The kind of a data message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

impl MessageKind {
    /// The opcode of the message's first frame.
    pub const fn opcode(self) -> OpCode {
        match self {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        }
    }
}

/// Size limits on what the peer may send; exceeding one fails the connection with close code 1009.
///
/// They bound policy, not memory: the receiver streams payload and never buffers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// Largest frame payload accepted, in bytes.
    pub max_frame_len: u64,
    /// Largest message (all fragments) accepted, in bytes.
    pub max_message_len: u64,
}

impl Limits {
    /// 16 MiB frames and 64 MiB messages.
    pub const DEFAULT: Limits = Limits {
        max_frame_len: 16 << 20,
        max_message_len: 64 << 20,
    };
}

impl Default for Limits {
    /// [`Limits::DEFAULT`].
    fn default() -> Self {
        Self::DEFAULT
    }
}
