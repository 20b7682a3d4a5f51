//! The opening handshake (RFC 6455 section 4): an HTTP/1.1 upgrade, scanned by [`head`] and validated
//! strictly.
//!
//! - [`server`]: parse a client's request, check every rule of section 4.2.1, then accept (choosing a
//!   subprotocol, adding headers) or reject with a status and a reason.
//! - [`client`]: encode the request, then verify the server's response (section 4.2.2 and 4.1).
//! - `owned` (feature `alloc`): owned decisions and client options for adapters with an allocator.
//!
//! Both parsers are push parsers: [`Parsed::Partial`] until the blank line ending the header block, then the
//! parsed head and how many bytes it used; bytes after it (early frames) stay in the caller's buffer.

pub mod client;
mod digest;
mod encode;
mod fields;
pub mod head;
#[cfg(feature = "alloc")]
pub mod owned;
pub mod server;

pub use encode::EncodeError;
pub(crate) use encode::Writer;
pub use fields::Tokens;

/// How many header lines a handshake may carry. More are answered with 431.
pub const MAX_HEADERS: usize = 32;

/// The default limit on the size of a header block, in bytes.
pub const DEFAULT_MAX_HEAD_LEN: usize = 4096;

/// The GUID that RFC 6455 appends to the key before hashing it.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The outcome of feeding a push parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The header block has not ended yet: read more and call again with all bytes so far.
    Partial,
    /// The header block is complete.
    Complete {
        /// What was parsed.
        value: T,
        /// Bytes the header block used; the rest of the buffer belongs to the WebSocket stream.
        consumed: usize,
    },
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` value: base64 of SHA-1 of the key and the GUID.
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    let mut out = [0u8; 28];
    digest::base64_encode(&digest::sha1(&[key, ACCEPT_GUID]), &mut out);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn accept_key_matches_rfc_6455_section_1_3() {
        assert_eq!(
            &super::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
