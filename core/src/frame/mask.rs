//! Payload masking (RFC 6455 section 5.3): XOR with a 4-byte key, resumable at any offset.

/// XORs `buf` with `key`, as if `buf` started `offset` bytes into the masked payload.
///
/// The running offset lets a payload be (un)masked in pieces as it arrives or leaves. The body works on
/// 8-byte words, which the compiler turns into vector instructions on hosts and word loads on Cortex-M;
/// see `docs/performance.md` for the measured throughput against `memcpy`.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // Start the key at `offset`: byte `i` of the rotated key is byte `i + offset` of the original. A word
    // rotation does it without `slice::rotate_left`, which pulls a generic `memmove` into firmware images.
    let key = (u32::from_le_bytes(key).rotate_right(8 * (offset % 4) as u32)).to_le_bytes();
    let key_word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut words = buf.chunks_exact_mut(8);
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ key_word).to_ne_bytes());
    }
    for (byte, k) in words.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}
