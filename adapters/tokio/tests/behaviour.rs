//! End-to-end behaviour of rill-tokio over loopback TCP: both roles of rill talking to each other.

use rill_tokio::{
    accept, accept_with, connect, connect_tcp, connect_with, ClientOptions, CloseCode, Config,
    Decision, Error, Listener, Message, MessageKind,
};
use std::time::Duration;
use tokio::net::TcpStream;

/// A bound listener and its `ws://` URL.
async fn listener() -> (Listener, String) {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// Bounds a whole test: a deadlock fails it instead of hanging CI.
async fn bounded<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("test exceeded its time bound")
}

#[tokio::test]
async fn helpers_set_tcp_nodelay() {
    let (listener, url) = listener().await;
    let addr = url.trim_start_matches("ws://").to_string();
    let client = connect_tcp(&addr, true).await.unwrap();
    let (accepted, _) = listener.accept().await.unwrap();
    assert!(client.nodelay().unwrap(), "connected socket");
    assert!(accepted.nodelay().unwrap(), "accepted socket");
    assert!(
        !connect_tcp(&addr, false).await.unwrap().nodelay().unwrap(),
        "the flag is honoured"
    );
}

#[tokio::test]
async fn messages_both_ways_and_close_handshake() {
    let (listener, url) = listener().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = accept(stream, Config::default()).await.unwrap();
        let (reader, writer) = ws.halves();
        let mut seen = Vec::new();
        loop {
            match reader.recv().await.unwrap() {
                Message::Text(t) => {
                    seen.push(t.to_string());
                    writer.send_text(&t.to_uppercase()).await.unwrap();
                }
                Message::Binary(b) => writer.send_binary(&[b, b].concat()).await.unwrap(),
                Message::Close(code, reason) => {
                    assert_eq!((code, reason), (Some(CloseCode(4000)), "bye"));
                    break;
                }
            }
        }
        assert!(matches!(ws.recv().await, Err(Error::Closed)));
        seen
    });
    bounded(async {
        let mut ws = connect(&url, Config::default()).await.unwrap();
        ws.send_text("héllo").await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Message::Text("HÉLLO"));
        ws.send_binary(&[1, 2]).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Message::Binary(&[1, 2, 1, 2]));
        ws.close(CloseCode(4000), "bye").await.unwrap();
        assert_eq!(server.await.unwrap(), ["héllo"]);
    })
    .await;
}

#[tokio::test]
async fn a_message_larger_than_every_buffer_streams_both_ways() {
    const LEN: usize = 1 << 20;
    let small = Config {
        read_buffer: 4096,
        max_read_buffer: 4096,
        write_buffer: 4096,
        max_head_len: 4096,
        // The pieces checked are the frames' own: no compression in between.
        deflate: None,
        ..Config::default()
    };
    let (listener, url) = listener().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = accept(stream, small).await.unwrap();
        let (reader, writer) = ws.halves();
        let mut total = 0;
        let mut largest_piece = 0;
        while let Some(piece) = reader.recv_piece().await.unwrap() {
            let expected = (total..).map(|i| (i % 251) as u8);
            assert!(piece
                .payload
                .iter()
                .copied()
                .eq(expected.take(piece.payload.len())));
            total += piece.payload.len();
            largest_piece = largest_piece.max(piece.payload.len());
            writer.feed_piece(&piece).await.unwrap();
            if piece.last {
                writer.flush().await.unwrap();
            }
        }
        (total, largest_piece)
    });
    bounded(async {
        let mut ws = connect(&url, small).await.unwrap();
        let (reader, writer) = ws.halves();
        let send = async {
            // Generated piece by piece, as from flash or a generator: never whole in memory.
            let mut chunks = writer.begin(MessageKind::Binary).await.unwrap();
            let mut piece = [0u8; 1000];
            let mut start = 0;
            while start + piece.len() < LEN {
                piece
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, b)| *b = ((start + i) % 251) as u8);
                chunks.send(&piece).await.unwrap();
                start += piece.len();
            }
            let tail: Vec<u8> = (start..LEN).map(|i| (i % 251) as u8).collect();
            chunks.finish(&tail).await.unwrap();
        };
        let receive = async {
            let mut total = 0;
            while total < LEN {
                match reader.recv_piece().await.unwrap() {
                    Some(piece) => {
                        assert!(piece
                            .payload
                            .iter()
                            .enumerate()
                            .all(|(i, &b)| b == ((total + i) % 251) as u8));
                        total += piece.payload.len();
                        assert_eq!(piece.last, total == LEN);
                    }
                    None => panic!("unexpected close"),
                }
            }
        };
        tokio::join!(send, receive);
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        let (total, largest_piece) = server.await.unwrap();
        assert_eq!(total, LEN);
        assert!(
            largest_piece <= 4096,
            "pieces are bounded by the read buffer"
        );
    })
    .await;
}

