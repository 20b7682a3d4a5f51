//! permessage-deflate negotiation end to end over loopback TCP: rill-tokio's `connect` against its
//! `accept` (and the hyper/axum upgrade with feature `axum`), with the defaults, with either side
//! configured without deflate (as `--no-deflate` does in the examples), and declined by the decision.

use rill_tokio::{
    accept, accept_with, connect_with_response, ClientOptions, Config, Decision, HandshakeResponse,
    Listener, Message,
};
use rill_ws::deflate::{DeflateConfig, DeflateParams};
use std::future::Future;
use std::time::Duration;

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), test)
        .await
        .expect("test took too long")
}

/// What the default configurations agree on: the server compresses with its 4 KiB window and so does
/// the client.
const DEFAULT_AGREEMENT: DeflateParams = DeflateParams {
    server_no_context_takeover: false,
    client_no_context_takeover: false,
    server_max_window_bits: 12,
    client_max_window_bits: 12,
};

/// A server accepting one connection with `server` and `deflate` in its decision, echoing one text
/// message; the client connects with `client` and sends "hello". Returns the client's view of the
/// handshake and the echo.
async fn handshake(server: Config, deflate: bool, client: Config) -> (HandshakeResponse, String) {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let serving = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = if deflate {
            accept(stream, server).await.unwrap()
        } else {
            let decide = |_: &rill_tokio::Request<'_>| Decision::Accept {
                protocol: None,
                headers: Vec::new(),
                deflate: false,
            };
            accept_with(stream, server, decide).await.unwrap()
        };
        if let Ok(Message::Text(text)) = ws.recv().await {
            let reply = text.to_string();
            ws.send_text(&reply).await.unwrap();
        }
    });
    let (mut ws, response) = connect_with_response(&url, &ClientOptions::default(), client)
        .await
        .unwrap();
    ws.send_text("hello").await.unwrap();
    let echo = match ws.recv().await.unwrap() {
        Message::Text(text) => text.to_string(),
        other => panic!("expected the echo, got {other:?}"),
    };
    serving.await.unwrap();
    (response, echo)
}

/// The first frame header the peer sends on `stream`, after its 101 response: (RSV1 set, payload length).
/// Reads only what the test's messages need (a server's frames are unmasked).
async fn next_frame(stream: &mut tokio::net::TcpStream) -> (bool, u64) {
    use tokio::io::AsyncReadExt;
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await.unwrap();
    let len = match head[1] & 0x7f {
        126 => u64::from(stream.read_u16().await.unwrap()),
        127 => stream.read_u64().await.unwrap(),
        n => u64::from(n),
    };
    let mut payload = vec![0; len as usize];
    stream.read_exact(&mut payload).await.unwrap();
    (head[0] & 0x40 != 0, len)
}

#[tokio::test]
async fn by_default_messages_below_one_kib_leave_uncompressed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    bounded(async {
        let listener = Listener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = accept(stream, Config::default()).await.unwrap();
            ws.send_text("a twenty byte token!").await.unwrap();
            ws.send_text(&"x".repeat(1023)).await.unwrap();
            ws.send_text(&"y".repeat(1024)).await.unwrap();
            ws.recv().await.map(|_| ()).ok();
        });
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client
            .write_all(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                  Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
            )
            .await
            .unwrap();
        // The 101 response, up to its blank line.
        let mut response = Vec::new();
        while !response.ends_with(b"\r\n\r\n") {
            response.push(client.read_u8().await.unwrap());
        }
        let response = String::from_utf8(response).unwrap();
        assert!(response.contains("permessage-deflate"), "{response}");
        assert_eq!(next_frame(&mut client).await, (false, 20));
        assert_eq!(next_frame(&mut client).await, (false, 1023));
        let (compressed, len) = next_frame(&mut client).await;
        assert!(
            compressed && len < 100,
            "1 KiB of one letter leaves compressed: {len} bytes"
        );
        drop(client);
        serving.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn connect_to_accept_agrees_deflate_by_default() {
    bounded(async {
        let (response, echo) = handshake(Config::default(), true, Config::default()).await;
        assert_eq!(response.deflate(), Some(DEFAULT_AGREEMENT));
        assert_eq!(
            response.header("sec-websocket-extensions"),
            // The client offered `client_max_window_bits` without a value; the server allows it 15 and
            // the client compresses with its own 12 (its side of the agreement above).
            Some("permessage-deflate; server_max_window_bits=12")
        );
        assert_eq!(echo, "hello");
    })
    .await;
}

