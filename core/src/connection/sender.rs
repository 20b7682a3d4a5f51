//! The sending side: frame headers for whole messages, chunked messages and control frames.
//!
//! The sender enforces the ordering rules of RFC 6455 section 5.4: one data message at a time (a chunked
//! message must finish before the next begins), control frames allowed between its fragments, and nothing
//! after a close frame. It produces headers only, so a payload can be written straight from flash, a generator
//! or the application's buffer without passing through connection-owned storage.

use super::{ControlFrame, MessageKind, Role};
use crate::error::SendError;
use crate::frame::{apply_mask, FrameHeader, OpCode, MAX_HEADER_LEN};

/// An encoded frame header, plus the masking key the payload that follows must be masked with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHead {
    bytes: [u8; MAX_HEADER_LEN],
    len: u8,
    mask: Option<[u8; 4]>,
}

impl FrameHead {
    fn new(header: &FrameHeader) -> Self {
        let mut bytes = [0; MAX_HEADER_LEN];
        // MAX_HEADER_LEN holds every header, so emit cannot fall short.
        let len = header.emit(&mut bytes).unwrap_or(0) as u8;
        FrameHead {
            bytes,
            len,
            mask: header.mask,
        }
    }

    /// The header bytes to write before the payload.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// True when the payload must be masked (the sender is a client).
    pub fn is_masked(&self) -> bool {
        self.mask.is_some()
    }

    /// A masker for the payload: masks it in pieces as they are written (a no-op for a server).
    pub fn payload_masker(&self) -> PayloadMasker {
        PayloadMasker {
            key: self.mask,
            offset: 0,
        }
    }

    /// Writes the header and `payload` (masked when needed) into `out`; returns the bytes written.
    pub fn encode(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        let head = self.as_bytes();
        let needed = head.len() + payload.len();
        let out = out
            .get_mut(..needed)
            .ok_or(SendError::BufferTooSmall { needed })?;
        let (out_head, out_payload) = out.split_at_mut(head.len());
        out_head.copy_from_slice(head);
        out_payload.copy_from_slice(payload);
        self.payload_masker().apply(out_payload);
        Ok(needed)
    }
}

/// Masks a frame's payload piece by piece, keeping the running offset into the key.
#[derive(Clone, Copy, Debug)]
pub struct PayloadMasker {
    key: Option<[u8; 4]>,
    offset: usize,
}

impl PayloadMasker {
    /// Masks the next piece of the payload in place.
    pub fn apply(&mut self, piece: &mut [u8]) {
        if let Some(key) = self.key {
            apply_mask(piece, key, self.offset);
            self.offset = (self.offset + piece.len()) % 4;
        }
    }
}

/// Masking keys for a client: a small PRNG (wyrand) seeded by the adapter from the platform's entropy source,
/// since the core has no RNG of its own.
#[derive(Clone, Copy, Debug)]
struct MaskKeys(u64);

