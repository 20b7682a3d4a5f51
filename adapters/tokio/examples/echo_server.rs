//! Echoes every text and binary message, streaming each piece back as it arrives (messages of any size).
//!
//! `cargo run --release -p rill-tokio --example echo_server -- --addr 127.0.0.1:9001`
//!
//! permessage-deflate (RFC 7692) is negotiated by default, with `Config::default()`'s settings.
//!
//! Optional flags (all off by default), used by the interop tests in `tests/interop`:
//! - `--max-message BYTES`: limit frames and messages from the peer to BYTES (close code 1009 beyond);
//! - `--protocols chat,superchat`: subprotocols supported; the first one the client offers that is in this
//!   list is chosen (none if there is no match);
//! - `--close-on TEXT`: a text message equal to TEXT is not echoed: the server starts the close handshake
//!   with 1000 and the reason "server closing";
//! - `--idle-timeout SECS`: fail a connection whose peer sends nothing for SECS seconds, whatever the
//!   writer is doing;
//! - `--tls-cert PEM --tls-key PEM`: serve `wss://`, terminating TLS with this certificate chain and key
//!   (needs feature `rustls`: `cargo run --release -p rill-tokio --features rustls --example echo_server`);
//! - `--no-deflate`: decline permessage-deflate (no `Sec-WebSocket-Extensions` in any answer);
//! - `--compress-threshold BYTES`: send messages below BYTES uncompressed (default 1024; 0 compresses all);
//! - `--max-connections N`: at most N connections open at once; the next ones get `503` with
//!   `Retry-After: 1` at their handshake;
//! - `--drain-secs S`: how long a shutdown waits for close handshakes (default 10).
//!
//! SIGTERM or Ctrl-C drains: the listener stops, every connection gets close 1001 after the echoes already
//! sent, and the process exits with status 0 once they are closed (or after `--drain-secs`). Out of file
//! descriptors it keeps serving the open connections and accepts again as they end.

mod common;

use rill_tokio::{
    Admission, CloseCode, Config, Decision, Drain, Error, Incoming, Listener, MessageKind, Request,
    WebSocket,
};
use tokio::io::{AsyncRead, AsyncWrite};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = common::flag("--addr", "127.0.0.1:9001");
    let mut config = Config::default();
    if std::env::args().any(|arg| arg == "--no-deflate") {
        config.deflate = None;
    }
    let threshold = common::flag("--compress-threshold", "");
    if let (false, Some(deflate)) = (threshold.is_empty(), config.deflate.as_mut()) {
        deflate.compress_threshold = threshold.parse().map_err(std::io::Error::other)?;
    }
    let max_message = common::flag("--max-message", "");
    if !max_message.is_empty() {
        let max: u64 = max_message.parse().map_err(std::io::Error::other)?;
        config.limits.max_message_len = max;
        config.limits.max_frame_len = max;
    }
    let protocols: Vec<String> = common::flag("--protocols", "")
        .split(',')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    let close_on = common::flag("--close-on", "");
    let idle = common::flag("--idle-timeout", "");
    if !idle.is_empty() {
        let secs: f64 = idle.parse().map_err(std::io::Error::other)?;
        config.idle_timeout = Some(std::time::Duration::from_secs_f64(secs));
    }
    let tls = common::tls_acceptor()?;
    let drain = Drain::new();
    let mut admission = Admission::new().drain(&drain);
    let max_connections = common::flag("--max-connections", "");
    if !max_connections.is_empty() {
        admission =
            admission.max_connections(max_connections.parse().map_err(std::io::Error::other)?);
    }
    let deadline = common::flag("--drain-secs", "10")
        .parse()
        .map_err(std::io::Error::other)?;
    let listener = Listener::bind(&addr).await?.admit(admission);
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!(
        "echo_server listening on {scheme}://{}",
        listener.local_addr()?
    );
    let shutdown = {
        let drain = drain.clone();
        tokio::spawn(async move {
            common::drain_on_signal(&drain, std::time::Duration::from_secs_f64(deadline)).await
        })
    };
    while let Some(incoming) = listener.next().await? {
        let protocols = protocols.clone();
        let close_on = close_on.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve(incoming, config, &protocols, &close_on).await,
                #[cfg(feature = "rustls")]
                Some(acceptor) => {
                    let tls = |tcp| rill_tokio::tls::tls_accept(tcp, &acceptor, &config);
                    match incoming.wrap(tls).await {
                        Ok(incoming) => serve(incoming, config, &protocols, &close_on).await,
                        Err(error) => eprintln!("{error}"),
                    }
                }
                #[cfg(not(feature = "rustls"))]
                Some(never) => match never {},
            }
        });
    }
    // The drain started: wait for it to finish (it prints its report), then exit with status 0.
    let _ = shutdown.await;
    Ok(())
}

/// One connection: the handshake, then the echo.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    incoming: Incoming<S>,
    config: Config,
    protocols: &[String],
    close_on: &str,
) {
    let decide = |request: &Request<'_>| Decision::Accept {
        protocol: request
            .protocols()
            .find(|offered| protocols.iter().any(|p| p == offered))
            .map(String::from),
        headers: Vec::new(),
        deflate: true,
    };
    let Ok(mut ws) = incoming.accept_with(config, decide).await else {
        return;
    };
    let result = if close_on.is_empty() {
        common::echo(&mut ws).await
    } else {
        echo_until(&mut ws, close_on.as_bytes()).await
    };
    if let Err(error) = result {
        eprintln!("connection ended: {error}");
    }
}

/// [`common::echo`], except that a whole text message equal to `close_on` starts the close handshake.
async fn echo_until<S: AsyncRead + AsyncWrite>(
    ws: &mut WebSocket<S>,
    close_on: &[u8],
) -> Result<(), Error> {
    loop {
        let (reader, writer) = ws.halves();
        match reader.recv_piece().await {
            Ok(Some(piece))
                if piece.first
                    && piece.last
                    && piece.kind == MessageKind::Text
                    && piece.payload == close_on =>
            {
                break;
            }
            Ok(Some(piece)) => writer.feed_piece(&piece).await?,
            Ok(None) | Err(Error::Closed) => return Ok(()),
            Err(error) => return Err(error),
        }
        if !reader.has_buffered_input() {
            writer.flush().await?;
        }
    }
    ws.close(CloseCode::NORMAL, "server closing").await
}
