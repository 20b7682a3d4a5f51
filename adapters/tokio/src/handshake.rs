//! Opening handshakes over any stream: accept (with the application's decision, sync or async) and
//! connect (`ws://`, and `wss://` with TLS).

use crate::{connect_tcp, Config, Error, MaybeTlsStream, Timeout, WebSocket};
use rill_ws::deflate::DeflateParams;
use rill_ws::handshake::owned::{respond, split_ws_url, Agreed, ClientOptions, Decision, Refusal};
use rill_ws::handshake::server::{parse_request, Request};
use rill_ws::handshake::Parsed;
use rill_ws::Role;
use std::future::Future;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Accepts a WebSocket on an already connected stream, upgrading every valid request.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    config: Config,
) -> Result<WebSocket<S>, Error> {
    accept_with(stream, config, |_| Decision::accept()).await
}

/// Accepts a WebSocket after `decide` has seen the request (path, query, Origin, subprotocols, any header).
/// Invalid upgrade requests are answered with the matching HTTP error (400, 405, 426, 431, ...) and a reason.
pub async fn accept_with<S, F>(stream: S, config: Config, decide: F) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request<'_>) -> Decision,
{
    accept_deciding(stream, config, |request, _| {
        std::future::ready(decide(request))
    })
    .await
}

/// [`accept_with`] for a decision that needs to wait (a database, an auth service): `decide` gets the
/// request as owned data and returns a future. The whole handshake, decision included, must finish within
/// `config.handshake_timeout`; the connection is refused with nothing written if it does not.
///
/// ```no_run
/// # async fn f(stream: tokio::net::TcpStream) -> Result<(), rill_tokio::Error> {
/// use rill_tokio::{accept_with_async, Config, Decision, OwnedRequestInfo};
/// let ws = accept_with_async(stream, Config::default(), |request: OwnedRequestInfo| async move {
///     match request.header("authorization") {
///         Some(token) if token_is_valid(token).await => Decision::accept(),
///         _ => Decision::Reject { status: 401, reason: "who are you?".into() },
///     }
/// })
/// .await?;
/// # Ok(()) }
/// # async fn token_is_valid(_: &str) -> bool { true }
/// ```
pub async fn accept_with_async<S, F, Fut>(
    stream: S,
    config: Config,
    decide: F,
) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(OwnedRequestInfo) -> Fut,
    Fut: Future<Output = Decision>,
{
    accept_deciding(stream, config, |request, head| {
        decide(OwnedRequestInfo::new(request, head))
    })
    .await
}

/// The server handshake shared by the accept functions: `decide` gets the parsed request and its head bytes.
async fn accept_deciding<S, F, Fut>(
    mut stream: S,
    config: Config,
    decide: F,
) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request<'_>, &[u8]) -> Fut,
    Fut: Future<Output = Decision>,
{
    let mut buf = Vec::with_capacity(config.read_buffer.max(config.max_head_len));
    let handshake = async {
        loop {
            read_more(&mut stream, &mut buf).await?;
            let (request, consumed) = match parse_request(&buf, config.max_head_len) {
                Ok(Parsed::Partial) => continue,
                Ok(Parsed::Complete { value, consumed }) => (value, consumed),
                Err(error) => {
                    let mut out = [0u8; 512];
                    let len = error.encode_response(&mut out)?;
                    stream.write_all(&out[..len]).await.map_err(Error::Io)?;
                    return Err(Error::Request(error));
                }
            };
            let decision = decide(&request, &buf[..consumed]).await;
            let answer = respond(&request, &decision, config.deflate.as_ref())?;
            stream.write_all(&answer.bytes).await.map_err(Error::Io)?;
            stream.flush().await.map_err(Error::Io)?;
            return match answer.outcome {
                Ok(agreed) => Ok((agreed, consumed)),
                Err(Refusal::Invalid(error)) => Err(Error::Request(error)),
                Err(Refusal::Rejected(status)) => Err(Error::Rejected(status)),
            };
        }
    };
    let (Agreed { protocol, deflate }, start) =
        tokio::time::timeout(config.handshake_timeout, handshake)
            .await
            .map_err(|_| Error::Timeout(Timeout::Handshake))??;
    WebSocket::new(stream, Role::Server, config, buf, start, protocol, deflate)
}

