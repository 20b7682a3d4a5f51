//! Defects a review of the shipped paths found (issue 23), each driven the way an application meets it:
//! a test per defect that failed (or hung) before its fix.

use rill_tokio::{accept, connect, CloseCode, Config, Error, Listener, MessageKind, Timeout};
use rill_ws::codec::{ControlFrame, Decoded};
use rill_ws::{Receiver, Role, Sender};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

/// Runs `body` on a thread of its own with a current-thread runtime and waits for its result at most
/// `limit`: a defect that spins forever (with a lock held, out of reach of any tokio timer) fails the test
/// instead of hanging the suite.
fn within<T: Send + 'static>(
    limit: Duration,
    body: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
) -> T {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = done.send(runtime.block_on(body()));
    });
    result
        .recv_timeout(limit)
        .expect("did not finish in time: hung or spinning")
}

/// A message that compresses to about half its size and inflates to several windows of the inflater
/// (32 KiB by default): the compressed bytes of one read then inflate past the window's end, and the
/// inflater stops there with compressed input left over.
fn half_compressible(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            b"abcdefghijklmnop"[(state >> 28) as usize]
        })
        .collect()
}

/// Item 1: `has_buffered_input` did not count compressed bytes still waiting in the read buffer after an
/// inflated piece filled the window, so `input_ready()` reused the buffer: with nothing more to read it gave
/// the buffer back and the next receive spun forever on an empty slice (with the session's lock held); with
/// more to read it overwrote the pending compressed bytes. The echo examples call `input_ready()` after
/// every piece.
#[test]
fn pieces_of_a_compressed_message_survive_input_ready_between_them() {
    let message = half_compressible(256 * 1024);
    let expected = message.clone();
    let received = within(Duration::from_secs(20), move || {
        Box::pin(async move {
            let listener = Listener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let mut ws = accept(stream, Config::default()).await.unwrap();
                let (reader, writer) = ws.halves();
                let mut whole = Vec::new();
                let mut pieces = 0;
                while let Some(piece) = reader.recv_piece().await.unwrap() {
                    whole.extend_from_slice(piece.payload);
                    pieces += 1;
                    let last = piece.last;
                    // What an echo does between pieces: is more input ready, or flush now?
                    let _ = reader.input_ready();
                    if last {
                        break;
                    }
                }
                writer.send_text("done").await.unwrap();
                (whole, pieces)
            });
            let mut client = connect(&format!("ws://{addr}/"), Config::default())
                .await
                .unwrap();
            client.send_binary(&message).await.unwrap();
            // Nothing more is sent until the server answers: its `input_ready` finds the socket dry.
            let answer = format!("{:?}", client.recv().await);
            assert_eq!(
                answer, r#"Ok(Text("done"))"#,
                "the server failed the message"
            );
            server.await.unwrap()
        })
    });
    let (whole, pieces) = received;
    assert!(pieces > 1, "the message must span several windows");
    assert!(whole == expected, "the message arrived altered");
}

const UPGRADE: &[u8] =
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A server upgraded over `io` by a raw peer on the other end, which gets the 101 and nothing else.
async fn upgraded<S>(io: S, peer: &mut DuplexStream, config: Config) -> rill_tokio::WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let accepting = tokio::spawn(accept(io, config));
    peer.write_all(UPGRADE).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(peer.read_u8().await.unwrap());
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    accepting.await.unwrap().unwrap()
}

/// Reads whole data messages off the raw peer end until `count` arrived.
async fn read_messages(peer: &mut DuplexStream, count: usize) -> Vec<Vec<u8>> {
    let mut receiver = Receiver::new(Role::Client, rill_ws::Limits::default());
    let (mut buf, mut messages, mut current) = (vec![0u8; 64 * 1024], Vec::new(), Vec::new());
    while messages.len() < count {
        let n = peer.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server ended the stream");
        let mut pos = 0;
        while pos < n {
            let received = receiver.receive(&mut buf[pos..n]).unwrap();
            pos += received.consumed;
            if let Some(Decoded::Data(piece)) = received.event {
                current.extend_from_slice(piece.payload);
                if piece.last {
                    messages.push(std::mem::take(&mut current));
                }
            }
        }
    }
    messages
}

