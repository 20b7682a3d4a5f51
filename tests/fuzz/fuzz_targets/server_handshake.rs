//! The server side of the opening handshake: parse any bytes as a request head, validate it, and encode the
//! accept or reject response into a bounded buffer.
//!
//! Input layout: byte 0 picks the header-block limit, byte 1 the size of the response buffer, byte 2 where a
//! second, streaming parse cuts the input; the rest is the request as read from the socket.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill_ws::deflate::DeflateConfig;
use rill_ws::handshake::server::{encode_accept, parse_request, Accept, AcceptError, RequestError};
use rill_ws::handshake::{EncodeError, Parsed};

/// Large enough for every response the server encodes for the headers used here; a smaller prefix of it is
/// what the fuzzer varies to reach `BufferTooSmall`.
const OUT_LEN: usize = 512;

fuzz_target!(|data: &[u8]| {
    let [limit_byte, out_byte, cut_byte, wire @ ..] = data else {
        return;
    };
    // Small limits make the 431 path as reachable as a complete head; 0 is a legal (if useless) limit.
    let max_head_len = usize::from(*limit_byte) * 4;
    let out_len = usize::from(*out_byte) * 2;

    let parsed = parse_request(wire, max_head_len);
    match &parsed {
        Ok(Parsed::Complete { consumed, .. }) => {
            assert!(*consumed > 0 && *consumed <= wire.len().min(max_head_len));
        }
        // "Read more" is only an answer while the limit leaves room for more.
        Ok(Parsed::Partial) => assert!(wire.len() < max_head_len),
        Err(RequestError::HeadTooLarge { limit }) => {
            assert_eq!(*limit, max_head_len);
            assert!(wire.len() >= max_head_len);
        }
        Err(_) => {}
    }
    check_streaming(wire, max_head_len, &parsed, usize::from(*cut_byte));

    let mut out = [0u8; OUT_LEN];
    match parsed {
        Ok(Parsed::Complete { value: request, .. }) => {
            // Accessors must not panic whatever the head holds.
            let _ = (
                request.path(),
                request.query(),
                request.origin(),
                request.host(),
            );
            let _ = request.header("sec-websocket-key");
            let offered = request
                .protocols()
                .inspect(|p| assert!(!p.is_empty()))
                .count();
            let _ = request.extensions().count();

            let first_offer = request.protocols().next();
            let deflate = request.deflate(&DeflateConfig::default());
            let accept = Accept {
                protocol: first_offer,
                headers: &[("Server", "rill-fuzz")],
                deflate,
            };
            let validated = request.validate();
            // The agreement always answers the offers it came from.
            let extension = deflate.map_or(0, |params| {
                let mut answer = [0u8; 256];
                let len = params
                    .write_response(request.extension_values(), &mut answer)
                    .expect("the answer to an agreed offer is refused");
                28 + len
            });
            // The exact length of the 101 response: fixed lines, the accept line, our extra header, the
            // protocol line when one is chosen, the extensions line when deflate is agreed, and the blank
            // line.
            let needed = 75 + 52 + 19 + first_offer.map_or(0, |p| 26 + p.len()) + extension + 2;
            match encode_accept(&request, &accept, &mut out[..out_len]) {
                Ok(len) => {
                    assert_eq!(len, needed);
                    assert!(len <= out_len);
                    let key = validated.expect("accepted a request that does not validate");
                    let response = &out[..len];
                    assert!(response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
                    assert!(response.ends_with(b"\r\n\r\n"));
                    assert!(response.windows(key.len()).any(|w| w == key));
                }
                Err(AcceptError::Request(error)) => {
                    assert_eq!(validated, Err(error));
                    check_reject(error, &mut out[..out_len]);
                }
                Err(AcceptError::Encode(EncodeError::BufferTooSmall)) => {
                    assert!(validated.is_ok());
                    assert!(out_len < needed);
                }
                Err(AcceptError::Encode(other)) => {
                    // The protocol chosen is the client's own first offer, so it is always "offered"; only a
                    // value the header writer refuses can fail here.
                    assert_eq!(other, EncodeError::InvalidHeader);
                    assert!(offered > 0);
                }
            }
        }
        Ok(Parsed::Partial) => {}
        Err(error) => check_reject(error, &mut out[..out_len]),
    }
});

/// The reject response fits the buffer or is refused, never overruns it, and starts with its status line.
fn check_reject(error: RequestError, out: &mut [u8]) {
    match error.encode_response(out) {
        Ok(len) => {
            assert!(len <= out.len());
            let status = error.status().to_string();
            assert!(out[..len].starts_with(format!("HTTP/1.1 {status} ").as_bytes()));
            assert!(out[..len].ends_with(error.reason().as_bytes()));
        }
        Err(e) => {
            assert_eq!(e, EncodeError::BufferTooSmall);
            // Every reject response is well under 256 bytes.
            assert!(out.len() < 256);
        }
    }
}

/// A push parser fed a prefix of the same bytes must say "partial" (or fail the same way) and agree on where
/// the head ends once it has all of it: a server reading in small pieces decides as one reading it whole.
fn check_streaming(
    wire: &[u8],
    max_head_len: usize,
    whole: &Result<Parsed<rill_ws::handshake::server::Request<'_>>, RequestError>,
    cut_byte: usize,
) {
    let cut = wire.len() * cut_byte / 256;
    let prefix = parse_request(&wire[..cut], max_head_len);
    match (whole, prefix) {
        (Ok(Parsed::Complete { consumed, .. }), Ok(Parsed::Partial)) => assert!(cut < *consumed),
        (Ok(Parsed::Complete { consumed, .. }), Ok(Parsed::Complete { consumed: c, .. })) => {
            assert_eq!(*consumed, c);
        }
        (Ok(Parsed::Complete { .. }), Err(e)) => panic!("prefix of a valid head failed: {e:?}"),
        (Ok(Parsed::Partial), prefix) => assert!(matches!(prefix, Ok(Parsed::Partial))),
        // A prefix may fail earlier than the whole (e.g. the whole hits the size limit first) but never on
        // bytes the whole head accepted, which the arms above cover.
        (Err(_), _) => {}
    }
}
