//! Control frames the connection owes the peer, kept in fixed storage until a writer sends them.

use crate::close::CloseCode;
use crate::error::SendError;
use crate::frame::{OpCode, MAX_CONTROL_PAYLOAD};

/// A close, ping or pong frame with its payload (at most 125 bytes) stored inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlFrame {
    opcode: OpCode,
    payload: [u8; MAX_CONTROL_PAYLOAD],
    len: u8,
}

impl ControlFrame {
    fn new(opcode: OpCode, parts: &[&[u8]]) -> Result<Self, SendError> {
        let mut frame = ControlFrame {
            opcode,
            payload: [0; MAX_CONTROL_PAYLOAD],
            len: 0,
        };
        for part in parts {
            let start = usize::from(frame.len);
            let slot = frame
                .payload
                .get_mut(start..start + part.len())
                .ok_or(SendError::InvalidControl)?;
            slot.copy_from_slice(part);
            frame.len += part.len() as u8;
        }
        Ok(frame)
    }

    /// A ping carrying `payload` (at most 125 bytes).
    pub fn ping(payload: &[u8]) -> Result<Self, SendError> {
        Self::new(OpCode::Ping, &[payload])
    }

    /// A pong carrying `payload` (at most 125 bytes).
    pub fn pong(payload: &[u8]) -> Result<Self, SendError> {
        Self::new(OpCode::Pong, &[payload])
    }

    /// A close frame. `None` sends an empty payload; a code must be one that may appear on the wire, and the
    /// reason must fit in the 123 bytes after it.
    pub fn close(code: Option<CloseCode>, reason: &str) -> Result<Self, SendError> {
        match code {
            None if reason.is_empty() => Self::new(OpCode::Close, &[]),
            Some(code) if code.is_sendable() => {
                Self::new(OpCode::Close, &[&code.0.to_be_bytes(), reason.as_bytes()])
            }
            _ => Err(SendError::InvalidControl),
        }
    }

    /// The frame's opcode: close, ping or pong.
    pub fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// The frame's payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload[..usize::from(self.len)]
    }
}

/// Replies the receiving side owes the peer: the pong for the latest ping (RFC 6455 section 5.5.3 allows
/// answering only the most recent one) and the close reply. Fixed size, so no queue can grow.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outbox {
    pong: Option<ControlFrame>,
    /// `Some(None)` is an empty close payload, `Some(Some(code))` a close carrying `code`.
    close: Option<Option<CloseCode>>,
}

impl Outbox {
    /// An empty outbox.
    pub const fn new() -> Self {
        Outbox {
            pong: None,
            close: None,
        }
    }

    /// Queues a pong, replacing any pong not yet sent.
    pub fn push_pong(&mut self, frame: ControlFrame) {
        self.pong = Some(frame);
    }

    /// Queues a close reply; the first one queued wins.
    pub fn push_close(&mut self, code: Option<CloseCode>) {
        self.close.get_or_insert(code);
    }

    /// The pong waiting to be sent, left queued (sent before the close reply).
    pub fn pong(&self) -> Option<&ControlFrame> {
        self.pong.as_ref()
    }

    /// The close reply waiting to be sent, left queued: `Some(None)` is an empty close payload.
    pub fn close(&self) -> Option<Option<CloseCode>> {
        self.close
    }

    /// Takes the pong waiting to be sent, or else the close reply (the next frame to send).
    pub fn take(&mut self) {
        if self.pong.take().is_none() {
            self.close = None;
        }
    }

    /// True when nothing is waiting to be sent.
    pub fn is_empty(&self) -> bool {
        self.pong.is_none() && self.close.is_none()
    }
}
