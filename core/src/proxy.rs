//! Tunnels through a proxy, sans-IO: HTTP `CONNECT` (RFC 9110 section 9.3.6) with Basic authentication,
//! and SOCKS5 (RFC 1928) without authentication or with a username and password (RFC 1929), the proxy
//! resolving the target's name. A board can open a tunnel as well as a server can.
//!
//! A [`Tunnel`] alternates between bytes to write ([`Tunnel::transmit`]) and bytes to read
//! ([`Tunnel::receive`]) until [`Step::Open`]; the stream then carries the target's bytes (TLS, then the
//! WebSocket handshake). The adapter only pumps bytes and bounds the exchange with its deadline:
//!
//! ```
//! use rill_ws::proxy::{Step, Tunnel};
//! let mut tunnel = Tunnel::http_connect("example.com", 443, None).unwrap();
//! let mut out = [0u8; 256];
//! let n = tunnel.transmit(&mut out).unwrap(); // write these bytes to the proxy
//! assert_eq!(&out[..n], b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
//! let reply = b"HTTP/1.1 200 Connection established\r\n\r\n"; // what the proxy answered
//! assert_eq!(tunnel.receive(&reply[..10]), Ok(Step::Partial)); // read more, pass every byte so far
//! assert_eq!(tunnel.receive(reply), Ok(Step::Open));
//! ```

use crate::handshake::head::{parse_response_head, HeadError};
use crate::handshake::{EncodeError, Parsed, Writer, DEFAULT_MAX_HEAD_LEN};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

/// A username and password for the proxy: Basic authentication for HTTP, RFC 1929 for SOCKS5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// The username.
    pub user: &'a str,
    /// The password.
    pub password: &'a str,
}

/// What [`Tunnel::receive`] made of the bytes read so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The proxy's answer is not complete: read more and pass every unconsumed byte again.
    Partial,
    /// The answer was complete and used every byte: call [`Tunnel::transmit`] and write what it gives.
    Next,
    /// The tunnel is open: the stream now leads to the target.
    Open,
}

/// The first line of a proxy's HTTP answer: its status code and reason (at most 64 bytes of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusLine {
    /// The status code, e.g. 407.
    pub code: u16,
    /// The reason phrase as sent, cut to 64 bytes.
    pub reason: heapless::String<64>,
}

impl fmt::Display for StatusLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.reason)
    }
}

/// Why a tunnel did not open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TunnelError {
    /// The HTTP proxy answered `CONNECT` with a status other than 2xx (407: authentication required or
    /// refused, 403: target not allowed, 502: the target is unreachable...).
    Refused(StatusLine),
    /// The SOCKS5 proxy answered the connect request with this reply code (RFC 1928 section 6): 2 not
    /// allowed by its rules, 4 host unreachable, 5 connection refused...
    Socks5Refused(u8),
    /// The SOCKS5 proxy accepts none of the authentication methods offered (none, or username and
    /// password when credentials were given).
    NoAcceptableMethod,
    /// The SOCKS5 proxy refused the username and password (RFC 1929 status, non-zero).
    AuthenticationFailed(u8),
    /// The answer breaks its protocol (not an HTTP response, a SOCKS5 reply with a wrong version,
    /// reserved byte or address type, a method that was not offered).
    Malformed,
    /// The HTTP answer's head is longer than 4 KiB or has more than 32 header lines.
    TooLarge,
    /// The proxy sent bytes beyond its answer, before the client spoke to the target.
    UnexpectedBytes,
    /// The target's host cannot be sent: empty, with bytes an authority may not hold, or over 255 bytes
    /// for SOCKS5.
    InvalidTarget,
    /// The credentials cannot be sent: an empty username, or a part over 255 bytes for SOCKS5.
    InvalidCredentials,
}

impl fmt::Display for TunnelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TunnelError::Refused(line) => write!(f, "proxy refused CONNECT: {line}"),
            TunnelError::Socks5Refused(code) => {
                write!(
                    f,
                    "SOCKS5 proxy refused: {} (reply {code})",
                    socks5_reply(*code)
                )
            }
            TunnelError::NoAcceptableMethod => {
                f.write_str("SOCKS5 proxy accepts none of the authentication methods offered")
            }
            TunnelError::AuthenticationFailed(status) => write!(
                f,
                "SOCKS5 proxy refused the username and password (status {status})"
            ),
            TunnelError::Malformed => f.write_str("proxy answer breaks its protocol"),
            TunnelError::TooLarge => f.write_str("proxy answer head too large"),
            TunnelError::UnexpectedBytes => f.write_str("proxy sent bytes beyond its answer"),
            TunnelError::InvalidTarget => f.write_str("target host cannot be sent to the proxy"),
            TunnelError::InvalidCredentials => {
                f.write_str("proxy credentials cannot be sent (empty user, or too long)")
            }
        }
    }
}

