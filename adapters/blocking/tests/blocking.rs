//! The adapter against peers over 127.0.0.1: another rill-blocking end in a thread, or a raw TcpStream
//! that writes and checks bytes on the wire. Threads hand each other steps over channels, never sleeps.

use rill_blocking::{
    accept, accept_with, connect_with, ClientOptions, CloseCode, Config, Decision, Error, Message,
    MessageKind, ProtocolError, SessionConfig, Timeout, WebSocket,
};
use rill_ws::codec::Decoded;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Buffers far smaller than the messages, so everything crosses several reads, frames and writes.
fn small() -> Config {
    Config {
        read_buffer: 512,
        write_buffer: 512,
        max_message: 2 << 20,
        ..Config::default()
    }
}

/// Serves one connection on a fresh port with `serve`.
fn server<T: Send + 'static>(
    config: Config,
    serve: impl FnOnce(WebSocket<TcpStream>) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        serve(accept_with(stream, config, |_| Decision::accept()).unwrap())
    });
    (addr, handle)
}

fn client(addr: SocketAddr, config: Config) -> WebSocket<TcpStream> {
    connect_with(&format!("ws://{addr}/"), &ClientOptions::default(), config).unwrap()
}

/// Echoes whole messages until the connection ends; returns how it ended.
fn echo(mut ws: WebSocket<TcpStream>) -> Error {
    loop {
        let (kind, copy) = match ws.recv() {
            Ok(Message::Text(text)) => (MessageKind::Text, text.as_bytes().to_vec()),
            Ok(Message::Binary(bytes)) => (MessageKind::Binary, bytes.to_vec()),
            Ok(Message::Close(..)) => continue,
            Err(error) => return error,
        };
        if let Err(error) = ws.send(kind, &copy) {
            return error;
        }
    }
}

/// A raw client: sends the upgrade request and reads the 101 response.
fn raw_client(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let head = read_head(&mut tcp);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// A raw server: accepts one connection and answers its upgrade request.
fn raw_server() -> (SocketAddr, JoinHandle<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        let head = read_head(&mut tcp);
        let key = head
            .lines()
            .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        let accept = rill_ws::handshake::accept_key(key.trim().as_bytes());
        let accept = std::str::from_utf8(&accept).unwrap();
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        tcp.write_all(response.as_bytes()).unwrap();
        tcp
    });
    (addr, handle)
}

/// Reads an HTTP head byte by byte, so no frame after it is consumed.
fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        tcp.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// A masked (client) frame with a short payload.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![first, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

fn read_n(tcp: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tcp.read_exact(&mut buf).unwrap();
    buf
}

fn assert_eof(tcp: &mut TcpStream) {
    let mut rest = Vec::new();
    tcp.read_to_end(&mut rest).unwrap();
    assert_eq!(
        rest, b"",
        "nothing after the close frame, then the end of TCP"
    );
}

#[test]
fn text_binary_and_a_mebibyte_echo_through_small_buffers() {
    let (addr, echoed) = server(small(), echo);
    let mut ws = client(addr, small());
    ws.send_text("hello, rill").unwrap();
    assert!(matches!(ws.recv().unwrap(), Message::Text("hello, rill")));
    ws.send_binary(&[0, 1, 2, 255]).unwrap();
    assert!(matches!(
        ws.recv().unwrap(),
        Message::Binary(&[0, 1, 2, 255])
    ));
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    ws.send(MessageKind::Binary, &big).unwrap();
    match ws.recv().unwrap() {
        Message::Binary(bytes) => assert!(bytes == big.as_slice(), "1 MiB came back intact"),
        _ => panic!("expected binary"),
    }
    let mut chunks = ws.begin(MessageKind::Text).unwrap();
    chunks.send(b"streamed ").unwrap();
    chunks.finish(b"text").unwrap();
    assert!(matches!(ws.recv().unwrap(), Message::Text("streamed text")));
    ws.close(CloseCode::NORMAL, "done").unwrap();
    assert!(matches!(echoed.join().unwrap(), Error::Closed));
}

