//! The TCP server every board runs: [`listen`] is one accept loop; boards spawn [`LISTENERS`] of them.
//!
//! embassy-net has no listen backlog: a socket accepts one connection, and a SYN arriving while no socket is
//! listening is refused. Several tasks each listening on [`HTTP_PORT`](crate::HTTP_PORT) let a browser open the
//! page and its two WebSockets at once.

use embassy_net::tcp::TcpSocket;
use embassy_net::{ConfigV4, Ipv4Address, Ipv4Cidr, Stack, StaticConfigV4};
use embassy_time::{with_timeout, Duration};

use crate::{http, HTTP_PORT};

/// Listener tasks per board: the page plus its two WebSockets, plus one spare for a reload racing a close.
pub const LISTENERS: usize = 4;

/// Socket buffers per listener; 4 KiB each way holds a full request head and several WebSocket frames.
const RX_BUF: usize = 4096;
const TX_BUF: usize = 4096;
/// Request head limit: browsers' WebSocket handshakes are ~500 bytes; longer heads get 431.
const HEAD_BUF: usize = 1024;

/// A peer that goes silent this long loses its connection, so it cannot pin a listener forever.
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
    let mut rx = [0u8; RX_BUF];
    let mut tx = [0u8; TX_BUF];
    let mut head = [0u8; HEAD_BUF];
    loop {
        // A fresh socket per connection: accept() needs a Closed socket, and a closed one may linger in TIME-WAIT.
        let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
        socket.set_timeout(Some(IDLE_TIMEOUT));
        if let Err(e) = socket.accept(HTTP_PORT).await {
            warn!("listener {}: accept failed: {:?}", id, e);
            continue;
        }
        match http::serve(&mut socket, &mut head).await {
            Ok(route) => info!("listener {}: served {:?}", id, route),
            Err(e) => warn!("listener {}: {:?}", id, e),
        }
        close(&mut socket).await;
    }
}

/// Closes so that the peer sees FIN after all data, not RST.
///
/// Dropping a socket right after `close()` discards it before the FIN goes out, and the peer's next segment is
/// answered with RST (losing unacknowledged response bytes). So: send FIN, wait until data and FIN are acknowledged,
/// then read to the peer's FIN so it is acknowledged too.
async fn close(socket: &mut TcpSocket<'_>) {
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
