//! Pieces shared by the examples: flag parsing and the streaming echo loop.
#![allow(dead_code)]

use rill_tokio::{Error, Message, MessageKind, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite};

/// The value after `--name` on the command line, or `default`.
pub fn flag(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

/// Waits for SIGTERM (what service managers and `kill` send) or Ctrl-C, then drains: every connection
/// gets close 1001 and `deadline` to finish its close handshake. Prints the report to stderr.
pub async fn drain_on_signal(drain: &rill_tokio::Drain, deadline: std::time::Duration) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("{}", rill_tokio::shutdown(drain, deadline).await);
}

/// The TLS acceptor that `--tls-cert PEM --tls-key PEM` ask for, or `None` without them (plain TCP).
#[cfg(feature = "rustls")]
pub fn tls_acceptor() -> std::io::Result<Option<rill_tokio::tls::TlsAcceptor>> {
    let (cert, key) = (flag("--tls-cert", ""), flag("--tls-key", ""));
    match (cert.is_empty(), key.is_empty()) {
        (true, true) => Ok(None),
        (false, false) => Ok(Some(rill_tokio::tls::TlsAcceptor::from(
            rill_tokio::tls::server_config_from_pem(cert, key)?,
        ))),
        _ => Err(std::io::Error::other(
            "--tls-cert and --tls-key go together",
        )),
    }
}

/// Without feature `rustls` there is no acceptor: a type with no values (not `Copy`, so that the examples'
/// `clone()` of the `Some` case reads the same with and without the feature).
#[cfg(not(feature = "rustls"))]
#[derive(Clone)]
pub enum NoTls {}

/// Without feature `rustls` there is no TLS: `--tls-cert` is refused with how to build it in.
#[cfg(not(feature = "rustls"))]
pub fn tls_acceptor() -> std::io::Result<Option<NoTls>> {
    if flag("--tls-cert", "").is_empty() && flag("--tls-key", "").is_empty() {
        return Ok(None);
    }
    Err(std::io::Error::other(
        "--tls-cert/--tls-key need TLS: build the example with --features rustls",
    ))
}

/// Echoes every message piece by piece, so a message of any size streams through fixed buffers. Replies
/// to pieces that arrived together are flushed together, once no more input is buffered.
pub async fn echo<S: AsyncRead + AsyncWrite>(ws: &mut WebSocket<S>) -> Result<(), Error> {
    let (reader, writer) = ws.halves();
    loop {
        match reader.recv_piece().await {
            Ok(Some(piece)) => writer.feed_piece(&piece).await?,
            Ok(None) | Err(Error::Closed) => return Ok(()),
            Err(error) => return Err(error),
        }
        if !reader.has_buffered_input() {
            writer.flush().await?;
        }
    }
}

/// Echoes every message whole: each is reassembled by `recv` (up to the configured `max_message`) and
/// sent back as one message, the way echo servers of other libraries work.
pub async fn echo_messages<S: AsyncRead + AsyncWrite>(ws: &mut WebSocket<S>) -> Result<(), Error> {
    let (reader, writer) = ws.halves();
    loop {
        match reader.recv().await {
            Ok(Message::Text(text)) => writer.send(MessageKind::Text, text.as_bytes()).await?,
            Ok(Message::Binary(bytes)) => writer.send(MessageKind::Binary, bytes).await?,
            Ok(Message::Close(..)) | Err(Error::Closed) => return Ok(()),
            Err(error) => return Err(error),
        }
    }
}
