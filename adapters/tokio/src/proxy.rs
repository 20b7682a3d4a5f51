//! A tunnel through a proxy for `connect`: TCP to the proxy, then the core's sans-IO exchange
//! ([`rill_ws::proxy::Tunnel`]) pumped over it, all within `config.handshake_timeout`.

use crate::{connect_tcp, Config, Error};
use rill_net::proxy::{ProxyError, ProxyUrl};
use rill_ws::proxy::Step;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A TCP stream through `proxy` to `host:port`, ready for TLS or the WebSocket handshake.
pub(crate) async fn connect_via(
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
    config: &Config,
) -> Result<TcpStream, Error> {
    let exchange = async {
        let mut tunnel = proxy
            .tunnel(host, port)
            .map_err(|e| ProxyError::tunnel(proxy, e))?;
        let mut tcp = connect_tcp(&proxy.address(), config.nodelay).await?;
        let mut out = vec![0; tunnel.max_transmit_len()];
        let mut input = Vec::with_capacity(512);
        loop {
            let len = tunnel.transmit(&mut out).map_err(io::Error::other)?;
            tcp.write_all(&out[..len]).await?;
            input.clear();
            loop {
                if tcp.read_buf(&mut input).await? == 0 {
                    let eof = "the proxy closed the connection before answering";
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, eof));
                }
                match tunnel.receive(&input) {
                    Ok(Step::Partial) => {}
                    Ok(Step::Next) => break,
                    Ok(Step::Open) => return Ok(tcp),
                    Err(refused) => return Err(ProxyError::tunnel(proxy, refused)),
                }
            }
        }
    };
    let late = || {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "no tunnel within the handshake timeout",
        )
    };
    match tokio::time::timeout(config.handshake_timeout, exchange).await {
        Ok(Ok(tcp)) => Ok(tcp),
        // A refusal is a ProxyError already; any other failure is the proxy's I/O.
        Ok(Err(e)) if e.get_ref().is_some_and(|inner| inner.is::<ProxyError>()) => {
            Err(Error::Io(e))
        }
        Ok(Err(e)) => Err(Error::Io(ProxyError::io(proxy, e))),
        Err(_) => Err(Error::Io(ProxyError::io(proxy, late()))),
    }
}
