//! The handshake's digest and encodings, from the design card's audited crates: SHA-1 (`sha1_smol`) and
//! standard base64 (`base64`), both without allocation.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// SHA-1 of the concatenation of `parts`.
pub(crate) fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut hasher = sha1_smol::Sha1::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.digest().bytes()
}

/// Standard base64 of `input` into `out`, which holds exactly the encoded length (padding included).
pub(crate) fn base64_encode(input: &[u8], out: &mut [u8]) {
    // `out` is sized by the callers for their fixed inputs (16 or 20 bytes), so this cannot fall short.
    let _ = STANDARD.encode_slice(input, out);
}

/// True when `key` is the canonical standard base64 of exactly 16 bytes (24 characters ending in `==`,
/// no stray bits): the `Sec-WebSocket-Key` rule of RFC 6455 section 4.2.1.
pub(crate) fn is_base64_of_16_bytes(key: &[u8]) -> bool {
    let mut decoded = [0u8; 18];
    key.len() == 24 && matches!(STANDARD.decode_slice(key, &mut decoded), Ok(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> [u8; 40] {
        let mut out = [0u8; 40];
        for (i, b) in bytes.iter().enumerate() {
            out[2 * i] = b"0123456789abcdef"[usize::from(b >> 4)];
            out[2 * i + 1] = b"0123456789abcdef"[usize::from(b & 15)];
        }
        out
    }

    #[test]
    fn sha1_matches_fips_180_examples_across_parts() {
        assert_eq!(
            &hex(&sha1(&[b"abc"])),
            b"a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            &hex(&sha1(&[b"a", b"", b"bc"])),
            b"a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            &hex(&sha1(&[])),
            b"da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }

    #[test]
    fn base64_matches_rfc_4648_examples() {
        let mut out = [0u8; 8];
        base64_encode(b"foobar", &mut out);
        assert_eq!(&out, b"Zm9vYmFy");
        let mut out = [0u8; 4];
        base64_encode(b"f", &mut out);
        assert_eq!(&out, b"Zg==");
    }

    #[test]
    fn key_check_requires_canonical_16_bytes() {
        assert!(is_base64_of_16_bytes(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(
            !is_base64_of_16_bytes(b"dGhlIHNhbXBsZSBub25jZR=="),
            "stray bits"
        );
        assert!(
            !is_base64_of_16_bytes(b"dGhlIHNhbXBsZSBub25jZQ="),
            "short padding"
        );
        assert!(!is_base64_of_16_bytes(b"dGhlIHNhbXBsZSBub25j"), "too short");
        assert!(
            !is_base64_of_16_bytes(b"dGhlIHNhbXBsZSBub25jZQ==AA"),
            "too long"
        );
        assert!(
            !is_base64_of_16_bytes(b"dGhlIHNhbXBsZSBub25j$Q=="),
            "alphabet"
        );
    }
}
