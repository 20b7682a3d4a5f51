//! The example servers as a user runs them, as child processes: under a low descriptor limit, drained by
//! SIGTERM with a thousand connections busy, full (503), and refusing foreign origins (403). Every wait is
//! on an event (a line of output, a frame, the process's exit) under a time bound.

use rill_tokio::{client_handshake, ClientOptions, CloseCode, Config, Error, Message};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An example built next to this test: `cargo test --workspace` builds them all; a narrower run (one
/// package, `--test server_life`, other features) may not, or leave one older than this test's build, and
/// then it is built here.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
        .join(name);
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    // One build at a time: the tests run in parallel and cargo would only wait for its lock.
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _building = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    if modified(&path) < modified(&exe) {
        let (package, features) = match name {
            "blocking_echo" => ("rill-blocking", ""),
            "axum_chat" => ("rill-tokio", "axum"),
            _ => ("rill-tokio", ""),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let built = Command::new(cargo)
            .args([
                "build",
                "-p",
                package,
                "--example",
                name,
                "--features",
                features,
            ])
            .status()
            .expect("cargo");
        assert!(built.success(), "building {name}");
    }
    path
}

/// A running example; killed if the test ends before it exits.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `name` on a free port (`prlimit --nofile=N:N` first when `nofile` is set) and waits for the
    /// line that names its address.
    fn start(name: &str, args: &[&str], nofile: Option<u32>) -> Server {
        let mut command = match nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg(example(name));
                c
            }
            None => Command::new(example(name)),
        };
        let mut child = command
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the example (is prlimit installed?)");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("read");
        let addr = line
            .split("://")
            .nth(1)
            .expect("an address line")
            .trim()
            .trim_end_matches('/')
            .to_string();
        Server { child, addr }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits (on a thread: the wait blocks) for the exit, at most `bound`.
    async fn exit_within(&mut self, bound: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(started.elapsed() < bound, "no exit within {bound:?}");
            // The child gives no event to wait on here; a 10 ms poll of its exit bounds the error.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn no_deflate() -> Config {
    Config {
        deflate: None,
        ..Config::default()
    }
}

/// A WebSocket client of `addr`, its handshake bounded by `config.handshake_timeout`.
async fn client(addr: &str, config: Config) -> Result<rill_tokio::WebSocket<TcpStream>, Error> {
    let tcp = TcpStream::connect(addr).await.map_err(Error::Io)?;
    tcp.set_nodelay(true).map_err(Error::Io)?;
    client_handshake(tcp, addr, "/", &ClientOptions::default(), config).await
}