#[test]
fn a_peer_close_is_answered_with_its_code_and_the_server_ends_tcp() {
    let (addr, served) = server(Config::default(), |mut ws| {
        let close = match ws.recv().unwrap() {
            Message::Close(code, reason) => (code, reason.to_string()),
            _ => panic!("expected the close frame"),
        };
        (close, ws.recv().unwrap_err())
    });
    let mut tcp = raw_client(addr);
    tcp.write_all(&masked(0x88, b"\x0f\xa0bye")).unwrap();
    assert_eq!(
        read_n(&mut tcp, 4),
        [0x88, 2, 0x0f, 0xa0],
        "close 4000 echoed"
    );
    assert_eof(&mut tcp);
    drop(tcp);
    let (close, after) = served.join().unwrap();
    assert_eq!(close, (Some(CloseCode(4000)), "bye".to_string()));
    assert!(matches!(after, Error::Closed));
}

#[test]
fn server_close_sends_its_code_and_finishes_once_the_client_ends_tcp() {
    let (addr, served) = server(Config::default(), |mut ws| {
        let result = ws.close(CloseCode(4001), "going");
        (result, ws.close_frame())
    });
    let mut tcp = raw_client(addr);
    assert_eq!(read_n(&mut tcp, 9), b"\x88\x07\x0f\xa1going");
    tcp.write_all(&masked(0x88, b"\x0f\xa1")).unwrap();
    assert_eof(&mut tcp);
    drop(tcp);
    let (result, frame) = served.join().unwrap();
    result.unwrap();
    assert_eq!(frame, (Some(CloseCode(4001)), String::new()));
}

#[test]
fn client_close_sends_a_masked_code_and_waits_for_the_server() {
    let (addr, raw) = raw_server();
    let closer = thread::spawn(move || {
        let mut ws = client(addr, Config::default());
        ws.close(CloseCode(4002), "").map(|()| ws.close_frame())
    });
    let mut tcp = raw.join().unwrap();
    let frame = read_n(&mut tcp, 8);
    assert_eq!(
        frame[..2],
        [0x88, 0x82],
        "a masked close frame with 2 bytes"
    );
    let code = [frame[2] ^ frame[6], frame[3] ^ frame[7]];
    assert_eq!(u16::from_be_bytes(code), 4002);
    tcp.write_all(&[0x88, 2, 0x0f, 0xa2]).unwrap();
    tcp.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eof(&mut tcp);
    assert_eq!(
        closer.join().unwrap().unwrap(),
        (Some(CloseCode(4002)), String::new())
    );
}

#[test]
fn an_unmasked_client_frame_is_answered_with_1002() {
    let (addr, served) = server(Config::default(), |mut ws| {
        ws.recv().map(|_| ()).unwrap_err()
    });
    let mut tcp = raw_client(addr);
    tcp.write_all(&[0x81, 0x01, b'a']).unwrap();
    assert_eq!(read_n(&mut tcp, 4), [0x88, 2, 0x03, 0xea]);
    assert_eof(&mut tcp);
    drop(tcp);
    assert!(matches!(
        served.join().unwrap(),
        Error::Protocol(ProtocolError::UnmaskedFrame)
    ));
}

#[test]
fn a_message_over_max_message_is_answered_with_1009() {
    let config = Config {
        max_message: 1000,
        ..small()
    };
    let (addr, served) = server(config, |mut ws| ws.recv().map(|_| ()).unwrap_err());
    let mut ws = client(addr, Config::default());
    ws.send_binary(&[7; 1001]).unwrap();
    assert!(matches!(
        ws.recv().unwrap(),
        Message::Close(Some(CloseCode::MESSAGE_TOO_BIG), _)
    ));
    assert!(matches!(ws.recv().unwrap_err(), Error::Closed));
    assert!(matches!(
        served.join().unwrap(),
        Error::Protocol(ProtocolError::MessageTooLarge { limit: 1000 })
    ));
}

#[test]
fn ping_measures_the_round_trip_and_keeps_a_message_that_came_first() {
    let (addr, echoed) = server(Config::default(), |mut ws| {
        // Sent before the server reads the ping, so it is on the wire before the pong.
        ws.send_text("first").unwrap();
        echo(ws)
    });
    let mut ws = client(addr, Config::default());
    assert_eq!(ws.ping(Duration::from_secs(5)).unwrap(), None);
    assert!(matches!(ws.recv().unwrap(), Message::Text("first")));
    let rtt = ws.ping(Duration::from_secs(5)).unwrap().expect("a pong");
    assert!(rtt < Duration::from_secs(5));
    ws.close(CloseCode::NORMAL, "").unwrap();
    assert!(matches!(echoed.join().unwrap(), Error::Closed));
}

