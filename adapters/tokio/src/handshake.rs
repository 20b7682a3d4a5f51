//! Opening handshakes over any stream: accept (with the application's decision) and connect.

use crate::{connect_tcp, Config, Error, Timeout, WebSocket};
use rill::handshake::owned::{respond, split_ws_url, ClientOptions, Decision, Refusal};
use rill::handshake::server::{parse_request, Request};
use rill::handshake::Parsed;
use rill::Role;
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
pub async fn accept_with<S, F>(
    mut stream: S,
    config: Config,
    decide: F,
) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request<'_>) -> Decision,
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
            let (response, outcome) = respond(&request, &decide(&request))?;
            stream.write_all(&response).await.map_err(Error::Io)?;
            stream.flush().await.map_err(Error::Io)?;
            return match outcome {
                Ok(protocol) => Ok((protocol, consumed)),
                Err(Refusal::Invalid(error)) => Err(Error::Request(error)),
                Err(Refusal::Rejected(status)) => Err(Error::Rejected(status)),
            };
        }
    };
    let (protocol, start) = tokio::time::timeout(config.handshake_timeout, handshake)
        .await
        .map_err(|_| Error::Timeout(Timeout::Handshake))??;
    Ok(WebSocket::new(
        stream,
        Role::Server,
        config,
        buf,
        start,
        protocol,
    ))
}

/// Connects to a `ws://host[:port][/path]` URL over TCP (with `TCP_NODELAY` as configured).
pub async fn connect(url: &str, config: Config) -> Result<WebSocket<TcpStream>, Error> {
    connect_with(url, &ClientOptions::default(), config).await
}

/// [`connect`] with subprotocols, Origin and extra headers.
pub async fn connect_with(
    url: &str,
    options: &ClientOptions,
    config: Config,
) -> Result<WebSocket<TcpStream>, Error> {
    let (authority, path) = split_ws_url(url).map_err(Error::InvalidUrl)?;
    let address = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let stream = tokio::time::timeout(
        config.handshake_timeout,
        connect_tcp(&address, config.nodelay),
    )
    .await
    .map_err(|_| Error::Timeout(Timeout::Handshake))?
    .map_err(Error::Io)?;
    client_handshake(stream, authority, path, options, config).await
}

/// Runs the client handshake over an already open stream (e.g. a TLS stream for `wss://`).
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    path: &str,
    options: &ClientOptions,
    config: Config,
) -> Result<WebSocket<S>, Error> {
    let mut key = [0u8; 16];
    getrandom::fill(&mut key).map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
    let mut buf = Vec::with_capacity(config.read_buffer.max(config.max_head_len));
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
                    return Ok::<_, Error>((value.protocol().map(String::from), consumed));
                }
            }
        }
    };
    let (protocol, start) = tokio::time::timeout(config.handshake_timeout, handshake)
        .await
        .map_err(|_| Error::Timeout(Timeout::Handshake))??;
    Ok(WebSocket::new(
        stream,
        Role::Client,
        config,
        buf,
        start,
        protocol,
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
