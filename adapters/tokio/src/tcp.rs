//! TCP helpers that set `TCP_NODELAY`, so small messages leave at once instead of waiting for Nagle.

use std::io;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

/// A TCP listener whose accepted sockets have `TCP_NODELAY` set.
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    nodelay: bool,
}

impl Listener {
    /// Binds to `addr`; accepted sockets get `TCP_NODELAY`.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Listener> {
        Ok(Listener {
            inner: TcpListener::bind(addr).await?,
            nodelay: true,
        })
    }

    /// Wraps an existing listener; `nodelay` decides `TCP_NODELAY` on accepted sockets.
    pub fn from_tokio(inner: TcpListener, nodelay: bool) -> Listener {
        Listener { inner, nodelay }
    }

    /// Accepts the next connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.inner.accept().await?;
        stream.set_nodelay(self.nodelay)?;
        Ok((stream, peer))
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Connects to `addr` and sets `TCP_NODELAY` as asked.
pub async fn connect_tcp(addr: &str, nodelay: bool) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(nodelay)?;
    Ok(stream)
}
