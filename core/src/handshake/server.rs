//! The server side of the handshake: parse the client's request, validate it, accept or reject it.

use super::digest::is_base64_of_16_bytes;
use super::encode::{EncodeError, Writer};
use super::fields::{find_header, has_token, push_value, Tokens, Values};
use super::head::{parse_request_head, HeadError, Headers, RequestHead};
use super::{accept_key, Parsed};
use crate::deflate::{self, DeflateConfig, DeflateParams};
use core::fmt;

/// Why a request cannot be upgraded; each maps to the HTTP status the client receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RequestError {
    /// Not a well-formed HTTP/1.x request (400).
    Malformed,
    /// The header block did not end within the limit (431).
    HeadTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },
    /// More header lines than [`MAX_HEADERS`](super::MAX_HEADERS), or a header repeated more than four times (431).
    TooManyHeaders,
    /// A method other than GET (405).
    MethodNotAllowed,
    /// HTTP/1.0 (505: the upgrade needs HTTP/1.1).
    HttpVersion,
    /// No `Host` header (400).
    MissingHost,
    /// No `Upgrade: websocket`: a plain HTTP request (426, with `Upgrade: websocket`).
    NotUpgrade,
    /// `Connection` does not list `upgrade` (400).
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` missing, or not base64 of exactly 16 bytes (400).
    InvalidKey,
    /// `Sec-WebSocket-Version` missing or not 13 (426, with `Sec-WebSocket-Version: 13`).
    UnsupportedVersion,
}

impl RequestError {
    /// The HTTP status code answered for this error.
    pub const fn status(self) -> u16 {
        match self {
            RequestError::HeadTooLarge { .. } | RequestError::TooManyHeaders => 431,
            RequestError::MethodNotAllowed => 405,
            RequestError::HttpVersion => 505,
            RequestError::NotUpgrade | RequestError::UnsupportedVersion => 426,
            _ => 400,
        }
    }

    /// Encodes the complete error response (status, the headers the status requires, the reason as a
    /// plain-text body, `Connection: close`) into `out`; returns the bytes written.
    pub fn encode_response(self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let extra: &[(&str, &str)] = match self {
            RequestError::MethodNotAllowed => &[("Allow", "GET")],
            RequestError::NotUpgrade => &[("Upgrade", "websocket")],
            RequestError::UnsupportedVersion => &[("Sec-WebSocket-Version", "13")],
            _ => &[],
        };
        encode_reject(self.status(), self.reason(), extra, out)
    }

    /// A one-line explanation, sent as the response body.
    pub const fn reason(self) -> &'static str {
        match self {
            RequestError::Malformed => "malformed HTTP request",
            RequestError::HeadTooLarge { .. } => "request header block too large",
            RequestError::TooManyHeaders => "too many header lines, or a header repeated too often",
            RequestError::MethodNotAllowed => "WebSocket upgrade requires GET",
            RequestError::HttpVersion => "WebSocket upgrade requires HTTP/1.1",
            RequestError::MissingHost => "missing Host header",
            RequestError::NotUpgrade => "missing Upgrade: websocket",
            RequestError::MissingConnectionUpgrade => "Connection header does not list upgrade",
            RequestError::InvalidKey => "Sec-WebSocket-Key must be base64 of 16 bytes",
            RequestError::UnsupportedVersion => "Sec-WebSocket-Version must be 13",
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::HeadTooLarge { limit } => {
                write!(f, "request header block exceeds {limit} bytes")
            }
            other => f.write_str(other.reason()),
        }
    }
}

impl core::error::Error for RequestError {}

/// A parsed HTTP request head. Borrowed from the caller's buffer; validated for a WebSocket upgrade by
/// [`Request::validate`], so a plain `GET /` can still be served as HTTP.
#[derive(Clone, Debug)]
pub struct Request<'b> {
    method: &'b str,
    target: &'b str,
    http_1_1: bool,
    host: Option<&'b str>,
    origin: Option<&'b str>,
    key: Option<&'b str>,
    version: Option<&'b str>,
    upgrade: Values<'b>,
    connection: Values<'b>,
    protocols: Values<'b>,
    extensions: Values<'b>,
    headers: Headers<'b>,
}

/// Parses a request head from the start of `buf`. `max_head_len` bounds the header block (431 beyond it).
pub fn parse_request(buf: &[u8], max_head_len: usize) -> Result<Parsed<Request<'_>>, RequestError> {
    let window = &buf[..buf.len().min(max_head_len)];
    let (head, consumed) = match parse_request_head(window) {
        Ok(Parsed::Complete { value, consumed }) => (value, consumed),
        Ok(Parsed::Partial) if window.len() >= max_head_len => {
            return Err(RequestError::HeadTooLarge {
                limit: max_head_len,
            })
        }
        Ok(Parsed::Partial) => return Ok(Parsed::Partial),
        Err(HeadError::TooManyHeaders) => return Err(RequestError::TooManyHeaders),
        Err(HeadError::Malformed) => return Err(RequestError::Malformed),
    };
    let RequestHead {
        method,
        target,
        minor,
        headers,
    } = head;
    let mut request = Request {
        method,
        target,
        http_1_1: minor == 1,
        host: None,
        origin: None,
        key: None,
        version: None,
        upgrade: Values::new(),
        connection: Values::new(),
        protocols: Values::new(),
        extensions: Values::new(),
        headers,
    };
    for (name, value) in headers {
        request.record(name, value)?;
    }
    Ok(Parsed::Complete {
        value: request,
        consumed,
    })
}

impl<'b> Request<'b> {
    fn record(&mut self, name: &str, value: &'b [u8]) -> Result<(), RequestError> {
        // The scanner's header values come without the whitespace around them.
        let single = |slot: &mut Option<&'b str>| {
            *slot = Some(core::str::from_utf8(value).map_err(|_| RequestError::Malformed)?);
            Ok(())
        };
        let list = |values: &mut Values<'b>| {
            push_value(values, value).map_err(|_| RequestError::TooManyHeaders)
        };
        match name.len() {
            4 if name.eq_ignore_ascii_case("host") => single(&mut self.host),
            6 if name.eq_ignore_ascii_case("origin") => single(&mut self.origin),
            7 if name.eq_ignore_ascii_case("upgrade") => list(&mut self.upgrade),
            10 if name.eq_ignore_ascii_case("connection") => list(&mut self.connection),
            17 if name.eq_ignore_ascii_case("sec-websocket-key") => single(&mut self.key),
            21 if name.eq_ignore_ascii_case("sec-websocket-version") => single(&mut self.version),
            22 if name.eq_ignore_ascii_case("sec-websocket-protocol") => list(&mut self.protocols),
            24 if name.eq_ignore_ascii_case("sec-websocket-extensions") => {
                list(&mut self.extensions)
            }
            _ => Ok(()),
        }
    }

    /// The request method.
    pub fn method(&self) -> &'b str {
        self.method
    }

    /// The request target as sent: path and query.
    pub fn target(&self) -> &'b str {
        self.target
    }

    /// The path part of the target.
    pub fn path(&self) -> &'b str {
        self.target
            .split_once('?')
            .map_or(self.target, |(path, _)| path)
    }

    /// The query part of the target (after `?`), if any.
    pub fn query(&self) -> Option<&'b str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// The `Host` header.
    pub fn host(&self) -> Option<&'b str> {
        self.host
    }

    /// The `Origin` header, which browsers send: check it to refuse cross-site pages.
    pub fn origin(&self) -> Option<&'b str> {
        self.origin
    }

    /// The subprotocols the client offers, in its order of preference.
    pub fn protocols(&self) -> Tokens<'b> {
        Tokens::new(&self.protocols)
    }

    /// The extension offers (each with its parameters), as sent. rill negotiates permessage-deflate
    /// ([`Request::deflate`]).
    pub fn extensions(&self) -> Tokens<'b> {
        Tokens::new(&self.extensions)
    }

    /// The `Sec-WebSocket-Extensions` values, one per occurrence of the header, as sent.
    pub fn extension_values(&self) -> &[&'b str] {
        &self.extensions
    }

    /// The permessage-deflate agreement a server accepting what `config` describes makes with this
    /// request (the first acceptable offer), or `None` when the client offers none we accept; see
    /// [`deflate::negotiate`]. Put it in [`Accept::deflate`] (or [`Decision::Accept`]) to answer with it.
    pub fn deflate(&self, config: &DeflateConfig) -> Option<DeflateParams> {
        if !deflate::SUPPORTED {
            return None;
        }
        deflate::negotiate(&self.extensions, config)
    }

    /// Any header by name (case-insensitive): the first occurrence.
    pub fn header(&self, name: &str) -> Option<&'b str> {
        find_header(&self.headers, name)
    }

    /// Every header line, in order: `(name as sent, value without the whitespace around it)`.
    pub fn headers(&self) -> Headers<'b> {
        self.headers
    }

    /// True when the client asks for a WebSocket (`Upgrade: websocket`); false for a plain HTTP request.
    pub fn is_upgrade(&self) -> bool {
        has_token(&self.upgrade, "websocket")
    }

    /// Checks every rule of RFC 6455 section 4.2.1 and returns the `Sec-WebSocket-Accept` value.
    pub fn validate(&self) -> Result<[u8; 28], RequestError> {
        if self.method != "GET" {
            return Err(RequestError::MethodNotAllowed);
        }
        if !self.http_1_1 {
            return Err(RequestError::HttpVersion);
        }
        if self.host.is_none() {
            return Err(RequestError::MissingHost);
        }
        if !self.is_upgrade() {
            return Err(RequestError::NotUpgrade);
        }
        if !has_token(&self.connection, "upgrade") {
            return Err(RequestError::MissingConnectionUpgrade);
        }
        let key = self.key.ok_or(RequestError::InvalidKey)?;
        if !is_base64_of_16_bytes(key.as_bytes()) {
            return Err(RequestError::InvalidKey);
        }
        if self.version != Some("13") {
            return Err(RequestError::UnsupportedVersion);
        }
        Ok(accept_key(key.as_bytes()))
    }
}

/// How the application accepts a request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Accept<'a> {
    /// The subprotocol to use; must be one the client offered.
    pub protocol: Option<&'a str>,
    /// Extra response headers (e.g. `Set-Cookie`).
    pub headers: &'a [(&'a str, &'a str)],
    /// The permessage-deflate agreement to answer with, from [`Request::deflate`]; `None` declines every
    /// offer (the response has no `Sec-WebSocket-Extensions`).
    pub deflate: Option<DeflateParams>,
}

/// Validates `request` and encodes the `101 Switching Protocols` response into `out`.
///
/// The response carries no `Content-Length`: after it the connection speaks WebSocket. Fails with
/// [`EncodeError::ProtocolNotOffered`] when `accept.protocol` is not among [`Request::protocols`], and with
/// [`EncodeError::DeflateNotOffered`] when `accept.deflate` answers none of the request's offers.
pub fn encode_accept(
    request: &Request<'_>,
    accept: &Accept<'_>,
    out: &mut [u8],
) -> Result<usize, AcceptError> {
    let key = request.validate().map_err(AcceptError::Request)?;
    if let Some(protocol) = accept.protocol {
        if !request.protocols().any(|offered| offered == protocol) {
            return Err(AcceptError::Encode(EncodeError::ProtocolNotOffered));
        }
    }
    encode_switching(request, &key, accept, out).map_err(AcceptError::Encode)
}

fn encode_switching(
    request: &Request<'_>,
    key: &[u8; 28],
    accept: &Accept<'_>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut w = Writer::new(out);
    w.put(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")?;
    w.put_header("Sec-WebSocket-Accept", key)?;
    if let Some(protocol) = accept.protocol {
        w.put_header("Sec-WebSocket-Protocol", protocol.as_bytes())?;
    }
    if let Some(params) = &accept.deflate {
        if !deflate::SUPPORTED {
            return Err(EncodeError::DeflateNotOffered);
        }
        w.put(b"Sec-WebSocket-Extensions: ")?;
        w.put_with(|rest| params.write_response(&request.extensions, rest))?;
        w.put(b"\r\n")?;
    }
    w.put_headers(accept.headers)?;
    w.put(b"\r\n")?;
    Ok(w.finish())
}

/// What the application answers to an HTTP request on the WebSocket port. `'d` is data the decision
/// borrows (a configured subprotocol, a page from flash).
#[derive(Clone, Copy, Debug)]
pub enum Decision<'d> {
    /// Upgrade, optionally with one of the offered subprotocols and extra response headers.
    Accept {
        /// The subprotocol to use; must be one the client offered.
        protocol: Option<&'d str>,
        /// Extra response headers.
        headers: &'d [(&'d str, &'d str)],
        /// The permessage-deflate agreement, from [`Request::deflate`]; `None` declines it.
        deflate: Option<DeflateParams>,
    },
    /// Refuse with an HTTP status; `reason` becomes the plain-text body.
    Reject {
        /// The HTTP status, e.g. 403 or 404.
        status: u16,
        /// Why, in one line.
        reason: &'d str,
    },
    /// Answer as plain HTTP (e.g. a page on `GET /`) and end the connection.
    Respond {
        /// The HTTP status.
        status: u16,
        /// The body's media type.
        content_type: &'d str,
        /// The body.
        body: &'d [u8],
    },
}