#[tokio::test]
async fn no_deflate_on_either_side_agrees_nothing() {
    bounded(async {
        let off = Config {
            deflate: None,
            ..Config::default()
        };
        for (server, client) in [
            (off, Config::default()),
            (Config::default(), off),
            (off, off),
        ] {
            let (response, echo) = handshake(server, true, client).await;
            assert_eq!(response.deflate(), None);
            assert_eq!(response.header("sec-websocket-extensions"), None);
            assert_eq!(echo, "hello");
        }
    })
    .await;
}

#[tokio::test]
async fn the_decision_can_decline_deflate() {
    bounded(async {
        let (response, echo) = handshake(Config::default(), false, Config::default()).await;
        assert_eq!(response.deflate(), None);
        assert_eq!(response.header("sec-websocket-extensions"), None);
        assert_eq!(echo, "hello");
    })
    .await;
}

#[tokio::test]
async fn configured_windows_and_context_takeover_are_agreed() {
    bounded(async {
        let server = Config {
            deflate: Some(DeflateConfig {
                receive_window_bits: 10,
                send_no_context_takeover: true,
                ..DeflateConfig::default()
            }),
            ..Config::default()
        };
        let client = Config {
            deflate: Some(DeflateConfig {
                receive_window_bits: 9,
                send_window_bits: Some(11),
                ..DeflateConfig::default()
            }),
            ..Config::default()
        };
        let (response, echo) = handshake(server, true, client).await;
        assert_eq!(
            response.deflate(),
            Some(DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: false,
                server_max_window_bits: 9,
                client_max_window_bits: 10,
            })
        );
        assert_eq!(echo, "hello");
    })
    .await;
}

#[cfg(feature = "axum")]
mod axum_upgrade {
    use super::{bounded, DEFAULT_AGREEMENT};
    use axum::routing::get;
    use axum::Router;
    use rill_tokio::upgrade::UpgradedWebSocket;
    use rill_tokio::{connect_with_response, ClientOptions, Config, Message, WebSocketUpgrade};

    async fn echo_one(mut ws: UpgradedWebSocket) {
        if let Ok(Message::Text(text)) = ws.recv().await {
            let reply = text.to_string();
            let _ = ws.send_text(&reply).await;
        }
    }

    async fn serve() -> String {
        let app = Router::new()
            .route(
                "/deflate",
                get(|upgrade: WebSocketUpgrade| async move { upgrade.on_upgrade(echo_one) }),
            )
            .route(
                "/plain",
                get(|upgrade: WebSocketUpgrade| async move {
                    upgrade.without_deflate().on_upgrade(echo_one)
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("ws://{addr}")
    }

    async fn roundtrip(url: &str) -> Option<rill_ws::deflate::DeflateParams> {
        let (mut ws, response) =
            connect_with_response(url, &ClientOptions::default(), Config::default())
                .await
                .unwrap();
        ws.send_text("hello").await.unwrap();
        assert!(matches!(ws.recv().await.unwrap(), Message::Text(t) if t == "hello"));
        response.deflate()
    }

    #[tokio::test]
    async fn the_axum_upgrade_agrees_deflate_unless_the_handler_declines() {
        bounded(async {
            let base = serve().await;
            assert_eq!(
                roundtrip(&format!("{base}/deflate")).await,
                Some(DEFAULT_AGREEMENT)
            );
            assert_eq!(roundtrip(&format!("{base}/plain")).await, None);
        })
        .await;
    }
}
