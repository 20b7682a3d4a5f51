//! The connection's life as the session runs it under rill-tokio: a vanished peer is dropped on time, a
//! pong never waits for the application's next send, and cancelled futures never corrupt the byte stream.

use rill_tokio::{accept, Config, Error, Listener, Message, MessageKind, Timeout};
use rill_ws::codec::{ControlFrame, Decoded};
use rill_ws::deflate::{Inflate, Inflater};
use rill_ws::{Receiver, Role, Sender};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::net::TcpStream;

const UPGRADE: &[u8] =
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A masked client frame, as a peer would send it.
fn client_frame(sender: &mut Sender, frame: &ControlFrame) -> Vec<u8> {
    let mut out = vec![0u8; 256];
    let len = sender.encode_control(frame, &mut out).unwrap();
    out.truncate(len);
    out
}

/// Reads the 101 response off a raw peer stream.
async fn read_upgrade_response<S: AsyncRead + Unpin>(peer: &mut S) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        peer.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
}

/// Decodes every frame of `bytes` (what one read of the server's stream brought) with the peer's
/// `receiver`, handing each event to `each`.
fn each_frame(receiver: &mut Receiver, bytes: &mut [u8], mut each: impl FnMut(Decoded<'_, '_>)) {
    let mut pos = 0;
    while pos < bytes.len() {
        let received = receiver.receive(&mut bytes[pos..]).unwrap();
        pos += received.consumed;
        if let Some(event) = received.event {
            each(event);
        }
    }
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_dropped_within_the_idle_timeout_while_the_server_streams() {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let idle = Duration::from_secs(1);
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let config = Config {
            idle_timeout: Some(idle),
            ..Config::default()
        };
        let (mut reader, mut writer) = accept(stream, config).await.unwrap().split();
        let started = Instant::now();
        let reading = tokio::spawn(async move { reader.recv().await.map(|_| ()) });
        let chunk = vec![7u8; 64 * 1024];
        let ended = loop {
            if let Err(error) = writer.send_binary(&chunk).await {
                break error;
            }
        };
        (started.elapsed(), ended, reading.await.unwrap())
    });
    // The peer upgrades, then neither reads nor writes again (it vanished), keeping its socket open.
    let mut peer = TcpStream::connect(addr).await.unwrap();
    peer.write_all(UPGRADE).await.unwrap();
    let (elapsed, writer_error, reader_result) =
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("server task never ended")
            .unwrap();
    assert!(
        matches!(writer_error, Error::Timeout(Timeout::Idle)),
        "writer ended with {writer_error:?}"
    );
    assert!(
        matches!(reader_result, Err(Error::Timeout(Timeout::Idle))),
        "reader ended with {reader_result:?}"
    );
    assert!(
        elapsed < idle + Duration::from_secs(1),
        "dropped after {elapsed:?}"
    );
    drop(peer);
}

/// The reader's timer is moved only when it must ring earlier: traffic that keeps pushing the idle deadline
/// later makes it ring early, find the deadline moved, and wait again. The connection must end exactly one
/// idle period after the last frame, neither at the first deadline nor never.
#[tokio::test(start_paused = true)]
async fn the_idle_timeout_runs_from_the_last_frame_while_traffic_keeps_moving_it() {
    let (server_io, mut peer) = tokio::io::duplex(4096);
    let idle = Duration::from_millis(300);
    let server = tokio::spawn(async move {
        let config = Config {
            idle_timeout: Some(idle),
            ..Config::default()
        };
        let mut ws = accept(server_io, config).await.unwrap();
        loop {
            if let Err(error) = ws.recv().await {
                return (tokio::time::Instant::now(), error);
            }
        }
    });
    peer.write_all(UPGRADE).await.unwrap();
    read_upgrade_response(&mut peer).await;
    let mut sender = Sender::client([1; 32]);
    let mut last = tokio::time::Instant::now();
    // Five frames 200 ms apart: each arrives before the deadline the previous one set.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let ping = client_frame(&mut sender, &ControlFrame::ping(b"here").unwrap());
        peer.write_all(&ping).await.unwrap();
        last = tokio::time::Instant::now();
    }
    let (ended, error) = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the idle timeout never fired")
        .unwrap();
    assert!(matches!(error, Error::Timeout(Timeout::Idle)), "{error:?}");
    let after = ended - last;
    assert!(
        after >= idle && after < idle + Duration::from_millis(20),
        "ended {after:?} after the last frame"
    );
}