impl Decision<'_> {
    /// Accept with no subprotocol, no extra headers and no permessage-deflate.
    pub const fn accept() -> Self {
        Decision::Accept {
            protocol: None,
            headers: &[],
            deflate: None,
        }
    }
}

/// What [`answer`] wrote: after it, the connection speaks WebSocket or ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Answered {
    /// `101 Switching Protocols`: the connection is a WebSocket now.
    Upgraded,
    /// The request is not a valid upgrade; the matching HTTP error was written.
    Refused(RequestError),
    /// The application rejected the request or answered it as plain HTTP with this status.
    Rejected(u16),
}

/// The response [`answer`] prepared: write `out[..head_len]`, then `body` (only a
/// [`Decision::Respond`] has one; it is written from where it lies, so a page never has to fit `out`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer<'d> {
    /// Bytes of `out` to write first.
    pub head_len: usize,
    /// Bytes to write after them.
    pub body: &'d [u8],
    /// What the response means for the connection.
    pub outcome: Answered,
}

/// Encodes the response `decision` calls for into `out`.
pub fn answer<'d>(
    request: &Request<'_>,
    decision: &Decision<'d>,
    out: &mut [u8],
) -> Result<Answer<'d>, EncodeError> {
    let (head_len, body, outcome) = match *decision {
        Decision::Accept {
            protocol,
            headers,
            deflate,
        } => {
            let accept = Accept {
                protocol,
                headers,
                deflate,
            };
            match encode_accept(request, &accept, out) {
                Ok(len) => (len, &[][..], Answered::Upgraded),
                Err(AcceptError::Request(error)) => (
                    error.encode_response(out)?,
                    &[][..],
                    Answered::Refused(error),
                ),
                Err(AcceptError::Encode(error)) => return Err(error),
            }
        }
        Decision::Reject { status, reason } => (
            encode_reject(status, reason, &[], out)?,
            &[][..],
            Answered::Rejected(status),
        ),
        Decision::Respond {
            status,
            content_type,
            body,
        } => (
            encode_http_head(status, content_type, &[], body.len(), out)?,
            body,
            Answered::Rejected(status),
        ),
    };
    Ok(Answer {
        head_len,
        body,
        outcome,
    })
}