/// An upgrade request as owned data, for decisions that outlive the read buffer ([`accept_with_async`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRequestInfo {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    protocols: Vec<String>,
    is_upgrade: bool,
}

impl OwnedRequestInfo {
    fn new(request: &Request<'_>, head: &[u8]) -> Self {
        let mut slots = [httparse::EMPTY_HEADER; rill_ws::handshake::MAX_HEADERS];
        let mut raw = httparse::Request::new(&mut slots);
        // The core parsed these same bytes already, so this parse succeeds; a header that is not UTF-8 is
        // kept lossily (the core's own accessors refuse such values).
        let _ = raw.parse(head);
        let headers = raw
            .headers
            .iter()
            .filter(|h| !h.name.is_empty())
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).trim().to_string(),
                )
            })
            .collect();
        OwnedRequestInfo {
            method: request.method().to_string(),
            target: request.target().to_string(),
            headers,
            protocols: request.protocols().map(String::from).collect(),
            is_upgrade: request.is_upgrade(),
        }
    }

    /// The request method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request target as sent: path and query.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path part of the target.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The query part of the target (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// Every header line, in order, names as sent.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Any header by name (case-insensitive): the first occurrence.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The `Host` header.
    pub fn host(&self) -> Option<&str> {
        self.header("host")
    }

    /// The `Origin` header, which browsers send: check it to refuse cross-site pages.
    pub fn origin(&self) -> Option<&str> {
        self.header("origin")
    }

    /// The subprotocols the client offers, in its order of preference.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// True when the client asks for a WebSocket (`Upgrade: websocket`); false for a plain HTTP request.
    pub fn is_upgrade(&self) -> bool {
        self.is_upgrade
    }
}

/// The server's `101 Switching Protocols` as a client saw it: the agreed subprotocol, the
/// permessage-deflate agreement and every header (cookies, a session id, a server's version...). Returned
/// by [`connect_with_response`] and [`client_handshake_with_response`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandshakeResponse {
    protocol: Option<String>,
    deflate: Option<DeflateParams>,
    headers: Vec<(String, String)>,
}

impl HandshakeResponse {
    pub(crate) fn new(protocol: Option<&str>, deflate: Option<DeflateParams>, head: &[u8]) -> Self {
        let mut slots = [httparse::EMPTY_HEADER; rill_ws::handshake::MAX_HEADERS];
        let mut raw = httparse::Response::new(&mut slots);
        // The core verified these same bytes already, so this parse succeeds.
        let _ = raw.parse(head);
        HandshakeResponse {
            protocol: protocol.map(String::from),
            deflate,
            headers: raw
                .headers
                .iter()
                .filter(|h| !h.name.is_empty())
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).trim().to_string(),
                    )
                })
                .collect(),
        }
    }

    /// The subprotocol the server chose, one of those offered.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The permessage-deflate agreement, or `None` when the server declined it or none was offered
    /// (`Config::deflate` is `None`).
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.deflate
    }

    /// Every header line of the response, in order, names as sent.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Any response header by name (case-insensitive): the first occurrence.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// The first header named `name` (case-insensitive) among `headers`.
