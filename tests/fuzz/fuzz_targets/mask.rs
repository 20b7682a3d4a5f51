//! Payload masking as the std adapters run it (rill-ws with `simd-mask`: AVX2 blocks from rill-mask, the
//! portable word loop for the rest): any payload, key, offset and alignment, masked whole and in two pieces
//! split anywhere, must equal a byte-by-byte XOR.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill_ws::frame::apply_mask;

fuzz_target!(|data: &[u8]| {
    // Bytes 0-3: the key; 4: the offset into the payload; 5: where to split; 6: the alignment; the rest is
    // the payload.
    let Some((head, payload)) = data.split_at_checked(7) else {
        return;
    };
    let key = [head[0], head[1], head[2], head[3]];
    let offset = usize::from(head[4]);
    let align = usize::from(head[6] % 32);
    let mut backing = vec![0u8; align + payload.len()];
    backing[align..].copy_from_slice(payload);
    let expected: Vec<u8> = payload
        .iter()
        .enumerate()
        .map(|(i, byte)| byte ^ key[(i + offset) % 4])
        .collect();
    let whole = &mut backing[align..];
    apply_mask(whole, key, offset);
    assert_eq!(whole, &expected[..]);
    // In two pieces, as a payload arriving in two reads is unmasked.
    let mut pieces = payload.to_vec();
    let split = usize::from(head[5]).min(pieces.len());
    let (first, second) = pieces.split_at_mut(split);
    apply_mask(first, key, offset);
    apply_mask(second, key, offset + split);
    assert_eq!(pieces, expected);
});
