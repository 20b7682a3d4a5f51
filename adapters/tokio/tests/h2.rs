//! WebSockets over HTTP/2 (RFC 8441; features `axum` and `rustls`): hyper's own HTTP/2 client against
//! rill's extractor and hyper upgrade (statuses, headers, every byte echoed), rill's HTTP/2 client against
//! a server written with hyper alone, the fallback to HTTP/1.1, one hundred sockets on one connection with
//! one of them stalled by its reader, the handshake's bound, and the client through an HTTP CONNECT proxy.

use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::ext::Protocol;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rill_tokio::h2::{connect, Connected, H2Connection};
use rill_tokio::tls::{client_config, roots_from_pem, server_config_from_pem, TlsAcceptor};
use rill_tokio::upgrade::{upgrade, UpgradedWebSocket};
use rill_tokio::{ClientOptions, CloseCode, Config, Decision, Error, Message, MessageKind, Proxy};
use rill_tokio::{Timeout, WebSocketUpgrade};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Every test finishes within this time or fails.
const LIMIT: Duration = Duration::from_secs(30);

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("test took too long")
}

/// Echoes every message whole.
async fn echo(mut ws: UpgradedWebSocket) {
    loop {
        let reply = match ws.recv().await {
            Ok(Message::Text(text)) => (MessageKind::Text, text.as_bytes().to_vec()),
            Ok(Message::Binary(bytes)) => (MessageKind::Binary, bytes.to_vec()),
            _ => return,
        };
        if ws.send(reply.0, &reply.1).await.is_err() {
            return;
        }
    }
}

async fn ws_route(upgrade: WebSocketUpgrade) -> Response {
    let target = upgrade.request().target().to_string();
    upgrade
        .select_protocol(&["chat"])
        .header("X-Target", target)
        .on_upgrade(echo)
}

async fn both_route(upgrade: Option<WebSocketUpgrade>) -> Response {
    match upgrade {
        Some(upgrade) => upgrade.on_upgrade(echo),
        None => Response::new("a page and a socket".into()),
    }
}

/// Bytes sent to the stalled socket of the hundred, counted as each send returns.
static FLOODED: AtomicUsize = AtomicUsize::new(0);

/// Told when the flood's sends fail (its stream was reset).
static FLOOD_ENDED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Sends 16 KiB messages until the client stops taking them (or leaves).
async fn flood_route(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(|mut ws| async move {
        let chunk = vec![7u8; 16 << 10];
        while ws.send_binary(&chunk).await.is_ok() {
            FLOODED.fetch_add(chunk.len(), Ordering::SeqCst);
        }
        FLOOD_ENDED.notify_one();
    })
}

fn app() -> Router {
    Router::new()
        .route("/ws", any(ws_route))
        .route("/both", any(both_route))
        .route("/flood", any(flood_route))
        .route("/page", get(|| async { "hello over h2" }))
}

/// The router on a free port, HTTP/1.1 and HTTP/2 (extended CONNECT enabled unless `connect_protocol`
/// is false), TLS when `tls` is given.
async fn serve(app: Router, tls: Option<TlsAcceptor>, connect_protocol: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut http = auto::Builder::new(TokioExecutor::new());
    if connect_protocol {
        http.http2().enable_connect_protocol();
    }
    let http = Arc::new(http);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            // As axum_chat does: a frame's last small segment must not wait for Nagle's algorithm.
            tcp.set_nodelay(true).unwrap();
            let (http, tls, app) = (http.clone(), tls.clone(), app.clone());
            tokio::spawn(async move {
                let service = TowerToHyperService::new(app);
                let _ = match tls {
                    None => {
                        http.serve_connection_with_upgrades(TokioIo::new(tcp), service)
                            .await
                    }
                    Some(tls) => {
                        let Ok(stream) = tls.accept(tcp).await else {
                            return;
                        };
                        http.serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .await
                    }
                };
            });
        }
    });
    addr
}

/// hyper's HTTP/2 client over cleartext (prior knowledge).
async fn hyper_h2(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(connection);
    send
}