impl core::error::Error for TunnelError {}

/// RFC 1928 section 6's meaning of a reply code.
fn socks5_reply(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unassigned reply code",
    }
}

/// Which protocol a tunnel speaks, and where it is in its exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// HTTP: send `CONNECT`.
    Connect,
    /// HTTP: await the status line and headers.
    ConnectReply,
    /// SOCKS5: send the methods offered.
    Greeting,
    /// SOCKS5: await the method chosen.
    Method,
    /// SOCKS5: send username and password.
    Authenticate,
    /// SOCKS5: await their verdict.
    AuthenticateReply,
    /// SOCKS5: send the connect request.
    Request,
    /// SOCKS5: await its reply.
    RequestReply,
    /// The tunnel is open.
    Open,
}

/// One tunnel's exchange with its proxy; see the [module](self) documentation.
#[derive(Clone, Debug)]
pub struct Tunnel<'a> {
    host: &'a str,
    port: u16,
    credentials: Option<Credentials<'a>>,
    state: State,
}

impl<'a> Tunnel<'a> {
    /// An HTTP `CONNECT` to `host:port` (`host` without brackets, an IPv6 literal included), with
    /// `Proxy-Authorization: Basic` when `credentials` are given.
    pub fn http_connect(
        host: &'a str,
        port: u16,
        credentials: Option<Credentials<'a>>,
    ) -> Result<Self, TunnelError> {
        Self::new(host, port, credentials, State::Connect)
    }

    /// A SOCKS5 connect to `host:port`: an IP literal is sent as an address, a name as a name for the
    /// proxy to resolve. Offers username/password authentication when `credentials` are given.
    pub fn socks5(
        host: &'a str,
        port: u16,
        credentials: Option<Credentials<'a>>,
    ) -> Result<Self, TunnelError> {
        if host.len() > 255 {
            return Err(TunnelError::InvalidTarget);
        }
        if credentials.is_some_and(|c| c.user.len() > 255 || c.password.len() > 255) {
            return Err(TunnelError::InvalidCredentials);
        }
        Self::new(host, port, credentials, State::Greeting)
    }

    fn new(
        host: &'a str,
        port: u16,
        credentials: Option<Credentials<'a>>,
        state: State,
    ) -> Result<Self, TunnelError> {
        // An authority's host: no whitespace, controls, or delimiters of the request line and URL.
        let bad = |b: u8| b <= b' ' || b == 0x7f || b"/?#@[]".contains(&b);
        let v6 = host.parse::<Ipv6Addr>().is_ok();
        if host.is_empty() || host.bytes().any(bad) || (host.contains(':') && !v6) {
            return Err(TunnelError::InvalidTarget);
        }
        if credentials.is_some_and(|c| c.user.is_empty()) {
            return Err(TunnelError::InvalidCredentials);
        }
        Ok(Tunnel {
            host,
            port,
            credentials,
            state,
        })
    }

    /// A buffer this long holds anything [`Tunnel::transmit`] writes.
    pub fn max_transmit_len(&self) -> usize {
        let credentials = self
            .credentials
            .map_or(0, |c| c.user.len() + c.password.len());
        // CONNECT's fixed text and two authorities take under 100 bytes; base64 grows credentials by 4/3.
        128 + 2 * self.host.len() + 2 * credentials
    }

