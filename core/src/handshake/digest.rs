//! The two encodings the handshake needs, written for flash size: SHA-1 of the key and GUID, and base64 of
//! 16- and 20-byte values.
//!
//! General-purpose crates unroll SHA-1's 80 rounds and carry 256-byte base64 decode tables: together about
//! 4 KB on a Cortex-M, for a computation that runs once per connection over 60 bytes. These loops cost a
//! fraction of that; the tests compare them with those crates on random inputs.

/// SHA-1 (FIPS 180-4) of the concatenation of `parts`.
pub(crate) fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut state: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut block = [0u8; 64];
    let mut fill = 0;
    let mut total: u64 = 0;
    for &byte in parts.iter().flat_map(|part| part.iter()) {
        block[fill] = byte;
        fill += 1;
        total += 1;
        if fill == block.len() {
            compress(&mut state, &block);
            fill = 0;
        }
    }
    // Padding: a 1 bit, zeros, then the message length in bits in the last 8 bytes of a block.
    block[fill] = 0x80;
    block[fill + 1..].fill(0);
    if fill >= 56 {
        compress(&mut state, &block);
        block.fill(0);
    }
    block[56..].copy_from_slice(&(total * 8).to_be_bytes());
    compress(&mut state, &block);
    let mut digest = [0u8; 20];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

