//! The sending side: frame headers for whole messages, chunked messages and control frames.
//!
//! The sender enforces the ordering rules of RFC 6455 section 5.4: one data message at a time (a chunked
//! message must finish before the next begins), control frames allowed between its fragments, and nothing
//! after a close frame. It produces headers only, so a payload can be written straight from flash, a generator
//! or the application's buffer without passing through connection-owned storage.

use super::{chacha, ControlFrame, MessageKind, Role};
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

/// ChaCha8 (4 double rounds): ample margin for masking keys (the best known attacks reach 7 rounds), at
/// two fifths of ChaCha20's cost per key.
const DOUBLE_ROUNDS: usize = 4;

/// A client's masking keys: the ChaCha8 keystream under a 32-byte seed from the platform's entropy source
/// (RFC 6455 section 5.3), one 4-byte word per frame. Only the key and a counter are kept, not a block of
/// output: the block is computed again for each key (cheap next to a frame), so a session, a server's too,
/// carries no 64-byte buffer.
#[derive(Clone, Copy)]
struct MaskKeys {
    key: [u32; 8],
    /// Keys drawn so far: keystream block `drawn / 16`, word `drawn % 16`.
    drawn: u32,
}

impl MaskKeys {
    const fn new(seed: [u8; 32]) -> Self {
        let mut key = [0u32; 8];
        let mut i = 0;
        while i < 8 {
            let at = 4 * i;
            key[i] = u32::from_le_bytes([seed[at], seed[at + 1], seed[at + 2], seed[at + 3]]);
            i += 1;
        }
        MaskKeys { key, drawn: 0 }
    }

    fn next(&mut self) -> [u8; 4] {
        let block = chacha::block(&self.key, [self.drawn >> 4, 0, 0, 0], DOUBLE_ROUNDS);
        let word = block[(self.drawn & 15) as usize];
        self.drawn = self.drawn.wrapping_add(1);
        if self.drawn == 0 {
            // 2^32 keys drawn: a new key from block 2^28, which no key came from, so none repeats.
            let next = chacha::block(&self.key, [1 << 28, 0, 0, 0], DOUBLE_ROUNDS);
            self.key.copy_from_slice(&next[..8]);
        }
        word.to_le_bytes()
    }
}

impl core::fmt::Debug for MaskKeys {
    // The key stays out of logs: with it, every later masking key is known.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MaskKeys")
            .field("drawn", &self.drawn)
            .finish_non_exhaustive()
    }
}

/// Draws the next masking key; see [`Sender::client`].
type Draw = fn(&mut MaskKeys) -> [u8; 4];

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
    keys: MaskKeys,
    /// How a client draws its masking keys; `None` for a server, which masks nothing. Reached only through
    /// this pointer, which only [`Sender::client`] takes, so a server's image links no ChaCha code.
    draw: Option<Draw>,
    state: DataState,
}

impl Sender {
    /// A server's sender: frames are not masked.
    pub const fn server() -> Self {
        Sender {
            keys: MaskKeys::new([0; 32]),
            draw: None,
            state: DataState::Idle,
        }
    }

    /// A client's sender: every frame is masked with a key from the ChaCha8 keystream under `seed`, which
    /// must come from a strong entropy source (the OS, a hardware RNG) and be fresh for every connection.
    pub const fn client(seed: [u8; 32]) -> Self {
        Sender {
            keys: MaskKeys::new(seed),
            draw: Some(MaskKeys::next),
            state: DataState::Idle,
        }
    }

    /// A sender for `role`; `seed` is used by clients only (see [`Sender::client`]).
    pub const fn new(role: Role, seed: [u8; 32]) -> Self {
        match role {
            Role::Server => Self::server(),
            Role::Client => Self::client(seed),
        }
    }

    fn head(&mut self, opcode: OpCode, fin: bool, len: u64) -> FrameHead {
        self.head_rsv(opcode, fin, len, 0)
    }

    fn head_rsv(&mut self, opcode: OpCode, fin: bool, len: u64, rsv: u8) -> FrameHead {
        let mask = self.draw.map(|draw| draw(&mut self.keys));
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
        let mask_len = if self.draw.is_some() { 4 } else { 0 };
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

#[cfg(test)]
mod tests {
    use super::{chacha, MaskKeys, DOUBLE_ROUNDS};

    #[test]
    fn masking_keys_are_the_chacha8_keystream_under_the_seed_and_never_repeat_after_it_wraps() {
        let seed: [u8; 32] = core::array::from_fn(|i| (i * 7 + 1) as u8);
        let mut keys = MaskKeys::new(seed);
        let key = MaskKeys::new(seed).key;
        let stream: [u32; 32] = {
            let (a, b) = (
                chacha::block(&key, [0; 4], DOUBLE_ROUNDS),
                chacha::block(&key, [1, 0, 0, 0], DOUBLE_ROUNDS),
            );
            core::array::from_fn(|i| if i < 16 { a[i] } else { b[i - 16] })
        };
        for word in stream {
            assert_eq!(keys.next(), word.to_le_bytes());
        }
        let mut other = MaskKeys::new([0; 32]);
        assert_ne!(other.next(), MaskKeys::new(seed).next(), "the seed decides");
        // After 2^32 keys the key changes, so the sequence does not start over.
        let mut wrapped = MaskKeys::new(seed);
        wrapped.drawn = u32::MAX;
        wrapped.next();
        assert_eq!(wrapped.drawn, 0);
        assert_ne!(wrapped.key, key);
        assert_ne!(wrapped.next(), stream[0].to_le_bytes());
    }
}
