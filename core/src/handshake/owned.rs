//! Owned forms of the handshake's inputs and outputs, for adapters with an allocator (rill-tokio,
//! rill-blocking): the application's decision and client options as owned values, encoded to the bytes to
//! write, and `ws://` URLs split into host and path.

extern crate alloc;

use super::client::{parse_response, ClientRequest, Response, ResponseError};
use super::server::{answer, Answered, Decision as Borrowed, Request, RequestError};
use super::{EncodeError, Parsed};
use crate::deflate::{DeflateConfig, DeflateParams};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// What the application answers to an HTTP request arriving on the WebSocket port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Upgrade, optionally choosing one of the offered subprotocols and adding response headers.
    Accept {
        /// The subprotocol to use; must be one the client offered.
        protocol: Option<String>,
        /// Extra response headers.
        headers: Vec<(String, String)>,
        /// Accept permessage-deflate when the client offers it and the server is configured for it
        /// (the configuration given to [`respond`]); `false` declines it for this request.
        deflate: bool,
    },
    /// Refuse with an HTTP status; `reason` becomes the plain-text body.
    Reject {
        /// The HTTP status, e.g. 403 or 404.
        status: u16,
        /// Why, in one line.
        reason: String,
    },
    /// Answer as plain HTTP (e.g. serve a page on `GET /`) and close the connection.
    Respond {
        /// The HTTP status.
        status: u16,
        /// The body's media type.
        content_type: String,
        /// The body.
        body: Vec<u8>,
    },
}

impl Decision {
    /// Accept with no subprotocol and no extra headers, and permessage-deflate when offered and
    /// configured.
    pub fn accept() -> Decision {
        Decision::Accept {
            protocol: None,
            headers: Vec::new(),
            deflate: true,
        }
    }
}

/// Why a handshake answered with [`respond`] gives no WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The request broke a rule of RFC 6455 section 4 (answered with its HTTP error).
    Invalid(RequestError),
    /// The application rejected it, or answered it as plain HTTP, with this status.
    Rejected(u16),
}

/// What the handshake agreed on, once the `101` is written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Agreed {
    /// The subprotocol, one the client offered.
    pub protocol: Option<String>,
    /// The permessage-deflate parameters, or `None` when not negotiated.
    pub deflate: Option<DeflateParams>,
}

/// The bytes of an HTTP answer, and what was agreed or why there is no WebSocket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The response to write.
    pub bytes: Vec<u8>,
    /// What the connection agreed on, or why there is none.
    pub outcome: Result<Agreed, Refusal>,
}

/// The response to write for `decision` on `request`, and what was agreed or why there is no WebSocket.
///
/// `deflate` is what this server accepts of permessage-deflate (`None`: never); a decision to accept with
/// `deflate: true` agrees on the client's first acceptable offer ([`Request::deflate`]).
pub fn respond(
    request: &Request<'_>,
    decision: &Decision,
    deflate: Option<&DeflateConfig>,
) -> Result<Answer, EncodeError> {
    let (headers, protocol) = match decision {
        Decision::Accept {
            protocol, headers, ..
        } => (headers.as_slice(), protocol.clone()),
        _ => (&[][..], None),
    };
    let agreed_deflate = match (decision, deflate) {
        (Decision::Accept { deflate: true, .. }, Some(config)) => request.deflate(config),
        _ => None,
    };
    let pairs = borrow_pairs(headers);
    let (borrowed, variable) = match decision {
        Decision::Accept { protocol, .. } => (
            Borrowed::Accept {
                protocol: protocol.as_deref(),
                headers: &pairs,
                deflate: agreed_deflate,
            },
            0,
        ),
        Decision::Reject { status, reason } => (
            Borrowed::Reject {
                status: *status,
                reason,
            },
            reason.len(),
        ),
        Decision::Respond {
            status,
            content_type,
            body,
        } => (
            Borrowed::Respond {
                status: *status,
                content_type,
                body,
            },
            content_type.len(),
        ),
    };
    // The head's fixed lines take under 512 bytes; its variable parts are counted (a page's body is
    // appended after the head, not encoded into it).
    let mut out = vec![0u8; 512 + headers_len(&pairs) + variable];
    let answered = answer(request, &borrowed, &mut out)?;
    out.truncate(answered.head_len);
    out.extend_from_slice(answered.body);
    let outcome = match answered.outcome {
        Answered::Upgraded => Ok(Agreed {
            protocol,
            deflate: agreed_deflate,
        }),
        Answered::Refused(error) => Err(Refusal::Invalid(error)),
        Answered::Rejected(status) => Err(Refusal::Rejected(status)),
    };
    Ok(Answer {
        bytes: out,
        outcome,
    })
}

