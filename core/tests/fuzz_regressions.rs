//! Inputs found by the fuzz targets in tests/fuzz, kept as tests so the bugs they exposed stay fixed.

use rill_ws::handshake::client::{parse_response, ClientRequest, ResponseError};

fn rfc_request() -> ClientRequest<'static> {
    ClientRequest {
        host: "server.example.com",
        path: "/chat",
        key: *b"the sample nonce",
        protocols: &["chat"],
        origin: None,
        headers: &[],
        deflate: None,
    }
}

/// `HTTP/1.0 101` was reported as `NotSwitching { status: 101 }` ("server answered 101 instead of 101"):
/// the status is right, the version is what is wrong, so the response is malformed for a WebSocket client.
#[test]
fn http_1_0_switching_response_is_malformed_not_a_wrong_status() {
    let response =
        b"HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    assert_eq!(
        parse_response(response, &rfc_request(), 4096).map(|_| ()),
        Err(ResponseError::Malformed)
    );
    let forbidden = b"HTTP/1.0 403 Forbidden\r\n\r\n";
    assert_eq!(
        parse_response(forbidden, &rfc_request(), 4096).map(|_| ()),
        Err(ResponseError::NotSwitching { status: 403 })
    );
}