#[tokio::test]
async fn a_write_timeout_drops_a_peer_that_stops_reading_even_while_it_keeps_sending() {
    let (server_io, mut peer) = tokio::io::duplex(4096);
    let write_timeout = Duration::from_millis(500);
    let server = tokio::spawn(async move {
        let config = Config {
            write_timeout: Some(write_timeout),
            ..Config::default()
        };
        let (mut reader, mut writer) = accept(server_io, config).await.unwrap().split();
        let reading = tokio::spawn(async move { while reader.recv().await.is_ok() {} });
        let started = Instant::now();
        let chunk = vec![1u8; 1000];
        let ended = loop {
            if let Err(error) = writer.send_binary(&chunk).await {
                break error;
            }
        };
        reading.abort();
        (started.elapsed(), ended)
    });
    peer.write_all(UPGRADE).await.unwrap();
    read_upgrade_response(&mut peer).await;
    // The peer keeps the connection alive with pings but never reads again.
    let mut sender = Sender::client([1; 32]);
    let feeding = tokio::spawn(async move {
        loop {
            let ping = client_frame(&mut sender, &ControlFrame::ping(b"alive").unwrap());
            if peer.write_all(&ping).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let (elapsed, error) = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
    feeding.abort();
    assert!(matches!(error, Error::Timeout(Timeout::Write)), "{error:?}");
    assert!(
        elapsed < write_timeout + Duration::from_secs(1),
        "dropped after {elapsed:?}"
    );
}

/// A stream whose writes stay pending while `gate` is shut, to hold a writer inside a write.
struct Gated {
    inner: DuplexStream,
    open: Arc<AtomicBool>,
    waiting: Arc<tokio::sync::Notify>,
}

impl AsyncRead for Gated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Gated {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if !self.open.load(Ordering::SeqCst) {
            self.waiting.notify_one();
            // Polled again by the test's wake-up once the gate opens.
            let waker = cx.waker().clone();
            let open = self.open.clone();
            tokio::spawn(async move {
                while !open.load(Ordering::SeqCst) {
                    tokio::task::yield_now().await;
                }
                waker.wake();
            });
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A server connection upgraded over a [`Gated`] stream (open), with the peer's end of it, the gate, and
/// the signal a write that finds the gate closed gives.
async fn gated_server() -> (
    rill_tokio::WebSocket<Gated>,
    DuplexStream,
    Arc<AtomicBool>,
    Arc<tokio::sync::Notify>,
) {
    let (server_io, mut peer) = tokio::io::duplex(1 << 20);
    let open = Arc::new(AtomicBool::new(true));
    let waiting = Arc::new(tokio::sync::Notify::new());
    let gated = Gated {
        inner: server_io,
        open: open.clone(),
        waiting: waiting.clone(),
    };
    let accepting = tokio::spawn(async move { accept(gated, Config::default()).await.unwrap() });
    peer.write_all(UPGRADE).await.unwrap();
    read_upgrade_response(&mut peer).await;
    (accepting.await.unwrap(), peer, open, waiting)
}

#[tokio::test]
async fn a_pong_queued_while_the_writer_holds_the_socket_leaves_before_the_writer_lets_go() {
    let (ws, mut peer, open, waiting) = gated_server().await;
    let (mut reader, mut writer) = ws.split();
    let reading = tokio::spawn(async move { while reader.recv().await.is_ok() {} });
    // The writer starts a chunked message; its first chunk is stuck in a write.
    open.store(false, Ordering::SeqCst);
    let writing = tokio::spawn(async move {
        let mut chunks = writer.begin(MessageKind::Text).await.unwrap();
        chunks.send(b"first chunk").await.unwrap();
        // The application now thinks for a long time before its next chunk.
        tokio::time::sleep(Duration::from_secs(30)).await;
        chunks.finish(b"").await.unwrap();
    });
    waiting.notified().await;
    // Meanwhile the peer pings; the reader queues the pong but cannot take the write side.
    let mut sender = Sender::client([9; 32]);
    peer.write_all(&client_frame(
        &mut sender,
        &ControlFrame::ping(b"now").unwrap(),
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await; // let the reader see the ping (not a synchronisation: the assertion below waits for bytes)
    open.store(true, Ordering::SeqCst);
    // The pong must arrive while the writer is idle between chunks, not with its next chunk 30 s later.
    let mut receiver = Receiver::new(Role::Client, rill_ws::Limits::default());
    let mut buf = vec![0u8; 4096];
    let pong = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let n = peer.read(&mut buf).await.unwrap();
            let mut pos = 0;
            while pos < n {
                let received = receiver.receive(&mut buf[pos..n]).unwrap();
                pos += received.consumed;
                if let Some(Decoded::Pong(payload)) = received.event {
                    return payload.to_vec();
                }
            }
        }
    })
    .await
    .expect("the pong waited for the writer's next chunk");
    assert_eq!(pong, b"now");
    writing.abort();
    reading.abort();
}

#[tokio::test]
async fn a_send_waits_while_the_reader_writes_a_pong_and_leaves_after_it() {
    let (ws, mut peer, open, waiting) = gated_server().await;
    open.store(false, Ordering::SeqCst);
    let (mut reader, mut writer) = ws.split();
    let reading = tokio::spawn(async move { while reader.recv().await.is_ok() {} });
    // The peer pings; the reader takes the write side for the pong and is stuck in the write.
    let mut sender = Sender::client([9; 32]);
    let ping = client_frame(&mut sender, &ControlFrame::ping(b"now").unwrap());
    peer.write_all(&ping).await.unwrap();
    waiting.notified().await;
    // A send now finds the write side taken and waits for it; it must leave once the pong is out.
    let writing = tokio::spawn(async move { writer.send_text("after").await });
    open.store(true, Ordering::SeqCst);
    let mut receiver = Receiver::new(Role::Client, rill_ws::Limits::default());
    let mut buf = vec![0u8; 4096];
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while seen.len() < 2 {
            let n = peer.read(&mut buf).await.unwrap();
            let mut pos = 0;
            while pos < n {
                let received = receiver.receive(&mut buf[pos..n]).unwrap();
                pos += received.consumed;
                match received.event {
                    Some(Decoded::Pong(payload)) => seen.push(format!("pong {payload:?}")),
                    Some(Decoded::Data(piece)) => seen.push(format!("data {:?}", piece.payload)),
                    _ => {}
                }
            }
        }
    })
    .await
    .expect("the waiting send never left");
    assert_eq!(
        seen,
        [format!("pong {:?}", b"now"), format!("data {:?}", b"after")]
    );
    writing.await.unwrap().unwrap();
    reading.abort();
}

/// Counts the wake-ups of a task that does not exist: whatever holds its waker holds a clone of the `Arc`.
struct Counted(AtomicUsize);

impl std::task::Wake for Counted {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A server stream's reading half that, once its flag is set, keeps no waker of its reader's (its reads
/// wait on the pipe with a waker of their own), so that what still holds the reading task's waker is rill.
struct Forgetful(tokio::io::ReadHalf<DuplexStream>, Arc<AtomicBool>);

impl AsyncRead for Forgetful {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let noop = &mut Context::from_waker(Waker::noop());
        let cx = if self.1.load(Ordering::SeqCst) {
            noop
        } else {
            cx
        };
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

/// A server connection over a pipe of `capacity` bytes whose reading half keeps no waker once the
/// handshake is done ([`Forgetful`]), with the peer's end.
async fn forgetful_server(
    capacity: usize,
) -> (
    rill_tokio::WebSocket<impl AsyncRead + AsyncWrite>,
    DuplexStream,
) {
    let (server_io, mut peer) = tokio::io::duplex(capacity);
    let forget = Arc::new(AtomicBool::new(false));
    let (read, write) = tokio::io::split(server_io);
    let stream = tokio::io::join(Forgetful(read, forget.clone()), write);
    let accepting = tokio::spawn(accept(stream, Config::default()));
    peer.write_all(UPGRADE).await.unwrap();
    read_upgrade_response(&mut peer).await;
    let ws = accepting.await.unwrap().unwrap();
    forget.store(true, Ordering::SeqCst);
    (ws, peer)
}

#[tokio::test]
async fn a_receive_dropped_while_it_waits_leaves_no_waker_behind() {
    // A pipe smaller than a frame: a send waits inside its write.
    let (ws, mut peer) = forgetful_server(64).await;
    let (mut reader, mut writer) = ws.split();
    let task = Arc::new(Counted(AtomicUsize::new(0)));
    let waker = Waker::from(task.clone());
    for _ in 0..2 {
        // Parks on the dry socket and arms the idle timer, then is dropped (a `select!` that went the
        // other way); twice, as a task that receives in a loop does.
        let mut recv = std::pin::pin!(reader.recv());
        let polled = recv.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(polled.is_pending());
    }
    drop(waker);
    assert_eq!(
        Arc::strong_count(&task),
        1,
        "the dropped receive's waker is still held"
    );
    // A send dropped inside a stuck write leaves its frame owed, which wakes a reader that waits: none does.
    {
        let mut send = std::pin::pin!(writer.send_binary(&[7; 200]));
        let polled = send.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(polled.is_pending());
    }
    assert_eq!(
        task.0.load(Ordering::SeqCst),
        0,
        "a dropped receive was woken"
    );
    // Nothing is lost: the next receive makes the owed frame and hears the peer.
    let mut wire = vec![0u8; 256];
    let mut got = 0;
    peer.write_all(&masked_frame(b"still here", [1, 2, 3, 4], true, true))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        let mut recv = std::pin::pin!(reader.recv());
        loop {
            tokio::select! {
                message = &mut recv => {
                    assert_eq!(message.unwrap(), Message::Binary(b"still here"));
                    break;
                }
                read = peer.read(&mut wire[got..]) => got += read.unwrap(),
            }
        }
        while got < 204 {
            got += peer.read(&mut wire[got..]).await.unwrap();
        }
    })
    .await
    .expect("the receive or the owed frame never came");
    assert_eq!(&wire[..4], [0x82, 126, 0, 200]);
    assert!(wire[4..204].iter().all(|&b| b == 7));
}

/// A receive that waits may be dropped where no runtime runs (a value holding it dropped on another
/// thread): taking its waker back must not need one.
#[test]
fn a_receive_dropped_outside_the_runtime_takes_its_waker_back_without_it() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (ws, _peer) = runtime.block_on(forgetful_server(1 << 16));
    let (mut reader, _writer) = ws.split();
    let task = Arc::new(Counted(AtomicUsize::new(0)));
    let mut recv = Box::pin(reader.recv());
    {
        // Polled inside the runtime (its timer registers there), then dropped outside it.
        let _inside = runtime.enter();
        let waker = Waker::from(task.clone());
        assert!(recv
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
    }
    drop(recv);
    assert_eq!(
        Arc::strong_count(&task),
        1,
        "the dropped receive's waker is still held"
    );
}

/// A tiny deterministic generator for the cancellation property test.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below.max(1)
    }
}

/// Runs `future` for at most `polls` scheduler turns, then drops it wherever it stands.
async fn cancel_after<F: std::future::Future>(polls: u64, future: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        output = future => Some(output),
        _ = async { for _ in 0..polls { tokio::task::yield_now().await } } => None,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn futures_dropped_at_any_await_point_leave_a_valid_frame_stream_with_every_pong_whole() {
    cancel_everywhere(false).await;
}

/// The same with permessage-deflate agreed: compressed frames, compressed empty final pieces with pongs
/// owed, and messages whose dropped sends place their rest compressed (issue 23).
#[tokio::test(flavor = "current_thread")]
async fn futures_dropped_at_any_await_point_with_compression_leave_a_valid_compressed_stream() {
    cancel_everywhere(true).await;
}

/// Drops receives, whole sends and chunk sends at random await points while a slow peer pings and sends;
/// the peer checks every frame it gets (and inflates every compressed message when `deflate`).
async fn cancel_everywhere(deflate: bool) {
    const OFFER: &[u8] = b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
    let upgrade = match deflate {
        true => [&UPGRADE[..UPGRADE.len() - 2], OFFER].concat(),
        false => UPGRADE.to_vec(),
    };
    for seed in 1..=24u64 {
        let mut rng = Rng(seed);
        // A small pipe: the server's writes block often, as under a slow peer.
        let (server_io, mut peer) = tokio::io::duplex(64);
        let accepting = tokio::spawn(async move {
            accept(
                server_io,
                Config {
                    write_buffer: 256,
                    ..Config::default()
                },
            )
            .await
            .unwrap()
        });
        peer.write_all(&upgrade).await.unwrap();
        read_upgrade_response(&mut peer).await;
        let (mut reader, mut writer) = accepting.await.unwrap().split();
        let (peer_read, mut peer_write) = tokio::io::split(peer);
        // The peer sends pings with distinct payloads and data, and reads slowly, checking every frame.
        let pings: Vec<Vec<u8>> = (0..20).map(|i| vec![i as u8; 1 + (i * 7) % 125]).collect();
        let sent_pings = pings.clone();
        let sending = tokio::spawn(async move {
            let mut sender = Sender::client([seed as u8; 32]);
            for ping in &sent_pings {
                let frame = client_frame(&mut sender, &ControlFrame::ping(ping).unwrap());
                let head = sender.message(MessageKind::Binary, 40).unwrap();
                let mut data = vec![0u8; 54];
                let len = head.encode(&[3u8; 40], &mut data).unwrap();
                peer_write.write_all(&frame).await.unwrap();
                peer_write.write_all(&data[..len]).await.unwrap();
                tokio::task::yield_now().await;
            }
            peer_write
        });
        let checking = tokio::spawn(async move {
            let mut peer_read = peer_read;
            let mut receiver = Receiver::new(Role::Client, rill_ws::Limits::default());
            receiver.set_deflate(deflate);
            let mut inflater = Inflater::new(vec![0u8; 1 << 15]);
            let (mut pongs, mut compressed) = (Vec::new(), 0);
            let mut buf = [0u8; 7];
            loop {
                let n = peer_read.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return (pongs, compressed);
                }
                let mut pos = 0;
                while pos < n {
                    let received = receiver
                        .receive(&mut buf[pos..n])
                        .expect("the server's byte stream is valid");
                    pos += received.consumed;
                    match received.event {
                        Some(Decoded::Pong(payload)) => pongs.push(payload.to_vec()),
                        Some(Decoded::Compressed(piece)) => {
                            compressed += 1;
                            inflate_checked(&mut inflater, piece.payload, piece.last)
                        }
                        _ => {}
                    }
                }
                tokio::task::yield_now().await;
            }
        });
        let mut received = 0;
        for _ in 0..120 {
            let polls = rng.next(6);
            match rng.next(3) {
                0 => {
                    if let Some(Ok(Some(piece))) = cancel_after(polls, reader.recv_piece()).await {
                        received += usize::from(piece.last);
                    }
                }
                1 => {
                    let len = rng.next(300) as usize;
                    drop(cancel_after(polls, writer.send_binary(&vec![5u8; len])).await);
                }
                _ => {
                    if let Ok(mut chunks) = writer.begin(MessageKind::Binary).await {
                        for _ in 0..rng.next(4) {
                            let len = rng.next(200) as usize;
                            drop(cancel_after(polls, chunks.send(&vec![6u8; len])).await);
                        }
                        let last: &[u8] = if rng.next(2) == 0 { b"end" } else { b"" };
                        drop(cancel_after(polls, chunks.finish(last)).await);
                    }
                }
            }
        }
        // Read the rest of the peer's messages (every ping came before one of them), let everything owed
        // go out, then end the stream so the checker finishes.
        while received < pings.len() {
            let next = tokio::time::timeout(Duration::from_secs(10), reader.recv_piece()).await;
            match next {
                Ok(Ok(Some(piece))) => received += usize::from(piece.last),
                other => panic!(
                    "seed {seed}: the peer's messages stopped: {:?}",
                    other.map(|r| r.map(|_| ()))
                ),
            }
        }
        let _ = writer.flush().await;
        drop(writer);
        drop(reader);
        drop(sending.await.unwrap());
        let (pongs, compressed) = tokio::time::timeout(Duration::from_secs(5), checking)
            .await
            .expect("checker stalled")
            .unwrap();
        assert_eq!(
            compressed > 0,
            deflate,
            "seed {seed}: compressed frames iff agreed"
        );
        assert!(!pongs.is_empty(), "seed {seed}: pings were answered");
        for pong in &pongs {
            assert!(
                pings.contains(pong),
                "seed {seed}: a pong carries exactly one ping's payload"
            );
        }
    }
}

/// Inflates a compressed piece the server sent; its bytes are what the server's sends carry.
fn inflate_checked(inflater: &mut Inflater<Vec<u8>>, mut input: &[u8], last: bool) {
    loop {
        let step = inflater
            .inflate(input, last, usize::MAX)
            .expect("the server's compressed data is valid");
        let output = &inflater.window()[step.start..step.end];
        assert!(
            output.iter().all(|b| b"\x05\x06end".contains(b)),
            "inflated bytes the server never sent"
        );
        input = &input[step.consumed..];
        if step.finished || (input.is_empty() && !last) {
            return;
        }
    }
}

/// A peer that never lets the socket run dry: every read returns at once, first the upgrade request, then
/// masked 1 KiB binary frames without end. Writes are taken whole.
struct Flood {
    head: &'static [u8],
    frame: Vec<u8>,
    at: usize,
}

impl Flood {
    fn new() -> Self {
        // FIN + binary, masked, 16-bit length 1024, mask key 0 (the payload is sent as is).
        let mut frame = vec![0x82, 0xFE, 0x04, 0x00, 0, 0, 0, 0];
        frame.resize(frame.len() + 1024, b'x');
        Flood {
            head: UPGRADE,
            frame,
            at: 0,
        }
    }
}

impl AsyncRead for Flood {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if !this.head.is_empty() {
            let n = this.head.len().min(buf.remaining());
            buf.put_slice(&this.head[..n]);
            this.head = &this.head[n..];
            return Poll::Ready(Ok(()));
        }
        while buf.remaining() > 0 {
            let rest = &this.frame[this.at..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.at = (this.at + n) % this.frame.len();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Flood {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A connection whose peer keeps its socket full yields to the other tasks of its thread, also when it runs
/// `unconstrained` (as the fastwebsockets and tokio-websockets echo examples run theirs), where tokio's
/// cooperative budget does not stop it. Without the reader's own bound the flooded task never returns and
/// the other task never runs.
#[test]
fn a_connection_whose_socket_never_runs_dry_still_lets_other_tasks_run() {
    let (done, finished) = std::sync::mpsc::channel();
    // On a thread of its own: without the bound its runtime never returns.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let counter = received.clone();
            tokio::spawn(tokio::task::unconstrained(async move {
                let mut ws = accept(Flood::new(), Config::default()).await.unwrap();
                while ws.recv().await.is_ok() {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }));
            // Spawned after the flooded connection: it runs only once that one yields.
            let other = tokio::spawn(async move { received.load(Ordering::Relaxed) });
            done.send(other.await.unwrap()).unwrap();
        });
    });
    let received = finished
        .recv_timeout(Duration::from_secs(20))
        .expect("the flooded connection never yielded");
    assert!(received > 0, "the flooded connection received nothing");
}

/// With `Config::default()`, a peer that goes silent gets a ping after 30 s and is dropped after 60 s of
/// silence (`Timeout::Idle`): a vanished peer never holds a connection for good.
#[tokio::test(start_paused = true)]
async fn by_default_a_silent_peer_is_pinged_at_30_s_and_dropped_at_60_s() {
    let (server_io, mut peer) = tokio::io::duplex(4096);
    let server = tokio::spawn(async move {
        let mut ws = accept(server_io, Config::default()).await.unwrap();
        let began = tokio::time::Instant::now();
        let error = loop {
            if let Err(error) = ws.recv().await {
                break error;
            }
        };
        (began.elapsed(), error)
    });
    peer.write_all(UPGRADE).await.unwrap();
    read_upgrade_response(&mut peer).await;
    let silent = tokio::time::Instant::now();
    // The first bytes the server sends on its own: a ping (FIN + opcode 9, unmasked, 8-byte id).
    let mut head = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(120), peer.read_exact(&mut head))
        .await
        .expect("no keepalive ping")
        .unwrap();
    let pinged = silent.elapsed();
    assert_eq!(head, [0x89, 8], "a keepalive ping");
    assert!(
        pinged >= Duration::from_secs(30) && pinged < Duration::from_secs(31),
        "pinged after {pinged:?}"
    );
    let (elapsed, error) = tokio::time::timeout(Duration::from_secs(120), server)
        .await
        .expect("the idle timeout never fired")
        .unwrap();
    assert!(matches!(error, Error::Timeout(Timeout::Idle)), "{error:?}");
    assert!(
        elapsed >= Duration::from_secs(60) && elapsed < Duration::from_secs(61),
        "dropped after {elapsed:?}"
    );
}

/// A server with `config` that stays quiet for `quiet`, then sends to a peer that never reads until a send
/// fails: how long the sends took, and the error (within 120 s of paused time, else `never` panics).
async fn sends_to_a_peer_that_never_reads(
    config: Config,
    quiet: Duration,
    never: &str,
) -> (Duration, Error) {
    let (server_io, mut peer) = tokio::io::duplex(4096);
    let server = tokio::spawn(async move {
        let mut ws = accept(server_io, config).await.unwrap();
        tokio::time::sleep(quiet).await;
        let began = tokio::time::Instant::now();
        let chunk = vec![1u8; 1000];
        let error = loop {
            if let Err(error) = ws.send_binary(&chunk).await {
                break error;
            }
        };
        (began.elapsed(), error)
    });
    peer.write_all(UPGRADE).await.unwrap();
    read_upgrade_response(&mut peer).await;
    let ended = tokio::time::timeout(Duration::from_secs(120), server)
        .await
        .expect(never)
        .unwrap();
    drop(peer);
    ended
}

/// With `Config::default()`, a send to a peer that stopped reading fails within the 30 s write timeout
/// instead of waiting forever.
#[tokio::test(start_paused = true)]
async fn by_default_a_send_to_a_peer_that_stopped_reading_fails_within_30_s() {
    let (elapsed, error) = sends_to_a_peer_that_never_reads(
        Config::default(),
        Duration::ZERO,
        "the send waited forever",
    )
    .await;
    assert!(matches!(error, Error::Timeout(Timeout::Write)), "{error:?}");
    assert!(
        elapsed <= Duration::from_secs(31),
        "failed after {elapsed:?}"
    );
}

/// The write timeout runs from the write that stalled, not from an earlier instant: sends place and write
/// frames without reading the clock, and a write that has to wait gives the session the time first. A
/// connection that was quiet for 40 s and then meets a full socket fails 5 s later, not at once (an instant
/// from the connection's start) and not never (an instant the session never learnt).
#[tokio::test(start_paused = true)]
async fn a_write_timeout_runs_from_the_stalled_write_after_a_long_quiet_time() {
    let config = Config {
        idle_timeout: None,
        keepalive: None,
        write_timeout: Some(Duration::from_secs(5)),
        ..Config::default()
    };
    let quiet = Duration::from_secs(40);
    let (elapsed, error) =
        sends_to_a_peer_that_never_reads(config, quiet, "the write timeout never fired").await;
    assert!(matches!(error, Error::Timeout(Timeout::Write)), "{error:?}");
    assert!(
        elapsed >= Duration::from_secs(5) && elapsed < Duration::from_secs(6),
        "failed {elapsed:?} after the sends began"
    );
}

/// A masked binary frame carrying `payload`, with key `key`; `fin` ends the message, `first` begins it.
fn masked_frame(payload: &[u8], key: [u8; 4], first: bool, fin: bool) -> Vec<u8> {
    let opcode = if first { 0x2 } else { 0x0 };
    let mut frame = vec![if fin { 0x80 | opcode } else { opcode }];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

/// Memory a burst grew is returned after a quiet moment (500 ms), but never the part of a message that
/// `recv` has gathered: a peer that pauses for seconds in the middle of a large message, inside one frame
/// or between fragments, still gets it delivered whole and byte-exact.
#[tokio::test(start_paused = true)]
async fn a_message_gathered_across_a_long_pause_arrives_whole() {
    let (server_io, mut peer) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn(async move {
        let mut ws = accept(server_io, Config::default()).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..2 {
            match ws.recv().await.unwrap() {
                rill_tokio::Message::Binary(bytes) => got.push(bytes.to_vec()),
                other => panic!("{other:?}"),
            }
        }
        got
    });
    peer.write_all(UPGRADE).await.unwrap();
    read_upgrade_response(&mut peer).await;
    let payload: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
    // One frame, paused after 30,000 of its bytes.
    let frame = masked_frame(&payload, [9, 8, 7, 6], true, true);
    peer.write_all(&frame[..30_000]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    peer.write_all(&frame[30_000..]).await.unwrap();
    // Two fragments, paused between them.
    peer.write_all(&masked_frame(&payload[..25_000], [1, 2, 3, 4], true, false))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    peer.write_all(&masked_frame(&payload[25_000..], [5, 6, 7, 8], false, true))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("both messages arrive")
        .unwrap();
    assert!(got[0] == payload, "the frame paused in the middle");
    assert!(got[1] == payload, "the fragments paused between");
}

/// A slow peer: reads 256 bytes every 50 ms until 64 KiB of data came (about 13 s) and answers every
/// ping; returns how many it answered.
async fn read_slowly(
    read: &mut (impl AsyncRead + Unpin),
    write: &mut (impl AsyncWrite + Unpin),
    receiver: &mut Receiver,
    sender: &mut Sender,
) -> usize {
    let (mut buf, mut data, mut pings) = ([0u8; 256], 0, 0);
    while data < 64 * 1024 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let n = read.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server ended the connection after {data} bytes");
        let mut pongs = Vec::new();
        each_frame(receiver, &mut buf[..n], |event| match event {
            Decoded::Data(piece) => data += piece.payload.len(),
            Decoded::Ping(payload) => {
                let pong = ControlFrame::pong(payload).unwrap();
                pongs.extend(client_frame(sender, &pong));
                pings += 1;
            }
            _ => {}
        });
        write.write_all(&pongs).await.unwrap();
    }
    pings
}

/// A message the peer sends while a long send waits is kept by the read-ahead, which then reads no further
/// (the read buffer holds the message): the peer's pongs wait in the socket meanwhile, and its silence is
/// not held against it. Before, the idle timeout failed the connection 2 s into this 13 s send.
#[tokio::test(start_paused = true)]
async fn a_message_kept_while_a_long_send_waits_does_not_make_the_peer_idle() {
    let (server_io, peer) = tokio::io::duplex(1024);
    let server = tokio::spawn(async move {
        let config = Config {
            idle_timeout: Some(Duration::from_secs(2)),
            keepalive: Some(Duration::from_secs(1)),
            ..Config::default()
        };
        let mut ws = accept(server_io, config).await.unwrap();
        for _ in 0..64 {
            ws.send_binary(&[7u8; 1024]).await?;
        }
        let mut got = Vec::new();
        for _ in 0..2 {
            got.push(format!("{:?}", ws.recv().await?));
        }
        Ok::<_, Error>(got)
    });
    let (mut peer_read, mut peer_write) = tokio::io::split(peer);
    peer_write.write_all(UPGRADE).await.unwrap();
    read_upgrade_response(&mut peer_read).await;
    let hello = masked_frame(b"hi", [1, 2, 3, 4], true, true);
    peer_write.write_all(&hello).await.unwrap();
    let mut sender = Sender::client([5; 32]);
    let mut receiver = Receiver::new(Role::Client, rill_ws::Limits::default());
    read_slowly(&mut peer_read, &mut peer_write, &mut receiver, &mut sender).await;
    // The stream took 13 s, and the server heard nothing after "hi": once its owner took "hi", it pings
    // (at the keepalive, a second later); the peer answers with a pong and a message.
    let mut buf = [0u8; 256];
    let ping = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = peer_read.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server ended the connection");
            let mut ping = None;
            each_frame(&mut receiver, &mut buf[..n], |event| {
                if let Decoded::Ping(payload) = event {
                    ping = Some(payload.to_vec());
                }
            });
            if let Some(ping) = ping {
                return ping;
            }
        }
    })
    .await
    .expect("no ping after the send");
    let mut answer = client_frame(&mut sender, &ControlFrame::pong(&ping).unwrap());
    answer.extend(masked_frame(b"bye", [5, 6, 7, 8], true, true));
    peer_write.write_all(&answer).await.unwrap();
    let got = server.await.unwrap().expect("the peer was not called idle");
    let expected = [Message::Binary(b"hi"), Message::Binary(b"bye")].map(|m| format!("{m:?}"));
    assert_eq!(got, expected);
}