/// An extended CONNECT to `path` with `headers`.
fn extended_connect(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> http::Request<Empty<Bytes>> {
    let mut request = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://{addr}{path}"))
        .header("sec-websocket-version", "13")
        .extension(Protocol::from_static("websocket"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Empty::new()).unwrap()
}

/// A client frame: masked.
fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n < 65536 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The next frame from `io`: FIN, opcode, payload (unmasked if masked), and whether it was masked.
async fn read_frame<S: AsyncRead + Unpin>(io: &mut S) -> (bool, u8, Vec<u8>, bool) {
    let mut head = [0u8; 2];
    io.read_exact(&mut head).await.unwrap();
    let len = match head[1] & 0x7f {
        126 => u64::from(io.read_u16().await.unwrap()),
        127 => io.read_u64().await.unwrap(),
        n => u64::from(n),
    };
    let masked = head[1] & 0x80 != 0;
    let mut mask = [0u8; 4];
    if masked {
        io.read_exact(&mut mask).await.unwrap();
    }
    let mut payload = vec![0u8; len as usize];
    io.read_exact(&mut payload).await.unwrap();
    if masked {
        payload
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b ^= mask[i % 4]);
    }
    (head[0] & 0x80 != 0, head[0] & 0x0f, payload, masked)
}

/// The next whole message from `io` (its continuation frames joined): opcode and payload.
async fn read_message<S: AsyncRead + Unpin>(io: &mut S) -> (u8, Vec<u8>) {
    let (mut fin, opcode, mut payload, masked) = read_frame(io).await;
    assert!(!masked, "a server's frame is not masked");
    while !fin {
        let (last, continuation, more, masked) = read_frame(io).await;
        assert_eq!((continuation, masked), (0, false));
        payload.extend_from_slice(&more);
        fin = last;
    }
    (opcode, payload)
}

async fn body_text(response: http::Response<hyper::body::Incoming>) -> String {
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn hyper_h2_client_gets_a_websocket_from_the_extractor() {
    bounded(async {
        let addr = serve(app(), None, true).await;
        let mut h2 = hyper_h2(addr).await;
        // The agreement: subprotocol, permessage-deflate, the handler's header; none of HTTP/1.1's fields.
        let offer = [
            ("sec-websocket-protocol", "superchat, chat"),
            (
                "sec-websocket-extensions",
                "permessage-deflate; client_max_window_bits",
            ),
        ];
        let response = h2
            .send_request(extended_connect(addr, "/ws?room=1", &offer))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers["sec-websocket-protocol"], "chat");
        assert!(headers["sec-websocket-extensions"]
            .to_str()
            .unwrap()
            .starts_with("permessage-deflate"));
        assert_eq!(headers["x-target"], "/ws?room=1");
        for absent in ["sec-websocket-accept", "upgrade", "connection"] {
            assert!(!headers.contains_key(absent), "{absent} in {headers:?}");
        }
        // Every byte echoed on a second stream (no deflate), with the first still open.
        let response = h2
            .send_request(extended_connect(addr, "/ws", &[]))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut io = TokioIo::new(hyper::upgrade::on(response).await.unwrap());
        io.write_all(&masked(1, "héllo ✓".as_bytes()))
            .await
            .unwrap();
        assert_eq!(
            read_message(&mut io).await,
            (1, "héllo ✓".as_bytes().to_vec())
        );
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
        io.write_all(&masked(2, &big)).await.unwrap();
        let (opcode, echoed) = read_message(&mut io).await;
        assert!(opcode == 2 && echoed == big, "300 kB echoed");
        io.write_all(&masked(8, &[0x03, 0xe8])).await.unwrap();
        let (_, opcode, payload, _) = read_frame(&mut io).await;
        assert_eq!((opcode, &payload[..2]), (8, &[0x03, 0xe8][..]));
    })
    .await;
}

#[tokio::test]
async fn refusals_over_h2_are_statuses_with_reasons() {
    bounded(async {
        // The hyper upgrade without axum, deciding on the path.
        let hyper_only = hyper::service::service_fn(|mut request| async move {
            let (response, upgrading) =
                upgrade(&mut request, Config::default(), |r| match r.path() {
                    "/ws" => Decision::accept(),
                    _ => Decision::Reject {
                        status: 404,
                        reason: "no socket here".into(),
                    },
                });
            if let Some(upgrading) = upgrading {
                tokio::spawn(async move {
                    if let Ok(ws) = upgrading.websocket().await {
                        echo(ws).await;
                    }
                });
            }
            Ok::<_, std::convert::Infallible>(response)
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hyper_addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .enable_connect_protocol()
                        .serve_connection(TokioIo::new(tcp), hyper_only),
                );
            }
        });
        let axum_addr = serve(app(), None, true).await;
        const KEY: (&str, &str) = ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        type Case<'a> = (SocketAddr, &'a str, &'a [(&'a str, &'a str)], u16, &'a str);
        let cases: [Case<'_>; 5] = [
            (
                axum_addr,
                "/ws",
                &[("sec-websocket-version", "12")],
                426,
                "Sec-WebSocket-Version must be 13",
            ),
            (
                axum_addr,
                "/ws",
                &[KEY],
                400,
                "Sec-WebSocket-Key is not used over HTTP/2 (RFC 8441)",
            ),
            (hyper_addr, "/elsewhere", &[], 404, "no socket here"),
            (
                hyper_addr,
                "/ws",
                &[("sec-websocket-version", "8")],
                426,
                "Sec-WebSocket-Version must be 13",
            ),
            (
                hyper_addr,
                "/ws",
                &[KEY],
                400,
                "Sec-WebSocket-Key is not used over HTTP/2 (RFC 8441)",
            ),
        ];
        for (addr, path, headers, status, reason) in cases {
            let mut h2 = hyper_h2(addr).await;
            let mut request = extended_connect(addr, path, &[]);
            for (name, value) in headers {
                request.headers_mut().insert(*name, value.parse().unwrap());
            }
            let response = h2.send_request(request).await.unwrap();
            assert_eq!(response.status(), status, "{path} {headers:?}");
            assert!(!response.headers().contains_key("connection"));
            assert_eq!(body_text(response).await, reason);
        }
        // A plain HTTP/2 request to a route that takes an optional upgrade gets the page; to one that
        // needs it, rill's 426.
        let mut h2 = hyper_h2(axum_addr).await;
        let get = |path: &str| {
            http::Request::get(format!("http://{axum_addr}{path}"))
                .body(Empty::<Bytes>::new())
                .unwrap()
        };
        let page = h2.send_request(get("/both")).await.unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(body_text(page).await, "a page and a socket");
        let needs = h2.send_request(get("/ws")).await.unwrap();
        assert_eq!(needs.status(), 426);
        // The accepted one still works on this server.
        let response = h2
            .send_request(extended_connect(hyper_addr, "/ws", &[]))
            .await;
        assert!(response.is_ok());
    })
    .await;
}

