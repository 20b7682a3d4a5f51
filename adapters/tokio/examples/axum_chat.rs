//! A tiny chat inside an axum router: `GET /` serves the page, `GET /ws` upgrades to a rill WebSocket, on
//! one port. Every text message is broadcast to every connected client (the sender too). `GET /echo`
//! echoes every message back whole (for the Autobahn testsuite, through the axum upgrade path; the
//! piece-by-piece echo is `echo_server`'s, tested by the same suite).
//!
//! `cargo run --release -p rill-tokio --features axum --example axum_chat -- --addr 127.0.0.1:8080`
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
use axum::serve::ListenerExt;
use axum::Extension;
use axum::Router;
use rill_tokio::upgrade::UpgradedWebSocket;
use rill_tokio::{Config, Drain, Message, Origin, WebSocketUpgrade};
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
    let (room, _) = broadcast::channel::<String>(256);
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/ws", get(ws))
        .route("/echo", get(echo))
        .with_state(room);
    let drain = Drain::new();
    let app = app.layer(Extension(drain.clone()));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("axum_chat: open http://{}/", listener.local_addr()?);
    // Chat lines are small and must leave at once, not wait for Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    // axum stops accepting and waits for its HTTP requests; the signal also starts the drain, which closes
    // the upgraded sockets (axum no longer knows them) with 1001.
    let draining = drain.clone();
    let shutdown = tokio::spawn(async move {
        common::drain_on_signal(&draining, std::time::Duration::from_secs(10)).await
    });
    let started = drain.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { started.started().await })
        .await?;
    let _ = shutdown.await;
    Ok(())
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