/// A connection used whole from one task hears its peer while a `send` waits on a slow socket: input is read
/// meanwhile, so the keepalive's pongs count as the peer's voice and a peer that reads slowly but answers is
/// never dropped by the idle timeout, however long the sends take (issue 29: the owner reads while it waits
/// to write). Without it the unsplit connection read nothing until its owner's next `recv`, and failed with
/// `Timeout::Idle` two seconds into this stream.
#[tokio::test(start_paused = true)]
async fn a_send_waiting_on_a_slow_peer_still_hears_it_so_the_idle_timeout_spares_it() {
    let (server_io, peer) = tokio::io::duplex(1024);
    let idle = Duration::from_secs(2);
    let server = tokio::spawn(async move {
        let config = Config {
            idle_timeout: Some(idle),
            keepalive: Some(Duration::from_secs(1)),
            ..Config::default()
        };
        let mut ws = accept(server_io, config).await.unwrap();
        let began = tokio::time::Instant::now();
        for _ in 0..64 {
            ws.send_binary(&[7u8; 1024]).await?;
        }
        Ok::<_, Error>(began.elapsed())
    });
    let (mut peer_read, mut peer_write) = tokio::io::split(peer);
    peer_write.write_all(UPGRADE).await.unwrap();
    read_upgrade_response(&mut peer_read).await;
    let mut receiver = Receiver::new(Role::Client, rill_ws::Limits::default());
    let mut sender = Sender::client([5; 32]);
    let pings = read_slowly(&mut peer_read, &mut peer_write, &mut receiver, &mut sender).await;
    let elapsed = server.await.unwrap().expect("every send succeeds");
    assert!(
        elapsed > 3 * idle,
        "the sends spanned the idle timeout ({elapsed:?})"
    );
    assert!(pings >= 3, "keepalive pings went out meanwhile ({pings})");
}