#[tokio::test]
async fn rills_h2_client_against_a_server_written_with_hyper_alone() {
    bounded(async {
        // A server that knows nothing of rill: it checks the request, answers 200 with a subprotocol,
        // sends an unmasked text frame, and reads the client's frame.
        let (got, mut heard) = tokio::sync::mpsc::channel::<(Vec<u8>, bool)>(1);
        let service =
            hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                let got = got.clone();
                async move {
                    let ok = request.method() == http::Method::CONNECT
                        && request.extensions().get::<Protocol>().map(Protocol::as_str)
                            == Some("websocket")
                        && request.headers()["sec-websocket-version"] == "13"
                        && request.headers()["sec-websocket-protocol"] == "chat, superchat"
                        && !request.headers().contains_key("sec-websocket-key")
                        && request.uri().path() == "/room";
                    let mut response = http::Response::new(Full::new(Bytes::new()));
                    if !ok {
                        *response.status_mut() = http::StatusCode::BAD_REQUEST;
                        return Ok::<_, std::convert::Infallible>(response);
                    }
                    response
                        .headers_mut()
                        .insert("sec-websocket-protocol", "superchat".parse().unwrap());
                    tokio::spawn(async move {
                        let mut io = TokioIo::new(hyper::upgrade::on(request).await.unwrap());
                        io.write_all(b"\x81\x10hello from hyper").await.unwrap();
                        let (_, _, payload, was_masked) = read_frame(&mut io).await;
                        got.send((payload, was_masked)).await.unwrap();
                        io.write_all(b"\x88\x02\x03\xe8").await.unwrap();
                        let _ = read_frame(&mut io).await; // the close's answer
                    });
                    Ok(response)
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .enable_connect_protocol()
                .serve_connection(TokioIo::new(tcp), service)
                .await
        });
        let connection = H2Connection::connect(&format!("ws://{addr}"), None, Config::default())
            .await
            .unwrap();
        let options = ClientOptions {
            protocols: vec!["chat".into(), "superchat".into()],
            ..ClientOptions::default()
        };
        let (mut ws, response) = connection.open("/room", &options).await.unwrap();
        assert_eq!(response.protocol(), Some("superchat"));
        assert_eq!(ws.protocol(), Some("superchat"));
        match ws.recv().await.unwrap() {
            Message::Text(text) => assert_eq!(text, "hello from hyper"),
            other => panic!("{other:?}"),
        }
        ws.send_text("hi").await.unwrap();
        assert_eq!(heard.recv().await.unwrap(), (b"hi".to_vec(), true));
        match ws.recv().await.unwrap() {
            Message::Close(code, _) => assert_eq!(code, Some(CloseCode::NORMAL)),
            other => panic!("{other:?}"),
        }
    })
    .await;
}

