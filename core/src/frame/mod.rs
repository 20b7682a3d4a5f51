//! The frame layer (RFC 6455 section 5.2): opcodes, the 2 to 14 byte frame header, and payload masking.
//!
//! Parsing here is structural (what the bytes say); the policy checks that depend on the connection (role,
//! negotiated extensions, control-frame rules) live in [`FrameHeader::check`] so a fuzzer can drive both.

mod header;
mod mask;
mod opcode;

pub use header::{FrameHeader, MAX_HEADER_LEN};
pub use mask::apply_mask;
pub use opcode::OpCode;

/// The largest payload a control frame (close, ping, pong) may carry (RFC 6455 section 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
