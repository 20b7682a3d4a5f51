//! The axum extractor and the hyper-level upgrade (feature `axum`): an HTTP route and a WebSocket route on
//! one port, rill's own 4xx answers for bad upgrades, echo through the upgraded socket.

use axum::response::Response;
use axum::routing::get;
use axum::Router;
use rill_tokio::upgrade::{upgrade, UpgradedWebSocket};
use rill_tokio::{
    accept, connect_with_response, ClientOptions, CloseCode, Config, Decision, Listener, Message,
    MessageKind, WebSocketUpgrade,
};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every test finishes within this time or fails.
const LIMIT: Duration = Duration::from_secs(20);

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("test took too long")
}

async fn ws_route(upgrade: WebSocketUpgrade) -> Response {
    let path = upgrade.request().target().to_string();
    upgrade
        .select_protocol(&["chat"])
        .header("X-Path", path)
        .on_upgrade(echo)
}

/// Echoes every message whole, from the two halves in two tasks (as an application would split them).
async fn echo(ws: UpgradedWebSocket) {
    let (mut reader, mut writer) = ws.split();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(MessageKind, Vec<u8>)>(16);
    let sending = tokio::spawn(async move {
        while let Some((kind, payload)) = rx.recv().await {
            if writer.send(kind, &payload).await.is_err() {
                return;
            }
        }
    });
    loop {
        let reply = match reader.recv().await {
            Ok(Message::Text(text)) => (MessageKind::Text, text.as_bytes().to_vec()),
            Ok(Message::Binary(bytes)) => (MessageKind::Binary, bytes.to_vec()),
            _ => break,
        };
        if tx.send(reply).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = sending.await;
}

/// One route for the page and the socket: `Option<WebSocketUpgrade>` is `None` for a plain request.
async fn both_route(upgrade: Option<WebSocketUpgrade>) -> Response {
    match upgrade {
        Some(upgrade) => upgrade.on_upgrade(echo),
        None => Response::new("a page and a socket".into()),
    }
}

/// The axum app on a free port.
async fn serve_axum() -> SocketAddr {
    let app = Router::new()
        .route("/", get(|| async { "hello over http" }))
        .route("/ws", get(ws_route))
        .route("/both", get(both_route));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// rill's own listener, for comparing answers.
async fn serve_rill() -> SocketAddr {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let _ = accept(stream, Config::default()).await;
            });
        }
    });
    addr
}

/// Sends `request` and reads the answer until the server closes.
async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8(answer).unwrap()
}

/// Status, headers (lower-cased names) and body of an HTTP/1.1 answer.
fn parse(answer: &str) -> (u16, Vec<(String, String)>, String) {
    let (head, body) = answer.split_once("\r\n\r\n").expect("a complete head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn upgrade_request(path: &str, key: Option<&str>, version: &str) -> String {
    let key = key.map_or(String::new(), |k| format!("Sec-WebSocket-Key: {k}\r\n"));
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}\
         Sec-WebSocket-Version: {version}\r\n\r\n"
    )
}