/// No deflate: the frames on the wire carry the payload as sent.
fn plain() -> Config {
    Config {
        deflate: None,
        ..Config::default()
    }
}

/// Item 2: a send cancelled mid-write dropped the session's "a transmit is owed" on the floor. The rest of
/// its frame sat in the write buffer while the reader slept in `read()`, and a peer waiting for that
/// frame waited for good. Time is paused: the send is given up the moment everything is blocked.
#[tokio::test(start_paused = true)]
async fn the_rest_of_a_cancelled_send_leaves_without_another_call() {
    let (io, mut peer) = tokio::io::duplex(4096);
    let (mut reader, mut writer) = upgraded(io, &mut peer, plain()).await.split();
    let reading = tokio::spawn(async move { while reader.recv().await.is_ok() {} });
    let payload = vec![7u8; 64 * 1024];
    // The peer is not reading yet: the send blocks with most of its frame unwritten, and is given up.
    let sending = tokio::time::timeout(Duration::from_millis(100), writer.send_binary(&payload));
    assert!(sending.await.is_err(), "the send should have blocked");
    // Nobody calls anything now; the peer reads and waits for the frame.
    let read = tokio::time::timeout(Duration::from_secs(30), read_messages(&mut peer, 1));
    let messages = read.await.expect("the frame's rest never left");
    assert!(messages[0] == payload, "the message arrived altered");
    reading.abort();
}

/// Item 6: a whole message larger than the write buffer leaves as several frames; cancelled after its
/// first frame, it left the sender mid-message and every later send failed with `MessageInProgress`.
/// Now the rest is placed as the send lets go, so the message leaves whole and the next one follows.
#[tokio::test(start_paused = true)]
async fn a_whole_message_send_cancelled_mid_message_still_leaves_whole_and_sends_go_on() {
    let (io, mut peer) = tokio::io::duplex(4096);
    // Larger than `max_write_buffer`: the message is framed through the buffer, not sent unbuffered.
    let config = Config {
        write_buffer: 4096,
        max_write_buffer: 4096,
        ..plain()
    };
    let ws = upgraded(io, &mut peer, config).await;
    let (mut reader, mut writer) = ws.split();
    let reading = tokio::spawn(async move { while reader.recv().await.is_ok() {} });
    let first: Vec<u8> = (0..200 * 1024).map(|i| i as u8).collect();
    let sending = tokio::time::timeout(Duration::from_millis(100), writer.send_binary(&first));
    assert!(sending.await.is_err(), "the send should have blocked");
    let peer_reads = tokio::spawn(async move { read_messages(&mut peer, 2).await });
    let second = writer.send_text("after").await;
    assert!(second.is_ok(), "the next send failed: {second:?}");
    let messages = tokio::time::timeout(Duration::from_secs(30), peer_reads)
        .await
        .expect("the messages never arrived")
        .unwrap();
    assert!(
        messages[0] == first,
        "the cancelled message arrived altered"
    );
    assert_eq!(messages[1], b"after");
    reading.abort();
}

/// A stream whose flush and shutdown never finish once `stuck` is set, as a TLS stream's do when its peer
/// vanished (they write); reads and writes go through.
/// The third field counts the flushes that finished.
struct StuckFlush(DuplexStream, Arc<AtomicBool>, Arc<AtomicUsize>);

impl AsyncRead for StuckFlush {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for StuckFlush {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.1.load(Ordering::SeqCst) {
            true => Poll::Pending,
            false => {
                self.2.fetch_add(1, Ordering::SeqCst);
                Pin::new(&mut self.0).poll_flush(cx)
            }
        }
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.1.load(Ordering::SeqCst) {
            true => Poll::Pending,
            false => Pin::new(&mut self.0).poll_shutdown(cx),
        }
    }
}

