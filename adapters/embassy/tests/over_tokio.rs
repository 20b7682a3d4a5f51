//! rill-embassy against rill-tokio over loopback TCP: the embassy adapter runs on `embedded-io-async`
//! views of tokio sockets (embedded-io-adapters), so both roles are checked against an independent driver
//! of the same core without hardware. (The firmware's host-TAP run checks it over embassy-net itself.)

use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, NoopRawMutex};
use embedded_io_adapters::tokio_1::FromTokio;
use rill_embassy::handshake::{accept, connect};
use rill_embassy::{ClientRequest, Config, Decision, Error, Message, Reader, Role, Shared, Writer};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

async fn bounded<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("test exceeded its time bound")
}

/// A page four times the write buffer: its body must go out from where it lies.
const PAGE: [u8; 2048] = [b'x'; 2048];

/// An embassy-side echo server on a small board's buffers: 512-byte read and write buffers (and, with
/// permessage-deflate, a 2 KiB window to inflate with).
async fn embassy_echo_server(
    listener: TcpListener,
    config: Config,
) -> Result<(), Error<std::io::Error>> {
    let (stream, _) = listener.accept().await.unwrap();
    let (read_half, write_half) = stream.into_split();
    let (mut rx, tx) = (FromTokio::new(read_half), FromTokio::new(write_half));
    let mut read_buf = [0u8; 512];
    let mut write_buf = [0u8; 512];
    // The handshake runs over the read half and a temporary write; embedded-io needs Read + Write in one
    // value, so join the halves for it.
    let mut joined = Joined { rx: &mut rx, tx };
    let upgraded = accept(
        &mut joined,
        &mut read_buf,
        &mut write_buf,
        &config,
        |request| match request.path() {
            "/echo" => Decision::accept(),
            "/" => Decision::Respond {
                status: 200,
                content_type: "text/html",
                body: &PAGE,
            },
            _ => Decision::Reject {
                status: 404,
                reason: "no such route",
            },
        },
    )
    .await?;
    // A critical-section mutex makes the halves Sync, so this server can run on a multi-thread runtime.
    let shared = Shared::<CriticalSectionRawMutex, _>::new(
        joined.tx,
        &mut write_buf,
        Role::Server,
        [0; 32],
        config,
    );
    assert_eq!(upgraded.deflate.is_some(), config.deflate.is_some());
    let mut window = [0u8; 1 << DEFLATE_WINDOW_BITS];
    let mut inflater = rill_ws::deflate::Inflater::new(&mut window[..]);
    let reader = Reader::new(rx, &mut read_buf, upgraded, &mut [], &shared);
    #[cfg(feature = "deflate")]
    let reader = reader.inflating(&mut inflater);
    #[cfg(not(feature = "deflate"))]
    let _ = &mut inflater;
    let mut reader = reader;
    let mut writer = Writer::new(&shared);
    loop {
        match reader.recv_piece().await {
            Ok(Some(piece)) => writer.feed_piece(&piece).await?,
            Ok(None) | Err(Error::Closed) => return Ok(()),
            Err(error) => return Err(error),
        }
        if !reader.has_buffered_input() {
            writer.flush().await?;
        }
    }
}

/// The inflate window of the deflate test's board: 2 KiB.
const DEFLATE_WINDOW_BITS: u8 = 11;

/// Read and write halves presented as one stream, for the handshake.
struct Joined<'r, R, W> {
    rx: &'r mut R,
    tx: W,
}

impl<R: embedded_io_async::ErrorType, W> embedded_io_async::ErrorType for Joined<'_, R, W> {
    type Error = R::Error;
}

impl<R: embedded_io_async::Read, W: embedded_io_async::ErrorType<Error = R::Error>>
    embedded_io_async::Read for Joined<'_, R, W>
{
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.rx.read(buf).await
    }
}

impl<R: embedded_io_async::ErrorType, W: embedded_io_async::Write<Error = R::Error>>
    embedded_io_async::Write for Joined<'_, R, W>
{
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.tx.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.tx.flush().await
    }
}

#[tokio::test]
async fn embassy_server_echoes_messages_larger_than_its_buffers() {
    echo_through_the_board(Config::default()).await;
}

