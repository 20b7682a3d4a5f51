//! A WebSocket client on `rill_embassy::connect`: what a board does to talk to a server (host-tap's `--client`
//! mode and the in-process test run it against echo servers).
//!
//! [`exchange`] connects, sends a text message and a binary message larger than every buffer (generated and
//! checked on the fly, so it costs no RAM), expects both echoed, measures a ping's round trip and closes with 1000.
//! With feature `tls`, [`crate::tls::exchange_tls`] runs the same exchange over TLS 1.3 (`wss://`).

use embassy_futures::join::join;
use embassy_net::tcp::{self, TcpSocket};
use embassy_net::{IpEndpoint, Stack};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_time::Duration;

use embedded_io_async::{ErrorType, Read, Write};
use rill_embassy::{ClientRequest, CloseCode, Config, Error, Message, MessageKind, Reader, Writer};

/// The text message [`exchange`] sends first.
pub const HELLO: &str = "hello from rill-embassy";
/// Size of the binary message [`exchange`] sends: far larger than the socket and rill buffers.
pub const BIG_LEN: usize = 64 * 1024;
/// The close reason [`exchange`] sends with code 1000.
pub const BYE: &str = "bye";

/// Byte `i` of the binary message: `(i * 7) % 251`, a pattern that does not repeat at any power of two.
pub fn pattern(i: usize) -> u8 {
    ((i * 7) % 251) as u8
}

/// Why [`exchange`] failed.
#[derive(Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClientError {
    /// The TCP connection could not be opened.
    Connect(tcp::ConnectError),
    /// The WebSocket failed.
    Ws(Error<tcp::Error>),
    /// The TLS handshake failed (an untrusted or misnamed certificate is `TlsError::InvalidCertificate`).
    #[cfg(feature = "tls")]
    Tls(embedded_tls::TlsError),
    /// The WebSocket over TLS failed.
    #[cfg(feature = "tls")]
    WsTls(Error<embedded_tls::TlsError>),
    /// The server answered something else than expected.
    Unexpected(&'static str),
}

impl From<Error<tcp::Error>> for ClientError {
    fn from(e: Error<tcp::Error>) -> Self {
        ClientError::Ws(e)
    }
}

#[cfg(feature = "tls")]
impl From<Error<embedded_tls::TlsError>> for ClientError {
    fn from(e: Error<embedded_tls::TlsError>) -> Self {
        ClientError::WsTls(e)
    }
}

/// What a successful [`exchange`] measured.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Round-trip time of one ping.
    pub ping_rtt: core::time::Duration,
    /// Bytes echoed back and checked (text and binary).
    pub echoed: usize,
}

/// Socket buffers of the client's TCP connection: its receive window and transmit buffer.
pub const SOCKET_BUF: usize = 2048;
/// rill's read and write buffers of the client (the handshake response and frames stream through them).
pub const WS_BUF: usize = 1024;

/// Connects to `ws://{host}{path}` at `remote` and runs the exchange described in the module docs. `seed` seeds
/// the handshake key; `mask_seed` keys the masking keys and must be 32 fresh bytes from the board's hardware
/// RNG (see `rill_embassy::connect`).
pub async fn exchange(
    stack: Stack<'_>,
    remote: IpEndpoint,
    host: &str,
    path: &str,
    seed: u64,
    mask_seed: [u8; 32],
) -> Result<Summary, ClientError> {
    let mut rx = [0u8; SOCKET_BUF];
    let mut tx = [0u8; SOCKET_BUF];
    let (mut read_buf, mut write_buf, mut message_buf) = ([0u8; WS_BUF], [0u8; WS_BUF], [0u8; 64]);
    let mut socket = open(stack, remote, &mut rx, &mut tx).await?;
    let request = request(host, path, seed);
    let config = crate::ws::CLIENT_CONFIG;
    let (rx, tx) = socket.split();
    let buffers = (&mut read_buf[..], &mut write_buf[..], &mut message_buf[..]);
    let result = connect_and_talk(rx, tx, &request, buffers, &config, mask_seed).await;
    // After the close handshake (or a failure) end TCP gracefully, bounded.
    crate::net::close(&mut socket).await;
    result
}

