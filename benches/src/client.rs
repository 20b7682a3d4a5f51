//! The one WebSocket client every load tool uses, whatever the server: tokio-websockets (masks its frames, as a
//! client must).

use crate::BoxError;
use std::net::SocketAddr;
use tokio::net::TcpStream;
use tokio_websockets::{ClientBuilder, WebSocketStream};

/// A client connection.
pub type Client = WebSocketStream<TcpStream>;

/// Connects to `ws://addr/` with `TCP_NODELAY` on and completes the opening handshake.
pub async fn connect(addr: SocketAddr) -> Result<Client, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (ws, _response) = ClientBuilder::new()
        .uri(&format!("ws://{addr}/"))?
        .connect_on(stream)
        .await?;
    Ok(ws)
}
