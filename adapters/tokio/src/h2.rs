//! WebSockets over HTTP/2 as a client (RFC 8441; feature `hyper`): an [`H2Connection`] is one HTTP/2
//! connection to a server that advertised `SETTINGS_ENABLE_CONNECT_PROTOCOL`, and each
//! [`H2Connection::open`] is a new WebSocket on a new stream of it (an extended CONNECT with `:protocol
//! websocket`, answered `200`), so many sockets share one TCP (and TLS) connection. [`connect`] asks for
//! HTTP/2 where the server offers it and falls back to an HTTP/1.1 upgrade where it does not.
//!
//! The request is the one rill's HTTP/1.1 client writes (`Sec-WebSocket-Version`, subprotocols, the
//! permessage-deflate offer, `Origin`, extra headers) without the fields HTTP/2 has no use for, and the
//! answer is checked by the same rules (a subprotocol or extension the client did not offer fails it).
//!
//! Flow control is h2's: a stream's receive window is `config.max_read_buffer` (at least 64 KiB) and the
//! connection's sixteen times that, released only as the socket reads; a reader that stops stops its
//! sender once the window is full, and the bytes held for it stay bounded. A stream reset fails that
//! socket only. Every wait (TCP, TLS, the HTTP/2 preface and settings, each request) is bounded by
//! `config.handshake_timeout`. See docs/http2.md.

use crate::handshake::{Target, TlsConfig};
use crate::{ClientOptions, Config, Error, HandshakeResponse, Timeout, WebSocket};
use bytes::Bytes;
use h2::client::SendRequest;
use h2::{Ping, RecvStream, SendStream};
use rill_ws::handshake::{accept_key, Parsed};
use rill_ws::Role;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A WebSocket on an HTTP/2 stream.
pub type H2WebSocket = WebSocket<H2Stream>;

/// One HTTP/2 connection on which WebSockets are opened, each on its own stream. Cloning it shares the
/// connection; it closes when the last clone and the last socket on it are dropped.
#[derive(Clone, Debug)]
pub struct H2Connection {
    send: SendRequest<Bytes>,
    authority: String,
    secure: bool,
    config: Config,
}

impl H2Connection {
    /// Connects to the host of a `ws://` URL with HTTP/2 prior knowledge (h2c, `tls` is `None`), or of a
    /// `wss://` URL with TLS verified by `tls` (feature `rustls`; e.g. `tls::default_client_config()`),
    /// whose ALPN is set to `h2` alone. The URL's path is not used: give each socket's to
    /// [`H2Connection::open`]. Fails with an [`io::ErrorKind::Unsupported`] error when the server does
    /// not choose `h2` or does not enable extended CONNECT.
    pub async fn connect(
        url: &str,
        tls: Option<TlsConfig>,
        config: Config,
    ) -> Result<H2Connection, Error> {
        let target = Target::parse(url)?;
        if target.secure != tls.is_some() {
            return Err(Error::InvalidUrl(
                "a wss:// URL needs a TLS config, a ws:// URL none",
            ));
        }
        let tcp = target.tcp(&config).await?;
        match tls {
            None => H2Connection::handshake(tcp, &target.authority, false, config).await,
            #[cfg(feature = "rustls")]
            Some(tls) => {
                let tls = tls_with_alpn(tcp, &target.host, &tls, &[b"h2"], &config).await?;
                if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                    return Err(unsupported("the server did not choose h2 in ALPN"));
                }
                H2Connection::handshake(tls, &target.authority, true, config).await
            }
            #[cfg(not(feature = "rustls"))]
            Some(never) => match never {},
        }
    }

    /// Starts HTTP/2 over `stream` (TLS that chose ALPN `h2`, or TCP with prior knowledge) to the server
    /// named `authority` (`host[:port]`, the requests' `:authority`), `secure` for the `https` scheme.
    /// The connection runs in a tokio task. Waits for the server's settings (a ping's answer comes after
    /// them) and fails with an [`io::ErrorKind::Unsupported`] error when they do not enable extended
    /// CONNECT.
    pub async fn handshake<S>(
        stream: S,
        authority: &str,
        secure: bool,
        config: Config,
    ) -> Result<H2Connection, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let window = stream_window(&config);
        let started = async {
            let (send, mut connection) = h2::client::Builder::new()
                .initial_window_size(window)
                .initial_connection_window_size(window.saturating_mul(16))
                .handshake::<_, Bytes>(stream)
                .await
                .map_err(h2_error)?;
            // Taken once, here, from a connection just made: always there.
            let mut ping = connection
                .ping_pong()
                .ok_or_else(|| Error::Io(io::Error::other("h2 gave no ping handle")))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            // The server's SETTINGS is its first frame: once the ping is answered, it has been read.
            ping.ping(Ping::opaque()).await.map_err(h2_error)?;
            Ok::<_, Error>(send)
        };
        let send = tokio::time::timeout(config.handshake_timeout, started)
            .await
            .map_err(|_| Error::Timeout(Timeout::Handshake))??;
        if !send.is_extended_connect_protocol_enabled() {
            return Err(unsupported(
                "the server does not enable extended CONNECT (RFC 8441)",
            ));
        }
        Ok(H2Connection {
            send,
            authority: authority.to_string(),
            secure,
            config,
        })
    }

    /// Opens a WebSocket on a new stream: an extended CONNECT to `path` (with its query) carrying what
    /// `options` asks for (the permessage-deflate offer is the connection's `config.deflate`), and the
    /// server's answer checked as an HTTP/1.1 client checks its `101`. A refusal is
    /// [`Error::Rejected`] with the status.
    pub async fn open(
        &self,
        path: &str,
        options: &ClientOptions,
    ) -> Result<(H2WebSocket, HandshakeResponse), Error> {
        let config = self.config;
        let options = ClientOptions {
            deflate: config.deflate,
            ..options.clone()
        };
        let mut key = [0u8; 16];
        getrandom::fill(&mut key).map_err(|e| Error::Io(io::Error::other(e.to_string())))?;
        // The HTTP/1.1 request rill would send, whose fields (but those of the upgrade) go as they are.
        let upgrade = options.request(&self.authority, path, key)?;
        let (request, sent_key) = extended_connect(&upgrade.head, self.secure)?;
        let exchange = async {
            let mut send = self.send.clone().ready().await.map_err(h2_error)?;
            let (response, stream) = send.send_request(request, false).map_err(h2_error)?;
            let response = response.await.map_err(h2_error)?;
            Ok::<_, Error>((response, stream))
        };
        let (response, send) = tokio::time::timeout(config.handshake_timeout, exchange)
            .await
            .map_err(|_| Error::Timeout(Timeout::Handshake))??;
        if response.status() != http::StatusCode::OK {
            return Err(Error::Rejected(response.status().as_u16()));
        }
        // The answer as the `101` it stands for, checked by the core's rules.
        let mut head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Accept: "
            .to_vec();
        head.extend_from_slice(&accept_key(sent_key.as_bytes()));
        head.extend_from_slice(b"\r\n");
        for (name, value) in response.headers() {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        let checked = match upgrade
            .parse_response(&head, usize::MAX)
            .map_err(Error::Response)?
        {
            Parsed::Complete { value, .. } => {
                HandshakeResponse::new(value.protocol(), value.deflate(), &head)
            }
            Parsed::Partial => unreachable!("the head ends with a blank line"),
        };
        let stream = H2Stream {
            send,
            recv: response.into_body(),
            pending: Bytes::new(),
        };
        let buf = Vec::with_capacity(config.read_buffer);
        let ws = WebSocket::new(
            stream,
            Role::Client,
            config,
            buf,
            0,
            checked.protocol().map(String::from),
            checked.deflate(),
        )?;
        Ok((ws, checked))
    }
}