#[tokio::test]
async fn application_decides_protocol_headers_or_rejection() {
    let (listener, url) = listener().await;
    tokio::spawn(async move {
        for _ in 0..2 {
            let (stream, _) = listener.accept().await.unwrap();
            let result = accept_with(stream, Config::default(), |request| {
                if request.path() != "/chat" {
                    return Decision::Reject {
                        status: 404,
                        reason: "no such room".into(),
                    };
                }
                assert_eq!(request.query(), Some("room=1"));
                assert_eq!(request.origin(), Some("http://example.test"));
                let protocol = request
                    .protocols()
                    .find(|p| *p == "v2.chat")
                    .map(String::from);
                Decision::Accept {
                    protocol,
                    headers: vec![("X-Room".into(), "1".into())],
                    deflate: true,
                }
            })
            .await;
            if let Ok(mut ws) = result {
                let protocol = ws.protocol().unwrap_or("none").to_string();
                ws.send_text(&protocol).await.unwrap();
            }
        }
    });
    bounded(async {
        let options = ClientOptions {
            protocols: vec!["v1.chat".into(), "v2.chat".into()],
            origin: Some("http://example.test".into()),
            headers: vec![],
            deflate: None,
            proxy: rill_tokio::Proxy::Direct,
        };
        let mut ws = connect_with(&format!("{url}/chat?room=1"), &options, Config::default())
            .await
            .unwrap();
        assert_eq!(ws.protocol(), Some("v2.chat"));
        assert_eq!(ws.recv().await.unwrap(), Message::Text("v2.chat"));
        match connect(&format!("{url}/elsewhere"), Config::default()).await {
            Err(Error::Response(rill_ws::handshake::client::ResponseError::NotSwitching {
                status,
            })) => {
                assert_eq!(status, 404)
            }
            other => panic!("expected a 404, got {:?}", other.map(|_| ())),
        }
    })
    .await;
}

#[tokio::test]
async fn ping_measures_round_trip_and_pongs_flow_mid_chunked_message() {
    let (listener, url) = listener().await;
    let (open_tx, open_rx) = tokio::sync::oneshot::channel();
    let (pinged_tx, pinged_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (mut reader, mut writer) = accept(stream, Config::default()).await.unwrap().split();
        // The reading half answers pings on its own task; the writer sits mid-message meanwhile.
        let reading = tokio::spawn(async move { while reader.recv_piece().await.is_ok() {} });
        let mut chunks = writer.begin_text().await.unwrap();
        chunks.send("first half, ").await.unwrap();
        open_tx.send(()).unwrap();
        pinged_rx.await.unwrap();
        chunks.finish("second half").await.unwrap();
        reading.await.unwrap();
    });
    bounded(async {
        let (mut reader, mut writer) = connect(&url, Config::default()).await.unwrap().split();
        let reading = tokio::spawn(async move {
            match reader.recv().await.unwrap() {
                Message::Text(text) => text.to_string(),
                other => panic!("unexpected {other:?}"),
            }
        });
        open_rx.await.unwrap();
        let rtt = writer.ping(Duration::from_secs(5)).await.unwrap();
        assert!(rtt < Duration::from_secs(5));
        pinged_tx.send(()).unwrap();
        assert_eq!(reading.await.unwrap(), "first half, second half");
        writer.send_close(CloseCode::NORMAL, "").await.unwrap();
        drop(writer); // with the reader gone too, the socket closes and the server stops lingering
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn protocol_errors_close_with_their_code() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (listener, url) = listener().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = accept(stream, Config::default()).await.unwrap();
        ws.recv().await.map(|_| ()).unwrap_err()
    });
    bounded(async {
        // A raw client: valid handshake, then an unmasked frame (servers require masking: 1002).
        let mut raw = TcpStream::connect(url.trim_start_matches("ws://")).await.unwrap();
        raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x02hi").await.unwrap();
        let mut got = Vec::new();
        raw.read_to_end(&mut got).await.unwrap();
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 101 "));
        assert!(got.ends_with(&[0x88, 0x02, 0x03, 0xEA]), "close 1002 then the server ends TCP: {got:?}");
        drop(raw); // the server lingers until the peer closes too
        assert!(matches!(server.await.unwrap(), Error::Protocol(rill_ws::ProtocolError::UnmaskedFrame)));
    })
    .await;
}