impl MaskKeys {
    fn next(&mut self) -> [u8; 4] {
        self.0 = self.0.wrapping_add(0xA076_1D64_78BD_642F);
        let mixed = u128::from(self.0) * u128::from(self.0 ^ 0xE703_7ED1_A0B4_28DB);
        let word = ((mixed >> 64) as u64) ^ (mixed as u64);
        let bytes = word.to_le_bytes();
        [bytes[0], bytes[1], bytes[2], bytes[3]]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DataState {
    Idle,
    /// A chunked message has begun; `started` once its first frame (with the data opcode) is out.
    Chunking {
        kind: MessageKind,
        started: bool,
    },
    /// A close frame was sent; nothing may follow it.
    Closed,
}

/// The sending half of a connection's state.
#[derive(Clone, Copy, Debug)]
pub struct Sender {
    keys: Option<MaskKeys>,
    state: DataState,
}

impl Sender {
    /// A server's sender: frames are not masked.
    pub const fn server() -> Self {
        Sender {
            keys: None,
            state: DataState::Idle,
        }
    }

    /// A client's sender: every frame is masked with a key drawn from a PRNG seeded with `mask_seed`, which
    /// the adapter takes from the platform's entropy source.
    pub const fn client(mask_seed: u64) -> Self {
        Sender {
            keys: Some(MaskKeys(mask_seed)),
            state: DataState::Idle,
        }
    }

    /// A sender for `role`; `mask_seed` is used by clients only.
    pub const fn new(role: Role, mask_seed: u64) -> Self {
        match role {
            Role::Server => Self::server(),
            Role::Client => Self::client(mask_seed),
        }
    }

    fn head(&mut self, opcode: OpCode, fin: bool, len: u64) -> FrameHead {
        self.head_rsv(opcode, fin, len, 0)
    }

    fn head_rsv(&mut self, opcode: OpCode, fin: bool, len: u64, rsv: u8) -> FrameHead {
        let mask = self.keys.as_mut().map(MaskKeys::next);
        FrameHead::new(&FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: len,
        })
    }

    /// The header of a whole message sent as one frame of `len` bytes.
    pub fn message(&mut self, kind: MessageKind, len: u64) -> Result<FrameHead, SendError> {
        match self.state {
            DataState::Idle => Ok(self.head(kind.opcode(), true, len)),
            DataState::Chunking { .. } => Err(SendError::MessageInProgress),
            DataState::Closed => Err(SendError::Closed),
        }
    }

    /// Begins a message that will be sent in chunks with [`Sender::chunk`].
    pub fn begin(&mut self, kind: MessageKind) -> Result<(), SendError> {
        match self.state {
            DataState::Idle => {
                self.state = DataState::Chunking {
                    kind,
                    started: false,
                };
                Ok(())
            }
            DataState::Chunking { .. } => Err(SendError::MessageInProgress),
            DataState::Closed => Err(SendError::Closed),
        }
    }

    /// The header of the next chunk (`len` bytes) of the message begun with [`Sender::begin`]; `fin` ends it.
    pub fn chunk(&mut self, len: u64, fin: bool) -> Result<FrameHead, SendError> {
        self.chunk_marked(len, fin, false)
    }

    /// [`Sender::chunk`] for a compressed message (permessage-deflate): its first frame carries RSV1.
    pub fn compressed_chunk(&mut self, len: u64, fin: bool) -> Result<FrameHead, SendError> {
        self.chunk_marked(len, fin, true)
    }

    fn chunk_marked(
        &mut self,
        len: u64,
        fin: bool,
        compressed: bool,
    ) -> Result<FrameHead, SendError> {
        let DataState::Chunking { kind, started } = self.state else {
            return Err(match self.state {
                DataState::Closed => SendError::Closed,
                _ => SendError::NoMessageInProgress,
            });
        };
        let (opcode, rsv) = if started {
            (OpCode::Continuation, 0)
        } else {
            (kind.opcode(), if compressed { 0b100 } else { 0 })
        };
        self.state = if fin {
            DataState::Idle
        } else {
            DataState::Chunking {
                kind,
                started: true,
            }
        };
        Ok(self.head_rsv(opcode, fin, len, rsv))
    }

    /// The header of a control frame, allowed between a chunked message's fragments. Sending a close frame
    /// ends the sending side: every later frame is refused with [`SendError::Closed`].
    pub fn control(&mut self, frame: &ControlFrame) -> Result<FrameHead, SendError> {
        self.control_head(frame.opcode(), frame.payload().len())
    }

    /// [`Sender::control`] for a frame of `opcode` with `len` payload bytes (at most 125; the caller
    /// holds the payload wherever it lies).
    pub fn control_head(&mut self, opcode: OpCode, len: usize) -> Result<FrameHead, SendError> {
        if self.state == DataState::Closed {
            return Err(SendError::Closed);
        }
        if opcode == OpCode::Close {
            self.state = DataState::Closed;
        }
        Ok(self.head(opcode, true, len as u64))
    }

    /// Writes `frame` (header and masked payload) into `out`; returns the bytes written.
    pub fn encode_control(
        &mut self,
        frame: &ControlFrame,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        let mask_len = if self.keys.is_some() { 4 } else { 0 };
        let needed = 2 + mask_len + frame.payload().len();
        if out.len() < needed {
            return Err(SendError::BufferTooSmall { needed });
        }
        self.control(frame)?.encode(frame.payload(), out)
    }

    /// True when a message is begun and none of its frames is framed yet.
    pub fn is_unstarted(&self) -> bool {
        matches!(self.state, DataState::Chunking { started: false, .. })
    }

    /// True while a chunked message is open.
    pub fn in_message(&self) -> bool {
        matches!(self.state, DataState::Chunking { .. })
    }

    /// True once a close frame has been sent.
    pub fn is_closed(&self) -> bool {
        self.state == DataState::Closed
    }
}
