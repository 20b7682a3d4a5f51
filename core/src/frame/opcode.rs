//! Frame opcodes (RFC 6455 section 5.2 and 11.8).

/// A frame's opcode. Reserved opcodes (3-7, 11-15) have no variant: they are rejected at parse time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OpCode {
    /// A continuation of a fragmented data message.
    Continuation = 0x0,
    /// The first frame of a text message.
    Text = 0x1,
    /// The first frame of a binary message.
    Binary = 0x2,
    /// Close control frame.
    Close = 0x8,
    /// Ping control frame.
    Ping = 0x9,
    /// Pong control frame.
    Pong = 0xA,
}

impl OpCode {
    /// Decodes the low four bits of a frame's first byte; `None` for a reserved opcode.
    pub const fn from_bits(bits: u8) -> Option<OpCode> {
        match bits & 0x0F {
            0x0 => Some(OpCode::Continuation),
            0x1 => Some(OpCode::Text),
            0x2 => Some(OpCode::Binary),
            0x8 => Some(OpCode::Close),
            0x9 => Some(OpCode::Ping),
            0xA => Some(OpCode::Pong),
            _ => None,
        }
    }

    /// True for close, ping and pong: frames that may interleave with a fragmented message.
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x08 != 0
    }
}