/// Opens the client's TCP connection to `remote` over the lent socket buffers: Nagle off, 10 s socket timeout.
pub(crate) async fn open<'a>(
    stack: Stack<'a>,
    remote: IpEndpoint,
    rx: &'a mut [u8],
    tx: &'a mut [u8],
) -> Result<TcpSocket<'a>, ClientError> {
    let mut socket = TcpSocket::new(stack, rx, tx);
    socket.set_timeout(Some(Duration::from_secs(10)));
    socket.set_nagle_enabled(false);
    socket.connect(remote).await.map_err(ClientError::Connect)?;
    info!("client: connected to {:?}", remote);
    Ok(socket)
}

/// The opening request: `Sec-WebSocket-Key` derived from `seed`, no subprotocols or extra headers.
pub(crate) fn request<'a>(host: &'a str, path: &'a str, seed: u64) -> ClientRequest<'a> {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..].copy_from_slice(&seed.rotate_left(29).to_be_bytes());
    ClientRequest {
        host,
        path,
        key,
        protocols: &[],
        origin: None,
        headers: &[],
        deflate: None,
    }
}

/// The WebSocket handshake on `rx`/`tx` (plain TCP or TLS), then [`talk`]. `buffers` are rill's read and
/// write buffers and the reassembly buffer for whole messages.
pub(crate) async fn connect_and_talk<R, W>(
    rx: R,
    tx: W,
    request: &ClientRequest<'_>,
    buffers: (&mut [u8], &mut [u8], &mut [u8]),
    config: &Config,
    mask_seed: [u8; 32],
) -> Result<Summary, ClientError>
where
    W: Write,
    R: Read + ErrorType<Error = W::Error>,
    ClientError: From<Error<W::Error>>,
{
    let (read_buf, write_buf, message_buf) = buffers;
    // Both halves run in this task: no locking needed between them.
    let mut shared = None;
    let connected = rill_embassy::connect(
        rx,
        tx,
        request,
        read_buf,
        write_buf,
        &mut shared,
        config,
        mask_seed,
    );
    let (reader, mut writer) = connected.await?;
    let mut reader = reader.reassembling(message_buf);
    talk(&mut reader, &mut writer).await
}

