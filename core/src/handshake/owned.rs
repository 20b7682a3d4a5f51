//! Owned forms of the handshake's inputs and outputs, for adapters with an allocator (rill-tokio,
//! rill-blocking): the application's decision and client options as owned values, encoded to the bytes to
//! write, and `ws://` URLs split into host and path.

extern crate alloc;

use super::client::{parse_response, ClientRequest, Response, ResponseError};
use super::server::{answer, Answered, Decision as Borrowed, Request, RequestError};
use super::{EncodeError, Parsed};
use crate::deflate::{DeflateConfig, DeflateParams};
use alloc::string::{String, ToString};
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
    /// Refuse for now with `503 Service Unavailable` and `Retry-After: retry_after` (seconds): the server
    /// is full or shutting down, and a client may come back. `reason` becomes the plain-text body.
    Unavailable {
        /// Seconds after which the client may try again.
        retry_after: u32,
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
        Decision::Unavailable {
            retry_after,
            reason,
        } => return unavailable(*retry_after, reason),
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

/// `503 Service Unavailable` with `Retry-After`: the borrowed decisions have no header list for a
/// rejection, and a 503 without `Retry-After` tells a client nothing about when to come back.
fn unavailable(retry_after: u32, reason: &str) -> Result<Answer, EncodeError> {
    let seconds = retry_after.to_string();
    // 512 bytes hold the fixed lines; the reason is counted.
    let mut out = vec![0u8; 512 + reason.len()];
    let len = super::server::encode_reject(503, reason, &[("Retry-After", &seconds)], &mut out)?;
    out.truncate(len);
    Ok(Answer {
        bytes: out,
        outcome: Err(Refusal::Rejected(503)),
    })
}

/// Which pages may open a WebSocket: browsers send the page's origin in `Origin` on every WebSocket
/// request, and a server that ignores it lets any site a user visits talk to it with the user's cookies
/// (cross-site WebSocket hijacking). Requests without `Origin` come from non-browser clients, which can
/// send anything anyway, and are served.
///
/// ```
/// use rill_ws::handshake::owned::{Decision, Origin};
/// let origin = Origin::allow(["https://app.example"]);
/// let decide = |request: &rill_ws::handshake::server::Request<'_>| match origin.check(request) {
///     Err(refusal) => refusal, // 403 with the reason
///     Ok(()) => Decision::accept(),
/// };
/// # let _ = decide;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    same_host: bool,
    allowed: Vec<String>,
}

impl Origin {
    /// Any origin (the check always passes): for servers that authenticate every connection otherwise.
    pub fn any() -> Origin {
        Origin {
            same_host: false,
            allowed: vec![String::from("*")],
        }
    }

    /// Pages served from the host the request is addressed to (the `Origin`'s host and port equal the
    /// `Host` header's; the scheme is not compared, so a TLS-terminating proxy in front does not matter).
    pub fn same_host() -> Origin {
        Origin {
            same_host: true,
            allowed: Vec::new(),
        }
    }

    /// Exactly these origins (`scheme://host[:port]`, compared without case; `"*"` allows any).
    pub fn allow<I, T>(origins: I) -> Origin
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Origin {
            same_host: false,
            allowed: origins.into_iter().map(Into::into).collect(),
        }
    }

    /// Also these origins (e.g. `Origin::same_host().and(["http://localhost:5173"])` for a dev server).
    pub fn and<I, T>(mut self, origins: I) -> Origin
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.allowed.extend(origins.into_iter().map(Into::into));
        self
    }

    /// True when `origin` (the header's value, if any) may connect to a request for `host`.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true; // not a browser
        };
        let origin = origin.trim_end_matches('/');
        if self
            .allowed
            .iter()
            .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin))
        {
            return true;
        }
        self.same_host && host.is_some_and(|host| same_authority(origin, host))
    }

    /// `Ok` when the request's `Origin` is allowed, else the decision to answer with: `403 Forbidden`
    /// naming the refused origin.
    pub fn check(&self, request: &Request<'_>) -> Result<(), Decision> {
        match self.allows(request.origin(), request.host()) {
            true => Ok(()),
            false => Err(self.refusal(request.origin().unwrap_or(""))),
        }
    }

    /// The `403 Forbidden` for a refused `origin`.
    pub fn refusal(&self, origin: &str) -> Decision {
        // The reason is one line of the body: keep only printable ASCII of a hostile header.
        let shown: String = origin
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(100)
            .collect();
        Decision::Reject {
            status: 403,
            reason: alloc::format!("cross-origin WebSocket refused: origin {shown} is not allowed"),
        }
    }
}

