//! A tiny chat inside an axum router: `GET /` serves the page, `GET /ws` upgrades to a rill WebSocket, on
//! one port. Every text message is broadcast to every connected client (the sender too). `GET /echo`
//! echoes every message back whole (for the Autobahn testsuite, through the axum upgrade path; the
//! piece-by-piece echo is `echo_server`'s, tested by the same suite).
//!
//! `cargo run --release -p rill-tokio --features axum --example axum_chat -- --addr 127.0.0.1:8080`
//!
//! HTTP/1.1 and HTTP/2 on the one port (hyper-util's `auto::Builder`, extended CONNECT enabled): the
//! sockets are HTTP/1.1 upgrades or HTTP/2 extended CONNECTs (RFC 8441, `CONNECT /ws` with `:protocol
//! websocket`), both through the same extractor. Cleartext serves HTTP/2 with prior knowledge (h2c);
//! with `--tls-cert PEM --tls-key PEM` (build with `--features axum,rustls`) it serves `https://` and ALPN
//! chooses `h2` or `http/1.1`, so a browser loads the page and opens its socket on one HTTP/2 connection.
//!
//! The upgrade is checked by rill's strict handshake (a bad request gets rill's 4xx and its reason) and the
//! socket is a rill-tokio `WebSocket`, split into a reader and a writer task. A slow client that falls
//! more than 256 messages behind skips what it missed rather than holding everyone else back.
//!
//! `/ws` serves pages of its own origin only (`Origin::same_host()`: another site's page gets 403; clients
//! without `Origin` are served). SIGTERM or Ctrl-C shuts down with axum's `with_graceful_shutdown` and a
//! rill `Drain` (an `Extension` on the router, so every upgraded socket is enrolled): each chat gets close
//! 1001, and the process exits with status 0.

mod common;

use axum::extract::State;
use axum::response::{Html, Response};
use axum::routing::get;
use axum::Extension;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rill_tokio::upgrade::UpgradedWebSocket;
use rill_tokio::{Config, Drain, Message, Origin, WebSocketUpgrade};
use std::time::Duration;
use tokio::sync::broadcast;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>rill chat</title>
<ul id="log"></ul>
<form id="form"><input id="text" autocomplete="off" autofocus><button>Send</button></form>
<script>
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  const log = document.getElementById("log");
  ws.onmessage = (event) => {
    const item = document.createElement("li");
    item.textContent = event.data;
    log.append(item);
  };
  document.getElementById("form").onsubmit = (event) => {
    event.preventDefault();
    const input = document.getElementById("text");
    if (input.value) ws.send(input.value);
    input.value = "";
  };
</script>
"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = common::flag("--addr", "127.0.0.1:8080");
    let tls = common::tls_acceptor()?;
    #[cfg(feature = "rustls")]
    let tls = tls.map(offer_h2);
    let (room, _) = broadcast::channel::<String>(256);
    // `connect`: the HTTP/2 sockets are CONNECT requests (RFC 8441).
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/ws", get(ws).connect(ws))
        .route("/echo", get(echo).connect(echo))
        .with_state(room);
    let drain = Drain::new();
    let app = app.layer(Extension(drain.clone()));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("axum_chat: open {scheme}://{}/", listener.local_addr()?);
    let mut http = auto::Builder::new(TokioExecutor::new());
    // The read buffer of an HTTP/2 socket is its stream's window: a reader that stops slows its sender.
    http.http2()
        .enable_connect_protocol()
        .initial_stream_window_size(256 << 10);
    let http = std::sync::Arc::new(http);
    let connections = GracefulShutdown::new();
    // The signal starts the drain, which closes the upgraded sockets (hyper no longer knows the HTTP/1.1
    // ones) with 1001; then no more connections are accepted and the open ones end their requests.
    let draining = drain.clone();
    let shutdown =
        tokio::spawn(
            async move { common::drain_on_signal(&draining, Duration::from_secs(10)).await },
        );
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(error) => {
                    eprintln!("accept: {error}");
                    continue;
                }
            },
            _ = drain.started() => break,
        };
        // Chat lines are small and must leave at once, not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let (http, service, watcher) = (
            http.clone(),
            TowerToHyperService::new(app.clone()),
            connections.watcher(),
        );
        let tls = tls.clone();
        tokio::spawn(async move {
            let served = match tls {
                None => {
                    let connection =
                        http.serve_connection_with_upgrades(TokioIo::new(tcp), service);
                    watcher.watch(connection.into_owned()).await
                }
                #[cfg(feature = "rustls")]
                Some(acceptor) => {
                    let stream =
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
                            .await
                        {
                            Ok(Ok(stream)) => stream,
                            _ => return,
                        };
                    let connection =
                        http.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
                #[cfg(not(feature = "rustls"))]
                Some(never) => match never {},
            };
            if let Err(error) = served {
                eprintln!("connection: {error}");
            }
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), connections.shutdown()).await;
    let _ = shutdown.await;
    Ok(())
}

/// The TLS acceptor with ALPN `h2` first, then `http/1.1`.
#[cfg(feature = "rustls")]
fn offer_h2(acceptor: rill_tokio::tls::TlsAcceptor) -> rill_tokio::tls::TlsAcceptor {
    let mut config = acceptor.config().as_ref().clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    rill_tokio::tls::TlsAcceptor::from(std::sync::Arc::new(config))
}

async fn ws(upgrade: WebSocketUpgrade, State(room): State<broadcast::Sender<String>>) -> Response {
    match upgrade.allow_origin(&Origin::same_host()) {
        Ok(upgrade) => upgrade.on_upgrade(move |ws| chat(ws, room)),
        Err(forbidden) => forbidden,
    }
}

async fn echo(upgrade: WebSocketUpgrade) -> Response {
    // Whole messages up to 64 MiB (Autobahn's largest is 16 MiB): a server's message larger than the write
    // buffer leaves from where `recv` left it, unbuffered.
    let config = Config {
        max_message: 64 << 20,
        ..Config::default()
    };
    upgrade.config(config).on_upgrade(|mut ws| async move {
        if let Err(error) = common::echo_messages(&mut ws).await {
            eprintln!("echo connection ended: {error}");
        }
    })
}

/// One client: its messages go to the room, the room's messages go to it.
async fn chat(ws: UpgradedWebSocket, room: broadcast::Sender<String>) {
    let (mut reader, mut writer) = ws.split();
    let mut heard = room.subscribe();
    let forward = tokio::spawn(async move {
        loop {
            match heard.recv().await {
                Ok(line) => {
                    if writer.send_text(&line).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    loop {
        match reader.recv().await {
            Ok(Message::Text(text)) => {
                let _ = room.send(text.to_string());
            }
            Ok(Message::Binary(_)) => {}
            // The peer's close was answered by the reader; an error ends the connection too.
            Ok(Message::Close(..)) | Err(_) => break,
        }
    }
    forward.abort();
}
