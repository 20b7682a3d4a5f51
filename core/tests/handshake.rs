//! The opening handshake, both sides: every validation rule and the exact response bytes.

use rill_ws::deflate::DeflateConfig;
use rill_ws::handshake::client::{parse_response, ClientRequest, ResponseError};
use rill_ws::handshake::server::{
    encode_accept, encode_reject, parse_request, Accept, AcceptError, Request, RequestError,
};
use rill_ws::handshake::{EncodeError, Parsed, DEFAULT_MAX_HEAD_LEN};

const FIREFOX: &str = "GET /chat?room=7 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: Mozilla/5.0\r\n\
Accept: */*\r\nSec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n";

fn parse(text: &str) -> Result<Request<'_>, RequestError> {
    match parse_request(text.as_bytes(), DEFAULT_MAX_HEAD_LEN)? {
        Parsed::Complete { value, .. } => Ok(value),
        Parsed::Partial => panic!("request is complete"),
    }
}

fn validate(text: &str) -> Result<[u8; 28], RequestError> {
    parse(text)?.validate()
}

fn response_text(error: RequestError) -> String {
    let mut out = [0u8; 512];
    let len = error.encode_response(&mut out).unwrap();
    String::from_utf8(out[..len].to_vec()).unwrap()
}

#[test]
fn firefox_request_is_accepted_and_exposes_its_fields() {
    let request = parse(FIREFOX).unwrap();
    assert_eq!((request.path(), request.query()), ("/chat", Some("room=7")));
    assert_eq!(request.host(), Some("example.com:8080"));
    assert_eq!(request.origin(), Some("http://example.com"));
    assert_eq!(
        request.protocols().collect::<Vec<_>>(),
        ["chat", "superchat"]
    );
    assert_eq!(
        request.extensions().collect::<Vec<_>>(),
        ["permessage-deflate"]
    );
    assert_eq!(request.header("user-agent"), Some("Mozilla/5.0"));
    let mut out = [0u8; 256];
    let accept = Accept {
        protocol: Some("superchat"),
        headers: &[("X-Served-By", "rill")],
        deflate: None,
    };
    let len = encode_accept(&request, &accept, &mut out).unwrap();
    assert_eq!(
        std::str::from_utf8(&out[..len]).unwrap(),
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: superchat\r\n\
         X-Served-By: rill\r\n\r\n"
    );
}

#[test]
fn partial_until_the_header_block_ends_and_leftover_is_kept() {
    for end in 0..FIREFOX.len() {
        assert!(
            matches!(
                parse_request(&FIREFOX.as_bytes()[..end], 4096),
                Ok(Parsed::Partial)
            ),
            "prefix {end}"
        );
    }
    let mut with_frame = FIREFOX.as_bytes().to_vec();
    with_frame.extend_from_slice(&[0x81, 0x80, 1, 2, 3, 4]);
    match parse_request(&with_frame, 4096).unwrap() {
        Parsed::Complete { consumed, .. } => {
            assert_eq!(&with_frame[consumed..], &[0x81, 0x80, 1, 2, 3, 4])
        }
        Parsed::Partial => panic!("complete"),
    };
}

#[test]
fn header_block_limit_answers_431() {
    let long = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(300)
    );
    assert_eq!(
        parse_request(long.as_bytes(), 200).err(),
        Some(RequestError::HeadTooLarge { limit: 200 })
    );
    assert_eq!(
        parse_request(&long.as_bytes()[..250], 200).err(),
        Some(RequestError::HeadTooLarge { limit: 200 })
    );
    let many: String = (0..40).map(|i| format!("X-{i}: v\r\n")).collect();
    let request = format!("GET / HTTP/1.1\r\n{many}\r\n");
    assert_eq!(
        parse_request(request.as_bytes(), 4096).err(),
        Some(RequestError::TooManyHeaders)
    );
    assert!(response_text(RequestError::TooManyHeaders).starts_with("HTTP/1.1 431 "));
}

