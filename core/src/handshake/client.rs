//! The client side of the handshake: encode the request, verify the server's response.

use super::encode::{EncodeError, Writer};
use super::fields::{find_header, has_token, push_value, Values};
use super::head::{parse_response_head, HeadError, Headers};
use super::{accept_key, Parsed};
use crate::deflate::{self, AgreementError, DeflateConfig, DeflateParams};
use core::fmt;

/// What the client asks for. The core has no RNG: `key` must come from the platform's entropy source.
#[derive(Clone, Copy, Debug)]
pub struct ClientRequest<'a> {
    /// The `Host` header value (`host` or `host:port`).
    pub host: &'a str,
    /// The request target: path and optional query, starting with `/`.
    pub path: &'a str,
    /// 16 random bytes; sent base64-encoded as `Sec-WebSocket-Key`.
    pub key: [u8; 16],
    /// Subprotocols to offer, in order of preference.
    pub protocols: &'a [&'a str],
    /// An `Origin` header to send, if any.
    pub origin: Option<&'a str>,
    /// Extra request headers (e.g. `Authorization`).
    pub headers: &'a [(&'a str, &'a str)],
    /// Offer permessage-deflate as this configuration describes (see [`deflate::write_offer`]); `None`
    /// offers no extension.
    pub deflate: Option<DeflateConfig>,
}

impl ClientRequest<'_> {
    /// The base64 form of the key, as sent.
    pub fn encoded_key(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        super::digest::base64_encode(&self.key, &mut out);
        out
    }

    /// Encodes the upgrade request into `out`; returns the bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        if !self.path.starts_with('/') || self.path.bytes().any(|b| b <= b' ') {
            return Err(EncodeError::InvalidHeader);
        }
        let mut w = Writer::new(out);
        w.put(b"GET ")?;
        w.put(self.path.as_bytes())?;
        w.put(b" HTTP/1.1\r\n")?;
        w.put_header("Host", self.host.as_bytes())?;
        w.put(b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")?;
        w.put_header("Sec-WebSocket-Key", &self.encoded_key())?;
        if let Some((first, rest)) = self.protocols.split_first() {
            w.put(b"Sec-WebSocket-Protocol: ")?;
            put_token(&mut w, first)?;
            for protocol in rest {
                w.put(b", ")?;
                put_token(&mut w, protocol)?;
            }
            w.put(b"\r\n")?;
        }
        if let Some(origin) = self.origin {
            w.put_header("Origin", origin.as_bytes())?;
        }
        if let Some(config) = self.deflate.as_ref().filter(|_| deflate::SUPPORTED) {
            w.put(b"Sec-WebSocket-Extensions: ")?;
            w.put_with(|rest| deflate::write_offer(config, rest))?;
            w.put(b"\r\n")?;
        }
        w.put_headers(self.headers)?;
        w.put(b"\r\n")?;
        Ok(w.finish())
    }
}

fn put_token(w: &mut Writer<'_>, token: &str) -> Result<(), EncodeError> {
    if token.is_empty() || token.bytes().any(|b| b <= b' ' || b == b',' || b >= 0x7F) {
        return Err(EncodeError::InvalidHeader);
    }
    w.put(token.as_bytes())
}

/// Why the server's response does not complete the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResponseError {
    /// Not a well-formed HTTP/1.1 response.
    Malformed,
    /// The header block did not end within the limit.
    HeadTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },
    /// More header lines than [`MAX_HEADERS`](super::MAX_HEADERS), or a header repeated more than four times.
    TooManyHeaders,
    /// The server answered with another status than 101 (e.g. 403, 404).
    NotSwitching {
        /// The status the server sent.
        status: u16,
    },
    /// No `Upgrade: websocket` in the response.
    MissingUpgrade,
    /// No `Connection: upgrade` in the response.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Accept` missing or not the value for our key.
    BadAccept,
    /// The server chose a subprotocol the client did not offer.
    UnexpectedProtocol,
    /// The server accepted an extension although the client offered none.
    UnexpectedExtension,
    /// The server's `Sec-WebSocket-Extensions` answer is not a valid agreement on the permessage-deflate
    /// offer made.
    Deflate(AgreementError),
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::Malformed => f.write_str("malformed HTTP response"),
            ResponseError::HeadTooLarge { limit } => {
                write!(f, "response header block exceeds {limit} bytes")
            }
            ResponseError::TooManyHeaders => f.write_str("too many header lines in the response"),
            ResponseError::NotSwitching { status } => {
                write!(f, "server answered {status} instead of 101")
            }
            ResponseError::MissingUpgrade => f.write_str("response lacks Upgrade: websocket"),
            ResponseError::MissingConnectionUpgrade => {
                f.write_str("response lacks Connection: upgrade")
            }
            ResponseError::BadAccept => f.write_str("Sec-WebSocket-Accept does not match the key"),
            ResponseError::UnexpectedProtocol => {
                f.write_str("server chose a subprotocol that was not offered")
            }
            ResponseError::UnexpectedExtension => {
                f.write_str("server accepted an extension that was not requested")
            }
            ResponseError::Deflate(error) => write!(f, "permessage-deflate: {error}"),
        }
    }
}