/// A CA and a certificate for `localhost` signed by it, as PEM files in a fresh directory.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let id = format!(
            "{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(format!("rill-h2-test-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
        Pki { dir }
    }

    /// The server's acceptor, offering `alpn` in ALPN.
    fn acceptor(&self, alpn: &[&[u8]]) -> TlsAcceptor {
        let config =
            server_config_from_pem(self.dir.join("server.pem"), self.dir.join("server.key"))
                .unwrap();
        let mut config = config.as_ref().clone();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsAcceptor::from(Arc::new(config))
    }

    fn client(&self) -> Arc<rill_tokio::tls::rustls::ClientConfig> {
        client_config(roots_from_pem(self.dir.join("ca.pem")).unwrap())
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn echo_once<S: AsyncRead + AsyncWrite>(ws: &mut rill_tokio::WebSocket<S>, text: &str) {
    ws.send_text(text).await.unwrap();
    match ws.recv().await.unwrap() {
        Message::Text(echoed) => assert_eq!(echoed, text),
        other => panic!("{other:?}"),
    }
}

/// An HTTP CONNECT proxy: answers 200 to every CONNECT, then relays the tunnel's bytes both ways. Returns
/// its address and the targets of the tunnels it opened.
async fn connect_proxy() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tunnels = Arc::new(Mutex::new(Vec::new()));
    let log = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                log.lock().unwrap().push(target.clone());
                let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let established = b"HTTP/1.1 200 Connection established\r\n\r\n";
                if client.write_all(established).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (addr, tunnels)
}

#[tokio::test]
async fn rills_h2_client_goes_through_the_proxy_its_options_name() {
    bounded(async {
        let pki = Pki::new();
        let (proxy, tunnels) = connect_proxy().await;
        let options = ClientOptions {
            proxy: Proxy::Url(format!("http://{proxy}")),
            ..ClientOptions::default()
        };
        let h2 = serve(app(), Some(pki.acceptor(&[b"h2", b"http/1.1"])), true).await;
        let url = format!("wss://localhost:{}/ws", h2.port());
        match connect(&url, &options, pki.client(), Config::default())
            .await
            .unwrap()
        {
            Connected::Http2(mut ws, _) => echo_once(&mut ws, "through the tunnel").await,
            Connected::Http1(..) => panic!("expected HTTP/2"),
        }
        // HTTP/2 without extended CONNECT: the second connection, for the upgrade, is tunnelled too.
        let plain_h2 = serve(app(), Some(pki.acceptor(&[b"h2", b"http/1.1"])), false).await;
        let url = format!("wss://localhost:{}/ws", plain_h2.port());
        match connect(&url, &options, pki.client(), Config::default())
            .await
            .unwrap()
        {
            Connected::Http1(mut ws, _) => echo_once(&mut ws, "fell back, tunnelled").await,
            Connected::Http2(..) => panic!("expected HTTP/1.1"),
        }
        let (first, second) = (h2.port(), plain_h2.port());
        assert_eq!(
            *tunnels.lock().unwrap(),
            [first, second, second].map(|port| format!("localhost:{port}"))
        );
    })
    .await;
}