fn find_header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Connects to a `ws://` or `wss://` URL (`host[:port][/path][?query]`). `wss://` needs feature
/// `rustls-webpki-roots` or `rustls-native-roots`: the server's certificate must chain to those roots and
/// carry the URL's host, which is also sent as SNI; ALPN offers `http/1.1`. TCP gets `TCP_NODELAY` as
/// configured; TCP, TLS and the WebSocket handshake each finish within `config.handshake_timeout`.
///
/// With a proxy ([`ClientOptions::proxy`], by default the one the environment names: `HTTPS_PROXY`,
/// `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, see docs/client.md) TCP goes to the proxy, which opens a tunnel
/// to the URL's host (HTTP `CONNECT` or SOCKS5) within `config.handshake_timeout`; TLS and the WebSocket
/// handshake then run through the tunnel with the URL's host, as without a proxy.
///
/// Failures tell their stage: a proxy's failure (its refusal with its status line, or its I/O) is an
/// [`Error::Io`] holding a [`crate::ProxyError`] (see [`crate::proxy_error`]), a TLS failure one holding
/// a `tls::TlsError` (see `tls::tls_error`), any other `Error::Io` is TCP, and
/// `Error::Response`/`Error::Rejected` are the WebSocket handshake.
pub async fn connect(url: &str, config: Config) -> Result<WebSocket<MaybeTlsStream>, Error> {
    connect_with(url, &ClientOptions::default(), config).await
}

/// [`connect`] with subprotocols, Origin and extra headers. The permessage-deflate offer is
/// `config.deflate`'s (it replaces `options.deflate`).
pub async fn connect_with(
    url: &str,
    options: &ClientOptions,
    config: Config,
) -> Result<WebSocket<MaybeTlsStream>, Error> {
    Ok(connect_with_response(url, options, config).await?.0)
}

/// [`connect_with`], also returning the server's response headers.
pub async fn connect_with_response(
    url: &str,
    options: &ClientOptions,
    config: Config,
) -> Result<(WebSocket<MaybeTlsStream>, HandshakeResponse), Error> {
    open(url, options, None, config).await
}

/// Connects to a `wss://` URL verifying the server with the caller's rustls config (private roots, client
/// certificates, pinned keys...). Set its `alpn_protocols` to `http/1.1` if the server insists on ALPN
/// (`tls::client_config` does). SNI and the name checked are the URL's host.
#[cfg(feature = "rustls")]
pub async fn connect_tls(
    url: &str,
    tls: std::sync::Arc<crate::tls::rustls::ClientConfig>,
    config: Config,
) -> Result<WebSocket<MaybeTlsStream>, Error> {
    Ok(
        connect_tls_with_response(url, &ClientOptions::default(), tls, config)
            .await?
            .0,
    )
}

/// [`connect_tls`] with subprotocols, Origin and extra headers, also returning the response headers.
#[cfg(feature = "rustls")]
pub async fn connect_tls_with_response(
    url: &str,
    options: &ClientOptions,
    tls: std::sync::Arc<crate::tls::rustls::ClientConfig>,
    config: Config,
) -> Result<(WebSocket<MaybeTlsStream>, HandshakeResponse), Error> {
    open(url, options, Some(tls), config).await
}

/// A client TLS config, present only with feature `rustls`.
#[cfg(feature = "rustls")]
pub(crate) type TlsConfig = std::sync::Arc<crate::tls::rustls::ClientConfig>;
/// Without feature `rustls` there is no TLS config to pass.
#[cfg(not(feature = "rustls"))]
pub(crate) type TlsConfig = std::convert::Infallible;

/// Opens TCP, then TLS for `wss://` (with `tls`, else the default roots), then the WebSocket.
async fn open(
    url: &str,
    options: &ClientOptions,
    tls: Option<TlsConfig>,
    config: Config,
) -> Result<(WebSocket<MaybeTlsStream>, HandshakeResponse), Error> {
    let target = Target::parse(url)?;
    if tls.is_some() && !target.secure {
        return Err(Error::InvalidUrl("connect_tls needs a wss:// URL"));
    }
    let (secure, host) = (target.secure, &target.host);
    let (authority, path) = (&target.authority, &target.path);
    let tcp = target.tcp_via(options, &config).await?;
    let stream = if secure {
        tls_stream(tcp, host, tls, &config).await?
    } else {
        MaybeTlsStream::Plain(tcp)
    };
    client_handshake_with_response(stream, authority, path, options, config).await
}

