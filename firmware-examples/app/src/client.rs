//! A WebSocket client on `rill_embassy::connect`: what a board does to talk to a server (host-tap's `--client`
//! mode and the in-process test run it against echo servers).
//!
//! [`exchange`] connects, sends a text message and a binary message larger than every buffer (generated and
//! checked on the fly, so it costs no RAM), expects both echoed, measures a ping's round trip and closes with 1000.

use embassy_futures::join::join;
use embassy_net::tcp::{self, TcpSocket};
use embassy_net::{IpEndpoint, Stack};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_time::Duration;

use rill_embassy::NoAckWait;
use rill_embassy::{
    ClientRequest, CloseCode, Error, Message, MessageKind, Reader, Role, Shared, Writer,
};

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
    /// The server answered something else than expected.
    Unexpected(&'static str),
}

impl From<Error<tcp::Error>> for ClientError {
    fn from(e: Error<tcp::Error>) -> Self {
        ClientError::Ws(e)
    }
}

/// What a successful [`exchange`] measured.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Round-trip time of one ping.
    pub ping_rtt: Duration,
    /// Bytes echoed back and checked (text and binary).
    pub echoed: usize,
}

/// Connects to `ws://{host}{path}` at `remote` and runs the exchange described in the module docs. `seed` seeds
/// the handshake key and the masking keys (take it from the board's RNG).
pub async fn exchange(
    stack: Stack<'_>,
    remote: IpEndpoint,
    host: &str,
    path: &str,
    seed: u64,
) -> Result<Summary, ClientError> {
    let mut rx = [0u8; 2048];
    let mut tx = [0u8; 2048];
    let (mut read_buf, mut write_buf, mut message_buf) = ([0u8; 1024], [0u8; 1024], [0u8; 64]);
    let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
    socket.set_timeout(Some(Duration::from_secs(10)));
    socket.set_nagle_enabled(false);
    socket.connect(remote).await.map_err(ClientError::Connect)?;
    info!("client: connected to {:?}", remote);

    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..].copy_from_slice(&seed.rotate_left(29).to_be_bytes());
    let request = ClientRequest {
        host,
        path,
        key,
        protocols: &[],
        origin: None,
        headers: &[],
    };
    let config = crate::ws::CONFIG;
    let result = async {
        let (upgraded, _) = rill_embassy::connect(
            &mut socket,
            &request,
            &mut read_buf,
            &mut write_buf,
            &config,
        )
        .await?;
        let (rx, tx) = socket.split();
        let shared = Shared::<NoopRawMutex, _>::new(
            NoAckWait(tx),
            &mut write_buf,
            Role::Client,
            seed,
            config,
        );
        let mut reader = Reader::new(rx, &mut read_buf, upgraded, &mut message_buf, &shared);
        let mut writer = Writer::new(&shared);
        talk(&mut reader, &mut writer).await
    }
    .await;
    // After the close handshake (or a failure) end TCP gracefully, bounded.
    crate::net::close(&mut socket).await;
    result
}

type TcpReader<'s, 'b, 'x> =
    Reader<'s, 'b, NoopRawMutex, tcp::TcpReader<'x>, NoAckWait<tcp::TcpWriter<'x>>>;
type TcpWriter<'s, 'b, 'x> = Writer<'s, 'b, NoopRawMutex, NoAckWait<tcp::TcpWriter<'x>>>;

async fn talk(
    reader: &mut TcpReader<'_, '_, '_>,
    writer: &mut TcpWriter<'_, '_, '_>,
) -> Result<Summary, ClientError> {
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
        let rtt = writer.ping(Duration::from_secs(5)).await?;
        writer.send_text("after ping").await?;
        Ok::<Duration, ClientError>(rtt)
    };
    let (rtt, after) = join(ping, reader.recv()).await;
    let rtt = rtt?;
    if after? != Message::Text("after ping") {
        return Err(ClientError::Unexpected("no echo after the ping"));
    }
    info!("client: ping rtt {} us", rtt.as_micros());

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
