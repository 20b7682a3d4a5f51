//! rill-embassy against a raw peer over an in-memory stream (tokio's `duplex`, seen through
//! `embedded-io-adapters`), with every byte on the wire checked: the faults of issue 9, each with the
//! test that shows it fixed, and the session's timers as the adapter drives them.
//!
//! The handshake is skipped (the halves start right after it); `over_tokio.rs` covers it.

use std::cell::Cell;
use std::time::Instant;

use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embedded_io_adapters::tokio_1::FromTokio;
use rill_embassy::{
    CloseCode, Config, Error, Message, MessageKind, Reader, Role, Shared, Timeout, Upgraded, Writer,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use tokio::sync::oneshot;

type Rx = FromTokio<ReadHalf<DuplexStream>>;
type Tx = FromTokio<WriteHalf<DuplexStream>>;
type Ours<'s, 'b> = (
    Reader<'s, 'b, NoopRawMutex, Rx, Tx>,
    Writer<'s, 'b, NoopRawMutex, Tx>,
);

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Our end of an in-memory connection whose pipes hold `capacity` bytes each way, and the peer's end.
fn pipe(capacity: usize) -> (Rx, Tx, DuplexStream) {
    let (ours, theirs) = tokio::io::duplex(capacity);
    let (rx, tx) = tokio::io::split(ours);
    (FromTokio::new(rx), FromTokio::new(tx), theirs)
}

/// Fails the test instead of hanging it.
async fn bounded<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(10), future)
        .await
        .expect("test exceeded its time bound")
}

/// A frame as the peer sends it: masked when the peer is a client.
fn frame(opcode: u8, fin: bool, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![opcode | if fin { 0x80 } else { 0 }];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => out.push(mask_bit | len as u8),
        len @ 126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    let key = [0x37, 0xFA, 0x21, 0x3D];
    if masked {
        out.extend_from_slice(&key);
    }
    out.extend(
        payload
            .iter()
            .enumerate()
            .map(|(i, b)| if masked { b ^ key[i % 4] } else { *b }),
    );
    out
}

/// A client's frame (masked).
fn client_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    frame(opcode, fin, payload, true)
}