#[test]
fn an_idle_peer_is_dropped_within_the_idle_timeout() {
    let idle = Duration::from_secs(1);
    let config = Config {
        session: SessionConfig {
            idle_timeout: Some(idle),
            ..SessionConfig::default()
        },
        ..Config::default()
    };
    let (addr, served) = server(config, |mut ws| {
        let start = Instant::now();
        let error = ws.recv().map(|_| ()).unwrap_err();
        (error, start.elapsed())
    });
    let mut tcp = raw_client(addr);
    let (error, elapsed) = served.join().unwrap();
    assert!(matches!(error, Error::Timeout(Timeout::Idle)), "{error:?}");
    assert!(
        elapsed >= idle && elapsed < idle + Duration::from_secs(1),
        "{elapsed:?}"
    );
    assert_eof(&mut tcp);
}

#[test]
fn split_halves_answer_a_ping_while_the_writer_is_between_chunks() {
    let (between, resume) = (mpsc::channel(), mpsc::channel::<()>());
    let (addr, served) = server(Config::default(), move |ws| {
        let (mut reader, mut writer) = ws.split().unwrap();
        let writing = thread::spawn(move || {
            let mut chunks = writer.begin(MessageKind::Binary).unwrap();
            chunks.send(b"part1").unwrap();
            between.0.send(()).unwrap();
            resume.1.recv().unwrap();
            chunks.finish(b"part2").unwrap();
        });
        let close = match reader.recv().unwrap() {
            Message::Close(code, _) => code,
            _ => panic!("expected the close frame"),
        };
        writing.join().unwrap();
        (close, reader.recv().unwrap_err())
    });
    let mut tcp = raw_client(addr);
    between.1.recv().unwrap();
    assert_eq!(
        read_n(&mut tcp, 7),
        b"\x02\x05part1",
        "a non-final binary frame"
    );
    tcp.write_all(&masked(0x89, b"hi")).unwrap();
    assert_eq!(
        read_n(&mut tcp, 4),
        b"\x8a\x02hi",
        "the pong, sent by the reader"
    );
    resume.0.send(()).unwrap();
    assert_eq!(
        read_n(&mut tcp, 7),
        b"\x80\x05part2",
        "the final continuation"
    );
    tcp.write_all(&masked(0x88, b"\x03\xe8")).unwrap();
    assert_eq!(read_n(&mut tcp, 4), [0x88, 2, 0x03, 0xe8]);
    assert_eof(&mut tcp);
    drop(tcp);
    let (close, after) = served.join().unwrap();
    assert_eq!(close, Some(CloseCode::NORMAL));
    assert!(matches!(after, Error::Closed));
}

#[test]
fn an_invalid_request_gets_the_http_error_and_a_rejection_its_status() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = thread::spawn(move || {
        let first = accept(listener.accept().unwrap().0)
            .map(|_| ())
            .unwrap_err();
        let reject = |_: &rill_blocking::Request<'_>| Decision::Reject {
            status: 403,
            reason: "no".into(),
        };
        let second = accept_with(listener.accept().unwrap().0, Config::default(), reject);
        (first, second.map(|_| ()).unwrap_err())
    });
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let head = read_head(&mut tcp);
    assert!(head.starts_with("HTTP/1.1 4"), "{head}");
    let refused = connect_with(
        &format!("ws://{addr}/"),
        &ClientOptions::default(),
        Config::default(),
    );
    assert!(matches!(
        refused.map(|_| ()).unwrap_err(),
        Error::Response(_)
    ));
    let (first, second) = served.join().unwrap();
    assert!(matches!(first, Error::Request(_)), "{first:?}");
    assert!(matches!(second, Error::Rejected(403)), "{second:?}");
}

