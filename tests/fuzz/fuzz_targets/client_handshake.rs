//! The client side of the opening handshake: verify any bytes as the server's response to a fixed request.
//!
//! Input layout: byte 0 picks the header-block limit, byte 1 where a second, streaming parse cuts the input;
//! the rest is the response as read from the socket.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill_ws::deflate::DeflateConfig;
use rill_ws::handshake::client::{parse_response, ClientRequest, ResponseError};
use rill_ws::handshake::{accept_key, Parsed};

/// The request of RFC 6455 section 1.3: key "the sample nonce", two offered subprotocols, and
/// permessage-deflate with the default configuration (a 4 KiB send window, so the offer limits
/// `client_max_window_bits` to 12).
fn request() -> ClientRequest<'static> {
    ClientRequest {
        host: "server.example.com",
        path: "/chat",
        key: *b"the sample nonce",
        protocols: &["chat", "superchat"],
        origin: Some("http://example.com"),
        headers: &[],
        deflate: Some(DeflateConfig::default()),
    }
}

fuzz_target!(|data: &[u8]| {
    let [limit_byte, cut_byte, wire @ ..] = data else {
        return;
    };
    let request = &request();
    let max_head_len = usize::from(*limit_byte) * 4;
    let whole = parse_response(wire, request, max_head_len);
    match &whole {
        Ok(Parsed::Complete { value, consumed }) => {
            assert!(*consumed > 0 && *consumed <= wire.len().min(max_head_len));
            if let Some(protocol) = value.protocol() {
                assert!(request.protocols.contains(&protocol));
            }
            // A verified response carries the accept value for our key.
            let expected = accept_key(&request.encoded_key());
            assert!(wire[..*consumed].windows(28).any(|w| w == expected));
            let _ = value.header("sec-websocket-accept");
            // An agreement stays within the offer: any server window, ours at most 12.
            if let Some(agreed) = value.deflate() {
                assert!((8..=15).contains(&agreed.server_max_window_bits));
                assert!((8..=12).contains(&agreed.client_max_window_bits));
            }
        }
        Ok(Parsed::Partial) => assert!(wire.len() < max_head_len),
        Err(ResponseError::HeadTooLarge { limit }) => {
            assert_eq!(*limit, max_head_len);
            assert!(wire.len() >= max_head_len);
        }
        Err(ResponseError::NotSwitching { status }) => assert_ne!(*status, 101),
        Err(_) => {}
    }

    // Reading the same bytes in two pieces reaches the same verdict on the head.
    let cut = wire.len() * usize::from(*cut_byte) / 256;
    let prefix = parse_response(&wire[..cut], request, max_head_len);
    match (&whole, prefix) {
        (Ok(Parsed::Complete { consumed, .. }), Ok(Parsed::Partial)) => assert!(cut < *consumed),
        (Ok(Parsed::Complete { consumed, .. }), Ok(Parsed::Complete { consumed: c, .. })) => {
            assert_eq!(*consumed, c);
        }
        (Ok(Parsed::Complete { .. }), Err(e)) => panic!("prefix of a valid head failed: {e:?}"),
        (Ok(Parsed::Partial), prefix) => assert!(matches!(prefix, Ok(Parsed::Partial))),
        (Err(_), _) => {}
    }
});
