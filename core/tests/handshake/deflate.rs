//! permessage-deflate in the opening handshake, both sides through the real encoders and parsers (the
//! negotiation needs the core's `deflate` feature; without it nothing is offered or agreed).

use super::*;
use rill_ws::deflate::{AgreementError, DeflateParams};
use rill_ws::handshake::server::{answer, Answered, Decision};

/// Both sides through the real encoders and parsers: the client's request bytes, the server's `101` bytes.
fn exchange(
    client: Option<DeflateConfig>,
    server: &DeflateConfig,
) -> (
    String,
    String,
    Option<DeflateParams>,
    Result<Option<DeflateParams>, ResponseError>,
) {
    let request = ClientRequest {
        deflate: client,
        ..client_request()
    };
    let mut wire = [0u8; 1024];
    let len = request.encode(&mut wire).unwrap();
    let request_text = std::str::from_utf8(&wire[..len]).unwrap().to_string();
    let parsed = parse(&request_text).unwrap();
    let agreed = parsed.deflate(server);
    let accept = Accept {
        protocol: Some("chat"),
        deflate: agreed,
        ..Accept::default()
    };
    let mut out = [0u8; 512];
    let len = encode_accept(&parsed, &accept, &mut out).unwrap();
    let response_text = std::str::from_utf8(&out[..len]).unwrap().to_string();
    let verified = match parse_response(response_text.as_bytes(), &request, 4096) {
        Ok(Parsed::Complete { value, .. }) => Ok(value.deflate()),
        Ok(Parsed::Partial) => panic!("response is complete"),
        Err(error) => Err(error),
    };
    drop(parsed);
    (request_text, response_text, agreed, verified)
}