impl core::error::Error for ResponseError {}

/// A verified `101 Switching Protocols` response.
#[derive(Clone, Copy, Debug)]
pub struct Response<'b> {
    protocol: Option<&'b str>,
    deflate: Option<DeflateParams>,
    headers: Headers<'b>,
}

impl<'b> Response<'b> {
    /// The subprotocol the server chose, one of those offered.
    pub fn protocol(&self) -> Option<&'b str> {
        self.protocol
    }

    /// The permessage-deflate agreement (checked against the offer), or `None` when the server declined
    /// it or none was offered.
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.deflate
    }

    /// Any response header by name (case-insensitive): the first occurrence.
    pub fn header(&self, name: &str) -> Option<&'b str> {
        find_header(&self.headers, name)
    }

    /// Every header line, in order: `(name as sent, value without the whitespace around it)`.
    pub fn headers(&self) -> Headers<'b> {
        self.headers
    }
}

/// Parses and verifies the server's response to `request` from the start of `buf`.
pub fn parse_response<'b>(
    buf: &'b [u8],
    request: &ClientRequest<'_>,
    max_head_len: usize,
) -> Result<Parsed<Response<'b>>, ResponseError> {
    // Without the `deflate` feature nothing was offered (see `ClientRequest::encode`).
    let offered = request.deflate.filter(|_| deflate::SUPPORTED);
    let window = &buf[..buf.len().min(max_head_len)];
    let (head, consumed) = match parse_response_head(window) {
        Ok(Parsed::Complete { value, consumed }) => (value, consumed),
        Ok(Parsed::Partial) if window.len() >= max_head_len => {
            return Err(ResponseError::HeadTooLarge {
                limit: max_head_len,
            })
        }
        Ok(Parsed::Partial) => return Ok(Parsed::Partial),
        Err(HeadError::TooManyHeaders) => return Err(ResponseError::TooManyHeaders),
        Err(HeadError::Malformed) => return Err(ResponseError::Malformed),
    };
    match (head.minor, head.status) {
        (1, 101) => {}
        // A 101 only switches protocols over HTTP/1.1; reporting it as "101 instead of 101" would hide that.
        (_, 101) => return Err(ResponseError::Malformed),
        (_, status) => return Err(ResponseError::NotSwitching { status }),
    }
    let mut upgrade = Values::new();
    let mut connection = Values::new();
    let mut extensions = Values::new();
    let mut accept = None;
    let mut protocol = None;
    for (name, value) in head.headers {
        let list = |values: &mut Values<'b>| {
            push_value(values, value).map_err(|_| ResponseError::TooManyHeaders)
        };
        if name.eq_ignore_ascii_case("upgrade") {
            list(&mut upgrade)?;
        } else if name.eq_ignore_ascii_case("connection") {
            list(&mut connection)?;
        } else if name.eq_ignore_ascii_case("sec-websocket-accept") {
            accept = Some(value);
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            protocol = Some(core::str::from_utf8(value).map_err(|_| ResponseError::Malformed)?);
        } else if name.eq_ignore_ascii_case("sec-websocket-extensions") {
            if offered.is_none() && !value.is_empty() {
                return Err(ResponseError::UnexpectedExtension);
            }
            list(&mut extensions)?;
        }
    }
    if !has_token(&upgrade, "websocket") {
        return Err(ResponseError::MissingUpgrade);
    }
    if !has_token(&connection, "upgrade") {
        return Err(ResponseError::MissingConnectionUpgrade);
    }
    let expected = accept_key(&request.encoded_key());
    if accept != Some(&expected[..]) {
        return Err(ResponseError::BadAccept);
    }
    if let Some(chosen) = protocol {
        if !request.protocols.contains(&chosen) {
            return Err(ResponseError::UnexpectedProtocol);
        }
    }
    let deflate = match &offered {
        Some(config) => {
            deflate::parse_agreement(&extensions, config).map_err(ResponseError::Deflate)?
        }
        None => None,
    };
    Ok(Parsed::Complete {
        value: Response {
            protocol,
            deflate,
            headers: head.headers,
        },
        consumed,
    })
}