#[test]
fn each_rule_has_its_status() {
    let cases: [(&str, &str, RequestError, u16); 9] = [
        ("GET ", "POST ", RequestError::MethodNotAllowed, 405),
        (
            "HTTP/1.1\r\nHost",
            "HTTP/1.0\r\nHost",
            RequestError::HttpVersion,
            505,
        ),
        (
            "Host: example.com:8080\r\n",
            "",
            RequestError::MissingHost,
            400,
        ),
        ("Upgrade: websocket\r\n", "", RequestError::NotUpgrade, 426),
        (
            "Connection: keep-alive, Upgrade\r\n",
            "Connection: keep-alive\r\n",
            RequestError::MissingConnectionUpgrade,
            400,
        ),
        (
            "dGhlIHNhbXBsZSBub25jZQ==",
            "dGhlIHNhbXBsZSBub25jZQ",
            RequestError::InvalidKey,
            400,
        ),
        (
            "dGhlIHNhbXBsZSBub25jZQ==",
            "dGhlIHNhbXBsZSBub25j",
            RequestError::InvalidKey,
            400,
        ),
        (
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Version: 8",
            RequestError::UnsupportedVersion,
            426,
        ),
        (
            "Sec-WebSocket-Version: 13\r\n",
            "",
            RequestError::UnsupportedVersion,
            426,
        ),
    ];
    for (from, to, error, status) in cases {
        let request = FIREFOX.replacen(from, to, 1);
        assert_eq!(validate(&request), Err(error), "{from} -> {to}");
        assert_eq!(error.status(), status);
        let response = response_text(error);
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status} ")),
            "{response}"
        );
        assert!(response.ends_with(error.reason()), "{response}");
    }
    assert!(response_text(RequestError::UnsupportedVersion)
        .contains("\r\nSec-WebSocket-Version: 13\r\n"));
    assert!(response_text(RequestError::MethodNotAllowed).contains("\r\nAllow: GET\r\n"));
    assert!(response_text(RequestError::NotUpgrade).contains("\r\nUpgrade: websocket\r\n"));
}

#[test]
fn tokens_are_case_insensitive_and_listed() {
    let request = FIREFOX
        .replace("Upgrade: websocket", "Upgrade: WebSocket")
        .replace("keep-alive, Upgrade", "UPGRADE");
    assert!(validate(&request).is_ok());
    let split = FIREFOX.replace(
        "Connection: keep-alive, Upgrade\r\n",
        "Connection: keep-alive\r\nConnection: upgrade\r\n",
    );
    assert!(validate(&split).is_ok());
}

#[test]
fn a_long_key_is_rejected_without_panic() {
    let request = FIREFOX.replace("dGhlIHNhbXBsZSBub25jZQ==", &"QUFB".repeat(500));
    assert_eq!(validate(&request), Err(RequestError::InvalidKey));
}

#[test]
fn plain_http_requests_parse_for_routing() {
    let request = parse("GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(!request.is_upgrade());
    assert_eq!(request.path(), "/index.html");
    assert_eq!(request.validate(), Err(RequestError::NotUpgrade));
}

#[test]
fn accept_refuses_unoffered_protocols_and_bad_headers() {
    let request = parse(FIREFOX).unwrap();
    let mut out = [0u8; 256];
    let accept = Accept {
        protocol: Some("mqtt"),
        headers: &[],
        deflate: None,
    };
    assert_eq!(
        encode_accept(&request, &accept, &mut out),
        Err(AcceptError::Encode(EncodeError::ProtocolNotOffered))
    );
    let injected = Accept {
        protocol: None,
        headers: &[("X-A", "1\r\nSet-Cookie: evil=1")],
        deflate: None,
    };
    assert_eq!(
        encode_accept(&request, &injected, &mut out),
        Err(AcceptError::Encode(EncodeError::InvalidHeader))
    );
    assert_eq!(
        encode_accept(&request, &Accept::default(), &mut [0u8; 40]),
        Err(AcceptError::Encode(EncodeError::BufferTooSmall))
    );
    let put = FIREFOX.replace("GET", "PUT");
    let bad = parse(&put).unwrap();
    assert_eq!(
        encode_accept(&bad, &Accept::default(), &mut out),
        Err(AcceptError::Request(RequestError::MethodNotAllowed))
    );
}

#[test]
fn reject_carries_status_reason_and_headers() {
    let mut out = [0u8; 256];
    let len = encode_reject(403, "origin not allowed", &[("X-Why", "origin")], &mut out).unwrap();
    assert_eq!(
        std::str::from_utf8(&out[..len]).unwrap(),
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\
         Content-Length: 18\r\nX-Why: origin\r\n\r\norigin not allowed"
    );
}

const KEY: [u8; 16] = *b"the sample nonce";

fn client_request() -> ClientRequest<'static> {
    ClientRequest {
        host: "example.com",
        path: "/chat",
        key: KEY,
        protocols: &["chat", "superchat"],
        origin: None,
        headers: &[("Authorization", "Bearer t")],
        deflate: None,
    }
}

