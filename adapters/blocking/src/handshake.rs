//! Opening handshakes over any blocking stream, bounded by [`Config::handshake_timeout`] through the
//! stream's timeouts.

use crate::{Config, Error, Timeouts, WebSocket};
use rill_ws::handshake::owned::{respond, split_ws_url, ClientOptions, Decision, Refusal};
use rill_ws::handshake::server::{parse_request, Request};
use rill_ws::handshake::Parsed;
use rill_ws::{Role, Timeout};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant;

/// Accepts a WebSocket on a connected stream with default settings, upgrading every valid request.
pub fn accept<S: Read + Write + Timeouts>(stream: S) -> Result<WebSocket<S>, Error> {
    accept_with(stream, Config::default(), |_| Decision::accept())
}

/// Accepts a WebSocket once `decide` has seen the request (path, Origin, subprotocols, headers).
/// Invalid requests get rill's HTTP error (400, 405, 426, 431...) and are reported as
/// [`Error::Request`]; a decision other than accept as [`Error::Rejected`].
pub fn accept_with<S, F>(mut stream: S, config: Config, decide: F) -> Result<WebSocket<S>, Error>
where
    S: Read + Write + Timeouts,
    F: FnOnce(&Request<'_>) -> Decision,
{
    let deadline = Instant::now() + config.handshake_timeout;
    let mut buf = vec![0; config.read_buffer.max(config.max_head_len)];
    let mut len = 0;
    let (answer, consumed) = loop {
        len += read_some(&mut stream, &mut buf[len..], deadline)?;
        match parse_request(&buf[..len], config.max_head_len) {
            Ok(Parsed::Partial) => continue,
            Ok(Parsed::Complete { value, consumed }) => {
                let answer = respond(&value, &decide(&value), config.deflate.as_ref())?;
                break (answer, consumed);
            }
            Err(error) => {
                let mut out = [0u8; 512];
                let n = error.encode_response(&mut out)?;
                write_all(&mut stream, &out[..n], deadline)?;
                return Err(Error::Request(error));
            }
        }
    };
    write_all(&mut stream, &answer.bytes, deadline)?;
    match answer.outcome {
        Ok(agreed) => WebSocket::new(
            stream,
            Role::Server,
            config,
            buf,
            consumed..len,
            agreed.protocol,
            agreed.deflate,
        ),
        Err(Refusal::Invalid(error)) => Err(Error::Request(error)),
        Err(Refusal::Rejected(status)) => Err(Error::Rejected(status)),
    }
}

/// Connects to a `ws://host[:port][/path]` URL over TCP with default settings.
pub fn connect(url: &str) -> Result<WebSocket<TcpStream>, Error> {
    connect_with(url, &ClientOptions::default(), Config::default())
}

/// [`connect`] with subprotocols, Origin, extra headers and settings. For `wss://`, open the TLS
/// stream yourself and use [`client_handshake`].
///
/// With a proxy ([`ClientOptions::proxy`], by default the one the environment names: `HTTP_PROXY`,
/// `ALL_PROXY`, `NO_PROXY`, see docs/client.md) TCP goes to the proxy, which opens a tunnel to the URL's
/// host (HTTP `CONNECT` or SOCKS5) within `config.handshake_timeout`; a proxy's failure (its refusal with
/// its status line, or its I/O) is an [`Error::Io`] holding a [`crate::ProxyError`].
pub fn connect_with(
    url: &str,
    options: &ClientOptions,
    config: Config,
) -> Result<WebSocket<TcpStream>, Error> {
    let (authority, path) = split_ws_url(url).map_err(Error::InvalidUrl)?;
    let (host, port) = rill_net::proxy::split_host_port(authority)
        .ok_or(Error::InvalidUrl("invalid host or port"))?;
    let port = port.unwrap_or(80);
    let proxy = rill_net::proxy::choose(&options.proxy, false, host, port)
        .map_err(|e| Error::Io(e.into_io()))?;
    if let Some(proxy) = proxy {
        let stream = crate::proxy::connect_via(&proxy, host, port, &config)?;
        return client_handshake(stream, authority, path, options, config);
    }
    // `[::1]` has colons but no port.
    let port = authority
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok());
    let address = match port {
        Some(_) => authority.to_string(),
        None => format!("{authority}:80"),
    };
    let mut failure = io::Error::new(ErrorKind::NotFound, "the host has no address");
    for addr in address.to_socket_addrs().map_err(Error::Io)? {
        match TcpStream::connect_timeout(&addr, config.handshake_timeout) {
            Ok(stream) => {
                stream.set_nodelay(config.nodelay).map_err(Error::Io)?;
                return client_handshake(stream, authority, path, options, config);
            }
            Err(error) => failure = error,
        }
    }
    Err(Error::Io(failure))
}

/// Runs the client handshake over an open stream (e.g. a TLS stream); `host` is the `Host` header. The
/// permessage-deflate offer is `config.deflate`'s (it replaces `options.deflate`).
pub fn client_handshake<S: Read + Write + Timeouts>(
    mut stream: S,
    host: &str,
    path: &str,
    options: &ClientOptions,
    config: Config,
) -> Result<WebSocket<S>, Error> {
    let deadline = Instant::now() + config.handshake_timeout;
    let mut key = [0u8; 16];
    getrandom::fill(&mut key).map_err(|e| Error::Io(io::Error::other(e.to_string())))?;
    let options = ClientOptions {
        deflate: config.deflate,
        ..options.clone()
    };
    let request = options.request(host, path, key)?;
    write_all(&mut stream, &request.head, deadline)?;
    let mut buf = vec![0; config.read_buffer.max(config.max_head_len)];
    let mut len = 0;
    loop {
        len += read_some(&mut stream, &mut buf[len..], deadline)?;
        let parsed = request.parse_response(&buf[..len], config.max_head_len);
        if let Parsed::Complete { value, consumed } = parsed.map_err(Error::Response)? {
            let protocol = value.protocol().map(String::from);
            let deflate = value.deflate();
            return WebSocket::new(
                stream,
                Role::Client,
                config,
                buf,
                consumed..len,
                protocol,
                deflate,
            );
        }
    }
}

/// Reads the next bytes of a handshake; the peer leaving mid-handshake is an abnormal closure.
pub(crate) fn read_some<S: Read + Timeouts>(
    stream: &mut S,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<usize, Error> {
    loop {
        stream
            .set_read_timeout(Some(remaining(deadline)?))
            .map_err(Error::Io)?;
        match stream.read(buf) {
            Ok(0) => return Err(Error::AbnormalClosure),
            Ok(n) => return Ok(n),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(timed_out(error)),
        }
    }
}

/// Writes and flushes `bytes` before `deadline`.
pub(crate) fn write_all<S: Write + Timeouts>(
    stream: &mut S,
    bytes: &[u8],
    deadline: Instant,
) -> Result<(), Error> {
    stream
        .set_write_timeout(Some(remaining(deadline)?))
        .map_err(Error::Io)?;
    stream
        .write_all(bytes)
        .and_then(|()| stream.flush())
        .map_err(timed_out)
}

fn remaining(deadline: Instant) -> Result<std::time::Duration, Error> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero())
        .then_some(left)
        .ok_or(Error::Timeout(Timeout::Handshake))
}

fn timed_out(error: io::Error) -> Error {
    match error.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Error::Timeout(Timeout::Handshake),
        _ => Error::Io(error),
    }
}