#[tokio::test]
async fn the_http_route_and_the_websocket_route_share_a_port() {
    bounded(async {
        let addr = serve_axum().await;
        let (status, _, body) = parse(
            &exchange(
                addr,
                "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            )
            .await,
        );
        assert_eq!((status, body.as_str()), (200, "hello over http"));

        let options = ClientOptions {
            protocols: vec!["superchat".into(), "chat".into()],
            ..ClientOptions::default()
        };
        let (mut ws, response) = connect_with_response(
            &format!("ws://{addr}/ws?room=1"),
            &options,
            Config::default(),
        )
        .await
        .unwrap();
        assert_eq!(ws.protocol(), Some("chat"));
        assert_eq!(response.header("x-path"), Some("/ws?room=1"));
        ws.send_text("héllo ✓").await.unwrap();
        match ws.recv().await.unwrap() {
            Message::Text(text) => assert_eq!(text, "héllo ✓"),
            other => panic!("expected text, got {other:?}"),
        }
        let big: Vec<u8> = (0..300_000).map(|i| (i * 31 % 251) as u8).collect();
        ws.send_binary(&big).await.unwrap();
        match ws.recv().await.unwrap() {
            Message::Binary(bytes) => assert!(bytes == big.as_slice()),
            other => panic!("expected binary, got {other:?}"),
        }
        ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_optional_upgrade_serves_a_page_and_a_socket_on_one_route() {
    bounded(async {
        let addr = serve_axum().await;
        let (status, _, body) = parse(
            &exchange(
                addr,
                "GET /both HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            )
            .await,
        );
        assert_eq!((status, body.as_str()), (200, "a page and a socket"));
        // Asking for a WebSocket but breaking a rule is still refused with rill's answer.
        let (status, _, body) = parse(&exchange(addr, &upgrade_request("/both", None, "13")).await);
        assert_eq!(
            (status, body.as_str()),
            (400, "Sec-WebSocket-Key must be base64 of 16 bytes")
        );
        let (mut ws, _) = connect_with_response(
            &format!("ws://{addr}/both"),
            &ClientOptions::default(),
            Config::default(),
        )
        .await
        .unwrap();
        ws.send_text("one route").await.unwrap();
        match ws.recv().await.unwrap() {
            Message::Text(text) => assert_eq!(text, "one route"),
            other => panic!("expected text, got {other:?}"),
        }
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn bad_upgrades_get_the_same_answer_as_from_rills_listener() {
    bounded(async {
        let axum = serve_axum().await;
        let rill = serve_rill().await;
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let cases = [
            (
                "missing key",
                upgrade_request("/ws", None, "13"),
                400,
                "Sec-WebSocket-Key must be base64 of 16 bytes",
            ),
            (
                "short key",
                upgrade_request("/ws", Some("c2hvcnQ="), "13"),
                400,
                "Sec-WebSocket-Key must be base64 of 16 bytes",
            ),
            (
                "version 12",
                upgrade_request("/ws", Some(key), "12"),
                426,
                "Sec-WebSocket-Version must be 13",
            ),
            (
                "plain GET",
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_string(),
                426,
                "missing Upgrade: websocket",
            ),
            (
                "no Connection: upgrade",
                format!(
                    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
                     Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ),
                400,
                "Connection header does not list upgrade",
            ),
        ];
        for (name, request, status, reason) in cases {
            let (a_status, a_headers, a_body) = parse(&exchange(axum, &request).await);
            let (r_status, r_headers, r_body) = parse(&exchange(rill, &request).await);
            assert_eq!(
                (a_status, a_body.as_str()),
                (status, reason),
                "axum, {name}"
            );
            assert_eq!(
                (r_status, r_body.as_str()),
                (status, reason),
                "rill, {name}"
            );
            for name in ["sec-websocket-version", "upgrade", "content-type"] {
                assert_eq!(
                    header(&a_headers, name),
                    header(&r_headers, name),
                    "{name} for {request:?}"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn frames_sent_with_the_request_are_not_lost() {
    bounded(async {
        let addr = serve_axum().await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // The request and a masked text frame "early" in one write: hyper must hand the frame over.
        let mut bytes = upgrade_request("/ws", Some("dGhlIHNhbXBsZSBub25jZQ=="), "13").into_bytes();
        let mask = [1u8, 2, 3, 4];
        bytes.extend_from_slice(&[0x81, 0x80 | 5]);
        bytes.extend_from_slice(&mask);
        bytes.extend(b"early".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        stream.write_all(&bytes).await.unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 1024];
        let frame = loop {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&chunk[..n]);
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_string();
                assert!(head.starts_with("HTTP/1.1 101"), "{head}");
                assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
                if got.len() >= end + 4 + 7 {
                    break got[end + 4..end + 4 + 7].to_vec();
                }
            }
        };
        assert_eq!(frame, b"\x81\x05early");
    })
    .await;
}

/// hyper without axum, on a current-thread runtime: the connection is served with `spawn_local`, so
/// nothing about it needs `Send`.
#[test]
fn the_hyper_upgrade_needs_no_send_when_run_locally() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(
        &runtime,
        bounded(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            // Rc: not Send, shared by the connection's tasks.
            let greeting = std::rc::Rc::new(String::from("welcome"));
            tokio::task::spawn_local(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let service = hyper::service::service_fn(move |mut request| {
                    let greeting = greeting.clone();
                    async move {
                        let (response, upgrading) = upgrade(&mut request, Config::default(), |r| {
                            if r.path() == "/ws" {
                                Decision::accept()
                            } else {
                                Decision::Reject {
                                    status: 404,
                                    reason: "not here".into(),
                                }
                            }
                        });
                        if let Some(upgrading) = upgrading {
                            tokio::task::spawn_local(async move {
                                let mut ws = upgrading.websocket().await.unwrap();
                                ws.send_text(&greeting).await.unwrap();
                                while let Ok(Message::Text(text)) = ws.recv().await {
                                    let reply = text.to_string();
                                    ws.send_text(&reply).await.unwrap();
                                }
                            });
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .with_upgrades()
                    .await
                    .unwrap();
            });
            let (mut ws, _) = connect_with_response(
                &format!("ws://{addr}/ws"),
                &ClientOptions::default(),
                Config::default(),
            )
            .await
            .unwrap();
            match ws.recv().await.unwrap() {
                Message::Text(text) => assert_eq!(text, "welcome"),
                other => panic!("expected the greeting, got {other:?}"),
            }
            ws.send_text("again").await.unwrap();
            match ws.recv().await.unwrap() {
                Message::Text(text) => assert_eq!(text, "again"),
                other => panic!("expected the echo, got {other:?}"),
            }
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        }),
    );
}