#[test]
fn a_client_over_any_stream_feeds_and_flushes_and_pieces_stream_through() {
    use rill_blocking::Untimed;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = thread::spawn(move || {
        // The server ends TCP first after the close handshake, so it needs `shutdown_write`.
        let stream = listener.accept().unwrap().0;
        let mut ws = accept_with(stream, small(), |_| Decision::accept()).unwrap();
        let (mut pieces, mut bytes) = (0, Vec::new());
        while let Some(piece) = ws.recv_piece().unwrap() {
            pieces += 1;
            bytes.extend_from_slice(piece.payload);
        }
        (
            pieces,
            bytes,
            ws.close_frame(),
            ws.recv_piece().map(|_| ()).unwrap_err(),
        )
    });
    let stream = Untimed(TcpStream::connect(addr).unwrap());
    let host = addr.to_string();
    let mut ws =
        rill_blocking::client_handshake(stream, &host, "/", &ClientOptions::default(), small())
            .unwrap();
    ws.feed(MessageKind::Binary, &[1; 3000]).unwrap();
    ws.feed(MessageKind::Text, b"tail").unwrap();
    ws.flush().unwrap();
    ws.close(CloseCode::GOING_AWAY, "later").unwrap();
    // Untimed cannot half-close: the server sees the end of TCP when the socket is dropped.
    drop(ws);
    let (pieces, bytes, frame, after) = served.join().unwrap();
    assert!(
        pieces > 2,
        "3000 bytes through a 512-byte read buffer come in pieces"
    );
    assert_eq!(bytes.len(), 3004);
    assert_eq!(frame, (Some(CloseCode::GOING_AWAY), "later".to_string()));
    assert!(matches!(after, Error::Closed));
}

#[test]
fn a_keepalive_ping_goes_out_while_recv_waits() {
    let (addr, raw) = raw_server();
    let config = Config {
        session: SessionConfig {
            keepalive: Some(Duration::from_millis(200)),
            ..SessionConfig::default()
        },
        ..Config::default()
    };
    let waiting = thread::spawn(move || client(addr, config).recv().map(|_| ()).unwrap_err());
    let mut tcp = raw.join().unwrap();
    let ping = read_n(&mut tcp, 14);
    assert_eq!(ping[..2], [0x89, 0x88], "a masked ping with an 8-byte id");
    drop(tcp);
    assert!(matches!(waiting.join().unwrap(), Error::AbnormalClosure));
}

#[test]
fn a_peer_that_stops_reading_fails_the_send_after_the_write_timeout() {
    let (hold, release) = mpsc::channel::<()>();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = thread::spawn(move || {
        // Accepts, answers the handshake, then reads nothing until the test is over.
        let ws = accept(listener.accept().unwrap().0).unwrap();
        release.recv().unwrap();
        drop(ws);
    });
    let config = Config {
        session: SessionConfig {
            write_timeout: Some(Duration::from_millis(300)),
            ..SessionConfig::default()
        },
        // Uncompressed: 64 MiB of zeros must stay 64 MiB on the wire to fill the socket.
        deflate: None,
        ..Config::default()
    };
    let mut ws = client(addr, config);
    let big = vec![0u8; 64 << 20];
    let error = ws.send_binary(&big).unwrap_err();
    assert!(matches!(error, Error::Timeout(Timeout::Write)), "{error:?}");
    hold.send(()).unwrap();
    silent.join().unwrap();
}