#[tokio::test]
async fn rills_client_asks_for_h2_over_tls_and_falls_back_to_http1() {
    bounded(async {
        let pki = Pki::new();
        let options = ClientOptions {
            protocols: vec!["chat".into()],
            ..ClientOptions::default()
        };
        // ALPN h2 and extended CONNECT: a stream of an HTTP/2 connection, deflate agreed as over HTTP/1.1.
        let h2 = serve(app(), Some(pki.acceptor(&[b"h2", b"http/1.1"])), true).await;
        let url = format!("wss://localhost:{}/ws", h2.port());
        match connect(&url, &options, pki.client(), Config::default())
            .await
            .unwrap()
        {
            Connected::Http2(mut ws, response) => {
                assert_eq!(response.protocol(), Some("chat"));
                assert_eq!(response.header("x-target"), Some("/ws"));
                assert!(response.deflate().is_some());
                echo_once(&mut ws, "over h2 and TLS").await;
                let big = vec![0x5au8; 1 << 20];
                ws.send_binary(&big).await.unwrap();
                match ws.recv().await.unwrap() {
                    Message::Binary(bytes) => assert!(bytes == big.as_slice()),
                    other => panic!("{other:?}"),
                }
                ws.close(CloseCode::NORMAL, "bye").await.unwrap();
            }
            Connected::Http1(..) => panic!("expected HTTP/2"),
        }
        // ALPN http/1.1 only: the upgrade on the same TLS connection.
        let h1 = serve(app(), Some(pki.acceptor(&[b"http/1.1"])), true).await;
        let url = format!("wss://localhost:{}/ws", h1.port());
        match connect(&url, &options, pki.client(), Config::default())
            .await
            .unwrap()
        {
            Connected::Http1(mut ws, response) => {
                assert_eq!(response.protocol(), Some("chat"));
                echo_once(&mut ws, "over HTTP/1.1").await;
            }
            Connected::Http2(..) => panic!("expected HTTP/1.1"),
        }
        // HTTP/2 without extended CONNECT: a new connection, for the upgrade.
        let plain_h2 = serve(app(), Some(pki.acceptor(&[b"h2", b"http/1.1"])), false).await;
        let url = format!("wss://localhost:{}/ws", plain_h2.port());
        match connect(&url, &options, pki.client(), Config::default())
            .await
            .unwrap()
        {
            Connected::Http1(mut ws, _) => echo_once(&mut ws, "fell back").await,
            Connected::Http2(..) => panic!("expected HTTP/1.1"),
        }
        // And asking for HTTP/2 alone there fails with Unsupported, as documented.
        let refused =
            H2Connection::connect(&format!("ws://{plain_h2}"), None, Config::default()).await;
        assert!(refused.is_err());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_sockets_share_a_connection_and_a_stalled_reader_holds_back_only_its_sender() {
    bounded(async {
        let addr = serve(app(), None, true).await;
        let config = Config {
            max_read_buffer: 64 << 10,
            deflate: None,
            ..Config::default()
        };
        let connection = H2Connection::connect(&format!("ws://{addr}"), None, config)
            .await
            .unwrap();
        // One socket whose server floods it and whose reader never reads.
        let (stalled, _) = connection
            .open("/flood", &ClientOptions::default())
            .await
            .unwrap();
        let mut sockets = Vec::new();
        for _ in 0..99 {
            sockets.push(
                connection
                    .open("/ws", &ClientOptions::default())
                    .await
                    .unwrap()
                    .0,
            );
        }
        // The others exchange 4 KiB messages, all at once, twenty rounds each.
        let mut running = tokio::task::JoinSet::new();
        for (i, mut ws) in sockets.into_iter().enumerate() {
            running.spawn(async move {
                for round in 0..20u32 {
                    let message = vec![(i as u32 * 20 + round) as u8; 4096];
                    ws.send_binary(&message).await.unwrap();
                    match ws.recv().await.unwrap() {
                        Message::Binary(bytes) => assert!(bytes == message.as_slice()),
                        other => panic!("{other:?}"),
                    }
                }
                ws.close(CloseCode::NORMAL, "").await.unwrap();
            });
        }
        while let Some(done) = running.join_next().await {
            done.unwrap();
        }
        // All that while the flood stayed within the stalled stream's window (64 KiB) and the buffers
        // on its way (the server's write buffer, the few writes hyper holds): bounded, not growing.
        let flooded = FLOODED.load(Ordering::SeqCst);
        assert!(
            flooded >= 64 << 10,
            "the flood filled the window: {flooded}"
        );
        assert!(
            flooded <= 256 << 10,
            "the flood was held back: {flooded} bytes"
        );
        // Dropping the stalled socket resets its stream: the server's blocked send fails, and the
        // connection goes on.
        drop(stalled);
        FLOOD_ENDED.notified().await;
        let (mut again, _) = connection
            .open("/ws", &ClientOptions::default())
            .await
            .unwrap();
        echo_once(&mut again, "still flowing").await;
    })
    .await;
}

#[tokio::test]
async fn an_h2_handshake_that_gets_no_answer_ends_at_the_handshake_timeout() {
    bounded(async {
        // Accepts, then says nothing.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tcp = tcp;
            let mut sink = Vec::new();
            let _ = tcp.read_to_end(&mut sink).await;
        });
        let config = Config {
            handshake_timeout: Duration::from_millis(300),
            ..Config::default()
        };
        let started = std::time::Instant::now();
        let failed = H2Connection::connect(&format!("ws://{addr}"), None, config).await;
        assert!(
            matches!(failed, Err(Error::Timeout(Timeout::Handshake))),
            "{:?}",
            failed.err()
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        silent.abort();
    })
    .await;
}

/// Echo throughput and handshake time, HTTP/2 against HTTP/1.1, same server, same run (cleartext: h2c
/// and `ws://`). Not a check, a measurement for docs/http2.md:
/// `cargo test --release -p rill-tokio --all-features --test h2 -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_h2_against_http1() {
    let addr = serve(app(), None, true).await;
    let config = Config {
        deflate: None,
        ..Config::default()
    };
    let options = ClientOptions::default();
    const HANDSHAKES: u32 = 500;
    let started = std::time::Instant::now();
    for _ in 0..HANDSHAKES {
        let url = format!("ws://{addr}/ws");
        let (ws, _) = rill_tokio::connect_with_response(&url, &options, config)
            .await
            .unwrap();
        drop(ws);
    }
    let http1 = started.elapsed() / HANDSHAKES;
    let started = std::time::Instant::now();
    for _ in 0..HANDSHAKES {
        let connection = H2Connection::connect(&format!("ws://{addr}"), None, config)
            .await
            .unwrap();
        drop(connection.open("/ws", &options).await.unwrap());
    }
    let h2_new = started.elapsed() / HANDSHAKES;
    let shared = H2Connection::connect(&format!("ws://{addr}"), None, config)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    for _ in 0..HANDSHAKES {
        drop(shared.open("/ws", &options).await.unwrap());
    }
    let h2_stream = started.elapsed() / HANDSHAKES;
    println!(
        "handshake, mean of {HANDSHAKES}: HTTP/1.1 (TCP + upgrade) {http1:?}, HTTP/2 (TCP + preface + \
         settings + CONNECT) {h2_new:?}, HTTP/2 stream on an open connection {h2_stream:?}"
    );
    for size in [20usize, 16 << 10, 1 << 20] {
        let rounds = ((64usize << 20) / size).clamp(64, 20_000);
        let (mut h1_ws, _) =
            rill_tokio::connect_with_response(&format!("ws://{addr}/ws"), &options, config)
                .await
                .unwrap();
        let (mut h2_ws, _) = shared.open("/ws", &options).await.unwrap();
        let message = vec![0x42u8; size];
        let h1_time = echo_rounds(&mut h1_ws, &message, rounds).await;
        let h2_time = echo_rounds(&mut h2_ws, &message, rounds).await;
        let rate = |t: Duration| (size * rounds * 2) as f64 / t.as_secs_f64() / 1e6;
        println!(
            "echo {size} B x {rounds}: HTTP/1.1 {h1_time:?} ({:.1} MB/s both ways), HTTP/2 {h2_time:?} ({:.1} MB/s)",
            rate(h1_time),
            rate(h2_time)
        );
    }
}

/// Sends `message` and waits for its echo, `rounds` times.
async fn echo_rounds<S: AsyncRead + AsyncWrite>(
    ws: &mut rill_tokio::WebSocket<S>,
    message: &[u8],
    rounds: usize,
) -> Duration {
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        ws.send_binary(message).await.unwrap();
        match ws.recv().await.unwrap() {
            Message::Binary(bytes) => assert_eq!(bytes.len(), message.len()),
            other => panic!("{other:?}"),
        }
    }
    started.elapsed()
}
