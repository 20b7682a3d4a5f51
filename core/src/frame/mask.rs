//! Payload masking (RFC 6455 section 5.3): XOR with a 4-byte key, resumable at any offset.

/// XORs `buf` with `key`, as if `buf` started `offset` bytes into the masked payload.
///
/// The running offset lets a payload be (un)masked in pieces as it arrives or leaves. The body works on
/// 8-byte words, which the compiler turns into vector instructions on hosts and word loads on Cortex-M;
/// see `docs/performance.md` for the throughput against `memcpy` and the instruction count per byte.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // Start the key at `offset`: byte `i` of the rotated key is byte `i + offset` of the original. A word
    // rotation does it without `slice::rotate_left`, which pulls a generic `memmove` into firmware images.
    let key = (u32::from_le_bytes(key).rotate_right(8 * (offset % 4) as u32)).to_le_bytes();
    // With feature `simd-mask` (the std adapters), whole 32-byte blocks go through AVX2 when the CPU has
    // it; a multiple of 32 bytes leaves the key where it was for the rest.
    #[cfg(feature = "simd-mask")]
    let buf = {
        let done = rill_mask::mask_blocks(buf, key);
        &mut buf[done..]
    };
    let key_word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    // 32-byte blocks of four words: unrolled by hand so that size-optimised firmware builds (which do not
    // unroll) still spend about one instruction per byte, against nine for a byte loop.
    let mut blocks = buf.chunks_exact_mut(32);
    for block in &mut blocks {
        let (first, second) = block.split_at_mut(16);
        xor_pair(first, key_word);
        xor_pair(second, key_word);
    }
    let mut words = blocks.into_remainder().chunks_exact_mut(8);
    for word in &mut words {
        xor_word(word, key_word);
    }
    for (byte, k) in words.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// XORs 16 bytes as two words.
#[inline(always)]
fn xor_pair(bytes: &mut [u8], key_word: u64) {
    let (low, high) = bytes.split_at_mut(8);
    xor_word(low, key_word);
    xor_word(high, key_word);
}

/// XORs 8 bytes as one word.
#[inline(always)]
fn xor_word(bytes: &mut [u8], key_word: u64) {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    bytes.copy_from_slice(&(u64::from_ne_bytes(word) ^ key_word).to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::apply_mask;

    #[test]
    fn masks_like_a_byte_loop_at_every_length_and_offset() {
        let key = [0x81, 0x22, 0xf3, 0x04];
        for len in 0..100 {
            for offset in 0..8 {
                let payload: [u8; 100] = core::array::from_fn(|i| (i * 7 + 3) as u8);
                let mut masked = payload;
                apply_mask(&mut masked[..len], key, offset);
                for i in 0..len {
                    assert_eq!(
                        masked[i],
                        payload[i] ^ key[(i + offset) % 4],
                        "len {len} offset {offset} byte {i}"
                    );
                }
                assert_eq!(
                    masked[len..],
                    payload[len..],
                    "len {len}: nothing past the payload"
                );
            }
        }
    }
}