#[tokio::test]
async fn bad_handshakes_get_an_http_error_with_a_reason() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (listener, url) = listener().await;
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(accept(stream, Config::default()));
        }
    });
    bounded(async {
        for (request, status_line, reason) in [
            ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 426 Upgrade Required", "missing Upgrade: websocket"),
            (
                "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
                "HTTP/1.1 426 Upgrade Required",
                "Sec-WebSocket-Version must be 13",
            ),
            ("BREW / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405 Method Not Allowed", "WebSocket upgrade requires GET"),
            ("\x01garbage\r\n\r\n", "HTTP/1.1 400 Bad Request", "malformed HTTP request"),
        ] {
            let mut raw = TcpStream::connect(url.trim_start_matches("ws://")).await.unwrap();
            raw.write_all(request.as_bytes()).await.unwrap();
            let mut got = String::new();
            raw.read_to_string(&mut got).await.unwrap();
            assert!(got.starts_with(status_line), "{got}");
            assert!(got.ends_with(reason), "{got}");
        }
    })
    .await;
}

#[test]
fn halves_are_send_for_send_streams() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<rill_tokio::Reader<TcpStream>>();
    assert_send::<rill_tokio::Writer<TcpStream>>();
    assert_send::<rill_tokio::WebSocket<TcpStream>>();
}

#[tokio::test]
async fn futures_spawned_on_a_multi_thread_runtime_are_send() {
    // tokio::spawn requires Send futures: this compiles only if recv/send futures are Send.
    let (listener, url) = listener().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = accept(stream, Config::default()).await.unwrap();
        let text = match ws.recv().await.unwrap() {
            Message::Text(t) => t.to_string(),
            _ => String::new(),
        };
        ws.send_text(&text).await.unwrap();
    });
    let client = tokio::spawn(async move {
        let mut ws = connect(&url, Config::default()).await.unwrap();
        ws.send_text("send").await.unwrap();
        matches!(ws.recv().await.unwrap(), Message::Text("send"))
    });
    assert!(bounded(client).await.unwrap());
    server.await.unwrap();
}

#[tokio::test]
async fn a_receive_cancelled_while_waiting_loses_nothing() {
    let (listener, url) = listener().await;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (half_tx, half_rx) = tokio::sync::oneshot::channel();
    let (end_tx, end_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = accept(stream, Config::default()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Message::Text("first"));
        // Poll once while nothing is buffered (the read is pending), then drop the future.
        assert!(tokio::time::timeout(Duration::ZERO, ws.recv())
            .await
            .is_err());
        ready_tx.send(()).unwrap();
        let second = ws.recv().await.unwrap();
        assert_eq!(second, Message::Text("second"));
        // Cancelled after the first fragment of a message was taken in: the next call completes it.
        half_rx.await.unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(200), ws.recv())
            .await
            .is_err());
        end_tx.send(()).unwrap();
        assert_eq!(ws.recv().await.unwrap(), Message::Text("hello"));
    });
    bounded(async {
        let mut ws = connect(&url, Config::default()).await.unwrap();
        ws.send_text("first").await.unwrap();
        ready_rx.await.unwrap();
        ws.send_text("second").await.unwrap();
        let (_, writer) = ws.halves();
        let mut chunks = writer.begin_text().await.unwrap();
        chunks.send("hel").await.unwrap();
        half_tx.send(()).unwrap();
        end_rx.await.unwrap();
        chunks.finish("lo").await.unwrap();
        server.await.unwrap();
    })
    .await;
}