#[cfg(feature = "rustls")]
async fn tls_stream(
    tcp: TcpStream,
    host: &str,
    tls: Option<TlsConfig>,
    config: &Config,
) -> Result<MaybeTlsStream, Error> {
    let tls = match tls {
        Some(tls) => tls,
        None => crate::tls::default_client_config().map_err(Error::Io)?,
    };
    let stream = crate::tls::tls_connect(tcp, host, tls, config).await?;
    Ok(MaybeTlsStream::Rustls(Box::new(stream)))
}

#[cfg(not(feature = "rustls"))]
async fn tls_stream(
    _tcp: TcpStream,
    _host: &str,
    _tls: Option<TlsConfig>,
    _config: &Config,
) -> Result<MaybeTlsStream, Error> {
    Err(Error::InvalidUrl(
        "wss:// needs TLS: build rill-tokio with feature rustls-webpki-roots or rustls-native-roots",
    ))
}

/// Where a `ws://` or `wss://` URL points.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) secure: bool,
    /// The host without brackets: SNI and the name the certificate must carry.
    pub(crate) host: String,
    /// The port, the scheme's default when the URL has none.
    port: u16,
    /// The `Host` header's value: as written in the URL.
    pub(crate) authority: String,
    /// Path and query.
    pub(crate) path: String,
}

impl Target {
    /// A TCP connection to the target through the proxy `options` choose for it (a tunnel), or straight
    /// to it; within `config.handshake_timeout`.
    pub(crate) async fn tcp_via(
        &self,
        options: &ClientOptions,
        config: &Config,
    ) -> Result<TcpStream, Error> {
        let proxy = rill_net::proxy::choose(&options.proxy, self.secure, &self.host, self.port)
            .map_err(|e| Error::Io(e.into_io()))?;
        match proxy {
            Some(proxy) => crate::proxy::connect_via(&proxy, &self.host, self.port, config).await,
            None => self.tcp(config).await,
        }
    }

    /// A TCP connection to the target, within `config.handshake_timeout`.
    pub(crate) async fn tcp(&self, config: &Config) -> Result<TcpStream, Error> {
        let address = &self.address();
        tokio::time::timeout(
            config.handshake_timeout,
            connect_tcp(address, config.nodelay),
        )
        .await
        .map_err(|_| Error::Timeout(Timeout::Handshake))?
        .map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("TCP connect to {address} failed: {e}"),
            ))
        })
    }

    /// `host:port` to connect to (an IPv6 literal in brackets).
    fn address(&self) -> String {
        match self.host.contains(':') {
            true => format!("[{}]:{}", self.host, self.port),
            false => format!("{}:{}", self.host, self.port),
        }
    }

    pub(crate) fn parse(url: &str) -> Result<Target, Error> {
        let (secure, rest) = match url.split_once("://") {
            Some(("ws", rest)) => (false, rest),
            Some(("wss", rest)) => (true, rest),
            _ => {
                return Err(Error::InvalidUrl(
                    "expected ws:// or wss://host[:port][/path]",
                ))
            }
        };
        // The core splits ws:// URLs; a wss:// one follows the same rules after its scheme.
        let as_ws = format!("ws://{rest}");
        let (authority, path) = split_ws_url(&as_ws).map_err(Error::InvalidUrl)?;
        let (host, port) = split_authority(authority, if secure { 443 } else { 80 })?;
        Ok(Target {
            secure,
            host: host.to_string(),
            port,
            authority: authority.to_string(),
            path: path.to_string(),
        })
    }
}