/// True when `origin` (`scheme://host[:port]`) names the authority `host` (`host[:port]`), a scheme's
/// default port written or not.
fn same_authority(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false; // "null" (a sandboxed page or a file) or garbage
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => ":443",
        _ => ":80",
    };
    let strip = |a: &'_ str| -> String {
        let a = a.to_ascii_lowercase();
        match a.strip_suffix(default) {
            Some(bare) => bare.into(),
            None => a,
        }
    };
    strip(authority) == strip(host.trim())
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
    /// The proxy rill-tokio's and rill-blocking's `connect` functions go through; by default the one the
    /// environment names (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, see docs/client.md).
    pub proxy: Proxy,
}

/// Which proxy a client's connection goes through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Proxy {
    /// The one the environment names for the URL, or none (curl's conventions, see docs/client.md).
    #[default]
    Environment,
    /// None: straight to the target, whatever the environment says.
    Direct,
    /// This proxy: `http://[user:password@]host[:port]` (HTTP `CONNECT`), or `socks5://` / `socks5h://`
    /// (SOCKS5, the proxy resolving the target's name); the port defaults to 1080.
    Url(String),
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
mod origin_tests {
    use super::*;
    use crate::handshake::server::parse_request;

    fn decide(policy: &Origin, origin: Option<&str>, host: &str) -> Result<(), u16> {
        let mut head = alloc::format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        );
        if let Some(origin) = origin {
            head.push_str(&alloc::format!("Origin: {origin}\r\n"));
        }
        head.push_str("\r\n");
        let Ok(crate::handshake::Parsed::Complete { value, .. }) =
            parse_request(head.as_bytes(), 4096)
        else {
            panic!("unparsable test request");
        };
        policy.check(&value).map_err(|d| match d {
            Decision::Reject { status, .. } => status,
            _ => 0,
        })
    }

    #[test]
    fn same_host_serves_its_own_pages_and_clients_without_origin_and_refuses_others_with_403() {
        let p = Origin::same_host();
        assert_eq!(
            decide(&p, Some("http://a.example:8080"), "a.example:8080"),
            Ok(())
        );
        assert_eq!(
            decide(&p, Some("https://A.example"), "a.example:443"),
            Ok(())
        );
        assert_eq!(decide(&p, Some("http://a.example"), "a.example"), Ok(()));
        assert_eq!(decide(&p, None, "a.example"), Ok(()));
        assert_eq!(
            decide(&p, Some("http://evil.example"), "a.example"),
            Err(403)
        );
        assert_eq!(
            decide(&p, Some("http://a.example:9"), "a.example:8080"),
            Err(403)
        );
        assert_eq!(decide(&p, Some("null"), "a.example"), Err(403));
    }

    #[test]
    fn an_allow_list_matches_whole_origins() {
        let p = Origin::allow(["https://app.example"]);
        assert_eq!(
            decide(&p, Some("https://app.example"), "api.example"),
            Ok(())
        );
        assert_eq!(
            decide(&p, Some("https://app.example/"), "api.example"),
            Ok(())
        );
        assert_eq!(
            decide(&p, Some("http://app.example"), "api.example"),
            Err(403)
        );
        assert_eq!(
            decide(&p, Some("https://api.example"), "api.example"),
            Err(403)
        );
        let both = Origin::same_host().and(["http://localhost:5173"]);
        assert_eq!(decide(&both, Some("http://localhost:5173"), "h:1"), Ok(()));
        assert_eq!(decide(&Origin::any(), Some("http://x"), "h"), Ok(()));
    }

    #[test]
    fn unavailable_is_a_503_with_retry_after_and_the_reason() {
        let head = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        let Ok(crate::handshake::Parsed::Complete { value, .. }) =
            parse_request(head.as_bytes(), 4096)
        else {
            panic!()
        };
        let decision = Decision::Unavailable {
            retry_after: 30,
            reason: "full".into(),
        };
        let answer = respond(&value, &decision, None).unwrap();
        let text = core::str::from_utf8(&answer.bytes).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nRetry-After: 30\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nfull"), "{text}");
        assert_eq!(answer.outcome, Err(Refusal::Rejected(503)));
    }
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
