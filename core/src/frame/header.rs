//! The frame header: parse from and emit into bytes, with exact length math.

use super::{OpCode, MAX_CONTROL_PAYLOAD};
use crate::codec::Role;
use crate::error::ProtocolError;

/// The longest frame header: 2 fixed bytes, an 8-byte extended length and a 4-byte masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// A decoded frame header (RFC 6455 section 5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// The three reserved bits RSV1..RSV3, as the low three bits (RSV1 = 0b100).
    pub rsv: u8,
    /// What the frame carries.
    pub opcode: OpCode,
    /// The masking key, present on every client-to-server frame.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` holds only part of a header, `Ok(Some((header, header_len)))` otherwise.
    /// Structural faults are errors: a reserved opcode, or a 64-bit length with its most significant bit set.
    /// A non-minimal length encoding is accepted, as RFC 6455 does not require receivers to reject it.
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let (first, second) = match buf {
            [first, second, ..] => (*first, *second),
            _ => return Ok(None),
        };
        let opcode = OpCode::from_bits(first).ok_or(ProtocolError::ReservedOpcode)?;
        let masked = second & 0x80 != 0;
        let (payload_len, mut pos) = match second & 0x7F {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(b);
                    let len = u64::from_be_bytes(word);
                    if len >> 63 != 0 {
                        return Err(ProtocolError::LengthMsbSet);
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        let mask = if masked {
            match buf.get(pos..pos + 4) {
                Some(b) => {
                    pos += 4;
                    Some([b[0], b[1], b[2], b[3]])
                }
                None => return Ok(None),
            }
        } else {
            None
        };
        let header = FrameHeader {
            fin: first & 0x80 != 0,
            rsv: (first >> 4) & 0x07,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, pos)))
    }

    /// Applies the rules that depend on the connection: RSV bits only for negotiated extensions (`allowed_rsv`),
    /// masking by role (a server requires masked frames, a client rejects them), and control frames that are
    /// final and carry at most 125 bytes.
    pub fn check(&self, receiver: Role, allowed_rsv: u8) -> Result<(), ProtocolError> {
        if self.rsv & !allowed_rsv != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        match (receiver, self.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if self.opcode.is_control() {
            if !self.fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if self.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLong);
            }
        }
        Ok(())
    }

    /// The number of bytes [`FrameHeader::emit`] writes: minimal length encoding plus the optional key.
    pub const fn encoded_len(&self) -> usize {
        let len_bytes = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + len_bytes + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header with the minimal length encoding; returns the bytes written, or `None` if `out` is
    /// shorter than [`FrameHeader::encoded_len`].
    pub fn emit(&self, out: &mut [u8]) -> Option<usize> {
        let len = self.encoded_len();
        let out = out.get_mut(..len)?;
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x07) << 4) | self.opcode as u8;
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut pos = 2;
        match self.payload_len {
            short @ 0..=125 => out[1] = mask_bit | short as u8,
            medium @ 126..=0xFFFF => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(medium as u16).to_be_bytes());
                pos = 4;
            }
            long => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&long.to_be_bytes());
                pos = 10;
            }
        }
        if let Some(key) = self.mask {
            out[pos..pos + 4].copy_from_slice(&key);
        }
        Some(len)
    }
}