    /// True once [`Step::Open`] was returned.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Writes into `out` the bytes to send the proxy now and returns their length; 0 when the tunnel
    /// awaits an answer (or is open).
    pub fn transmit(&mut self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(out);
        let next = match self.state {
            State::Connect => {
                w.put(b"CONNECT ")?;
                self.put_authority(&mut w)?;
                w.put(b" HTTP/1.1\r\nHost: ")?;
                self.put_authority(&mut w)?;
                w.put(b"\r\n")?;
                if let Some(c) = self.credentials {
                    w.put(b"Proxy-Authorization: Basic ")?;
                    put_base64(&mut w, &[c.user.as_bytes(), b":", c.password.as_bytes()])?;
                    w.put(b"\r\n")?;
                }
                w.put(b"\r\n")?;
                State::ConnectReply
            }
            State::Greeting => {
                match self.credentials {
                    Some(_) => w.put(&[5, 2, 0, 2])?, // none, or username/password
                    None => w.put(&[5, 1, 0])?,
                }
                State::Method
            }
            State::Authenticate => {
                // Lengths were checked by `socks5`.
                let c = self.credentials.ok_or(EncodeError::InvalidHeader)?;
                w.put(&[1, c.user.len() as u8])?;
                w.put(c.user.as_bytes())?;
                w.put(&[c.password.len() as u8])?;
                w.put(c.password.as_bytes())?;
                State::AuthenticateReply
            }
            State::Request => {
                w.put(&[5, 1, 0])?; // CONNECT, reserved
                if let Ok(v4) = self.host.parse::<Ipv4Addr>() {
                    w.put(&[1])?;
                    w.put(&v4.octets())?;
                } else if let Ok(v6) = self.host.parse::<Ipv6Addr>() {
                    w.put(&[4])?;
                    w.put(&v6.octets())?;
                } else {
                    w.put(&[3, self.host.len() as u8])?;
                    w.put(self.host.as_bytes())?;
                }
                w.put(&self.port.to_be_bytes())?;
                State::RequestReply
            }
            _ => return Ok(0),
        };
        self.state = next;
        Ok(w.finish())
    }

    /// `host:port`, an IPv6 literal in brackets.
    fn put_authority(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        if self.host.contains(':') {
            w.put(b"[")?;
            w.put(self.host.as_bytes())?;
            w.put(b"]:")?;
        } else {
            w.put(self.host.as_bytes())?;
            w.put(b":")?;
        }
        w.put_decimal(usize::from(self.port))
    }

    /// Reads the proxy's answer from `input`: every byte received since the last [`Step::Next`].
    pub fn receive(&mut self, input: &[u8]) -> Result<Step, TunnelError> {
        let (used, next) = match self.state {
            State::ConnectReply => match parse_connect_reply(input)? {
                None => return Ok(Step::Partial),
                Some(used) => (used, State::Open),
            },
            State::Method => {
                let Some(&[version, method]) = input.get(..2) else {
                    return Ok(Step::Partial);
                };
                let next = match (version, method, self.credentials) {
                    (5, 0, _) => State::Request,
                    (5, 2, Some(_)) => State::Authenticate,
                    (5, 0xff, _) => return Err(TunnelError::NoAcceptableMethod),
                    _ => return Err(TunnelError::Malformed),
                };
                (2, next)
            }
            State::AuthenticateReply => match input.get(..2) {
                None => return Ok(Step::Partial),
                Some(&[1, 0]) => (2, State::Request),
                Some(&[1, status]) => return Err(TunnelError::AuthenticationFailed(status)),
                Some(_) => return Err(TunnelError::Malformed),
            },
            State::RequestReply => match socks5_reply_len(input)? {
                None => return Ok(Step::Partial),
                Some(used) => (used, State::Open),
            },
            _ => return Err(TunnelError::UnexpectedBytes),
        };
        if used != input.len() {
            return Err(TunnelError::UnexpectedBytes);
        }
        self.state = next;
        Ok(match next {
            State::Open => Step::Open,
            _ => Step::Next,
        })
    }
}

/// Standard base64 of the concatenation of `parts`, written in groups of three bytes (no buffer for the
/// whole input).
fn put_base64(w: &mut Writer<'_>, parts: &[&[u8]]) -> Result<(), EncodeError> {
    let mut group = [0u8; 3];
    let mut len = 0;
    for &b in parts.iter().flat_map(|p| p.iter()) {
        group[len] = b;
        len += 1;
        if len == 3 {
            put_base64_group(w, &group)?;
            len = 0;
        }
    }
    if len > 0 {
        put_base64_group(w, &group[..len])?;
    }
    Ok(())
}

fn put_base64_group(w: &mut Writer<'_>, group: &[u8]) -> Result<(), EncodeError> {
    w.put_with(|out| {
        STANDARD
            .encode_slice(group, out)
            .map_err(|_| EncodeError::BufferTooSmall)
    })
}