#[cfg(feature = "futures")]
#[tokio::test]
async fn stream_and_sink_adapters_carry_owned_messages() {
    use futures_util::{SinkExt, StreamExt};
    use rill_tokio::OwnedMessage;
    let (listener, url) = listener().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (reader, writer) = accept(stream, Config::default()).await.unwrap().split();
        let mut sink = std::pin::pin!(writer.into_sink());
        let mut messages = std::pin::pin!(reader.into_stream());
        while let Some(Ok(message)) = messages.next().await {
            if matches!(message, OwnedMessage::Close(..)) {
                break;
            }
            sink.send(message).await.unwrap();
        }
    });
    bounded(async {
        let (reader, writer) = connect(&url, Config::default()).await.unwrap().split();
        let mut sink = std::pin::pin!(writer.into_sink());
        let mut messages = std::pin::pin!(reader.into_stream());
        sink.send(OwnedMessage::Text("one".into())).await.unwrap();
        sink.send(OwnedMessage::Binary(vec![2])).await.unwrap();
        assert_eq!(
            messages.next().await.unwrap().unwrap(),
            OwnedMessage::Text("one".into())
        );
        assert_eq!(
            messages.next().await.unwrap().unwrap(),
            OwnedMessage::Binary(vec![2])
        );
        sink.send(OwnedMessage::Close(Some(CloseCode::NORMAL), String::new()))
            .await
            .unwrap();
        assert!(matches!(
            messages.next().await,
            Some(Ok(OwnedMessage::Close(..)))
        ));
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn the_read_buffer_grows_under_bulk_traffic_up_to_its_limit() {
    let config = Config {
        read_buffer: 8192,
        max_read_buffer: 64 * 1024,
        ..Config::default()
    };
    let (listener, url) = listener().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = accept(stream, config).await.unwrap();
        let mut largest = 0;
        while let Ok(Some(piece)) = ws.recv_piece().await {
            largest = largest.max(piece.payload.len());
            if piece.last {
                break;
            }
        }
        largest
    });
    bounded(async {
        // Uncompressed, so that 4 MiB of ones stay 4 MiB on the wire.
        let plain = Config {
            deflate: None,
            ..Config::default()
        };
        let mut ws = connect(&url, plain).await.unwrap();
        ws.send_binary(&vec![1u8; 4 << 20]).await.unwrap();
        let largest = server.await.unwrap();
        assert!(
            largest > 8192,
            "reads that filled the buffer made it grow (largest piece {largest})"
        );
        assert!(
            largest <= 64 * 1024,
            "but never past max_read_buffer (largest piece {largest})"
        );
    })
    .await;
}

#[tokio::test]
async fn a_silent_client_hits_the_handshake_timeout() {
    let (listener, url) = listener().await;
    let config = Config {
        handshake_timeout: Duration::from_millis(200),
        ..Config::default()
    };
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        accept(stream, config).await.map(|_| ()).unwrap_err()
    });
    let _silent = TcpStream::connect(url.trim_start_matches("ws://"))
        .await
        .unwrap();
    let error = bounded(server).await.unwrap();
    assert!(
        matches!(error, Error::Timeout(rill_tokio::Timeout::Handshake)),
        "{error}"
    );
}

#[tokio::test]
async fn a_silent_peer_hits_the_idle_timeout_unless_keepalive_pings_it() {
    for keepalive in [None, Some(Duration::from_millis(50))] {
        let (listener, url) = listener().await;
        let config = Config {
            idle_timeout: Some(Duration::from_millis(300)),
            keepalive,
            ..Config::default()
        };
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = accept(stream, config).await.unwrap();
            ws.recv()
                .await
                .map(|m| format!("{m:?}"))
                .map_err(|e| e.to_string())
        });
        bounded(async {
            let (mut reader, mut writer) = connect(&url, Config::default()).await.unwrap().split();
            // The client says nothing for three idle periods; its reader answers pings meanwhile.
            let reading = tokio::spawn(async move { while reader.recv().await.is_ok() {} });
            let mut server = server;
            let outcome = tokio::time::timeout(Duration::from_millis(900), &mut server).await;
            match keepalive {
                None => assert_eq!(
                    outcome.unwrap().unwrap(),
                    Err("Idle timeout expired".to_string())
                ),
                Some(_) => {
                    assert!(
                        outcome.is_err(),
                        "pings kept the silent connection alive: {outcome:?}"
                    );
                    writer.send_text("still here").await.unwrap();
                    assert_eq!(
                        server.await.unwrap(),
                        Ok(r#"Text("still here")"#.to_string())
                    );
                }
            }
            reading.abort();
        })
        .await;
    }
}

