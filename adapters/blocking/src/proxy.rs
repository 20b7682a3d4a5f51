//! A tunnel through a proxy for `connect`: TCP to the proxy, then the core's sans-IO exchange
//! ([`rill_ws::proxy::Tunnel`]) pumped over it, all within `config.handshake_timeout`.

use crate::handshake::{read_some, write_all};
use crate::{Config, Error};
use rill_net::proxy::{ProxyError, ProxyUrl};
use rill_ws::proxy::Step;
use std::io::{self, ErrorKind};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant;

/// A TCP stream through `proxy` to `host:port`, ready for the WebSocket handshake.
pub(crate) fn connect_via(
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
    config: &Config,
) -> Result<TcpStream, Error> {
    let deadline = Instant::now() + config.handshake_timeout;
    let mut tunnel = proxy
        .tunnel(host, port)
        .map_err(|e| Error::Io(ProxyError::tunnel(proxy, e)))?;
    let io_failure = |e| Error::Io(ProxyError::io(proxy, e));
    let mut stream = tcp(&proxy.address(), config).map_err(io_failure)?;
    let mut out = vec![0; tunnel.max_transmit_len()];
    let mut input = vec![0; 1024];
    loop {
        let len = tunnel.transmit(&mut out)?;
        write_all(&mut stream, &out[..len], deadline).map_err(|e| in_tunnel(proxy, e))?;
        let mut filled = 0;
        loop {
            if filled == input.len() {
                input.resize(2 * filled, 0); // the core bounds the answer (4 KiB)
            }
            filled += read_some(&mut stream, &mut input[filled..], deadline)
                .map_err(|e| in_tunnel(proxy, e))?;
            match tunnel.receive(&input[..filled]) {
                Ok(Step::Partial) => {}
                Ok(Step::Next) => break,
                Ok(Step::Open) => return Ok(stream),
                Err(refused) => return Err(Error::Io(ProxyError::tunnel(proxy, refused))),
            }
        }
    }
}

/// TCP to the first of `address`'s addresses that answers, each try bounded by the handshake timeout.
fn tcp(address: &str, config: &Config) -> io::Result<TcpStream> {
    let mut failure = io::Error::new(ErrorKind::NotFound, "the host has no address");
    for addr in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, config.handshake_timeout) {
            Ok(stream) => {
                stream.set_nodelay(config.nodelay)?;
                return Ok(stream);
            }
            Err(error) => failure = error,
        }
    }
    Err(failure)
}

/// A failure of the exchange with the proxy, as a [`ProxyError`]: the proxy's I/O, its leaving, or the
/// handshake deadline passing.
fn in_tunnel(proxy: &ProxyUrl, error: Error) -> Error {
    let io = match error {
        Error::Io(io) => io,
        Error::AbnormalClosure => io::Error::new(
            ErrorKind::UnexpectedEof,
            "the proxy closed the connection before answering",
        ),
        Error::Timeout(_) => io::Error::new(
            ErrorKind::TimedOut,
            "no tunnel within the handshake timeout",
        ),
        other => return other,
    };
    Error::Io(ProxyError::io(proxy, io))
}