/// The length of a complete `CONNECT` answer with a 2xx status, `None` while partial. The head is checked by
/// the handshake's scanner ([`crate::handshake::head`]), as strictly as a WebSocket handshake's answer.
fn parse_connect_reply(input: &[u8]) -> Result<Option<usize>, TunnelError> {
    let window = &input[..input.len().min(DEFAULT_MAX_HEAD_LEN)];
    let (head, used) = match parse_response_head(window) {
        Ok(Parsed::Complete { value, consumed }) => (value, consumed),
        Ok(Parsed::Partial) if window.len() >= DEFAULT_MAX_HEAD_LEN => {
            return Err(TunnelError::TooLarge)
        }
        Ok(Parsed::Partial) => return Ok(None),
        Err(HeadError::TooManyHeaders) => return Err(TunnelError::TooLarge),
        Err(HeadError::Malformed) => return Err(TunnelError::Malformed),
    };
    let code = head.status;
    if !(200..300).contains(&code) {
        let mut reason = heapless::String::new();
        for c in status_reason(&window[..used]).chars() {
            if reason.push(c).is_err() {
                break;
            }
        }
        return Err(TunnelError::Refused(StatusLine { code, reason }));
    }
    // A 2xx answer to CONNECT has no content: its Content-Length and Transfer-Encoding are ignored
    // (RFC 9110 section 9.3.6); what follows the blank line is the target's.
    Ok(Some(used))
}

/// The reason phrase of a scanned response head's status line (`HTTP/1.x 3DIGIT SP reason`): empty when
/// there is none or it is not UTF-8 (obs-text).
fn status_reason(head: &[u8]) -> &str {
    // The scanner skipped empty lines before the status line and checked the line itself.
    let start = head
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    let line = &head[start..];
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    let reason = line.get(13..end).unwrap_or_default();
    core::str::from_utf8(reason).map_or("", |reason| reason.trim_ascii())
}