#[test]
fn close_gives_up_after_the_close_timeout_when_the_peer_never_answers() {
    let (addr, raw) = raw_server();
    let config = Config {
        session: SessionConfig {
            close_timeout: Duration::from_millis(300),
            ..SessionConfig::default()
        },
        ..Config::default()
    };
    let closer = thread::spawn(move || {
        let start = Instant::now();
        let error = client(addr, config)
            .close(CloseCode::NORMAL, "")
            .unwrap_err();
        (error, start.elapsed())
    });
    let mut tcp = raw.join().unwrap();
    assert_eq!(
        read_n(&mut tcp, 2),
        [0x88, 0x82],
        "the close frame arrives and is never answered"
    );
    let (error, elapsed) = closer.join().unwrap();
    assert!(matches!(error, Error::Timeout(Timeout::Close)), "{error:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

/// A Unix socket pair end with the socket timeouts the pump uses.
struct Unix(std::os::unix::net::UnixStream);

impl Read for Unix {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Unix {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl rill_blocking::Timeouts for Unix {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.0.set_read_timeout(timeout)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.0.set_write_timeout(timeout)
    }
    fn reads_time_out(&self) -> bool {
        true
    }
}

/// A connection used whole that only sends, to a peer that reads slowly but answers every ping, is not
/// dropped by the idle timeout however long its sends wait: a send that waits past a deadline reads what the
/// peer sent before the session judges the deadline.
#[test]
fn a_send_waiting_on_a_slow_peer_still_hears_it_so_the_idle_timeout_spares_it() {
    assert_eq!(slow_peer_answering_pings(None), None);
}

/// The same with a message from the peer at the start: the send's read-ahead keeps it and reads no further
/// (the peer's pongs wait in the socket), and the peer's silence is not held against it meanwhile. Before,
/// the idle timeout failed the connection two seconds into the stream.
#[test]
fn a_message_kept_while_a_long_send_waits_does_not_make_the_peer_idle() {
    assert_eq!(slow_peer_answering_pings(Some(b"hi")), Some(b"hi".to_vec()));
}

/// Streams 4 MiB from a connection used whole to a peer that reads slowly and answers every ping, after
/// the peer sent `hello`; returns the message the server then receives.
fn slow_peer_answering_pings(hello: Option<&'static [u8]>) -> Option<Vec<u8>> {
    let (server_end, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
    // Small kernel buffers, so the server's writes wait on the slow peer and a ping it queues behind them
    // reaches the peer within milliseconds, not after the idle timeout.
    socket2::SockRef::from(&server_end)
        .set_send_buffer_size(4096)
        .unwrap();
    // Margins wide enough for a loaded machine: the peer answers each ping within a few ms of reading it.
    let idle = Duration::from_secs(2);
    // The server keeps the connection until the peer has read everything (it may still answer a ping).
    let (peer_done, server_may_end) = mpsc::channel::<()>();
    let server = thread::spawn(move || {
        let config = Config {
            session: SessionConfig {
                idle_timeout: Some(idle),
                keepalive: Some(Duration::from_millis(300)),
                ..SessionConfig::default()
            },
            ..Config::default()
        };
        let mut ws = accept_with(Unix(server_end), config, |_| Decision::accept()).unwrap();
        let began = Instant::now();
        for _ in 0..64 {
            ws.send_binary(&[7u8; 64 << 10])?;
        }
        let elapsed = began.elapsed();
        let heard = match hello {
            Some(_) => match ws.recv()? {
                Message::Binary(bytes) => Some(bytes.to_vec()),
                other => panic!("received {other:?}"),
            },
            None => None,
        };
        let _ = server_may_end.recv();
        Ok::<_, Error>((elapsed, heard))
    });
    peer.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        peer.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    if let Some(hello) = hello {
        peer.write_all(&masked(0x82, hello)).unwrap();
    }
    // The peer reads 4 KiB every 5 ms or slower (4 MiB take at least 5.1 s) and answers every ping.
    let mut receiver = rill_ws::Receiver::new(rill_ws::Role::Client, rill_ws::Limits::default());
    let (mut data, mut pings) = (0, 0);
    let mut buf = [0u8; 4096];
    while data < 64 << 16 {
        thread::sleep(Duration::from_millis(5));
        let n = peer.read(&mut buf).unwrap();
        assert!(n > 0, "the server ended the connection after {data} bytes");
        let mut pos = 0;
        while pos < n {
            let received = receiver.receive(&mut buf[pos..n]).unwrap();
            pos += received.consumed;
            match received.event {
                Some(Decoded::Data(piece)) => data += piece.payload.len(),
                Some(Decoded::Ping(payload)) => {
                    pings += 1;
                    peer.write_all(&masked(0x8a, payload)).unwrap();
                }
                Some(other) => panic!("unexpected {other:?}"),
                None => {}
            }
        }
    }
    peer_done.send(()).unwrap();
    let (elapsed, heard) = server.join().unwrap().expect("every send succeeds");
    assert!(
        elapsed > 2 * idle,
        "the sends spanned the idle timeout ({elapsed:?})"
    );
    assert!(pings >= 3, "keepalive pings went out meanwhile ({pings})");
    heard
}
