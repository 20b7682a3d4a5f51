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