/// A WebSocket to `url` over HTTP/2 where the server offers it, else over HTTP/1.1 ([`connect`]).
#[cfg(feature = "rustls")]
pub enum Connected {
    /// ALPN chose `h2` and the server enables extended CONNECT: the socket is a stream of its own
    /// HTTP/2 connection.
    Http2(H2WebSocket, HandshakeResponse),
    /// The server chose HTTP/1.1 in ALPN or does not enable extended CONNECT: an HTTP/1.1 upgrade.
    Http1(WebSocket<crate::MaybeTlsStream>, HandshakeResponse),
}

/// Connects to a `wss://` URL verified by `tls` (its ALPN set to `h2`, `http/1.1`): over HTTP/2 (RFC
/// 8441) when the server chooses `h2` and enables extended CONNECT, else with an HTTP/1.1 upgrade, on
/// the same TLS connection when ALPN chose `http/1.1` and on a new one when the server's HTTP/2 has no
/// extended CONNECT. Through the proxy `options` name, like [`crate::connect_with`] (the tunnel carries
/// TLS, then HTTP/2 or HTTP/1.1). Each step is bounded by `config.handshake_timeout`.
#[cfg(feature = "rustls")]
pub async fn connect(
    url: &str,
    options: &ClientOptions,
    tls: TlsConfig,
    config: Config,
) -> Result<Connected, Error> {
    let target = Target::parse(url)?;
    if !target.secure {
        return Err(Error::InvalidUrl("h2::connect needs a wss:// URL"));
    }
    let tcp = target.tcp_via(options, &config).await?;
    let mut stream = tls_with_alpn(tcp, &target.host, &tls, &[b"h2", b"http/1.1"], &config).await?;
    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        match H2Connection::handshake(stream, &target.authority, true, config).await {
            Ok(connection) => {
                let (ws, response) = connection.open(&target.path, options).await?;
                return Ok(Connected::Http2(ws, response));
            }
            Err(Error::Io(error)) if error.kind() == io::ErrorKind::Unsupported => {
                let tcp = target.tcp_via(options, &config).await?;
                stream = tls_with_alpn(tcp, &target.host, &tls, &[b"http/1.1"], &config).await?;
            }
            Err(error) => return Err(error),
        }
    }
    let stream = crate::MaybeTlsStream::Rustls(Box::new(stream));
    let (ws, response) = crate::client_handshake_with_response(
        stream,
        &target.authority,
        &target.path,
        options,
        config,
    )
    .await?;
    Ok(Connected::Http1(ws, response))
}

