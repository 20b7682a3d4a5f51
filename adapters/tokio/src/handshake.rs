//! Opening handshakes over any stream: accept (with the application's decision) and connect.

use crate::{connect_tcp, Config, Error, Timeout, WebSocket};
use rill::handshake::client::{parse_response, ClientRequest};
use rill::handshake::server::{answer, parse_request, Answered, Decision as CoreDecision, Request};
use rill::handshake::Parsed;
use rill::Role;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the application answers to an HTTP request arriving on the WebSocket port.
#[derive(Clone, Debug)]
pub enum Decision {
    /// Upgrade, optionally choosing one of the offered subprotocols and adding response headers.
    Accept {
        /// The subprotocol to use; must be one the client offered.
        protocol: Option<String>,
        /// Extra response headers.
        headers: Vec<(String, String)>,
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
    /// Accept with no subprotocol and no extra headers.
    pub fn accept() -> Decision {
        Decision::Accept {
            protocol: None,
            headers: Vec::new(),
        }
    }
}

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
            let (response, outcome) = respond(&request, decide(&request))?;
            stream.write_all(&response).await.map_err(Error::Io)?;
            stream.flush().await.map_err(Error::Io)?;
            return outcome.map(|protocol| (protocol, consumed, buf.len()));
        }
    };
    let (protocol, start, end) = tokio::time::timeout(config.handshake_timeout, handshake)
        .await
        .map_err(|_| Error::Timeout(Timeout::Handshake))??;
    Ok(WebSocket::new(
        stream,
        Role::Server,
        config,
        buf,
        (start, end),
        protocol,
    ))
}

/// The HTTP response to write, then either the agreed subprotocol or why there is no WebSocket.
type Answer = (Vec<u8>, Result<Option<String>, Error>);

/// Encodes the answer to `decision` (the core decides what it means).
fn respond(request: &Request<'_>, decision: Decision) -> Result<Answer, Error> {
    let (headers, protocol) = match &decision {
        Decision::Accept { protocol, headers } => (headers.as_slice(), protocol.clone()),
        _ => (&[][..], None),
    };
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let borrowed = match &decision {
        Decision::Accept { protocol, .. } => CoreDecision::Accept {
            protocol: protocol.as_deref(),
            headers: &pairs,
        },
        Decision::Reject { status, reason } => CoreDecision::Reject {
            status: *status,
            reason,
        },
        Decision::Respond {
            status,
            content_type,
            body,
        } => CoreDecision::Respond {
            status: *status,
            content_type,
            body,
        },
    };
    let extra = headers_len(&pairs);
    // The head's variable parts: a rejection's reason, a page's media type (its body is appended after).
    let variable = match &decision {
        Decision::Reject { reason, .. } => reason.len(),
        Decision::Respond { content_type, .. } => content_type.len(),
        Decision::Accept { .. } => 0,
    };
    let mut out = vec![0u8; 512 + extra + variable];
    let answer = answer(request, &borrowed, &mut out)?;
    out.truncate(answer.head_len);
    out.extend_from_slice(answer.body);
    let outcome = match answer.outcome {
        Answered::Upgraded => Ok(protocol),
        Answered::Refused(error) => Err(Error::Request(error)),
        Answered::Rejected(status) => Err(Error::Rejected(status)),
    };
    Ok((out, outcome))
}

/// What a client asks for beyond host and path.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Subprotocols to offer, in order of preference.
    pub protocols: Vec<String>,
    /// An `Origin` header to send.
    pub origin: Option<String>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
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
    let (authority, path) = parse_ws_url(url)?;
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
    let protocols: Vec<&str> = options.protocols.iter().map(String::as_str).collect();
    let headers: Vec<(&str, &str)> = options
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let request = ClientRequest {
        host,
        path,
        key,
        protocols: &protocols,
        origin: options.origin.as_deref(),
        headers: &headers,
    };
    let offered: usize = protocols.iter().map(|p| p.len() + 2).sum();
    let origin = options.origin.as_deref().map_or(0, str::len);
    let mut head =
        vec![0u8; 256 + host.len() + path.len() + offered + origin + headers_len(&headers)];
    let len = request.encode(&mut head)?;
    let mut buf = Vec::with_capacity(config.read_buffer.max(config.max_head_len));
    let handshake = async {
        stream.write_all(&head[..len]).await.map_err(Error::Io)?;
        stream.flush().await.map_err(Error::Io)?;
        loop {
            read_more(&mut stream, &mut buf).await?;
            match parse_response(&buf, &request, config.max_head_len).map_err(Error::Response)? {
                Parsed::Partial => continue,
                Parsed::Complete { value, consumed } => {
                    return Ok::<_, Error>((
                        value.protocol().map(String::from),
                        consumed,
                        buf.len(),
                    ));
                }
            }
        }
    };
    let (protocol, start, end) = tokio::time::timeout(config.handshake_timeout, handshake)
        .await
        .map_err(|_| Error::Timeout(Timeout::Handshake))??;
    Ok(WebSocket::new(
        stream,
        Role::Client,
        config,
        buf,
        (start, end),
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

/// Bytes the header lines `headers` take on the wire.
fn headers_len(headers: &[(&str, &str)]) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.len() + value.len() + 4)
        .sum()
}

/// Splits `ws://authority/path` into the authority (the `Host` value) and the path with query.
fn parse_ws_url(url: &str) -> Result<(&str, &str), Error> {
    let rest = match url.split_once("://") {
        Some(("ws", rest)) => rest,
        Some(("wss", _)) => {
            return Err(Error::InvalidUrl(
                "wss:// needs TLS: open a TLS stream and use client_handshake",
            ))
        }
        _ => return Err(Error::InvalidUrl("expected ws://host[:port][/path]")),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => rest.split_at(i),
        Some(_) => return Err(Error::InvalidUrl("a query needs a path: ws://host/?query")),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(Error::InvalidUrl("missing host"));
    }
    Ok((authority, path))
}

#[cfg(test)]
mod tests {
    use super::parse_ws_url;

    #[test]
    fn ws_urls_split_into_host_and_path() {
        assert_eq!(
            parse_ws_url("ws://127.0.0.1:9001").unwrap(),
            ("127.0.0.1:9001", "/")
        );
        assert_eq!(
            parse_ws_url("ws://h/runCase?case=1&agent=rill").unwrap(),
            ("h", "/runCase?case=1&agent=rill")
        );
        assert!(parse_ws_url("wss://h/").is_err());
        assert!(parse_ws_url("http://h/").is_err());
        assert!(parse_ws_url("ws:///x").is_err());
    }
}
