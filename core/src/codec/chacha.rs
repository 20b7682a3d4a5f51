//! The ChaCha block function (RFC 8439 section 2.3), for a client's masking keys: RFC 6455 section 5.3
//! wants them from a strong source of entropy, unpredictable to the application whose bytes they mask.
//! A few dozen lines of safe code rather than a crate: see docs/design.md, "Masking keys".

/// "expand 32-byte k", the first row of every ChaCha state.
const CONSTANTS: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// The quarter rounds of one double round: four columns, then four diagonals.
const DOUBLE_ROUND: [[usize; 4]; 8] = [
    [0, 4, 8, 12],
    [1, 5, 9, 13],
    [2, 6, 10, 14],
    [3, 7, 11, 15],
    [0, 5, 10, 15],
    [1, 6, 11, 12],
    [2, 7, 8, 13],
    [3, 4, 9, 14],
];

/// One keystream block: `key`, then `words` (the block counter and the nonce) through `double_rounds`
/// double rounds (10 for ChaCha20, 4 for ChaCha8), added to the input.
pub(super) fn block(key: &[u32; 8], words: [u32; 4], double_rounds: usize) -> [u32; 16] {
    let mut input = [0u32; 16];
    input[..4].copy_from_slice(&CONSTANTS);
    input[4..12].copy_from_slice(key);
    input[12..].copy_from_slice(&words);
    let mut x = input;
    for _ in 0..double_rounds {
        for [a, b, c, d] in DOUBLE_ROUND {
            // `& 15` lets the compiler drop the bounds checks: a loop, not unrolled code, keeps it small.
            let (a, b, c, d) = (a & 15, b & 15, c & 15, d & 15);
            x[a] = x[a].wrapping_add(x[b]);
            x[d] = (x[d] ^ x[a]).rotate_left(16);
            x[c] = x[c].wrapping_add(x[d]);
            x[b] = (x[b] ^ x[c]).rotate_left(12);
            x[a] = x[a].wrapping_add(x[b]);
            x[d] = (x[d] ^ x[a]).rotate_left(8);
            x[c] = x[c].wrapping_add(x[d]);
            x[b] = (x[b] ^ x[c]).rotate_left(7);
        }
    }
    for (out, word) in x.iter_mut().zip(input) {
        *out = out.wrapping_add(word);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::block;

    fn key(bytes: [u8; 32]) -> [u32; 8] {
        core::array::from_fn(|i| u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap()))
    }

    #[test]
    fn chacha20_matches_the_rfc_8439_block_test_vector() {
        // RFC 8439 section 2.3.2: key 00:01:..:1f, counter 1, nonce 00:00:00:09:00:00:00:4a:00:00:00:00.
        let key = key(core::array::from_fn(|i| i as u8));
        let words = [1, 0x0900_0000, 0x4a00_0000, 0];
        assert_eq!(
            block(&key, words, 10),
            [
                0xe4e7_f110,
                0x1559_3bd1,
                0x1fdd_0f50,
                0xc471_20a3,
                0xc7f4_d1c7,
                0x0368_c033,
                0x9aaa_2204,
                0x4e6c_d4c3,
                0x4664_82d2,
                0x09aa_9f07,
                0x05d7_c214,
                0xa202_8bd9,
                0xd19c_12b5,
                0xb94e_16de,
                0xe883_d0cb,
                0x4e3c_50a2,
            ]
        );
    }

    #[test]
    fn chacha8_matches_its_published_keystream() {
        // draft-strombergson-chacha-test-vectors, TC1 (all-zero key and IV), 8 rounds.
        let stream: [u8; 64] = {
            let words = block(&[0; 8], [0; 4], 4);
            core::array::from_fn(|i| words[i / 4].to_le_bytes()[i % 4])
        };
        let expected = "3e00ef2f895f40d67f5bb8e81f09a5a12c840ec3ce9a7f3b181be188ef711a1e\
                        984ce172b9216f419f445367456d5619314a42a3da86b001387bfdb80e0cfe42";
        let hex: [u8; 128] = core::array::from_fn(|i| {
            b"0123456789abcdef"[usize::from(stream[i / 2] >> (4 * (1 - i % 2)) & 15)]
        });
        assert_eq!(core::str::from_utf8(&hex).unwrap(), expected);
    }
}
