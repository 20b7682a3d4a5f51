//! The connection after the handshake: a [`Receiver`] that decodes what the peer sends, a [`Sender`] that
//! frames what the application sends, and the control replies owed in between.
//!
//! Adapters that read and write from different tasks hold a `Receiver` and a `Sender` separately and move
//! replies from one to the other through an [`Outbox`]; [`Connection`] bundles them for single-owner use.

mod control;
mod receiver;
mod sender;

pub use control::{ControlFrame, Outbox};
pub use receiver::{Data, Event, Received, Receiver};
pub use sender::{FrameHead, PayloadMasker, Sender};

use crate::error::{ProtocolError, SendError};
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

impl Default for Limits {
    /// 16 MiB frames and 64 MiB messages.
    fn default() -> Self {
        Limits {
            max_frame_len: 16 << 20,
            max_message_len: 64 << 20,
        }
    }
}

/// Both halves of a connection with one owner: receive, send, and drain the replies owed to the peer.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The receiving half.
    pub receiver: Receiver,
    /// The sending half.
    pub sender: Sender,
}

impl Connection {
    /// A connection for `role`; `mask_seed` seeds client masking keys and is ignored by servers.
    pub const fn new(role: Role, limits: Limits, mask_seed: u64) -> Self {
        Connection {
            receiver: Receiver::new(role, limits),
            sender: Sender::new(role, mask_seed),
        }
    }

    /// Decodes input; see [`Receiver::receive`].
    pub fn receive<'s, 'i>(
        &'s mut self,
        input: &'i mut [u8],
    ) -> Result<Received<'s, 'i>, ProtocolError> {
        self.receiver.receive(input)
    }

    /// Writes the replies owed to the peer (pong, close reply) into `out`; returns the bytes written. A
    /// reply that does not fit stays queued; replies the sender may no longer send (after its close) are
    /// dropped.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> usize {
        let mut written = 0;
        while let Some(frame) = self.receiver.peek_reply() {
            match self.sender.encode_control(&frame, &mut out[written..]) {
                Ok(len) => written += len,
                Err(SendError::BufferTooSmall { .. }) => break,
                Err(_) => {}
            }
            self.receiver.take_reply();
        }
        written
    }

    /// Writes a whole message as one frame into `out`; returns the bytes written.
    pub fn send(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.sender
            .message(kind, payload.len() as u64)?
            .encode(payload, out)
    }
}
