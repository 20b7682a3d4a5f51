//! Compression of sent messages: the [`Deflate`] backend trait the session drives. The core has no
//! compressor of its own (an inflate-only endpoint sends uncompressed); `rill-zlib` implements it with zlib.

/// The compressor could not run (its state is unusable); the message cannot be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateError;

/// A raw-DEFLATE compressor for one connection's sent messages, with the window the handshake agreed.
pub trait Deflate {
    /// Compresses all of `input` into `output` and returns the bytes written. With `flush`, ends with a
    /// sync flush, so the output so far decodes completely and ends with [`super::TAIL`]. The session
    /// lends `output` with at least [`bound`] bytes for everything fed since the last flush, so the
    /// whole input always fits.
    fn deflate(
        &mut self,
        input: &[u8],
        output: &mut [u8],
        flush: bool,
    ) -> Result<usize, DeflateError>;
    /// Forgets the compression context (no context takeover: after every message).
    fn reset(&mut self);
}

/// The most bytes compressing `len` input bytes and a sync flush can produce (zlib's conservative
/// `deflateBound` for raw streams, plus the flush's empty stored block).
pub const fn bound(len: usize) -> usize {
    len + len.div_ceil(8) + len.div_ceil(64) + 5 + 16
}

/// The most input bytes whose compressed form surely fits in `room` bytes.
pub const fn fits(room: usize) -> usize {
    let room = room.saturating_sub(21);
    // bound(n) <= n * 73 / 64 + 23 for every n.
    (room * 64 / 73).saturating_sub(2)
}