/// Splits `host[:port]` (an IPv6 literal in brackets) into the host without brackets and the port.
fn split_authority(authority: &str, default_port: u16) -> Result<(&str, u16), Error> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or(Error::InvalidUrl("unclosed [ in the host"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(port) => port
            .parse()
            .map_err(|_| Error::InvalidUrl("invalid port"))?,
        None => default_port,
    };
    if host.is_empty() {
        return Err(Error::InvalidUrl("missing host"));
    }
    Ok((host, port))
}

/// Runs the client handshake over an already open stream (e.g. a TLS stream for `wss://`). The
/// permessage-deflate offer is `config.deflate`'s (it replaces `options.deflate`).
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    host: &str,
    path: &str,
    options: &ClientOptions,
    config: Config,
) -> Result<WebSocket<S>, Error> {
    Ok(
        client_handshake_with_response(stream, host, path, options, config)
            .await?
            .0,
    )
}

/// [`client_handshake`], also returning the server's response headers.
pub async fn client_handshake_with_response<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    path: &str,
    options: &ClientOptions,
    config: Config,
) -> Result<(WebSocket<S>, HandshakeResponse), Error> {
    let mut key = [0u8; 16];
    getrandom::fill(&mut key).map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
    let mut buf = Vec::with_capacity(config.read_buffer.max(config.max_head_len));
    let options = ClientOptions {
        deflate: config.deflate,
        ..options.clone()
    };
    let request = options.request(host, path, key)?;
    let handshake = async {
        stream.write_all(&request.head).await.map_err(Error::Io)?;
        stream.flush().await.map_err(Error::Io)?;
        loop {
            read_more(&mut stream, &mut buf).await?;
            match request
                .parse_response(&buf, config.max_head_len)
                .map_err(Error::Response)?
            {
                Parsed::Partial => continue,
                Parsed::Complete { value, consumed } => {
                    let response =
                        HandshakeResponse::new(value.protocol(), value.deflate(), &buf[..consumed]);
                    return Ok::<_, Error>((response, consumed));
                }
            }
        }
    };
    let (response, start) = tokio::time::timeout(config.handshake_timeout, handshake)
        .await
        .map_err(|_| Error::Timeout(Timeout::Handshake))??;
    let protocol = response.protocol.clone();
    let deflate = response.deflate;
    Ok((
        WebSocket::new(stream, Role::Client, config, buf, start, protocol, deflate)?,
        response,
    ))
}

/// Reads the next bytes of a handshake into `buf`'s spare capacity; the peer leaving mid-handshake is an
/// abnormal closure.
async fn read_more<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> Result<(), Error> {
    match stream.read_buf(buf).await.map_err(Error::Io)? {
        0 => Err(Error::AbnormalClosure),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    fn target(url: &str) -> (bool, String, String, String, String) {
        let t = Target::parse(url).unwrap();
        (t.secure, t.host.clone(), t.address(), t.authority, t.path)
    }

    #[test]
    fn ws_and_wss_urls_give_host_address_authority_and_path() {
        let s = String::from;
        assert_eq!(
            target("ws://127.0.0.1:9001"),
            (
                false,
                s("127.0.0.1"),
                s("127.0.0.1:9001"),
                s("127.0.0.1:9001"),
                s("/")
            )
        );
        assert_eq!(
            target("wss://example.com/chat?room=1"),
            (
                true,
                s("example.com"),
                s("example.com:443"),
                s("example.com"),
                s("/chat?room=1")
            )
        );
        assert_eq!(
            target("ws://example.com/"),
            (
                false,
                s("example.com"),
                s("example.com:80"),
                s("example.com"),
                s("/")
            )
        );
        assert_eq!(
            target("wss://[::1]:9443/x"),
            (true, s("::1"), s("[::1]:9443"), s("[::1]:9443"), s("/x"))
        );
        assert_eq!(
            target("wss://[::1]/"),
            (true, s("::1"), s("[::1]:443"), s("[::1]"), s("/"))
        );
        for bad in [
            "http://h/",
            "wss:///x",
            "wss://h?x",
            "wss://h:port/",
            "wss://[::1/",
            "ws://:80/",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