/// While a send of a connection used whole waits on the socket, a ping from the peer is answered before the
/// send returns (the pong follows the message's frame), and a message read meanwhile is kept, in order, for
/// the next `recv`; a ping behind that message is answered by the receive that passes it.
#[tokio::test]
async fn a_ping_during_a_blocked_send_is_answered_before_the_next_send_and_nothing_read_is_lost() {
    let (server_io, peer) = tokio::io::duplex(1024);
    let (mut peer_read, mut peer_write) = tokio::io::split(peer);
    let server = tokio::spawn(async move {
        let mut ws = accept(server_io, Config::default()).await.unwrap();
        ws.send_binary(&vec![7u8; 64 * 1024]).await.unwrap();
        ws.send_text("after").await.unwrap();
        let describe = |message: Message<'_>| match message {
            Message::Text(text) => format!("text {text}"),
            Message::Binary(bytes) => format!("binary {}", bytes.len()),
            Message::Close(code, _) => format!("close {code:?}"),
        };
        let first = describe(ws.recv().await.unwrap());
        let second = describe(ws.recv().await.unwrap());
        (first, second)
    });
    peer_write.write_all(UPGRADE).await.unwrap();
    read_upgrade_response(&mut peer_read).await;
    let mut sender = Sender::client([6; 32]);
    let mut frames = client_frame(&mut sender, &ControlFrame::ping(b"p1").unwrap());
    let head = sender.message(MessageKind::Text, 5).unwrap();
    let mut data = vec![0u8; 32];
    let len = head.encode(b"hello", &mut data).unwrap();
    frames.extend_from_slice(&data[..len]);
    frames.extend(client_frame(
        &mut sender,
        &ControlFrame::ping(b"p2").unwrap(),
    ));
    peer_write.write_all(&frames).await.unwrap();
    // What the server sends, in order, until its second message.
    let mut receiver = Receiver::new(Role::Client, rill_ws::Limits::default());
    let (mut buf, mut seen) = (vec![0u8; 4096], Vec::new());
    let mut pending = 0;
    while !seen.iter().any(|s: &String| s == "text after") {
        let n = peer_read.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server ended the connection; seen {seen:?}");
        each_frame(&mut receiver, &mut buf[..n], |event| match event {
            Decoded::Pong(payload) => {
                seen.push(format!("pong {}", String::from_utf8_lossy(payload)))
            }
            Decoded::Data(piece) if piece.kind == MessageKind::Text => {
                seen.push(format!("text {}", String::from_utf8_lossy(piece.payload)))
            }
            Decoded::Data(piece) => {
                pending += piece.payload.len();
                if piece.last {
                    seen.push(format!("binary {pending}"));
                }
            }
            _ => {}
        });
    }
    assert_eq!(seen[..3], ["binary 65536", "pong p1", "text after"]);
    peer_write
        .write_all(&client_frame(
            &mut sender,
            &ControlFrame::close(Some(rill_ws::CloseCode::NORMAL), "").unwrap(),
        ))
        .await
        .unwrap();
    let (first, second) = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server's receives never returned")
        .unwrap();
    assert_eq!(first, "text hello");
    assert!(second.starts_with("close"), "{second}");
    // The ping behind "hello" was answered by the receive that passed it (maybe read above already).
    let mut pong = seen[3..]
        .contains(&"pong p2".to_string())
        .then(|| b"p2".to_vec());
    while pong.is_none() {
        let n = peer_read.read(&mut buf).await.unwrap();
        assert!(n > 0, "no pong for the second ping");
        each_frame(&mut receiver, &mut buf[..n], |event| {
            if let Decoded::Pong(payload) = event {
                pong = Some(payload.to_vec());
            }
        });
    }
    assert_eq!(pong.unwrap(), b"p2");
}
