//! permessage-deflate (RFC 7692): what an endpoint accepts, what the handshake agreed, and the compression
//! backends the session drives.
//!
//! - [`DeflateConfig`]: what this endpoint offers (client) or accepts (server), in its own terms (how large a
//!   window it can inflate with, how large a window it compresses with, context takeover).
//! - [`DeflateParams`]: what the handshake agreed, in RFC 7692's terms; the session reads it from its role.
//! - [`Inflate`] and [`Deflate`]: the backends the session drives, lent per call like the buffers.
//!   `Inflater` (feature `deflate`) is miniz_oxide's inflater over a caller-lent window, no allocation.
//! - Negotiation ([`negotiate`], [`write_offer`], [`parse_agreement`]): the `Sec-WebSocket-Extensions` header,
//!   both roles, with every rule of RFC 7692 section 7.1.

mod compress;
mod inflate;
mod negotiate;

pub use compress::{bound, fits, Deflate, DeflateError};
#[cfg(feature = "deflate")]
pub use inflate::Inflater;
pub use inflate::{Inflate, InflateError, Inflated, TAIL};
pub use negotiate::{negotiate, parse_agreement, write_offer, AgreementError};

use crate::codec::Role;

/// True when the core is built with its `deflate` feature. Without it the handshake neither offers, agrees
/// nor answers permessage-deflate (so the negotiation code stays out of a firmware that cannot inflate).
pub const SUPPORTED: bool = cfg!(feature = "deflate");

/// The smallest window, in bits, RFC 7692 allows.
pub const MIN_WINDOW_BITS: u8 = 8;
/// The largest window, in bits (32 KiB): DEFLATE's own limit.
pub const MAX_WINDOW_BITS: u8 = 15;

/// [`DeflateConfig::compress_threshold`]'s default: messages sent whole below 1 KiB leave uncompressed.
pub const DEFAULT_COMPRESS_THRESHOLD: usize = 1024;

/// What this endpoint offers (a client) or accepts (a server), in its own terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeflateConfig {
    /// The largest window (bits, 8..=15) this endpoint can inflate with: how far back the peer's
    /// compressor may refer. Below 15 it must be agreed with the peer, and a server declines a client
    /// that cannot limit its window (an offer without `client_max_window_bits`).
    pub receive_window_bits: u8,
    /// The window (bits, 8..=15) this endpoint compresses with, or `None` to send every message
    /// uncompressed (an inflate-only endpoint such as a microcontroller; RFC 7692 allows it).
    pub send_window_bits: Option<u8>,
    /// Ask the peer to reset its compression context after every message.
    pub receive_no_context_takeover: bool,
    /// Reset our compression context after every message (and say so in the handshake).
    pub send_no_context_takeover: bool,
    /// Messages sent whole below this many bytes go uncompressed (compressing them costs more time than
    /// the bytes it saves, and a connection that sends none above it never makes a compressor). Default
    /// 1,024 bytes, Node `ws`' default; 0 compresses every message (`docs/deflate.md`, "Threshold").
    pub compress_threshold: usize,
    /// The compressor's level, 0 (store) to 9 (smallest), for backends that have one (zlib: 6 is its
    /// default).
    pub level: u8,
    /// The compressor's memory level, 1 to 9, for backends that have one: zlib's hash table and
    /// pending-output buffer grow with it (2^(level + 9) bytes together).
    pub memory_level: u8,
}

impl Default for DeflateConfig {
    /// Inflate with the full window (any peer, browsers included, can compress as it likes), compress with
    /// a 4 KiB window (`send_window_bits: Some(12)`), context takeover both ways: Python websockets' server
    /// defaults, most of the ratio for a fraction of a full window's compressor memory. Messages sent
    /// whole below 1 KiB leave uncompressed.
    fn default() -> Self {
        DeflateConfig {
            receive_window_bits: MAX_WINDOW_BITS,
            send_window_bits: Some(12),
            receive_no_context_takeover: false,
            send_no_context_takeover: false,
            compress_threshold: DEFAULT_COMPRESS_THRESHOLD,
            level: 6,
            memory_level: 5,
        }
    }
}

/// What the handshake agreed, in RFC 7692's parameter names (absent window bits are 15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeflateParams {
    /// The server resets its compression context after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after every message.
    pub client_no_context_takeover: bool,
    /// The largest window (bits) the server compresses with.
    pub server_max_window_bits: u8,
    /// The largest window (bits) the client compresses with.
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    /// `permessage-deflate` with no parameters.
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

impl DeflateParams {
    /// The largest window (bits) an endpoint of `role` may compress with.
    pub fn send_window_bits(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.server_max_window_bits,
            Role::Client => self.client_max_window_bits,
        }
    }

    /// The largest window (bits) the peer of an endpoint of `role` compresses with: what it inflates with.
    pub fn receive_window_bits(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.client_max_window_bits,
            Role::Client => self.server_max_window_bits,
        }
    }

    /// True when an endpoint of `role` must reset its compressor after every message.
    pub fn send_resets(&self, role: Role) -> bool {
        match role {
            Role::Server => self.server_no_context_takeover,
            Role::Client => self.client_no_context_takeover,
        }
    }

    /// True when the peer of an endpoint of `role` resets after every message (the inflater may too).
    pub fn receive_resets(&self, role: Role) -> bool {
        match role {
            Role::Server => self.client_no_context_takeover,
            Role::Client => self.server_no_context_takeover,
        }
    }
}