#[test]
fn deflate_offer_and_agreement_on_the_wire() {
    let (request, response, agreed, verified) =
        exchange(Some(DeflateConfig::default()), &DeflateConfig::default());
    assert!(
        request.contains(
            "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        ),
        "{request}"
    );
    assert_eq!(
        response,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12\r\n\r\n"
    );
    // The server allows the client a full window; the client compresses with its own 12 bits.
    let expected = DeflateParams {
        server_max_window_bits: 12,
        ..DeflateParams::default()
    };
    assert_eq!(agreed, Some(expected));
    let client_side = DeflateParams {
        client_max_window_bits: 12,
        ..expected
    };
    assert_eq!(verified, Ok(Some(client_side)));
}

#[test]
fn deflate_round_trips_through_the_handshake() {
    let small = DeflateConfig {
        receive_window_bits: 9,
        send_window_bits: Some(10),
        receive_no_context_takeover: true,
        send_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let inflate_only = DeflateConfig {
        send_window_bits: None,
        ..DeflateConfig::default()
    };
    for client in [DeflateConfig::default(), small, inflate_only] {
        for server in [DeflateConfig::default(), small, inflate_only] {
            let (request, response, agreed, verified) = exchange(Some(client), &server);
            let agreed = agreed.expect("agreed");
            // Both sides agree, except that a client compresses with its own window when smaller.
            let send = client.send_window_bits.unwrap_or(15);
            let client_side = DeflateParams {
                client_max_window_bits: agreed.client_max_window_bits.min(send),
                ..agreed
            };
            assert_eq!(verified, Ok(Some(client_side)), "{request}\n{response}");
        }
    }
    let (_, response, agreed, verified) = exchange(Some(small), &small);
    assert!(response.contains(
        "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
         client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9\r\n"
    ));
    let both = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 9,
        client_max_window_bits: 9,
    };
    assert_eq!(agreed, Some(both));
    assert_eq!(verified, Ok(Some(both)));
}

#[test]
fn no_offer_no_extension() {
    let (request, response, agreed, verified) = exchange(None, &DeflateConfig::default());
    assert!(!request.contains("Sec-WebSocket-Extensions"));
    assert!(!response.contains("Sec-WebSocket-Extensions"));
    assert_eq!((agreed, verified), (None, Ok(None)));
}

#[test]
fn server_declines_a_client_that_cannot_limit_its_window() {
    // Firefox offers `permessage-deflate` alone: a server inflating with less than 32 KiB declines it.
    let request = parse(FIREFOX).unwrap();
    let small = DeflateConfig {
        receive_window_bits: 10,
        ..DeflateConfig::default()
    };
    assert_eq!(request.deflate(&small), None);
    assert_eq!(
        request.deflate(&DeflateConfig::default()),
        Some(DeflateParams {
            server_max_window_bits: 12,
            ..DeflateParams::default()
        })
    );
}

#[test]
fn server_answer_for_params_the_client_did_not_offer_is_refused() {
    let text = FIREFOX.replace("Sec-WebSocket-Extensions: permessage-deflate\r\n", "");
    let request = parse(&text).unwrap();
    let accept = Accept {
        deflate: Some(DeflateParams::default()),
        ..Accept::default()
    };
    assert_eq!(
        encode_accept(&request, &accept, &mut [0u8; 512]),
        Err(AcceptError::Encode(EncodeError::DeflateNotOffered))
    );
}

#[test]
fn borrowed_decision_carries_the_agreement() {
    let text = FIREFOX.replace(
        "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        "Sec-WebSocket-Extensions: x-foo, permessage-deflate; server_max_window_bits=16\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n",
    );
    let request = parse(&text).unwrap();
    let deflate = request.deflate(&DeflateConfig::default());
    let decision = Decision::Accept {
        protocol: None,
        headers: &[],
        deflate,
    };
    let mut out = [0u8; 512];
    let answered = answer(&request, &decision, &mut out).unwrap();
    assert_eq!(answered.outcome, Answered::Upgraded);
    let text = std::str::from_utf8(&out[..answered.head_len]).unwrap();
    assert!(text.contains(
        "\r\nSec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; \
         server_max_window_bits=12\r\n"
    ));
    // `Decision::accept()` declines it.
    let answered = answer(&request, &Decision::accept(), &mut out).unwrap();
    let text = std::str::from_utf8(&out[..answered.head_len]).unwrap();
    assert!(!text.contains("Sec-WebSocket-Extensions"));
}

fn verify_deflate(
    extensions: &[&str],
    config: DeflateConfig,
) -> Result<Option<DeflateParams>, ResponseError> {
    let lines: String = extensions
        .iter()
        .map(|value| format!("Sec-WebSocket-Extensions: {value}\r\n"))
        .collect();
    let response = SWITCHING.replace("\r\n\r\n", &format!("\r\n{lines}\r\n"));
    let request = ClientRequest {
        deflate: Some(config),
        ..client_request()
    };
    match parse_response(response.as_bytes(), &request, 4096)? {
        Parsed::Complete { value, .. } => Ok(value.deflate()),
        Parsed::Partial => panic!("response is complete"),
    }
}

#[test]
fn client_checks_the_agreement_in_the_response() {
    let config = DeflateConfig::default();
    // A server that declines says nothing.
    assert_eq!(verify_deflate(&[], config), Ok(None));
    assert_eq!(
        verify_deflate(&["permessage-deflate; server_max_window_bits=10"], config),
        Ok(Some(DeflateParams {
            server_max_window_bits: 10,
            client_max_window_bits: 12,
            ..DeflateParams::default()
        }))
    );
    let cases: [(&[&str], AgreementError); 6] = [
        (&["x-webkit-deflate-frame"], AgreementError::NotOffered),
        (
            &["permessage-deflate", "permessage-deflate"],
            AgreementError::SeveralExtensions,
        ),
        (
            &["permessage-deflate; client_max_window_bits"],
            AgreementError::ClientWindow,
        ),
        (
            &["permessage-deflate; client_max_window_bits=16"],
            AgreementError::InvalidParameter,
        ),
        (
            &["permessage-deflate; server_max_window_bits=7"],
            AgreementError::InvalidParameter,
        ),
        (
            &["permessage-deflate; foo"],
            AgreementError::InvalidParameter,
        ),
    ];
    for (values, error) in cases {
        assert_eq!(
            verify_deflate(values, config),
            Err(ResponseError::Deflate(error)),
            "{values:?}"
        );
    }
    let limited = DeflateConfig {
        receive_window_bits: 11,
        ..config
    };
    assert_eq!(
        verify_deflate(&["permessage-deflate"], limited),
        Err(ResponseError::Deflate(AgreementError::ServerWindow))
    );
    assert!(ResponseError::Deflate(AgreementError::ServerWindow)
        .to_string()
        .contains("server_max_window_bits"));
}