/// With permessage-deflate the board inflates what the tokio client compresses (into a 2 KiB window it
/// agreed as `client_max_window_bits=11`) and answers uncompressed.
#[cfg(feature = "deflate")]
#[tokio::test]
async fn an_inflate_only_board_echoes_compressed_messages() {
    let config = Config {
        deflate: Some(rill_ws::deflate::DeflateConfig {
            receive_window_bits: DEFLATE_WINDOW_BITS,
            ..rill_ws::deflate::DeflateConfig::default()
        }),
        ..Config::default()
    };
    echo_through_the_board(config).await;
}

/// A tokio client echoes text, 64 KiB of binary and a ping through the embassy server.
async fn echo_through_the_board(config: Config) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/echo", listener.local_addr().unwrap());
    let server = tokio::spawn(embassy_echo_server(listener, config));
    bounded(async {
        let mut ws = rill_tokio::connect(&url, rill_tokio::Config::default())
            .await
            .unwrap();
        ws.send_text("hello board").await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            rill_tokio::Message::Text("hello board")
        );
        let big: Vec<u8> = (0..64 * 1024).map(|i| (i % 253) as u8).collect();
        ws.send_binary(&big).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), rill_tokio::Message::Binary(&big));
        let text = "the board inflates what the client compresses; ".repeat(300);
        ws.send_text(&text).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), rill_tokio::Message::Text(&text));
        let (reader, writer) = ws.halves();
        let rtt = async { writer.ping(Duration::from_secs(5)).await.unwrap() };
        let keep_reading = async {
            let _ = tokio::time::timeout(Duration::from_millis(500), reader.recv()).await;
        };
        let (rtt, ()) = tokio::join!(rtt, keep_reading);
        assert!(rtt < Duration::from_secs(5));
        ws.close(rill_tokio::CloseCode::NORMAL, "").await.unwrap();
    })
    .await;
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn embassy_server_serves_pages_and_rejects_unknown_routes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for (path, expected) in [
        ("/", "HTTP/1.1 200 OK"),
        ("/nope", "HTTP/1.1 404 Not Found"),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(embassy_echo_server(listener, Config::default()));
        let mut raw = TcpStream::connect(addr).await.unwrap();
        raw.write_all(format!("GET {path} HTTP/1.1\r\nHost: board\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut response = String::new();
        bounded(raw.read_to_string(&mut response)).await.unwrap();
        assert!(response.starts_with(expected), "{response}");
        if path == "/" {
            assert!(
                response.ends_with(&"x".repeat(2048)),
                "the whole page arrives"
            );
        }
        assert!(matches!(server.await.unwrap(), Err(Error::Rejected(_))));
    }
}

#[tokio::test]
async fn embassy_client_talks_to_a_tokio_server() {
    let listener = rill_tokio::Listener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = rill_tokio::accept_with(stream, rill_tokio::Config::default(), |request| {
            let protocol = request.protocols().find(|p| *p == "v1").map(String::from);
            rill_tokio::Decision::Accept {
                protocol,
                headers: vec![],
                deflate: true,
            }
        })
        .await
        .unwrap();
        let (reader, writer) = ws.halves();
        while let Ok(rill_tokio::Message::Text(text)) = reader.recv().await {
            writer.send_text(&text.to_uppercase()).await.unwrap();
        }
    });
    bounded(async {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (read_half, write_half) = stream.into_split();
        let (mut rx, tx) = (FromTokio::new(read_half), FromTokio::new(write_half));
        let (mut read_buf, mut write_buf, mut message_buf) = ([0u8; 256], [0u8; 256], [0u8; 1024]);
        let config = Config::default();
        let host = addr.to_string();
        let request = ClientRequest {
            host: &host,
            path: "/",
            key: *b"0123456789abcdef",
            protocols: &["v0", "v1"],
            origin: None,
            headers: &[],
            deflate: None,
        };
        let mut joined = Joined { rx: &mut rx, tx };
        let (upgraded, protocol) = connect(
            &mut joined,
            &request,
            &mut read_buf,
            &mut write_buf,
            &config,
        )
        .await
        .unwrap();
        assert_eq!(protocol, Some(1));
        let shared = Shared::<NoopRawMutex, _>::new(
            joined.tx,
            &mut write_buf,
            Role::Client,
            [0x5E; 32],
            config,
        );
        let mut reader = Reader::new(rx, &mut read_buf, upgraded, &mut message_buf, &shared);
        let mut writer = Writer::new(&shared);
        writer.send_text("from the board").await.unwrap();
        assert_eq!(
            reader.recv().await.unwrap(),
            Message::Text("FROM THE BOARD")
        );
        let mut chunks = writer.begin(rill_embassy::MessageKind::Text).await.unwrap();
        chunks.send(b"streamed ").await.unwrap();
        chunks.finish(b"from flash").await.unwrap();
        assert_eq!(
            reader.recv().await.unwrap(),
            Message::Text("STREAMED FROM FLASH")
        );
        writer
            .send_close(rill_embassy::CloseCode::NORMAL, "bye")
            .await
            .unwrap();
        assert!(matches!(
            reader.recv().await.unwrap(),
            Message::Close(Some(_), _)
        ));
        assert!(matches!(reader.recv().await, Err(Error::Closed)));
    })
    .await;
    server.await.unwrap();
}

