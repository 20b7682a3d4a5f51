//! The handshake's HTTP head scanner (`rill_ws::handshake::head`) against httparse, the parser it replaced,
//! as the oracle: on any bytes both must agree on partial, complete (the same length, start line and header
//! lines) or invalid (and on "too many headers"). The scanner is meant to accept exactly httparse's default
//! grammar, so any disagreement is a bug in one of them.
//!
//! Input layout: byte 0's low bit picks a request (0) or a response (1); the rest is the head as read from
//! the socket.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill_ws::handshake::head::{parse_request_head, parse_response_head, HeadError, Headers};
use rill_ws::handshake::{Parsed, MAX_HEADERS};

/// One verdict in a form both parsers map to: `None` for partial, else the head's length and what it held.
type Verdict = Result<Option<(usize, String)>, HeadError>;

fuzz_target!(|data: &[u8]| {
    let [mode, wire @ ..] = data else {
        return;
    };
    let (ours, theirs) = if mode & 1 == 0 {
        (request(wire), oracle_request(wire))
    } else {
        (response(wire), oracle_response(wire))
    };
    assert_eq!(ours, theirs, "scanner and httparse disagree on {wire:?}");
});

fn lines(headers: Headers<'_>) -> String {
    let mut out = String::new();
    let mut count = 0;
    for (name, value) in headers {
        out += &format!("{name:?}={value:?};");
        count += 1;
    }
    assert!(count <= MAX_HEADERS);
    out
}

fn request(wire: &[u8]) -> Verdict {
    Ok(match parse_request_head(wire)? {
        Parsed::Partial => None,
        Parsed::Complete { value, consumed } => Some((
            consumed,
            format!("{} {} {} {}", value.method, value.target, value.minor, lines(value.headers)),
        )),
    })
}

fn response(wire: &[u8]) -> Verdict {
    Ok(match parse_response_head(wire)? {
        Parsed::Partial => None,
        Parsed::Complete { value, consumed } => Some((
            consumed,
            format!("{} {} {}", value.minor, value.status, lines(value.headers)),
        )),
    })
}

fn oracle_lines(headers: &[httparse::Header<'_>]) -> String {
    headers.iter().map(|h| format!("{:?}={:?};", h.name, h.value)).collect()
}

fn oracle_error(error: httparse::Error) -> HeadError {
    match error {
        httparse::Error::TooManyHeaders => HeadError::TooManyHeaders,
        _ => HeadError::Malformed,
    }
}

fn oracle_request(wire: &[u8]) -> Verdict {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut raw = httparse::Request::new(&mut slots);
    Ok(match raw.parse(wire).map_err(oracle_error)? {
        httparse::Status::Partial => None,
        httparse::Status::Complete(len) => Some((
            len,
            format!(
                "{} {} {} {}",
                raw.method.unwrap(),
                raw.path.unwrap(),
                raw.version.unwrap(),
                oracle_lines(raw.headers)
            ),
        )),
    })
}

fn oracle_response(wire: &[u8]) -> Verdict {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut raw = httparse::Response::new(&mut slots);
    Ok(match raw.parse(wire).map_err(oracle_error)? {
        httparse::Status::Partial => None,
        httparse::Status::Complete(len) => Some((
            len,
            format!(
                "{} {} {}",
                raw.version.unwrap(),
                raw.code.unwrap(),
                oracle_lines(raw.headers)
            ),
        )),
    })
}