/// Item 3: only writes were bounded; a flush that never finished held `send` past `write_timeout`.
#[tokio::test(start_paused = true)]
async fn a_flush_that_never_finishes_fails_the_send_on_the_write_timeout() {
    let (io, mut peer) = tokio::io::duplex(1 << 20);
    let write_timeout = Duration::from_secs(2);
    let config = Config {
        write_timeout: Some(write_timeout),
        ..plain()
    };
    let stuck = Arc::new(AtomicBool::new(false));
    let mut ws = upgraded(
        StuckFlush(io, stuck.clone(), Arc::default()),
        &mut peer,
        config,
    )
    .await;
    stuck.store(true, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    let sent = tokio::time::timeout(Duration::from_secs(60), ws.send_text("hello"))
        .await
        .expect("the send outlived its write timeout by far");
    assert!(
        matches!(sent, Err(Error::Timeout(Timeout::Write))),
        "{sent:?}"
    );
    assert!(started.elapsed() < write_timeout + Duration::from_secs(1));
}

/// Item 3: an idle timeout ends the connection with a shutdown, which over TLS writes and can block for
/// the kernel's retransmission time; it is bounded by the close timeout now.
#[tokio::test(start_paused = true)]
async fn a_shutdown_that_never_finishes_does_not_hold_the_receive_that_timed_out() {
    let (io, mut peer) = tokio::io::duplex(1 << 20);
    let idle = Duration::from_secs(2);
    let config = Config {
        idle_timeout: Some(idle),
        ..plain()
    };
    let stuck = Arc::new(AtomicBool::new(false));
    let mut ws = upgraded(
        StuckFlush(io, stuck.clone(), Arc::default()),
        &mut peer,
        config,
    )
    .await;
    stuck.store(true, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    let received = tokio::time::timeout(Duration::from_secs(600), ws.recv())
        .await
        .map(|result| format!("{result:?}"))
        .expect("the receive hung in the shutdown");
    assert_eq!(received, "Err(Timeout(Idle))");
    assert!(started.elapsed() <= idle + Config::default().close_timeout);
}

/// Item 7: `recv()` returned a message that arrived in one piece without checking `max_message`.
#[tokio::test]
async fn recv_refuses_a_single_piece_message_over_max_message() {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let config = Config {
            max_message: 1000,
            ..Config::default()
        };
        let mut ws = accept(stream, config).await.unwrap();
        format!(
            "{:?}",
            ws.recv().await.map(|message| format!("{message:?}"))
        )
    });
    let mut client = connect(&format!("ws://{addr}/"), Config::default())
        .await
        .unwrap();
    client.send_binary(&[1u8; 2000]).await.unwrap();
    let answer = format!("{:?}", client.recv().await);
    assert_eq!(answer, "Ok(Close(Some(CloseCode(1009)), \"\"))");
    let served = server.await.unwrap();
    assert!(!served.starts_with("Ok("), "recv returned {served}");
}

/// A masked frame from the raw peer (a client).
fn client_frame(frame: &ControlFrame) -> Vec<u8> {
    let mut out = vec![0u8; 256];
    let len = Sender::client([9; 32])
        .encode_control(frame, &mut out)
        .unwrap();
    out.truncate(len);
    out
}

