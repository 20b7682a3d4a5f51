use embassy_net::{tcp::TcpSocket, Stack};
use embassy_time::{with_timeout, Duration};
use rill_embassy::{Config, Decision, Request};

/// Serves a page on `/` and a WebSocket echo on `/echo`, one connection at a time.
pub async fn websocket_listener(stack: Stack<'_>) -> ! {
    // TCP buffers, then rill's: its write buffer is a frame header (14 B) larger than its read buffer, so
    // an echoed piece leaves as one frame.
    let (mut rx, mut tx) = ([0u8; 2048], [0u8; 2048]);
    let (mut read_buf, mut write_buf) = ([0u8; 2048], [0u8; 2048 + 14]);
    const CONFIG: Config = Config::DEFAULT; // in flash, not in the connection's future
    let routes = |request: &Request<'_>| match request.path() {
        "/echo" => Decision::accept(),
        "/" => Decision::Respond {
            status: 200,
            content_type: "text/html",
            body: b"hi",
        },
        _ => Decision::Reject {
            status: 404,
            reason: "not found",
        },
    };
    loop {
        let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
        socket.set_nagle_enabled(false);
        if socket.accept(80).await.is_err() {
            continue;
        }
        let (rx_half, tx_half) = socket.split();
        let mut shared = None; // the state the reader and writer share, in this task
        let (rbuf, wbuf) = (&mut read_buf[..], &mut write_buf[..]);
        let accepted =
            rill_embassy::accept(rx_half, tx_half, rbuf, wbuf, &mut shared, &CONFIG, routes);
        if let Ok((mut reader, mut writer)) = accepted.await {
            // Echo a message of any size piece by piece; ends after the close handshake or an error.
            while let Ok(Some(piece)) = reader.recv_piece().await {
                if writer.feed_piece(&piece).await.is_err() {
                    break;
                }
                if !reader.has_buffered_input() && writer.flush().await.is_err() {
                    break;
                }
            }
        }
        // FIN after everything, not RST: close, then wait until it is acknowledged.
        socket.close();
        let _ = with_timeout(Duration::from_secs(3), socket.flush()).await;
    }
}
