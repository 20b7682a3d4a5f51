//! The server every board runs: [`listen`] is one accept loop; boards spawn [`LISTENERS`] of them.
//!
//! embassy-net has no listen backlog: a socket accepts one connection, and a SYN arriving while no socket is
//! listening is refused. Several tasks each listening on [`HTTP_PORT`](crate::HTTP_PORT) let a browser open the
//! page and its two WebSockets at once.

use embassy_net::tcp::{self, TcpSocket};
use embassy_net::{ConfigV4, Ipv4Address, Ipv4Cidr, Stack, StaticConfigV4};
use embassy_time::{with_timeout, Duration};
use rill_embassy::Error;

use crate::{http, ws, Route, HTTP_PORT, INDEX_HTML};

/// Listener tasks per board: the page plus its two WebSockets, plus one spare for a reload racing a close.
pub const LISTENERS: usize = 4;

/// TCP receive buffer per listener: the receive window.
pub const SOCKET_RX: usize = 2048;
/// TCP transmit buffer per listener: what the write buffer leaves of 4 KiB.
pub const SOCKET_TX: usize = 4096 - WRITE_BUF;
/// rill's read buffer: the request head (browsers send ~500 bytes), then WebSocket input, which streams through it.
pub const READ_BUF: usize = 2048;
/// rill's write buffer: every frame is placed whole in it; also the whole `GET /` answer (head and page).
///
/// It holds a read buffer's worth of payload plus the longest frame header, so each piece the echo reads leaves as
/// one frame. One the size of the read buffer split every full piece into a frame that filled it and a 14-byte
/// tail frame, each written on its own: the 1 MiB echo over the host TAP took twice as long.
pub const WRITE_BUF: usize = READ_BUF + rill_ws::frame::MAX_HEADER_LEN;

// Each way at most 4 KiB per connection: socket buffer plus rill buffer.
const _: () = assert!(SOCKET_RX + READ_BUF <= 4096 && SOCKET_TX + WRITE_BUF <= 4096);
// `Decision::Respond` encodes head and body in the write buffer; the head takes under 128 bytes.
const _: () = assert!(
    INDEX_HTML.len() + 128 <= WRITE_BUF,
    "the page must fit the write buffer"
);

/// A peer that leaves our sent data unacknowledged this long loses its connection (smoltcp's socket timeout).
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a graceful close may wait for the peer before the connection is reset instead.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the boards wait for a DHCP lease before falling back to [`FALLBACK_IPV4`].
const DHCP_TIMEOUT: Duration = Duration::from_secs(15);

/// Link-local address used when no DHCP server answers: a board cabled straight to a laptop (which then also picks
/// a 169.254.0.0/16 address) is still reachable at `http://169.254.42.2/`.
pub const FALLBACK_IPV4: Ipv4Address = Ipv4Address::new(169, 254, 42, 2);

/// Waits for the link and a DHCP lease (the stack must have been configured for DHCP); without a lease within
/// [`DHCP_TIMEOUT`], switches the stack to [`FALLBACK_IPV4`]/16, and logs the page's URL.
pub async fn dhcp_or_fallback(stack: Stack<'_>) {
    stack.wait_link_up().await;
    info!("link up, asking for a DHCP lease");
    if with_timeout(DHCP_TIMEOUT, stack.wait_config_up())
        .await
        .is_err()
    {
        warn!("no DHCP lease, using the link-local fallback address");
        stack.set_config_v4(ConfigV4::Static(StaticConfigV4 {
            address: Ipv4Cidr::new(FALLBACK_IPV4, 16),
            gateway: None,
            dns_servers: Default::default(),
        }));
    }
    let address = stack
        .config_v4()
        .map_or(FALLBACK_IPV4, |c| c.address.address());
    info!("serving http://{}/", address);
}

/// Accepts and serves connections on [`HTTP_PORT`] forever; `id` only labels the log lines.
///
/// The buffers live in this future, so each listener's RAM is in its task's static storage and shows up in the
/// firmware's static RAM figure.
pub async fn listen(stack: Stack<'_>, id: usize) -> ! {
    let mut rx = [0u8; SOCKET_RX];
    let mut tx = [0u8; SOCKET_TX];
    let mut read_buf = [0u8; READ_BUF];
    let mut write_buf = [0u8; WRITE_BUF];
    loop {
        // A fresh socket per connection: accept() needs a Closed socket, and a closed one may linger in TIME-WAIT.
        let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
        socket.set_timeout(Some(IDLE_TIMEOUT));
        // Small WebSocket frames (echoes, tokens, pongs) go out at once instead of waiting for earlier ACKs.
        socket.set_nagle_enabled(false);
        if let Err(e) = socket.accept(HTTP_PORT).await {
            warn!("listener {}: accept failed: {:?}", id, e);
            continue;
        }
        match serve(&mut socket, &mut read_buf, &mut write_buf).await {
            Ok(route) => info!("listener {}: served {:?}", id, route),
            Err(e) => warn!("listener {}: {:?}", id, e),
        }
        close(&mut socket).await;
    }
}

/// Serves one accepted connection: the opening request, then the WebSocket if it was upgraded. The caller closes
/// the socket afterwards (after the close handshake, an error, or a plain HTTP answer).
pub async fn serve(
    socket: &mut TcpSocket<'_>,
    read_buf: &mut [u8],
    write_buf: &mut [u8],
) -> Result<Route, Error<tcp::Error>> {
    let mut route = Route::NotFound;
    let (rx, tx) = socket.split();
    // Both halves run in this task: no locking needed between them.
    let mut shared = None;
    let decide = |request: &rill_embassy::Request<'_>| {
        let (r, decision) = http::decide(request);
        route = r;
        decision
    };
    let accepted = rill_embassy::accept(
        rx,
        tx,
        read_buf,
        write_buf,
        &mut shared,
        &ws::CONFIG,
        decide,
    );
    let (reader, writer) = match accepted.await {
        Ok(halves) => halves,
        // Answered as plain HTTP (the page, 404, 405) or refused (426 for a plain GET on a WebSocket route).
        Err(Error::Rejected(_) | Error::Request(_)) => return Ok(route),
        Err(e) => return Err(e),
    };
    #[cfg(feature = "deflate")]
    let mut window = [0u8; 1 << ws::INFLATE_WINDOW_BITS];
    #[cfg(feature = "deflate")]
    let mut inflater = rill_ws::deflate::Inflater::new(&mut window[..]);
    #[cfg(feature = "deflate")]
    let reader = reader.inflating(&mut inflater);
    let mut reader = reader;
    let endpoint = match route {
        Route::Tokens => ws::Endpoint::Tokens,
        _ => ws::Endpoint::Echo,
    };
    ws::serve(endpoint, &mut reader, writer, ws::TOKEN_INTERVAL).await?;
    Ok(route)
}

/// Closes so that the peer sees FIN after all data, not RST.
///
/// Dropping a socket right after `close()` discards it before the FIN goes out, and the peer's next segment is
/// answered with RST (losing unacknowledged response bytes). So: send FIN, wait until data and FIN are acknowledged,
/// then read to the peer's FIN so it is acknowledged too.
pub async fn close(socket: &mut TcpSocket<'_>) {
    socket.close();
    let graceful = with_timeout(CLOSE_TIMEOUT, async {
        socket.flush().await.ok();
        let mut sink = [0u8; 64];
        while let Ok(n) = socket.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    if graceful.is_err() {
        // The peer stopped responding: reset instead, and wait until the RST has actually been sent.
        socket.abort();
        with_timeout(CLOSE_TIMEOUT, socket.flush()).await.ok();
    }
}