/// Item 7: a `recv()` dropped while it sent the reply to the peer's close frame lost the close: the next
/// receive never reported it.
#[tokio::test(start_paused = true)]
async fn a_receive_dropped_while_replying_to_a_close_still_reports_the_close() {
    let (io, mut peer) = tokio::io::duplex(4096);
    let (mut reader, mut writer) = upgraded(io, &mut peer, plain()).await.split();
    // Bytes placed but not flushed, more than the stream takes: the close reply's write will block.
    writer.feed(MessageKind::Binary, &[0; 6000]).await.unwrap();
    let close = ControlFrame::close(Some(CloseCode::NORMAL), "bye").unwrap();
    peer.write_all(&client_frame(&close)).await.unwrap();
    let dropped = tokio::time::timeout(Duration::from_millis(100), reader.recv()).await;
    assert!(
        dropped.is_err(),
        "the receive should have blocked on the reply"
    );
    let (mut peer_read, _peer_write) = tokio::io::split(peer);
    let draining = tokio::spawn(async move {
        let mut sink = vec![0u8; 65536];
        while peer_read.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    });
    let received = tokio::time::timeout(Duration::from_secs(30), reader.recv())
        .await
        .map(|result| format!("{result:?}"))
        .expect("the close was never reported");
    assert_eq!(received, "Ok(Close(Some(CloseCode(1000)), \"bye\"))");
    draining.abort();
}

/// Item 7: `Writer::ping` reported `Timeout` when a keepalive ping replaced its ping before the pong came
/// (the peer answers only the latest ping); the answer to the newer ping is the round trip now.
#[tokio::test(start_paused = true)]
async fn a_ping_replaced_by_a_keepalive_ping_reports_the_round_trip_of_the_answer() {
    let (io, mut peer) = tokio::io::duplex(1 << 16);
    let config = Config {
        keepalive: Some(Duration::from_secs(1)),
        ..plain()
    };
    let (mut reader, mut writer) = upgraded(io, &mut peer, config).await.split();
    let reading = tokio::spawn(async move { while reader.recv().await.is_ok() {} });
    let pinging = tokio::spawn(async move { writer.ping(Duration::from_secs(30)).await });
    // The peer answers only the second ping it sees (the keepalive's, a second later).
    let mut receiver = Receiver::new(Role::Client, rill_ws::Limits::default());
    let (mut buf, mut pings) = (vec![0u8; 4096], 0);
    'peer: loop {
        let n = peer.read(&mut buf).await.unwrap();
        let mut pos = 0;
        while pos < n {
            let received = receiver.receive(&mut buf[pos..n]).unwrap();
            pos += received.consumed;
            if let Some(Decoded::Ping(payload)) = received.event {
                pings += 1;
                if pings == 2 {
                    let pong = ControlFrame::pong(payload).unwrap();
                    peer.write_all(&client_frame(&pong)).await.unwrap();
                    break 'peer;
                }
            }
        }
    }
    let rtt = tokio::time::timeout(Duration::from_secs(30), pinging)
        .await
        .expect("ping never returned")
        .unwrap();
    assert!(rtt.is_ok(), "ping reported {rtt:?}");
    reading.abort();
}

/// A send dropped while its flush waited left the flush undone: bytes a stream holds (a TLS record) stayed
/// there until the next call. The flush is asked for again when the write side is dropped, and the reader
/// makes it.
#[tokio::test(start_paused = true)]
async fn a_flush_abandoned_by_a_dropped_send_is_made_again_without_another_call() {
    let (io, mut peer) = tokio::io::duplex(1 << 20);
    let (stuck, flushes) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let stream = StuckFlush(io, stuck.clone(), flushes.clone());
    let (mut reader, mut writer) = upgraded(stream, &mut peer, plain()).await.split();
    let reading = tokio::spawn(async move { while reader.recv().await.is_ok() {} });
    stuck.store(true, Ordering::SeqCst);
    let before = flushes.load(Ordering::SeqCst);
    let sending = tokio::time::timeout(Duration::from_millis(100), writer.send_text("hello"));
    assert!(
        sending.await.is_err(),
        "the send should have waited in its flush"
    );
    stuck.store(false, Ordering::SeqCst);
    let flushed = tokio::time::timeout(Duration::from_secs(30), async {
        // Paused time: each sleep lets every other task run, and the bound below still ends a wait
        // for a flush that never comes.
        while flushes.load(Ordering::SeqCst) == before {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    flushed.await.expect("the abandoned flush was never made");
    reading.abort();
}