/// Reads one frame: (fin, opcode, unmasked payload).
async fn read_frame(peer: &mut (impl AsyncReadExt + Unpin)) -> (bool, u8, Vec<u8>) {
    let mut head = [0u8; 2];
    peer.read_exact(&mut head).await.expect("a frame header");
    let len = match head[1] & 0x7F {
        126 => u64::from(peer.read_u16().await.unwrap()),
        127 => peer.read_u64().await.unwrap(),
        len => u64::from(len),
    };
    let mut key = [0u8; 4];
    if head[1] & 0x80 != 0 {
        peer.read_exact(&mut key).await.unwrap();
    }
    let mut payload = vec![0u8; len as usize];
    peer.read_exact(&mut payload).await.unwrap();
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
    (head[0] & 0x80 != 0, head[0] & 0x0F, payload)
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// Reads until the peer's end of the stream; returns how many bytes came first.
async fn read_to_eof(peer: &mut (impl AsyncReadExt + Unpin)) -> usize {
    let mut sink = Vec::new();
    peer.read_to_end(&mut sink).await.unwrap_or(0)
}

/// Buffers of one end: read, write, message.
struct Buffers {
    read: [u8; 512],
    write: [u8; 512],
    message: [u8; 8],
}

impl Buffers {
    fn new() -> Self {
        Buffers {
            read: [0; 512],
            write: [0; 512],
            message: [0; 8],
        }
    }
}

fn halves<'s, 'b>(
    rx: Rx,
    read: &'b mut [u8],
    message: &'b mut [u8],
    shared: &'s Shared<'b, NoopRawMutex, Tx>,
) -> Ours<'s, 'b> {
    let upgraded = Upgraded {
        start: 0,
        end: 0,
        deflate: None,
    };
    (
        Reader::new(rx, read, upgraded, message, shared),
        Writer::new(shared),
    )
}

#[tokio::test]
async fn a_message_too_large_for_the_message_buffer_fails_with_1009_and_nothing_partial_comes_later(
) {
    let (rx, tx, mut peer) = pipe(4096);
    let mut b = Buffers::new();
    let shared =
        Shared::<NoopRawMutex, _>::new(tx, &mut b.write, Role::Server, [0; 32], Config::default());
    let (mut reader, _writer) = halves(rx, &mut b.read, &mut b.message, &shared);
    bounded(async {
        // Ten bytes in two fragments into an 8-byte message buffer, then a message that would fit.
        let mut wire = client_frame(TEXT, false, b"01234");
        wire.extend(client_frame(CONTINUATION, true, b"56789"));
        wire.extend(client_frame(TEXT, true, b"later"));
        peer.write_all(&wire).await.unwrap();
        let first = reader.recv().await;
        assert!(
            matches!(
                first,
                Err(Error::Protocol(rill_ws::ProtocolError::MessageTooLarge {
                    limit: 8
                }))
            ),
            "{first:?}"
        );
        assert_eq!(
            read_frame(&mut peer).await,
            (true, CLOSE, close_payload(1009, ""))
        );
        for _ in 0..2 {
            let later = reader.recv().await;
            assert!(
                matches!(
                    later,
                    Err(Error::Protocol(
                        rill_ws::ProtocolError::MessageTooLarge { .. }
                    ))
                ),
                "no message after the failure: {later:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn with_no_message_buffer_a_fragmented_message_never_comes_back_as_empty_text() {
    let (rx, tx, mut peer) = pipe(4096);
    let mut b = Buffers::new();
    let shared =
        Shared::<NoopRawMutex, _>::new(tx, &mut b.write, Role::Server, [0; 32], Config::default());
    let (mut reader, _writer) = halves(rx, &mut b.read, &mut [], &shared);
    bounded(async {
        // A message that arrives in one piece needs no message buffer.
        peer.write_all(&client_frame(TEXT, true, b"hi"))
            .await
            .unwrap();
        assert_eq!(reader.recv().await.unwrap(), Message::Text("hi"));
        // One that does not: "abc", then an empty final fragment.
        let mut wire = client_frame(TEXT, false, b"abc");
        wire.extend(client_frame(CONTINUATION, true, b""));
        peer.write_all(&wire).await.unwrap();
        for _ in 0..2 {
            let result = reader.recv().await;
            assert!(
                matches!(
                    result,
                    Err(Error::Protocol(rill_ws::ProtocolError::MessageTooLarge {
                        limit: 0
                    }))
                ),
                "{result:?}"
            );
        }
        assert_eq!(
            read_frame(&mut peer).await,
            (true, CLOSE, close_payload(1009, ""))
        );
    })
    .await;
}

#[tokio::test]
async fn a_pong_goes_out_while_the_writer_is_between_chunks() {
    let (rx, tx, peer) = pipe(4096);
    let (mut peer_rx, mut peer_tx) = tokio::io::split(peer);
    let mut b = Buffers::new();
    let shared =
        Shared::<NoopRawMutex, _>::new(tx, &mut b.write, Role::Server, [0; 32], Config::default());
    let (mut reader, mut writer) = halves(rx, &mut b.read, &mut b.message, &shared);
    let (go, resume) = oneshot::channel();
    let write = async {
        let mut chunks = writer.begin(MessageKind::Binary).await.unwrap();
        chunks.send(b"part").await.unwrap();
        resume.await.unwrap();
        chunks.finish(b"end").await.unwrap();
    };
    let read = async { reader.recv().await.map(|m| format!("{m:?}")) };
    let peer = async {
        assert_eq!(
            read_frame(&mut peer_rx).await,
            (false, BINARY, b"part".to_vec())
        );
        peer_tx
            .write_all(&client_frame(PING, true, b"p1"))
            .await
            .unwrap();
        // The writer is between chunks, holding nothing: the reader sends the pong at once.
        assert_eq!(read_frame(&mut peer_rx).await, (true, PONG, b"p1".to_vec()));
        go.send(()).unwrap();
        assert_eq!(
            read_frame(&mut peer_rx).await,
            (true, CONTINUATION, b"end".to_vec())
        );
        let close = client_frame(CLOSE, true, &close_payload(1000, ""));
        peer_tx.write_all(&close).await.unwrap();
        assert_eq!(
            read_frame(&mut peer_rx).await,
            (true, CLOSE, close_payload(1000, ""))
        );
    };
    let ((), received, ()) = bounded(async { tokio::join!(write, read, peer) }).await;
    assert_eq!(received.unwrap(), "Close(Some(CloseCode(1000)), \"\")");
}

#[tokio::test]
async fn a_pong_queued_while_the_writer_holds_the_write_side_is_never_stranded() {
    // 256-byte pipes: the writer's 4 KiB message blocks it inside a write, holding the write side, while
    // the reader answers a ping.
    let (rx, tx, peer) = pipe(256);
    let (mut peer_rx, mut peer_tx) = tokio::io::split(peer);
    let mut b = Buffers::new();
    let shared =
        Shared::<NoopRawMutex, _>::new(tx, &mut b.write, Role::Server, [0; 32], Config::default());
    let (mut reader, mut writer) = halves(rx, &mut b.read, &mut b.message, &shared);
    let (pinged, ping_seen) = oneshot::channel();
    let message = vec![7u8; 4096];
    let write = async { writer.send_binary(&message).await.unwrap() };
    let read = async {
        // The ping is answered inside recv; "sync" says it was handled.
        assert_eq!(reader.recv().await.unwrap(), Message::Text("sync"));
        pinged.send(()).unwrap();
        assert!(matches!(reader.recv().await.unwrap(), Message::Close(..)));
    };
    let peer = async {
        let mut wire = client_frame(PING, true, b"p2");
        wire.extend(client_frame(TEXT, true, b"sync"));
        peer_tx.write_all(&wire).await.unwrap();
        ping_seen.await.unwrap();
        // Only now does the peer read: the data, with the pong somewhere before its final frame.
        let (mut got, mut pong_at) = (0, None);
        while got < message.len() {
            match read_frame(&mut peer_rx).await {
                (_, PONG, payload) => {
                    assert_eq!(payload, b"p2");
                    pong_at = Some(got);
                }
                (_, BINARY | CONTINUATION, payload) => got += payload.len(),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(pong_at.is_some(), "the pong went out with the data");
        let close = client_frame(CLOSE, true, &close_payload(1000, ""));
        peer_tx.write_all(&close).await.unwrap();
        assert_eq!(read_frame(&mut peer_rx).await.1, CLOSE);
    };
    bounded(async { tokio::join!(write, read, peer) }).await;
}

#[tokio::test]
async fn a_client_lingers_after_a_protocol_error_until_the_server_ends_tcp() {
    let (rx, tx, mut peer) = pipe(4096);
    let mut b = Buffers::new();
    let shared =
        Shared::<NoopRawMutex, _>::new(tx, &mut b.write, Role::Client, [9; 32], Config::default());
    let (mut reader, _writer) = halves(rx, &mut b.read, &mut b.message, &shared);
    let server_ended = &Cell::new(false);
    let read = async {
        let result = reader.recv().await;
        assert!(
            server_ended.get(),
            "the reader returned before the server's FIN"
        );
        result.map(|m| format!("{m:?}"))
    };
    let server = async move {
        // A server must not mask its frames.
        peer.write_all(&frame(TEXT, true, b"x", true))
            .await
            .unwrap();
        assert_eq!(
            read_frame(&mut peer).await,
            (true, CLOSE, close_payload(1002, ""))
        );
        // Anything that still arrives while the client lingers is discarded.
        peer.write_all(&frame(TEXT, true, b"ignored", false))
            .await
            .unwrap();
        server_ended.set(true);
        drop(peer);
    };
    let (result, ()) = bounded(async { tokio::join!(read, server) }).await;
    assert!(matches!(
        result,
        Err(Error::Protocol(rill_ws::ProtocolError::MaskedFrame))
    ));
}

#[tokio::test]
async fn lingering_ends_at_the_close_timeout_when_the_peer_never_ends_tcp() {
    let (rx, tx, mut peer) = pipe(4096);
    let mut b = Buffers::new();
    let config = Config {
        close_timeout: core::time::Duration::from_millis(300),
        ..Config::default()
    };
    let shared = Shared::<NoopRawMutex, _>::new(tx, &mut b.write, Role::Client, [9; 32], config);
    let (mut reader, _writer) = halves(rx, &mut b.read, &mut b.message, &shared);
    bounded(async {
        peer.write_all(&frame(TEXT, true, b"x", true))
            .await
            .unwrap();
        let start = Instant::now();
        let result = reader.recv().await;
        let elapsed = start.elapsed();
        assert!(matches!(
            result,
            Err(Error::Protocol(rill_ws::ProtocolError::MaskedFrame))
        ));
        assert!(
            elapsed >= std::time::Duration::from_millis(290),
            "{elapsed:?}"
        );
        assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
        assert_eq!(
            read_frame(&mut peer).await,
            (true, CLOSE, close_payload(1002, ""))
        );
    })
    .await;
}

#[tokio::test]
async fn a_server_sends_its_close_frame_before_reporting_a_protocol_error() {
    let (rx, tx, mut peer) = pipe(4096);
    let mut b = Buffers::new();
    let shared =
        Shared::<NoopRawMutex, _>::new(tx, &mut b.write, Role::Server, [0; 32], Config::default());
    let (mut reader, writer) = halves(rx, &mut b.read, &mut b.message, &shared);
    let start = Instant::now();
    let result = bounded(async {
        // A client must mask its frames.
        peer.write_all(&frame(TEXT, true, b"x", false))
            .await
            .unwrap();
        reader.recv().await.map(|m| format!("{m:?}"))
    })
    .await;
    assert!(matches!(
        result,
        Err(Error::Protocol(rill_ws::ProtocolError::UnmaskedFrame))
    ));
    // No half-close in embedded-io: the server's part ends once its close frame is out, and the
    // application closes the socket (here: drops the halves), which is the FIN.
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
    drop((reader, writer));
    drop(shared);
    bounded(async {
        assert_eq!(
            read_frame(&mut peer).await,
            (true, CLOSE, close_payload(1002, ""))
        );
        assert_eq!(
            read_to_eof(&mut peer).await,
            0,
            "nothing after the close frame"
        );
    })
    .await;
}

#[tokio::test]
async fn the_peers_close_is_answered_and_a_client_lingers_until_the_servers_fin() {
    let (rx, tx, mut peer) = pipe(4096);
    let mut b = Buffers::new();
    let shared =
        Shared::<NoopRawMutex, _>::new(tx, &mut b.write, Role::Client, [9; 32], Config::default());
    let (mut reader, mut writer) = halves(rx, &mut b.read, &mut b.message, &shared);
    let server_ended = &Cell::new(false);
    let read = async {
        assert!(
            reader.recv_piece().await.unwrap().is_none(),
            "the close frame"
        );
        assert_eq!(reader.close_frame(), (Some(CloseCode::NORMAL), "bye"));
        assert!(writer.send_text("too late").await.is_err());
        let end = reader.recv_piece().await.map(|p| p.is_some());
        assert!(
            server_ended.get(),
            "the reader returned before the server's FIN"
        );
        assert!(matches!(end, Err(Error::Closed)), "{end:?}");
        // The reason survives the lingering reads.
        assert_eq!(reader.close_frame(), (Some(CloseCode::NORMAL), "bye"));
    };
    let server = async move {
        let close = frame(CLOSE, true, &close_payload(1000, "bye"), false);
        peer.write_all(&close).await.unwrap();
        assert_eq!(
            read_frame(&mut peer).await,
            (true, CLOSE, close_payload(1000, ""))
        );
        server_ended.set(true);
        drop(peer);
    };
    bounded(async { tokio::join!(read, server) }).await;
}

/// A peer that stops reading (and sending) while we stream to it: both halves end with `expected` within
/// `bound` of the start.
async fn stalled_peer(config: Config, expected: Timeout, bound: std::time::Duration) {
    let (rx, tx, peer) = pipe(4096);
    let mut b = Buffers::new();
    let shared = Shared::<NoopRawMutex, _>::new(tx, &mut b.write, Role::Server, [0; 32], config);
    let (mut reader, mut writer) = halves(rx, &mut b.read, &mut b.message, &shared);
    let start = Instant::now();
    let write = async {
        let block = [0x55u8; 1000];
        loop {
            if let Err(error) = writer.send_binary(&block).await {
                return error;
            }
        }
    };
    let read = async { reader.recv().await.map(|m| format!("{m:?}")) };
    let (written, read) = bounded(async { tokio::join!(write, read) }).await;
    let elapsed = start.elapsed();
    assert!(
        matches!(written, Error::Timeout(t) if t == expected),
        "{written:?}"
    );
    assert!(
        matches!(read, Err(Error::Timeout(t)) if t == expected),
        "{read:?}"
    );
    assert!(elapsed < bound, "{elapsed:?}");
    drop(peer);
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_dropped_within_the_idle_timeout() {
    let config = Config {
        idle_timeout: Some(core::time::Duration::from_secs(1)),
        ..Config::default()
    };
    stalled_peer(config, Timeout::Idle, std::time::Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_dropped_within_the_write_timeout() {
    let config = Config {
        write_timeout: Some(core::time::Duration::from_millis(500)),
        ..Config::default()
    };
    stalled_peer(
        config,
        Timeout::Write,
        std::time::Duration::from_millis(1500),
    )
    .await;
}

#[tokio::test]
async fn keepalive_pings_a_silent_peer_and_ping_measures_the_round_trip() {
    let (rx, tx, peer) = pipe(4096);
    let (mut peer_rx, mut peer_tx) = tokio::io::split(peer);
    let mut b = Buffers::new();
    let config = Config {
        keepalive: Some(core::time::Duration::from_millis(100)),
        ..Config::default()
    };
    let shared = Shared::<NoopRawMutex, _>::new(tx, &mut b.write, Role::Server, [0; 32], config);
    let (mut reader, mut writer) = halves(rx, &mut b.read, &mut b.message, &shared);
    let (keepalive_seen, go) = oneshot::channel();
    let read = async { reader.recv().await.map(|m| format!("{m:?}")) };
    let ping = async {
        go.await.unwrap();
        writer.ping(core::time::Duration::from_secs(5)).await
    };
    let peer = async {
        // Silence: the reader sends a keepalive ping on its own.
        let (fin, opcode, id) = read_frame(&mut peer_rx).await;
        assert_eq!((fin, opcode, id.len()), (true, PING, 8));
        peer_tx
            .write_all(&client_frame(PONG, true, &id))
            .await
            .unwrap();
        keepalive_seen.send(()).unwrap();
        // The application's ping; the pong completes it.
        let (_, opcode, id) = read_frame(&mut peer_rx).await;
        assert_eq!(opcode, PING);
        peer_tx
            .write_all(&client_frame(PONG, true, &id))
            .await
            .unwrap();
        let (_, opcode, _) = read_frame(&mut peer_rx).await;
        assert_eq!(opcode, PING, "the next keepalive");
        peer_tx
            .write_all(&client_frame(CLOSE, true, &close_payload(1000, "")))
            .await
            .unwrap();
    };
    let (read, rtt, ()) = bounded(async { tokio::join!(read, ping, peer) }).await;
    assert!(rtt.unwrap() < core::time::Duration::from_secs(5));
    assert!(read.unwrap().starts_with("Close"));
}

#[tokio::test]
async fn a_ping_waiting_for_its_pong_ends_when_the_peer_closes_instead() {
    let (rx, tx, peer) = pipe(4096);
    let (mut peer_rx, mut peer_tx) = tokio::io::split(peer);
    let mut b = Buffers::new();
    let shared =
        Shared::<NoopRawMutex, _>::new(tx, &mut b.write, Role::Server, [0; 32], Config::default());
    let (mut reader, mut writer) = halves(rx, &mut b.read, &mut b.message, &shared);
    let start = Instant::now();
    let read = async { reader.recv().await.map(|m| format!("{m:?}")) };
    let ping = writer.ping(core::time::Duration::from_secs(5));
    let peer = async {
        assert_eq!(read_frame(&mut peer_rx).await.1, PING);
        let close = client_frame(CLOSE, true, &close_payload(1001, "going"));
        peer_tx.write_all(&close).await.unwrap();
        assert_eq!(read_frame(&mut peer_rx).await.1, CLOSE);
    };
    let (read, ping, ()) = bounded(async { tokio::join!(read, ping, peer) }).await;
    assert_eq!(read.unwrap(), "Close(Some(CloseCode(1001)), \"going\")");
    assert!(ping.is_err(), "{ping:?}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(1),
        "not the ping's timeout"
    );
}

#[tokio::test]
async fn a_recv_cancelled_in_the_middle_of_a_message_loses_nothing() {
    use std::future::Future;
    use std::task::Poll;
    let (rx, tx, mut peer) = pipe(4096);
    let mut b = Buffers::new();
    let shared =
        Shared::<NoopRawMutex, _>::new(tx, &mut b.write, Role::Server, [0; 32], Config::default());
    let (mut reader, _writer) = halves(rx, &mut b.read, &mut b.message, &shared);
    bounded(async {
        peer.write_all(&client_frame(TEXT, false, b"0123"))
            .await
            .unwrap();
        {
            // One poll takes the first fragment into the message buffer and then waits for more input;
            // the receive is dropped there, as a `select!` would drop it.
            let mut recv = std::pin::pin!(reader.recv());
            std::future::poll_fn(|cx| {
                assert!(recv.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
        }
        peer.write_all(&client_frame(CONTINUATION, true, b"4567"))
            .await
            .unwrap();
        assert_eq!(reader.recv().await.unwrap(), Message::Text("01234567"));
    })
    .await;
}

#[tokio::test]
async fn frames_that_came_with_the_handshake_are_read_first() {
    let (rx, tx, mut peer) = pipe(4096);
    let mut b = Buffers::new();
    // The handshake left a whole frame behind the request head, at offset 10.
    let early = client_frame(TEXT, true, b"early");
    b.read[10..10 + early.len()].copy_from_slice(&early);
    let upgraded = Upgraded {
        start: 10,
        end: 10 + early.len(),
        deflate: None,
    };
    let shared =
        Shared::<NoopRawMutex, _>::new(tx, &mut b.write, Role::Server, [0; 32], Config::default());
    let mut reader = Reader::new(rx, &mut b.read, upgraded, &mut b.message, &shared);
    bounded(async {
        assert_eq!(reader.recv().await.unwrap(), Message::Text("early"));
        peer.write_all(&client_frame(BINARY, true, b"next"))
            .await
            .unwrap();
        assert_eq!(reader.recv().await.unwrap(), Message::Binary(b"next"));
    })
    .await;
}

/// A current-thread tokio runtime, for one half on its own thread.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_ping_gets_its_pong_while_a_writer_on_another_thread_keeps_sending() {
    use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    // Reader, writer and peer each on their own thread: the reader's reply can be queued at any point of
    // the writer's hold on the write side, including just before it lets go.
    let (rx, tx, peer) = pipe(4096);
    let mut b = Buffers::new();
    let shared = Shared::<CriticalSectionRawMutex, _>::new(
        tx,
        &mut b.write,
        Role::Server,
        [0; 32],
        Config::default(),
    );
    let upgraded = Upgraded {
        start: 0,
        end: 0,
        deflate: None,
    };
    let mut reader = Reader::new(rx, &mut b.read, upgraded, &mut b.message, &shared);
    let mut writer = Writer::new(&shared);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            runtime().block_on(async {
                while let Ok(Message::Text(_) | Message::Binary(_)) = reader.recv().await {}
            })
        });
        scope.spawn(|| {
            runtime().block_on(async {
                while !stop.load(Ordering::Relaxed) {
                    if writer.send_text("tick").await.is_err() {
                        break;
                    }
                }
            })
        });
        runtime().block_on(bounded(async {
            let (mut peer_rx, mut peer_tx) = tokio::io::split(peer);
            for i in 0..300u32 {
                let id = i.to_be_bytes();
                peer_tx
                    .write_all(&client_frame(PING, true, &id))
                    .await
                    .unwrap();
                loop {
                    match read_frame(&mut peer_rx).await {
                        (true, PONG, payload) => {
                            assert_eq!(payload, id);
                            break;
                        }
                        (true, TEXT, payload) => assert_eq!(payload, b"tick"),
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
            stop.store(true, Ordering::Relaxed);
            let close = client_frame(CLOSE, true, &close_payload(1000, ""));
            peer_tx.write_all(&close).await.unwrap();
            while read_frame(&mut peer_rx).await.1 != CLOSE {}
        }));
    });
}

/// Issue 23, item 2: a send dropped in the middle of a write let go of the write side without waking the
/// reader, so the rest of its frame sat in the write buffer while the reader slept in its read, and a peer
/// waiting for that frame waited for good.
#[tokio::test]
async fn the_rest_of_a_frame_whose_send_was_dropped_leaves_without_another_call() {
    let (rx, tx, peer) = pipe(256);
    let (mut peer_rx, _peer_tx) = tokio::io::split(peer);
    let mut b = Buffers::new();
    let shared =
        Shared::<NoopRawMutex, _>::new(tx, &mut b.write, Role::Server, [0; 32], Config::default());
    let (mut reader, mut writer) = halves(rx, &mut b.read, &mut b.message, &shared);
    let message = vec![7u8; 400];
    let (given_up, dropped) = oneshot::channel();
    let write = async {
        // The peer reads nothing yet: the frame blocks half-written, and the send is given up.
        let send = writer.send_binary(&message);
        let sent = tokio::time::timeout(std::time::Duration::from_millis(50), send).await;
        assert!(sent.is_err(), "the send should have blocked");
        given_up.send(()).unwrap();
    };
    let read = async {
        let _ = reader.recv().await;
    };
    let peer = async {
        dropped.await.unwrap();
        // Nobody calls anything now; the peer waits for the whole frame.
        let (fin, opcode, payload) = read_frame(&mut peer_rx).await;
        assert!(fin && opcode == BINARY && payload == message);
    };
    bounded(async {
        tokio::select! {
            _ = read => panic!("the reader ended"),
            _ = async { tokio::join!(write, peer) } => {}
        }
    })
    .await;
}

#[tokio::test]
async fn timeouts_of_duration_max_mean_never_and_do_not_overflow_the_clock() {
    // Issue 23: `Instant::now() + Duration::MAX` overflowed embassy-time's clock and panicked.
    let (rx, tx, peer) = pipe(4096);
    let (mut peer_rx, mut peer_tx) = tokio::io::split(peer);
    let mut b = Buffers::new();
    let shared =
        Shared::<NoopRawMutex, _>::new(tx, &mut b.write, Role::Server, [0; 32], Config::default());
    let (mut reader, mut writer) = halves(rx, &mut b.read, &mut b.message, &shared);
    let (answered, go) = oneshot::channel();
    let read = async { reader.recv().await.map(|m| format!("{m:?}")) };
    let ping = async {
        let rtt = writer.ping(core::time::Duration::MAX).await;
        answered.send(()).unwrap();
        rtt
    };
    let peer = async {
        let (_, opcode, id) = read_frame(&mut peer_rx).await;
        assert_eq!(opcode, PING);
        let pong = client_frame(PONG, true, &id);
        peer_tx.write_all(&pong).await.unwrap();
        // The close only once the ping has its pong: it would end a ping still waiting.
        go.await.unwrap();
        let close = client_frame(CLOSE, true, &close_payload(1000, ""));
        peer_tx.write_all(&close).await.unwrap();
    };
    let (read, rtt, ()) = bounded(async { tokio::join!(read, ping, peer) }).await;
    assert!(rtt.is_ok(), "{rtt:?}");
    assert!(read.unwrap().starts_with("Close"));

    // The handshake's timeout too: a request that is not an upgrade is refused, not a panic.
    let (ours, mut theirs) = tokio::io::duplex(4096);
    let mut stream = FromTokio::new(ours);
    let config = Config {
        handshake_timeout: core::time::Duration::MAX,
        ..Config::default()
    };
    theirs
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let accepted = bounded(rill_embassy::handshake::accept(
        &mut stream,
        &mut b.read,
        &mut b.write,
        &config,
        |_| rill_embassy::Decision::accept(),
    ))
    .await;
    assert!(matches!(accepted, Err(Error::Request(_))), "{accepted:?}");
}

/// A write half that counts the flushes asked of it.
struct CountingFlush<'c> {
    io: Tx,
    flushes: &'c Cell<usize>,
}

impl embedded_io_async::ErrorType for CountingFlush<'_> {
    type Error = std::io::Error;
}

impl embedded_io_async::Write for CountingFlush<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.io.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.flushes.set(self.flushes.get() + 1);
        self.io.flush().await
    }
}

/// `Config::flush`: by default a send hands its bytes to the stream and never calls the stream's flush
/// (embassy-net's waits for the peer's ACK); `Flush::Stream` calls it after every send. The message
/// arrives either way.
#[tokio::test]
async fn the_streams_flush_is_called_only_when_the_config_asks_for_it() {
    for (flush, expected) in [
        (rill_embassy::Flush::NoAckWait, 0),
        (rill_embassy::Flush::Stream, 2),
    ] {
        let (_rx, tx, peer) = pipe(4096);
        let (mut peer_rx, _peer_tx) = tokio::io::split(peer);
        let flushes = Cell::new(0);
        let mut b = Buffers::new();
        let config = Config {
            flush,
            ..Config::default()
        };
        let io = CountingFlush {
            io: tx,
            flushes: &flushes,
        };
        let shared =
            Shared::<NoopRawMutex, _>::new(io, &mut b.write, Role::Server, [0; 32], config);
        let mut writer = Writer::new(&shared);
        bounded(async {
            writer.send_text("one").await.unwrap();
            writer.send_text("two").await.unwrap();
            for text in ["one", "two"] {
                let (fin, opcode, payload) = read_frame(&mut peer_rx).await;
                assert!(fin && opcode == TEXT && payload == text.as_bytes());
            }
        })
        .await;
        assert_eq!(flushes.get(), expected, "{flush:?}");
    }
}