/// The length of a complete SOCKS5 reply (RFC 1928 section 6) that reports success, `None` while partial.
fn socks5_reply_len(input: &[u8]) -> Result<Option<usize>, TunnelError> {
    match input.get(..2) {
        None => return Ok(None),
        Some(&[5, 0]) => {}
        Some(&[5, code]) => return Err(TunnelError::Socks5Refused(code)),
        Some(_) => return Err(TunnelError::Malformed),
    }
    let len = match input.get(2..4) {
        None => return Ok(None),
        Some(&[0, 1]) => 4 + 4 + 2,
        Some(&[0, 4]) => 4 + 16 + 2,
        Some(&[0, 3]) => match input.get(4) {
            None => return Ok(None),
            Some(&name) => 5 + usize::from(name) + 2,
        },
        Some(_) => return Err(TunnelError::Malformed),
    };
    Ok((input.len() >= len).then_some(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: Credentials<'static> = Credentials {
        user: "Aladdin",
        password: "open sesame",
    };

    fn sent(tunnel: &mut Tunnel<'_>) -> heapless::Vec<u8, 512> {
        let mut out = [0u8; 512];
        let n = tunnel.transmit(&mut out).unwrap();
        assert!(n <= tunnel.max_transmit_len());
        heapless::Vec::from_slice(&out[..n]).unwrap()
    }

    #[test]
    fn connect_names_the_target_with_basic_auth_and_brackets_ipv6() {
        let mut t = Tunnel::http_connect("example.com", 8443, Some(USER)).unwrap();
        // RFC 7617 section 2's example credentials.
        assert_eq!(
            sent(&mut t).as_slice(),
            b"CONNECT example.com:8443 HTTP/1.1\r\nHost: example.com:8443\r\n\
              Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
        );
        assert!(sent(&mut t).is_empty(), "nothing more until the answer");
        let mut t = Tunnel::http_connect("::1", 80, None).unwrap();
        assert_eq!(
            sent(&mut t).as_slice(),
            b"CONNECT [::1]:80 HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"
        );
        for len in [0, 1, 2, 4, 5] {
            let password = &"abcde"[..len];
            let mut t = Tunnel::http_connect(
                "h",
                1,
                Some(Credentials {
                    user: "u",
                    password,
                }),
            )
            .unwrap();
            let mut expected = [0u8; 12];
            let mut plain = [0u8; 7];
            plain[0] = b'u';
            plain[1] = b':';
            plain[2..2 + len].copy_from_slice(password.as_bytes());
            let n = STANDARD
                .encode_slice(&plain[..2 + len], &mut expected)
                .unwrap();
            let head = sent(&mut t);
            let head = core::str::from_utf8(&head).unwrap();
            let value = head.split("Basic ").nth(1).unwrap().split('\r').next();
            assert_eq!(value.unwrap().as_bytes(), &expected[..n]);
        }
    }

    #[test]
    fn connect_refuses_hosts_and_users_that_would_break_the_request() {
        for host in ["", "a b", "a\r\nX: y", "a/b", "u@h", "[::1]"] {
            assert_eq!(
                Tunnel::http_connect(host, 1, None).err(),
                Some(TunnelError::InvalidTarget),
                "{host:?}"
            );
        }
        let empty = Credentials {
            user: "",
            password: "p",
        };
        assert_eq!(
            Tunnel::http_connect("h", 1, Some(empty)).err(),
            Some(TunnelError::InvalidCredentials)
        );
        let mut small = [0u8; 10];
        let mut t = Tunnel::http_connect("example.com", 1, None).unwrap();
        assert_eq!(t.transmit(&mut small), Err(EncodeError::BufferTooSmall));
    }

    fn opened(reply: &[u8]) -> Result<Step, TunnelError> {
        let mut t = Tunnel::http_connect("h", 1, None).unwrap();
        sent(&mut t);
        for end in 0..reply.len() {
            assert_eq!(t.receive(&reply[..end]), Ok(Step::Partial), "{end}");
        }
        t.receive(reply)
    }

    #[test]
    fn connect_opens_on_2xx_and_reports_any_other_status_line() {
        assert_eq!(
            opened(b"HTTP/1.0 200 Connection established\r\n\r\n"),
            Ok(Step::Open)
        );
        assert_eq!(
            opened(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nVia: p\r\n\r\n"),
            Ok(Step::Open)
        );
        let refused = opened(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
        )
        .unwrap_err();
        assert_eq!(
            alloc_free_display(&refused).as_str(),
            "proxy refused CONNECT: 407 Proxy Authentication Required"
        );
        let long = b"HTTP/1.1 502 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        match opened(long) {
            Err(TunnelError::Refused(line)) => {
                assert_eq!((line.code, line.reason.len()), (502, 64))
            }
            other => panic!("{other:?}"),
        }
    }

    fn alloc_free_display(e: &TunnelError) -> heapless::String<128> {
        let mut s = heapless::String::new();
        fmt::write(&mut s, format_args!("{e}")).unwrap();
        s
    }

    #[test]
    fn connect_answers_that_are_not_http_or_too_long_or_followed_by_bytes_fail() {
        let mut t = Tunnel::http_connect("h", 1, None).unwrap();
        sent(&mut t);
        assert_eq!(
            t.receive(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(TunnelError::Malformed)
        );
        let mut t = Tunnel::http_connect("h", 1, None).unwrap();
        sent(&mut t);
        assert_eq!(
            t.receive(&[b'H'; DEFAULT_MAX_HEAD_LEN + 1]),
            Err(TunnelError::Malformed)
        );
        let mut big = [b'a'; DEFAULT_MAX_HEAD_LEN];
        big[..17].copy_from_slice(b"HTTP/1.1 200 OK\r\n");
        big[17..19].copy_from_slice(b"X:");
        let mut t = Tunnel::http_connect("h", 1, None).unwrap();
        sent(&mut t);
        assert_eq!(t.receive(&big), Err(TunnelError::TooLarge));
        let mut t = Tunnel::http_connect("h", 1, None).unwrap();
        sent(&mut t);
        assert_eq!(
            t.receive(b"HTTP/1.1 200 OK\r\n\r\nearly"),
            Err(TunnelError::UnexpectedBytes)
        );
    }

    #[test]
    fn socks5_without_auth_sends_a_name_for_the_proxy_to_resolve() {
        let mut t = Tunnel::socks5("example.com", 443, None).unwrap();
        assert_eq!(sent(&mut t).as_slice(), &[5, 1, 0]);
        assert_eq!(t.receive(&[5]), Ok(Step::Partial));
        assert_eq!(t.receive(&[5, 0]), Ok(Step::Next));
        let mut request = heapless::Vec::<u8, 64>::new();
        request.extend_from_slice(&[5, 1, 0, 3, 11]).unwrap();
        request.extend_from_slice(b"example.com").unwrap();
        request.extend_from_slice(&[1, 187]).unwrap();
        assert_eq!(sent(&mut t), request);
        let reply = [5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90];
        for end in 0..reply.len() {
            assert_eq!(t.receive(&reply[..end]), Ok(Step::Partial), "{end}");
        }
        assert_eq!(t.receive(&reply), Ok(Step::Open));
        assert!(t.is_open());
    }

    #[test]
    fn socks5_sends_ip_literals_as_addresses_and_reads_every_reply_address_type() {
        let mut t = Tunnel::socks5("10.0.0.1", 80, None).unwrap();
        sent(&mut t);
        t.receive(&[5, 0]).unwrap();
        assert_eq!(sent(&mut t).as_slice(), &[5, 1, 0, 1, 10, 0, 0, 1, 0, 80]);
        let mut reply = [0u8; 22];
        reply[..4].copy_from_slice(&[5, 0, 0, 4]);
        assert_eq!(t.receive(&reply[..21]), Ok(Step::Partial));
        assert_eq!(t.receive(&reply), Ok(Step::Open));

        let mut t = Tunnel::socks5("::1", 80, None).unwrap();
        sent(&mut t);
        t.receive(&[5, 0]).unwrap();
        let mut v6 = [0u8; 22];
        v6[..4].copy_from_slice(&[5, 1, 0, 4]);
        v6[19] = 1;
        v6[21] = 80;
        assert_eq!(sent(&mut t).as_slice(), &v6);
        let named = [5, 0, 0, 3, 1, b'x', 0, 1];
        assert_eq!(t.receive(&named[..7]), Ok(Step::Partial));
        assert_eq!(t.receive(&named), Ok(Step::Open));
    }

    #[test]
    fn socks5_with_credentials_authenticates_when_the_proxy_asks() {
        let mut t = Tunnel::socks5("h", 1, Some(USER)).unwrap();
        assert_eq!(sent(&mut t).as_slice(), &[5, 2, 0, 2]);
        assert_eq!(t.receive(&[5, 2]), Ok(Step::Next));
        let mut auth = heapless::Vec::<u8, 64>::new();
        auth.extend_from_slice(&[1, 7]).unwrap();
        auth.extend_from_slice(b"Aladdin").unwrap();
        auth.push(11).unwrap();
        auth.extend_from_slice(b"open sesame").unwrap();
        assert_eq!(sent(&mut t), auth);
        assert_eq!(t.receive(&[1, 0]), Ok(Step::Next));
        assert_eq!(sent(&mut t).as_slice(), &[5, 1, 0, 3, 1, b'h', 0, 1]);

        let mut t = Tunnel::socks5("h", 1, Some(USER)).unwrap();
        sent(&mut t);
        t.receive(&[5, 2]).unwrap();
        sent(&mut t);
        assert_eq!(
            t.receive(&[1, 1]),
            Err(TunnelError::AuthenticationFailed(1))
        );
    }

    #[test]
    fn socks5_refusals_and_broken_replies_are_reported() {
        let start = |credentials| {
            let mut t = Tunnel::socks5("h", 1, credentials).unwrap();
            sent(&mut t);
            t
        };
        assert_eq!(
            start(None).receive(&[5, 0xff]),
            Err(TunnelError::NoAcceptableMethod)
        );
        assert_eq!(start(None).receive(&[5, 2]), Err(TunnelError::Malformed));
        assert_eq!(start(None).receive(&[4, 0]), Err(TunnelError::Malformed));
        assert_eq!(
            start(None).receive(&[5, 0, 0]),
            Err(TunnelError::UnexpectedBytes)
        );
        let mut t = start(None);
        t.receive(&[5, 0]).unwrap();
        sent(&mut t);
        assert_eq!(
            t.clone().receive(&[5, 5, 0, 1]),
            Err(TunnelError::Socks5Refused(5))
        );
        assert_eq!(
            alloc_free_display(&TunnelError::Socks5Refused(5)).as_str(),
            "SOCKS5 proxy refused: connection refused (reply 5)"
        );
        assert_eq!(
            t.clone().receive(&[5, 0, 1, 1]),
            Err(TunnelError::Malformed)
        );
        assert_eq!(
            t.clone().receive(&[5, 0, 0, 2]),
            Err(TunnelError::Malformed)
        );
        let long = [b'a'; 256];
        let long = core::str::from_utf8(&long).unwrap();
        assert_eq!(
            Tunnel::socks5(long, 1, None).err(),
            Some(TunnelError::InvalidTarget)
        );
        let too_long = Credentials {
            user: "u",
            password: long,
        };
        assert_eq!(
            Tunnel::socks5("h", 1, Some(too_long)).err(),
            Some(TunnelError::InvalidCredentials)
        );
    }
}