/// The one-call API: `rill_embassy::accept` serves a tokio client (the halves run in this task, so the
/// server is joined, not spawned), and `rill_embassy::connect` talks to a tokio server; each hands back a
/// reader and a writer that echo and close.
#[tokio::test]
async fn one_call_accept_and_connect_give_a_working_reader_and_writer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/echo", listener.local_addr().unwrap());
    let server = async {
        let (stream, _) = listener.accept().await.unwrap();
        let (read_half, write_half) = stream.into_split();
        let (rx, tx) = (FromTokio::new(read_half), FromTokio::new(write_half));
        let (mut read_buf, mut write_buf) = ([0u8; 512], [0u8; 512 + 14]);
        let mut shared = None;
        let (mut reader, mut writer) = rill_embassy::accept(
            rx,
            tx,
            &mut read_buf,
            &mut write_buf,
            &mut shared,
            &Config::default(),
            |request| match request.path() {
                "/echo" => Decision::accept(),
                _ => Decision::Reject {
                    status: 404,
                    reason: "no such route",
                },
            },
        )
        .await?;
        while let Some(piece) = reader.recv_piece().await? {
            writer.feed_piece(&piece).await?;
            if !reader.has_buffered_input() {
                writer.flush().await?;
            }
        }
        Ok::<_, Error<std::io::Error>>(reader.close_frame().0)
    };
    let client = async {
        let mut ws = rill_tokio::connect(&url, rill_tokio::Config::default())
            .await
            .unwrap();
        ws.send_text("hello board").await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            rill_tokio::Message::Text("hello board")
        );
        let big: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        ws.send_binary(&big).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), rill_tokio::Message::Binary(&big));
        ws.close(rill_tokio::CloseCode::NORMAL, "done")
            .await
            .unwrap();
    };
    let (served, ()) = bounded(async { tokio::join!(server, client) }).await;
    assert_eq!(served.unwrap(), Some(rill_embassy::CloseCode::NORMAL));

    let listener = rill_tokio::Listener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = rill_tokio::accept(stream, rill_tokio::Config::default())
            .await
            .unwrap();
        let (reader, writer) = ws.halves();
        while let Ok(rill_tokio::Message::Text(text)) = reader.recv().await {
            writer.send_text(&text.to_uppercase()).await.unwrap();
        }
    });
    bounded(async {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (read_half, write_half) = stream.into_split();
        let (rx, tx) = (FromTokio::new(read_half), FromTokio::new(write_half));
        let (mut read_buf, mut write_buf, mut message_buf) = ([0u8; 256], [0u8; 256], [0u8; 1024]);
        let host = addr.to_string();
        let request = ClientRequest {
            host: &host,
            path: "/",
            key: *b"0123456789abcdef",
            protocols: &[],
            origin: None,
            headers: &[],
            deflate: None,
        };
        let mut shared = None;
        let (reader, mut writer) = rill_embassy::connect(
            rx,
            tx,
            &request,
            &mut read_buf,
            &mut write_buf,
            &mut shared,
            &Config::default(),
            [0xA5; 32],
        )
        .await
        .unwrap();
        let mut reader = reader.reassembling(&mut message_buf);
        writer.send_text("one call").await.unwrap();
        assert_eq!(reader.recv().await.unwrap(), Message::Text("ONE CALL"));
        // Larger than the 256-byte read buffer: whole only through the lent reassembly buffer.
        let long = "x".repeat(600);
        writer.send_text(&long).await.unwrap();
        let upper = long.to_uppercase();
        assert_eq!(reader.recv().await.unwrap(), Message::Text(&upper[..]));
        writer
            .send_close(rill_embassy::CloseCode::NORMAL, "")
            .await
            .unwrap();
        assert!(matches!(reader.recv().await.unwrap(), Message::Close(..)));
    })
    .await;
    server.await.unwrap();
}