fn compress(state: &mut [u32; 5], block: &[u8; 64]) {
    // The message schedule kept as a 16-word ring: word i replaces word i - 16.
    let mut w = [0u32; 16];
    for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let [mut a, mut b, mut c, mut d, mut e] = *state;
    for i in 0..80 {
        if i >= 16 {
            let mixed = w[(i + 13) % 16] ^ w[(i + 8) % 16] ^ w[(i + 2) % 16] ^ w[i % 16];
            w[i % 16] = mixed.rotate_left(1);
        }
        let (f, k) = match i / 20 {
            0 => ((b & c) | (!b & d), 0x5A82_7999),
            1 => (b ^ c ^ d, 0x6ED9_EBA1),
            2 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
            _ => (b ^ c ^ d, 0xCA62_C1D6),
        };
        let t = a
            .rotate_left(5)
            .wrapping_add(f)
            .wrapping_add(e)
            .wrapping_add(k)
            .wrapping_add(w[i % 16]);
        e = d;
        d = c;
        c = b.rotate_left(30);
        b = a;
        a = t;
    }
    for (word, add) in state.iter_mut().zip([a, b, c, d, e]) {
        *word = word.wrapping_add(add);
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding of `input` into `out`, which must hold `input.len().div_ceil(3) * 4` bytes
/// (callers pass fixed sizes: 16 bytes into 24, 20 into 28).
pub(crate) fn base64_encode(input: &[u8], out: &mut [u8]) {
    for (group, chars) in input.chunks(3).zip(out.chunks_exact_mut(4)) {
        let bytes = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let bits = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
        for (i, char) in chars.iter_mut().enumerate() {
            // A group of n bytes gives n + 1 characters; the rest is padding.
            *char = if i <= group.len() {
                ALPHABET[((bits >> (18 - 6 * i)) & 0x3F) as usize]
            } else {
                b'='
            };
        }
    }
}

/// True when `key` is the canonical standard base64 of exactly 16 bytes: 22 characters, of which the last
/// carries 2 data bits and 4 zero bits, then `==`. This is the `Sec-WebSocket-Key` rule of RFC 6455
/// section 4.2.1; the decoded bytes themselves are never needed.
pub(crate) fn is_base64_of_16_bytes(key: &[u8]) -> bool {
    let [chars @ .., b'=', b'='] = key else {
        return false;
    };
    let [.., last] = chars else {
        return false;
    };
    chars.len() == 22
        && chars.iter().all(|c| ALPHABET.contains(c))
        && ALPHABET.iter().position(|c| c == last).unwrap_or(1) % 16 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> [u8; 40] {
        let mut out = [0u8; 40];
        for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
            pair[0] = b"0123456789abcdef"[usize::from(byte >> 4)];
            pair[1] = b"0123456789abcdef"[usize::from(byte & 15)];
        }
        out
    }

    #[test]
    fn sha1_matches_fips_180_examples_and_padding_edges() {
        assert_eq!(
            &hex(&sha1(&[b"abc"])),
            b"a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            &hex(&sha1(&[])),
            b"da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        let two_blocks = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(
            &hex(&sha1(&[two_blocks])),
            b"84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        // Split anywhere, the parts hash as their concatenation.
        assert_eq!(
            sha1(&[&two_blocks[..7], &two_blocks[7..]]),
            sha1(&[two_blocks])
        );
    }

    #[test]
    fn base64_matches_rfc_4648_examples() {
        let mut out = [0u8; 8];
        base64_encode(b"foobar", &mut out);
        assert_eq!(&out, b"Zm9vYmFy");
        base64_encode(b"fooba", &mut out);
        assert_eq!(&out, b"Zm9vYmE=");
        let mut out = [0u8; 4];
        base64_encode(b"f", &mut out);
        assert_eq!(&out, b"Zg==");
    }

    #[test]
    fn key_check_requires_canonical_16_bytes() {
        assert!(is_base64_of_16_bytes(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(is_base64_of_16_bytes(b"AAAAAAAAAAAAAAAAAAAAAA=="));
        assert!(is_base64_of_16_bytes(b"////////////////////ww=="));
        // Non-zero bits after the 128th, a wrong length, a character outside the alphabet, no padding.
        assert!(!is_base64_of_16_bytes(b"dGhlIHNhbXBsZSBub25jZR=="));
        assert!(!is_base64_of_16_bytes(b"dGhlIHNhbXBsZSBub25j"));
        assert!(!is_base64_of_16_bytes(b"dGhlIHNhbXBsZSBub25j-Q=="));
        assert!(!is_base64_of_16_bytes(b"dGhlIHNhbXBsZSBub25jZQAA"));
        assert!(!is_base64_of_16_bytes(b"dGhlIHNhbXBsZSBub25jZQ="));
    }

    proptest::proptest! {
        #[test]
        fn sha1_agrees_with_sha1_smol(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), cut in 0usize..300) {
            let cut = cut.min(data.len());
            let mut reference = sha1_smol::Sha1::new();
            reference.update(&data);
            proptest::prop_assert_eq!(sha1(&[&data[..cut], &data[cut..]]), reference.digest().bytes());
        }

        #[test]
        fn base64_agrees_with_the_base64_crate(data in proptest::prelude::any::<[u8; 20]>(), key in "[A-Za-z0-9+/=]{22,26}", at in 0usize..24) {
            use base64::Engine;
            let engine = base64::engine::general_purpose::STANDARD;
            let (mut ours, mut theirs) = ([0u8; 28], [0u8; 28]);
            base64_encode(&data, &mut ours);
            proptest::prop_assert_eq!(engine.encode_slice(data, &mut theirs), Ok(28));
            proptest::prop_assert_eq!(ours, theirs);
            base64_encode(&data[..16], &mut ours[..24]);
            proptest::prop_assert_eq!(engine.encode_slice(&data[..16], &mut theirs), Ok(24));
            proptest::prop_assert_eq!(&ours[..24], &theirs[..24]);
            let mut decoded = [0u8; 32];
            let reference = key.len() == 24 && engine.decode_slice(&key, &mut decoded) == Ok(16);
            proptest::prop_assert_eq!(is_base64_of_16_bytes(key.as_bytes()), reference);
            // Random strings are rarely keys: also check a real key and that key with one character changed.
            let mut valid = [0u8; 24];
            base64_encode(&data[..16], &mut valid);
            proptest::prop_assert!(is_base64_of_16_bytes(&valid));
            valid[at] = key.as_bytes()[0];
            let reference = engine.decode_slice(valid, &mut decoded) == Ok(16);
            proptest::prop_assert_eq!(is_base64_of_16_bytes(&valid), reference);
        }
    }
}