/// What a client asks for beyond host and path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// Subprotocols to offer, in order of preference.
    pub protocols: Vec<String>,
    /// An `Origin` header to send.
    pub origin: Option<String>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Offer permessage-deflate as this describes; `None` (the default here) offers no extension.
    /// rill-tokio and rill-blocking set it from their `Config::deflate`.
    pub deflate: Option<DeflateConfig>,
}

impl ClientOptions {
    /// Encodes the upgrade request for `host` and `path` with the random `key`.
    pub fn request(
        &self,
        host: &str,
        path: &str,
        key: [u8; 16],
    ) -> Result<UpgradeRequest, EncodeError> {
        let protocols: Vec<&str> = self.protocols.iter().map(String::as_str).collect();
        let headers = borrow_pairs(&self.headers);
        let request = ClientRequest {
            host,
            path,
            key,
            protocols: &protocols,
            origin: self.origin.as_deref(),
            headers: &headers,
            deflate: self.deflate,
        };
        let offered: usize = protocols.iter().map(|p| p.len() + 2).sum();
        let origin = self.origin.as_deref().map_or(0, str::len);
        // The fixed lines take under 256 bytes, a permessage-deflate offer under 160.
        let mut head =
            vec![0u8; 416 + host.len() + path.len() + offered + origin + headers_len(&headers)];
        let len = request.encode(&mut head)?;
        head.truncate(len);
        Ok(UpgradeRequest {
            head,
            key,
            protocols: self.protocols.clone(),
            deflate: self.deflate,
        })
    }
}

/// An encoded upgrade request, kept to verify the server's response against it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The bytes to write.
    pub head: Vec<u8>,
    key: [u8; 16],
    protocols: Vec<String>,
    deflate: Option<DeflateConfig>,
}

impl UpgradeRequest {
    /// Parses and verifies the server's response in `buf`, permessage-deflate agreement included
    /// ([`Response::deflate`]); see [`super::client::parse_response`].
    pub fn parse_response<'b>(
        &self,
        buf: &'b [u8],
        max_head_len: usize,
    ) -> Result<Parsed<Response<'b>>, ResponseError> {
        let protocols: Vec<&str> = self.protocols.iter().map(String::as_str).collect();
        let request = ClientRequest {
            host: "",
            path: "",
            key: self.key,
            protocols: &protocols,
            origin: None,
            headers: &[],
            deflate: self.deflate,
        };
        parse_response(buf, &request, max_head_len)
    }
}

/// Splits `ws://authority/path` into the authority (the `Host` value, with any port) and the path with
/// its query. `wss://` is refused here: the caller opens the TLS stream itself.
pub fn split_ws_url(url: &str) -> Result<(&str, &str), &'static str> {
    let rest = match url.split_once("://") {
        Some(("ws", rest)) => rest,
        Some(("wss", _)) => {
            return Err("wss:// needs TLS: open a TLS stream and run the handshake over it")
        }
        _ => return Err("expected ws://host[:port][/path]"),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => rest.split_at(i),
        Some(_) => return Err("a query needs a path: ws://host/?query"),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err("missing host");
    }
    Ok((authority, path))
}

fn borrow_pairs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect()
}

/// Bytes the header lines `headers` take on the wire.
fn headers_len(headers: &[(&str, &str)]) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.len() + value.len() + 4)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::split_ws_url;

    #[test]
    fn ws_urls_split_into_host_and_path() {
        assert_eq!(
            split_ws_url("ws://127.0.0.1:9001").unwrap(),
            ("127.0.0.1:9001", "/")
        );
        assert_eq!(
            split_ws_url("ws://h/runCase?case=1&agent=rill").unwrap(),
            ("h", "/runCase?case=1&agent=rill")
        );
        assert!(split_ws_url("wss://h/").is_err());
        assert!(split_ws_url("http://h/").is_err());
        assert!(split_ws_url("ws:///x").is_err());
        assert!(split_ws_url("ws://h?x").is_err());
    }
}