#[tokio::test]
async fn embassy_streams_envelopes_and_answers_resume_from_its_window() {
    use rill_tokio::{StreamEvent, StreamReceiver};
    use rill_ws::streams::{EnvelopeKind, ReplayWindow};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read_half, write_half) = stream.into_split();
        let (mut rx, tx) = (FromTokio::new(read_half), FromTokio::new(write_half));
        let (mut read_buf, mut write_buf, mut window_buf) = ([0u8; 512], [0u8; 512], [0u8; 256]);
        let config = Config::default();
        let mut joined = Joined { rx: &mut rx, tx };
        let upgraded = accept(&mut joined, &mut read_buf, &mut write_buf, &config, |_| {
            Decision::accept()
        })
        .await
        .unwrap();
        let shared = Shared::<CriticalSectionRawMutex, _>::new(
            joined.tx,
            &mut write_buf,
            Role::Server,
            [0; 32],
            config,
        );
        let mut reader = Reader::new(rx, &mut read_buf, upgraded, &mut [], &shared);
        let mut writer = Writer::new(&shared);
        let mut window = ReplayWindow::new(&mut window_buf[..]);
        for token in ["one ", "two ", "three"] {
            let kind = if token == "three" {
                EnvelopeKind::Last
            } else {
                EnvelopeKind::Chunk
            };
            writer
                .send_envelope(&mut window, 7, kind, token.as_bytes())
                .await
                .unwrap();
        }
        // The client asks for the stream again from sequence 1, then for a sequence never sent.
        for _ in 0..2 {
            let Ok(Message::Binary(request)) = reader.recv().await else {
                panic!("expected a resume request")
            };
            let (envelope, _) = rill_ws::streams::Envelope::decode(request).unwrap();
            writer
                .resume(&window, envelope.stream, envelope.sequence)
                .await
                .unwrap();
        }
    });
    bounded(async {
        let mut ws = rill_tokio::connect(&url, rill_tokio::Config::default())
            .await
            .unwrap();
        let mut streams = StreamReceiver::new();
        let mut text = String::new();
        for _ in 0..3 {
            let rill_tokio::Message::Binary(message) = ws.recv().await.unwrap() else {
                panic!("binary envelopes")
            };
            if let StreamEvent::Chunk { payload, .. } = streams.receive(message).unwrap() {
                text.push_str(std::str::from_utf8(payload).unwrap());
            }
        }
        assert_eq!(text, "one two three");
        let resume = |sequence: u32| {
            rill_ws::streams::Envelope {
                kind: EnvelopeKind::Resume,
                stream: 7,
                sequence,
            }
            .header()
        };
        ws.send_binary(&resume(1)).await.unwrap();
        for expected in [1u32, 2] {
            let rill_tokio::Message::Binary(message) = ws.recv().await.unwrap() else {
                panic!("replay")
            };
            assert_eq!(
                rill_ws::streams::Envelope::decode(message)
                    .unwrap()
                    .0
                    .sequence,
                expected
            );
        }
        ws.send_binary(&resume(9)).await.unwrap();
        let rill_tokio::Message::Binary(message) = ws.recv().await.unwrap() else {
            panic!("gone")
        };
        assert_eq!(
            rill_ws::streams::Envelope::decode(message).unwrap().0.kind,
            EnvelopeKind::Gone
        );
    })
    .await;
    server.await.unwrap();
}