/// A raw HTTP upgrade request with `extra` header lines; returns the response's head and body.
async fn raw_upgrade(addr: &str, path: &str, extra: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        loop {
            let n = tcp.read(&mut buf).await.unwrap_or(0);
            response.extend_from_slice(&buf[..n]);
            // A 101 stays open: its head is all there is to read.
            if n == 0
                || response.windows(4).any(|w| w == b"\r\n\r\n")
                    && response.starts_with(b"HTTP/1.1 101")
            {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("an answer");
    String::from_utf8_lossy(&response).into_owned()
}

async fn echo_once(ws: &mut rill_tokio::WebSocket<TcpStream>, text: &str) {
    ws.send_text(text).await.expect("send");
    match ws.recv().await.expect("echo") {
        Message::Text(reply) => assert_eq!(reply, text),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_server_outlives_running_out_of_descriptors_and_serves_again_once_they_are_free() {
    let mut server = Server::start("echo_server", &["--no-deflate"], Some(64));
    let addr = server.addr.clone();
    // 150 clients at once against 64 descriptors: some are served, the rest wait in the backlog while
    // accept fails with EMFILE, until their handshake timeout gives up.
    let config = Config {
        handshake_timeout: Duration::from_secs(2),
        ..no_deflate()
    };
    let mut clients = Vec::new();
    for _ in 0..150 {
        let addr = addr.clone();
        clients.push(tokio::spawn(async move { client(&addr, config).await }));
    }
    let mut open = Vec::new();
    for client in clients {
        if let Ok(Ok(ws)) = client.await {
            open.push(ws);
        }
    }
    assert!(!open.is_empty(), "nobody was served");
    assert!(open.len() < 150, "the descriptor limit did not bite");
    for ws in &mut open {
        echo_once(ws, "still here").await;
    }
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server exited"
    );
    let served = open.len();
    let gone = Instant::now();
    drop(open);
    // A fresh client, as soon as the descriptors are back (it waits in the backlog meanwhile).
    let mut fresh = client(
        &addr,
        Config {
            handshake_timeout: Duration::from_secs(20),
            ..no_deflate()
        },
    )
    .await
    .expect("a fresh client is served");
    echo_once(&mut fresh, "hello again").await;
    println!(
        "fd limit 64: {served} of 150 clients served at once; after they left, a fresh handshake + echo took {} ms",
        gone.elapsed().as_millis()
    );
    fresh.close(CloseCode::NORMAL, "bye").await.expect("close");
    server.terminate();
    assert!(server.exit_within(Duration::from_secs(15)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_a_thousand_busy_connections_each_getting_its_echoes_then_1001() {
    const CLIENTS: usize = 1000;
    const MESSAGES: usize = 20;
    let mut server = Server::start("echo_server", &["--no-deflate", "--drain-secs", "20"], None);
    let addr = server.addr.clone();
    let config = Config {
        handshake_timeout: Duration::from_secs(30),
        ..no_deflate()
    };
    // Open every connection first (bounded concurrency keeps the backlog from overflowing).
    let mut sockets = Vec::new();
    for chunk in 0..CLIENTS / 100 {
        let mut opening = Vec::new();
        for _ in 0..100 {
            let addr = addr.clone();
            opening.push(tokio::spawn(async move { client(&addr, config).await }));
        }
        for open in opening {
            sockets.push(
                open.await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("chunk {chunk}: {e}")),
            );
        }
    }
    // Each client puts its messages in flight, then reads until the close frame.
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::channel::<()>(CLIENTS);
    let mut clients = Vec::new();
    for (id, mut ws) in sockets.into_iter().enumerate() {
        let sent_tx = sent_tx.clone();
        clients.push(tokio::spawn(async move {
            let sent: Vec<String> = (0..MESSAGES)
                .map(|n| format!("client {id} message {n}"))
                .collect();
            for message in &sent {
                ws.send_text(message).await.expect("send");
            }
            sent_tx.send(()).await.unwrap();
            let mut echoed = 0;
            loop {
                match ws.recv().await {
                    Ok(Message::Text(text)) => {
                        assert_eq!(
                            text, sent[echoed],
                            "client {id}: echo out of order or damaged"
                        );
                        echoed += 1;
                    }
                    Ok(Message::Close(code, reason)) => {
                        assert_eq!(code, Some(CloseCode::GOING_AWAY), "client {id}");
                        assert_eq!(reason, rill_tokio::GOING_AWAY_REASON);
                        break;
                    }
                    other => panic!("client {id}: {other:?}"),
                }
            }
            echoed
        }));
    }
    drop(sent_tx);
    for _ in 0..CLIENTS {
        sent_rx.recv().await.unwrap();
    }
    let terminated = Instant::now();
    server.terminate();
    let mut echoed = 0;
    for client in clients {
        echoed += tokio::time::timeout(Duration::from_secs(30), client)
            .await
            .expect("every client gets its close")
            .unwrap();
    }
    let closes = terminated.elapsed();
    let status = server.exit_within(Duration::from_secs(25)).await;
    assert!(status.success(), "{status}");
    println!(
        "drain of {CLIENTS} connections ({echoed} of {} messages echoed before the 1001): every close \
         received in {} ms, process exited after {} ms",
        CLIENTS * MESSAGES,
        closes.as_millis(),
        terminated.elapsed().as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_connections_the_handshake_gets_503_with_retry_after_and_a_freed_place_serves_again(
) {
    let mut server = Server::start("echo_server", &["--max-connections", "3"], None);
    let addr = server.addr.clone();
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(
            client(&addr, Config::default())
                .await
                .expect("within the limit"),
        );
    }
    let refused = raw_upgrade(&addr, "/", "").await;
    assert!(
        refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{refused}"
    );
    assert!(refused.contains("\r\nRetry-After: 1\r\n"), "{refused}");
    assert!(
        refused.ends_with("the server is at its connection limit"),
        "{refused}"
    );
    let mut first = open.remove(0);
    first.close(CloseCode::NORMAL, "done").await.expect("close");
    drop(first);
    // The server frees the place when the connection's task has dropped it, just after the close
    // handshake the client saw end: a client honouring Retry-After comes back; here, within 5 s.
    let started = Instant::now();
    let mut again = loop {
        match client(&addr, Config::default()).await {
            Ok(ws) => break ws,
            Err(Error::Response(_) | Error::Rejected(_))
                if started.elapsed() < Duration::from_secs(5) =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(error) => panic!("not served again: {error}"),
        }
    };
    echo_once(&mut again, "a freed place").await;
    server.terminate();
    assert!(server.exit_within(Duration::from_secs(15)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_stream_refuses_a_foreign_origin_with_403_and_serves_its_own_pages_and_non_browsers()
{
    let mut server = Server::start("token_stream", &[], None);
    let addr = server.addr.clone();
    let foreign = raw_upgrade(&addr, "/ws?session=a", "Origin: https://evil.example\r\n").await;
    assert!(
        foreign.starts_with("HTTP/1.1 403 Forbidden\r\n"),
        "{foreign}"
    );
    assert!(foreign.contains("https://evil.example"), "{foreign}");
    let own = raw_upgrade(
        &addr,
        "/ws?session=b",
        &format!("Origin: http://{addr}\r\n"),
    )
    .await;
    assert!(own.starts_with("HTTP/1.1 101 "), "{own}");
    let none = raw_upgrade(&addr, "/ws?session=c", "").await;
    assert!(none.starts_with("HTTP/1.1 101 "), "{none}");
    server.terminate();
    assert!(server.exit_within(Duration::from_secs(15)).await.success());
}

/// A client that sends `messages` and reads its echoes until the close frame, which must be 1001 after
/// echoes that are an intact, in-order prefix of what it sent; returns how many were echoed.
fn blocking_client_until_going_away(
    mut ws: rill_blocking::WebSocket<std::net::TcpStream>,
    id: usize,
    messages: usize,
) -> usize {
    let sent: Vec<String> = (0..messages)
        .map(|n| format!("client {id} message {n}"))
        .collect();
    for message in &sent {
        ws.send_text(message).expect("send");
    }
    let mut echoed = 0;
    loop {
        match ws.recv().expect("recv") {
            rill_blocking::Message::Text(text) => {
                assert_eq!(text, sent[echoed]);
                echoed += 1;
            }
            rill_blocking::Message::Close(code, reason) => {
                assert_eq!(code, Some(CloseCode::GOING_AWAY));
                assert_eq!(reason, rill_tokio::GOING_AWAY_REASON);
                return echoed;
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_echo_drains_on_sigterm_and_exits_0() {
    let mut server = Server::start("blocking_echo", &[], None);
    let addr = server.addr.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let clients: Vec<_> = (0..50)
        .map(|id| {
            let (addr, ready_tx) = (addr.clone(), ready_tx.clone());
            std::thread::spawn(move || {
                // Connected and sent: the drain may start.
                let mut ws = rill_blocking::connect(&format!("ws://{addr}/")).expect("connect");
                ws.send_text("first").expect("send");
                match ws.recv().expect("echo") {
                    rill_blocking::Message::Text(text) => assert_eq!(text, "first"),
                    other => panic!("{other:?}"),
                }
                ready_tx.send(()).unwrap();
                blocking_client_until_going_away(ws, id, 10)
            })
        })
        .collect();
    drop(ready_tx);
    for _ in 0..50 {
        ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("client ready");
    }
    // Each client sends its 10 messages while the drain starts.
    server.terminate();
    let echoed: usize = clients.into_iter().map(|c| c.join().expect("client")).sum();
    let status = server.exit_within(Duration::from_secs(15)).await;
    assert!(status.success(), "{status}");
    println!(
        "blocking_echo drained 50 connections; {echoed} of 500 messages echoed before the 1001"
    );
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_chat_refuses_foreign_origins_and_its_chats_get_1001_on_sigterm_over_http1_and_http2()
{
    let mut server = Server::start("axum_chat", &[], None);
    let addr = server.addr.clone();
    let foreign = raw_upgrade(&addr, "/ws", "Origin: https://evil.example\r\n").await;
    assert!(
        foreign.starts_with("HTTP/1.1 403 Forbidden\r\n"),
        "{foreign}"
    );
    let own = raw_upgrade(&addr, "/ws", &format!("Origin: http://{addr}\r\n")).await;
    assert!(own.starts_with("HTTP/1.1 101 "), "{own}");
    let tcp = TcpStream::connect(&addr).await.unwrap();
    let options = ClientOptions {
        origin: Some(format!("http://{addr}")),
        ..ClientOptions::default()
    };
    let mut chat = client_handshake(tcp, &addr, "/ws", &options, Config::default())
        .await
        .expect("same-origin chat");
    echo_once(&mut chat, "hi room").await; // the room sends it back to its sender too
                                           // A second chat over HTTP/2 (prior knowledge), in the same room, on the same port.
    let h2 =
        rill_tokio::h2::H2Connection::connect(&format!("ws://{addr}"), None, Config::default())
            .await
            .expect("HTTP/2 with extended CONNECT");
    let (mut h2_chat, _) = h2.open("/ws", &options).await.expect("chat over HTTP/2");
    h2_chat.send_text("hi over h2").await.expect("send");
    for ws_reply in [chat.recv().await, h2_chat.recv().await] {
        match ws_reply.expect("the room's line") {
            Message::Text(text) => assert_eq!(text, "hi over h2"),
            other => panic!("{other:?}"),
        }
    }
    server.terminate();
    for closed in [
        tokio::time::timeout(Duration::from_secs(15), chat.recv()).await,
        tokio::time::timeout(Duration::from_secs(15), h2_chat.recv()).await,
    ] {
        match closed
            .expect("a close within the deadline")
            .expect("close frame")
        {
            Message::Close(code, _) => assert_eq!(code, Some(CloseCode::GOING_AWAY)),
            other => panic!("{other:?}"),
        }
    }
    assert!(server.exit_within(Duration::from_secs(15)).await.success());
}