/// The exchange itself, over any transport (plain TCP or TLS): echoes, ping, close handshake.
async fn talk<R, W>(
    reader: &mut Reader<'_, '_, NoopRawMutex, R, W>,
    writer: &mut Writer<'_, '_, NoopRawMutex, W>,
) -> Result<Summary, ClientError>
where
    W: Write,
    R: Read + ErrorType<Error = W::Error>,
    ClientError: From<Error<W::Error>>,
{
    writer.send_text(HELLO).await?;
    if reader.recv().await? != Message::Text(HELLO) {
        return Err(ClientError::Unexpected("text echo differs"));
    }
    info!("client: text echoed");

    // The binary message goes out in chunks while its echo comes back: both at once, or the buffers fill up.
    let send = async {
        let mut chunks = writer.begin(MessageKind::Binary).await?;
        let mut block = [0u8; 500];
        let mut sent = 0;
        loop {
            let n = block.len().min(BIG_LEN - sent);
            for (i, b) in block[..n].iter_mut().enumerate() {
                *b = pattern(sent + i);
            }
            sent += n;
            if sent == BIG_LEN {
                chunks.finish(&block[..n]).await?;
                return Ok::<(), ClientError>(());
            }
            chunks.send(&block[..n]).await?;
        }
    };
    let receive = async {
        let mut got = 0;
        loop {
            match reader.recv_piece().await? {
                Some(piece) => {
                    if piece.kind != MessageKind::Binary {
                        return Err(ClientError::Unexpected("echo is not binary"));
                    }
                    if piece
                        .payload
                        .iter()
                        .enumerate()
                        .any(|(i, &b)| b != pattern(got + i))
                    {
                        return Err(ClientError::Unexpected("binary echo differs"));
                    }
                    got += piece.payload.len();
                    if piece.last {
                        return Ok(got);
                    }
                }
                None => return Err(ClientError::Unexpected("closed during echo")),
            }
        }
    };
    let (sent, got) = join(send, receive).await;
    sent?;
    if got? != BIG_LEN {
        return Err(ClientError::Unexpected("binary echo has the wrong length"));
    }
    info!("client: {} bytes echoed", BIG_LEN);

    // The pong is seen by the reader, so it runs meanwhile; the text sent after the ping ends its wait.
    let ping = async {
        let rtt = writer.ping(core::time::Duration::from_secs(5)).await?;
        writer.send_text("after ping").await?;
        Ok::<core::time::Duration, ClientError>(rtt)
    };
    let (rtt, after) = join(ping, reader.recv()).await;
    let rtt = rtt?;
    if after? != Message::Text("after ping") {
        return Err(ClientError::Unexpected("no echo after the ping"));
    }
    info!("client: ping rtt {} us", rill_ws::session::micros(rtt));

    writer.send_close(CloseCode::NORMAL, BYE).await?;
    match reader.recv().await? {
        Message::Close(Some(CloseCode::NORMAL), _) => {}
        _ => return Err(ClientError::Unexpected("no close reply")),
    }
    // A client waits for the server to end TCP (or the close timeout).
    match reader.recv().await {
        Err(Error::Closed) => {}
        _ => return Err(ClientError::Unexpected("messages after the close")),
    }
    info!("client: closed");
    Ok(Summary {
        ping_rtt: rtt,
        echoed: HELLO.len() + BIG_LEN + "after ping".len(),
    })
}

/// A `ws://` or `wss://` URL whose host is an IPv4 literal (the firmware resolves no names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Url<'a> {
    /// `true` for `wss://`.
    pub tls: bool,
    /// The server's address; the port defaults to 80 for `ws://` and 443 for `wss://`.
    pub remote: IpEndpoint,
    /// `host[:port]` as written: the `Host` header.
    pub authority: &'a str,
    /// The host alone: the TLS server name the certificate must carry.
    pub host: &'a str,
    /// The path and query, `/` when the URL has none.
    pub path: &'a str,
}

/// Parses `ws://10.99.0.1:9000/path` or `wss://10.99.0.1/path`; `None` for other schemes, hosts that are not
/// IPv4 literals, and bad ports.
pub fn parse_url(url: &str) -> Option<Url<'_>> {
    let (tls, rest) = match url.strip_prefix("wss://") {
        Some(rest) => (true, rest),
        None => (false, url.strip_prefix("ws://")?),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (authority, if tls { 443 } else { 80 }),
    };
    let ip: core::net::Ipv4Addr = host.parse().ok()?;
    Some(Url {
        tls,
        remote: IpEndpoint::new(ip.into(), port),
        authority,
        host,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = parse_url("wss://10.99.0.1:9443/echo?x=1").unwrap();
        assert!(url.tls);
        assert_eq!(url.remote.port, 9443);
        assert_eq!(
            (url.authority, url.host, url.path),
            ("10.99.0.1:9443", "10.99.0.1", "/echo?x=1")
        );
        let url = parse_url("ws://10.99.0.1").unwrap();
        assert!(!url.tls);
        assert_eq!((url.remote.port, url.path), (80, "/"));
        assert_eq!(parse_url("wss://10.0.0.1/").unwrap().remote.port, 443);
        assert!(parse_url("http://10.0.0.1/").is_none());
        assert!(parse_url("ws://example.com/").is_none());
        assert!(parse_url("ws://10.0.0.1:99999/").is_none());
    }
}