/// TLS over `tcp` to `host`, verified by `tls` with its ALPN set to `alpn`.
#[cfg(feature = "rustls")]
async fn tls_with_alpn(
    tcp: tokio::net::TcpStream,
    host: &str,
    tls: &TlsConfig,
    alpn: &[&[u8]],
    config: &Config,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, Error> {
    let mut tls = tls.as_ref().clone();
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    crate::tls::tls_connect(tcp, host, std::sync::Arc::new(tls), config).await
}

/// The receive window of one stream: the most a socket's unread input can hold in h2's buffers.
fn stream_window(config: &Config) -> u32 {
    u32::try_from(config.max_read_buffer.max(65_535)).unwrap_or(1 << 30)
}

fn unsupported(why: &'static str) -> Error {
    Error::Io(io::Error::new(io::ErrorKind::Unsupported, why))
}

fn h2_error(error: h2::Error) -> Error {
    Error::Io(h2_io_error(error))
}

fn h2_io_error(error: h2::Error) -> io::Error {
    if error.is_io() {
        return error
            .into_io()
            .unwrap_or_else(|| io::Error::other("h2 I/O error"));
    }
    io::Error::other(error)
}

/// The extended CONNECT standing for the HTTP/1.1 upgrade request `head` (which rill encoded): its target
/// as `:path`, `Host` as `:authority`, `:protocol websocket`, and every other field but those of the
/// upgrade (`Upgrade`, `Connection`, `Sec-WebSocket-Key`); and the key, which the answer is checked
/// against as if it had been sent.
fn extended_connect(head: &[u8], secure: bool) -> Result<(http::Request<()>, String), Error> {
    let mut slots = [httparse::EMPTY_HEADER; rill_ws::handshake::MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    let malformed = || Error::InvalidUrl("the request does not fit an HTTP/2 request");
    parsed.parse(head).map_err(|_| malformed())?;
    let (mut authority, mut key) = ("", String::new());
    let mut request = http::Request::builder().method(http::Method::CONNECT);
    for header in parsed.headers.iter() {
        let name = header.name.to_ascii_lowercase();
        match name.as_str() {
            "host" => authority = std::str::from_utf8(header.value).map_err(|_| malformed())?,
            "sec-websocket-key" => key = String::from_utf8_lossy(header.value).into_owned(),
            "upgrade" | "connection" => {}
            _ => request = request.header(name, header.value),
        }
    }
    let uri = http::Uri::builder()
        .scheme(if secure { "https" } else { "http" })
        .authority(authority)
        .path_and_query(parsed.path.unwrap_or("/"))
        .build()
        .map_err(|_| malformed())?;
    let request = request
        .uri(uri)
        .extension(h2::ext::Protocol::from_static("websocket"))
        .body(())
        .map_err(|_| malformed())?;
    Ok((request, key))
}

/// One HTTP/2 stream as a byte stream: what the WebSocket reads is released to the peer's window as it
/// is read, and a write sends at most what the window allows (the rest waits for the peer to read).
/// Dropped before the stream ended, h2 resets the stream (`CANCEL`), which frees its window.
pub struct H2Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// Received bytes not yet read.
    pending: Bytes,
}

impl std::fmt::Debug for H2Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Stream")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl AsyncRead for H2Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.pending.is_empty() {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => this.pending = data,
                // The peer ended the stream (or reset it with no error): the end of the bytes.
                None => return Poll::Ready(Ok(())),
                Some(Err(error)) if error.reason() == Some(h2::Reason::NO_ERROR) => {
                    return Poll::Ready(Ok(()))
                }
                Some(Err(error)) => return Poll::Ready(Err(h2_io_error(error))),
            }
        }
        let n = this.pending.len().min(buf.remaining());
        buf.put_slice(&this.pending.split_to(n));
        let _ = this.recv.flow_control().release_capacity(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = self.get_mut();
        this.send.reserve_capacity(buf.len());
        while this.send.capacity() == 0 {
            match ready!(this.send.poll_capacity(cx)) {
                Some(Ok(_)) => {}
                Some(Err(error)) => return Poll::Ready(Err(h2_io_error(error))),
                None => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            }
        }
        let n = this.send.capacity().min(buf.len());
        this.send
            .send_data(Bytes::copy_from_slice(&buf[..n]), false)
            .map_err(h2_io_error)?;
        Poll::Ready(Ok(n))
    }

    /// h2 sends what it was given as its connection task runs: nothing is held here.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Ends the stream (`END_STREAM`), as closing a TCP connection's write side would.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.send.reserve_capacity(0);
        Poll::Ready(this.send.send_data(Bytes::new(), true).map_err(h2_io_error))
    }
}