#[tokio::test]
async fn input_ready_looks_at_the_socket_without_losing_what_it_reads() {
    let (listener, url) = listener().await;
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = accept(stream, Config::default()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Message::Text("first"));
        let (reader, _) = ws.halves();
        assert!(!reader.input_ready(), "nothing else was sent yet");
        first_tx.send(()).unwrap();
        // The second message reaches the socket; input_ready sees it without blocking.
        while !reader.input_ready() {
            tokio::task::yield_now().await;
        }
        assert!(reader.has_buffered_input(), "what input_ready read is kept");
        assert_eq!(reader.recv().await.unwrap(), Message::Text("second"));
    });
    bounded(async {
        let mut ws = connect(&url, Config::default()).await.unwrap();
        ws.send_text("first").await.unwrap();
        first_rx.await.unwrap();
        ws.send_text("second").await.unwrap();
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn has_buffered_input_follows_what_is_left_to_decode() {
    let (listener, url) = listener().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = accept(stream, Config::default()).await.unwrap();
        let (reader, _) = ws.halves();
        assert!(!reader.has_buffered_input(), "nothing read yet");
        assert_eq!(reader.recv().await.unwrap(), Message::Text("one"));
        // Both messages left in one write and arrived in one read: the second waits in the buffer.
        assert!(
            reader.has_buffered_input(),
            "the second message is buffered"
        );
        assert_eq!(reader.recv().await.unwrap(), Message::Text("two"));
        assert!(!reader.has_buffered_input(), "everything read is decoded");
    });
    bounded(async {
        let mut ws = connect(&url, Config::default()).await.unwrap();
        let (_, writer) = ws.halves();
        writer.feed(MessageKind::Text, b"one").await.unwrap();
        writer.feed(MessageKind::Text, b"two").await.unwrap();
        writer.flush().await.unwrap();
        server.await.unwrap();
    })
    .await;
}

#[test]
fn a_stream_receiver_refuses_stream_ids_beyond_its_bound() {
    use rill_tokio::{Envelope, EnvelopeKind, StreamEvent, StreamReceiver};
    let mut streams = StreamReceiver::with_max_streams(2);
    let message = |stream: u32| {
        let envelope = Envelope {
            kind: EnvelopeKind::Chunk,
            stream,
            sequence: 0,
        };
        let mut bytes = envelope.header().to_vec();
        bytes.extend_from_slice(b"x");
        bytes
    };
    for stream in [1, 2] {
        assert!(matches!(
            streams.receive(&message(stream)).unwrap(),
            StreamEvent::Chunk { .. }
        ));
    }
    assert!(matches!(
        streams.receive(&message(3)).unwrap(),
        StreamEvent::Refused { stream: 3 }
    ));
    assert_eq!(
        streams.resume_requests().count(),
        2,
        "the refused stream is not tracked"
    );
    streams.forget(1);
    assert!(matches!(
        streams.receive(&message(3)).unwrap(),
        StreamEvent::Chunk { .. }
    ));
}

#[tokio::test]
async fn the_close_timeout_runs_from_the_close_not_from_the_connection_start() {
    // The connection is older than its close timeout when it closes, and the peer answers the close
    // frame 400 ms later: the timeout (1 s) must count from the close frame (a send path that took the
    // connection's start as "now" would give up at once).
    let config = Config {
        close_timeout: Duration::from_millis(1000),
        ..Config::default()
    };
    let (listener, url) = listener().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = accept(stream, Config::default()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Message::Text("a"));
        // Busy elsewhere: the client's close frame waits 400 ms for this side to read it.
        tokio::time::sleep(Duration::from_millis(1900)).await;
        match ws.recv().await.unwrap() {
            Message::Close(code, _) => code,
            other => panic!("server: {other:?}"),
        }
    });
    bounded(async {
        let mut ws = connect(&url, config).await.unwrap();
        ws.send_text("a").await.unwrap();
        // Age the connection past its close timeout (the scenario, not a synchronisation).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        ws.close(CloseCode::NORMAL, "late").await.unwrap();
        assert_eq!(server.await.unwrap(), Some(CloseCode::NORMAL));
    })
    .await;
}