const SWITCHING: &str =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n";

#[test]
fn client_request_encodes_and_is_accepted_by_the_server_parser() {
    let mut out = [0u8; 512];
    let len = client_request().encode(&mut out).unwrap();
    let text = std::str::from_utf8(&out[..len]).unwrap();
    assert!(text.starts_with("GET /chat HTTP/1.1\r\nHost: example.com\r\n"));
    assert!(text.contains("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
    assert!(text.contains("Sec-WebSocket-Protocol: chat, superchat\r\n"));
    assert!(text.contains("Authorization: Bearer t\r\n"));
    assert_eq!(validate(text).unwrap(), *b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

fn verify(response: &str) -> Result<Option<String>, ResponseError> {
    match parse_response(response.as_bytes(), &client_request(), 4096)? {
        Parsed::Complete { value, .. } => Ok(value.protocol().map(String::from)),
        Parsed::Partial => panic!("response is complete"),
    }
}

#[test]
fn client_verifies_the_response() {
    assert_eq!(verify(SWITCHING), Ok(Some("chat".into())));
    assert_eq!(
        verify(&SWITCHING.replace("101 Switching Protocols", "403 Forbidden")),
        Err(ResponseError::NotSwitching { status: 403 })
    );
    assert_eq!(
        verify(&SWITCHING.replace("Upgrade: websocket\r\n", "")),
        Err(ResponseError::MissingUpgrade)
    );
    assert_eq!(
        verify(&SWITCHING.replace("Connection: Upgrade", "Connection: close")),
        Err(ResponseError::MissingConnectionUpgrade)
    );
    assert_eq!(
        verify(&SWITCHING.replace("s3pP", "s3pQ")),
        Err(ResponseError::BadAccept)
    );
    assert_eq!(
        verify(&SWITCHING.replace("Protocol: chat", "Protocol: mqtt")),
        Err(ResponseError::UnexpectedProtocol)
    );
    let with_extension = SWITCHING.replace(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
    );
    assert_eq!(
        verify(&with_extension),
        Err(ResponseError::UnexpectedExtension)
    );
}

#[test]
fn client_keeps_frames_that_follow_the_response() {
    let mut bytes = SWITCHING.as_bytes().to_vec();
    bytes.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
    for end in 0..SWITCHING.len() {
        assert!(matches!(
            parse_response(&bytes[..end], &client_request(), 4096),
            Ok(Parsed::Partial)
        ));
    }
    match parse_response(&bytes, &client_request(), 4096).unwrap() {
        Parsed::Complete { consumed, .. } => {
            assert_eq!(&bytes[consumed..], &[0x81, 0x02, b'h', b'i'])
        }
        Parsed::Partial => panic!("complete"),
    }
}

/// Without the core's `deflate` feature the client offers nothing, even when asked to.
#[cfg(not(feature = "deflate"))]
#[test]
fn without_the_feature_nothing_is_offered() {
    let request = ClientRequest {
        deflate: Some(DeflateConfig::default()),
        ..client_request()
    };
    let mut out = [0u8; 512];
    let len = request.encode(&mut out).unwrap();
    let text = std::str::from_utf8(&out[..len]).unwrap();
    assert!(!text.contains("Sec-WebSocket-Extensions"), "{text}");
}

#[cfg(feature = "deflate")]
#[path = "handshake/deflate.rs"]
mod deflate;
