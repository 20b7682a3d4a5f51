//! The frame header codec: parse any bytes, apply the connection rules for both roles, and check that what
//! parses re-emits to bytes that parse back to the same header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill_ws::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use rill_ws::{ProtocolError, Role};

fuzz_target!(|data: &[u8]| {
    let (header, parsed_len) = match FrameHeader::parse(data) {
        Ok(Some((header, len))) => {
            assert!(len <= data.len() && len <= MAX_HEADER_LEN);
            let length_bytes = match data[1] & 0x7F {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            assert_eq!(
                len,
                2 + length_bytes + if header.mask.is_some() { 4 } else { 0 }
            );
            assert!(header.rsv <= 0b111);
            assert!(header.payload_len >> 63 == 0);
            // A receiver reassembling a split header relies on every shorter prefix being "need more".
            for cut in 0..len {
                assert_eq!(FrameHeader::parse(&data[..cut]), Ok(None), "prefix {cut}");
            }
            (header, len)
        }
        // Fourteen bytes always hold a header, so "need more" only happens below that.
        Ok(None) => {
            assert!(data.len() < MAX_HEADER_LEN);
            return;
        }
        Err(error) => {
            assert!(matches!(
                error,
                ProtocolError::ReservedOpcode | ProtocolError::LengthMsbSet
            ));
            return;
        }
    };

    for role in [Role::Server, Role::Client] {
        for allowed_rsv in [0, 0b100, 0b111] {
            let verdict = header.check(role, allowed_rsv);
            if verdict.is_ok() {
                assert_eq!(header.rsv & !allowed_rsv, 0);
                assert_eq!(header.mask.is_some(), role == Role::Server);
                if header.opcode.is_control() {
                    assert!(header.fin && header.payload_len <= MAX_CONTROL_PAYLOAD as u64);
                }
            }
        }
    }

    // emit writes the minimal length encoding, so it is never longer than what was parsed, and parses back
    // to the same header.
    let mut out = [0u8; MAX_HEADER_LEN];
    let len = header
        .emit(&mut out)
        .expect("MAX_HEADER_LEN holds any header");
    assert_eq!(len, header.encoded_len());
    assert!(len <= parsed_len);
    assert_eq!(FrameHeader::parse(&out[..len]), Ok(Some((header, len))));
    assert_eq!(header.emit(&mut out[..len - 1]), None);
});