/// Messages that arrive over many reads, in every shape the reader handles: one frame gathered where it
/// lies in the read buffer (when it fits), one too large for the buffer (copied out as it fills),
/// fragments with pings between them, text split inside characters, and a message followed at once by
/// another. A 1 KiB pipe makes every read small; each message comes back whole and byte-exact, both ways.
#[tokio::test]
async fn messages_spanning_many_reads_arrive_whole_in_every_shape() {
    let plain = Config {
        deflate: None,
        ..Config::default()
    };
    // Uncompressed, pieces lie in the read buffer (and are gathered there); compressed, in the inflater.
    spanning_many_reads(plain).await;
    spanning_many_reads(Config::default()).await;
    // A read buffer configured at zero bytes starts at one and grows as reads fill it (a read into no
    // room at all would look like the end of the stream).
    let from_nothing = Config {
        read_buffer: 0,
        max_read_buffer: 4096,
        ..plain
    };
    spanning_many_reads(from_nothing).await;
}

async fn spanning_many_reads(config: Config) {
    let (server_io, client_io) = tokio::io::duplex(1024);
    let sizes = [0usize, 100, 1023, 3000, 6000, 7000, 20_000, 70_000];
    let server = tokio::spawn(async move {
        let mut ws = accept(server_io, config).await.unwrap();
        loop {
            match ws.recv().await.unwrap() {
                Message::Text(text) => {
                    let text = text.to_owned();
                    ws.send_text(&text).await.unwrap();
                }
                Message::Binary(bytes) => {
                    let bytes = bytes.to_vec();
                    ws.send_binary(&bytes).await.unwrap();
                }
                Message::Close(..) => return,
            }
        }
    });
    bounded(async {
        let options = rill_tokio::ClientOptions::default();
        let mut ws = rill_tokio::client_handshake(client_io, "x", "/", &options, config)
            .await
            .unwrap();
        for (n, size) in sizes.iter().enumerate() {
            let payload: Vec<u8> = (0..*size).map(|i| (i * 31 + n) as u8).collect();
            ws.send_binary(&payload).await.unwrap();
            assert_eq!(
                ws.recv().await.unwrap(),
                Message::Binary(&payload[..]),
                "{size} B"
            );
        }
        // Text of 3- and 4-byte characters, so reads end inside characters.
        let text: String = "€𝄞ab".repeat(1500);
        ws.send_text(&text).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Message::Text(&text[..]));
        // Fragments with a ping between each: the pieces do not meet end to end.
        let (reader, writer) = ws.halves();
        let mut chunks = writer.begin(MessageKind::Binary).await.unwrap();
        let mut whole = Vec::new();
        for part in 0..4u8 {
            let chunk = vec![part; 2500];
            chunks.send(&chunk).await.unwrap();
            whole.extend_from_slice(&chunk);
        }
        chunks.finish(b"end").await.unwrap();
        whole.extend_from_slice(b"end");
        assert_eq!(reader.recv().await.unwrap(), Message::Binary(&whole[..]));
        // Two messages in one burst: the second follows the first's last piece in the same read.
        let first = vec![7u8; 5000];
        writer.feed(MessageKind::Binary, &first).await.unwrap();
        writer.feed(MessageKind::Text, b"after").await.unwrap();
        writer.flush().await.unwrap();
        assert_eq!(reader.recv().await.unwrap(), Message::Binary(&first[..]));
        assert_eq!(reader.recv().await.unwrap(), Message::Text("after"));
        ws.close(rill_tokio::CloseCode::NORMAL, "").await.unwrap();
    })
    .await;
    server.await.unwrap();
}