/// Why [`encode_accept`] produced no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AcceptError {
    /// The request is not a valid upgrade: answer with [`RequestError::encode_response`].
    Request(RequestError),
    /// The response could not be written.
    Encode(EncodeError),
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcceptError::Request(e) => e.fmt(f),
            AcceptError::Encode(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for AcceptError {}

/// Encodes a rejection: `status`, `headers`, and `reason` as a plain-text body, then `Connection: close`.
pub fn encode_reject(
    status: u16,
    reason: &str,
    headers: &[(&str, &str)],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    encode_http_response(
        status,
        "text/plain; charset=utf-8",
        headers,
        reason.as_bytes(),
        out,
    )
}

/// Encodes a complete HTTP/1.1 response with a body (e.g. a page served on `GET /` next to the WebSocket
/// endpoint): status line, `Content-Type`, `Connection: close`, `Content-Length`, `headers`, then `body`.
pub fn encode_http_response(
    status: u16,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let head = encode_http_head(status, content_type, headers, body.len(), out)?;
    let end = head + body.len();
    out.get_mut(head..end)
        .ok_or(EncodeError::BufferTooSmall)?
        .copy_from_slice(body);
    Ok(end)
}

/// Encodes the head of the response [`encode_http_response`] writes, for a body of `body_len` bytes that
/// the caller writes after it (straight from flash, say, without copying it into `out`).
pub fn encode_http_head(
    status: u16,
    content_type: &str,
    headers: &[(&str, &str)],
    body_len: usize,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut w = Writer::new(out);
    w.put(b"HTTP/1.1 ")?;
    w.put_decimal(usize::from(status))?;
    w.put(b" ")?;
    w.put(reason_phrase(status).as_bytes())?;
    w.put(b"\r\n")?;
    w.put_header("Content-Type", content_type.as_bytes())?;
    w.put(b"Connection: close\r\nContent-Length: ")?;
    w.put_decimal(body_len)?;
    w.put(b"\r\n")?;
    w.put_headers(headers)?;
    w.put(b"\r\n")?;
    Ok(w.finish())
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}
