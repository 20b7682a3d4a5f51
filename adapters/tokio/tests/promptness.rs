//! Promptness without timing: the server may produce token N+1 only after the client acknowledged token N.
//! Any coalescing or missing flush holds a token back, the exchange deadlocks, and the bound fails the test.

use rill_tokio::{accept, connect, Batch, CloseCode, Config, Listener, Message};
use std::rc::Rc;
use std::time::Duration;

const TOKENS: usize = 200;

async fn token_exchange(
    config: Config,
    chunked: bool,
    bound: Duration,
) -> Result<usize, tokio::time::error::Elapsed> {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let server = async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = accept(stream, config).await.unwrap();
        let (reader, writer) = ws.halves();
        if chunked {
            // One long message whose chunks each reach the client before the next is produced.
            let mut chunks = writer.begin_text().await.unwrap();
            for n in 0..TOKENS {
                chunks.send(&format!("token{n} ")).await.unwrap();
                assert!(matches!(reader.recv().await.unwrap(), Message::Text(_)));
            }
            chunks.finish("").await.unwrap();
        } else {
            for n in 0..TOKENS {
                writer.send_text(&format!("token {n}")).await.unwrap();
                assert!(matches!(reader.recv().await.unwrap(), Message::Text(_)));
            }
        }
        let _ = ws.close(CloseCode::NORMAL, "").await;
    };
    let client = async move {
        let mut ws = connect(&url, Config::default()).await.unwrap();
        let (reader, writer) = ws.halves();
        // A token is complete at its message's end (whole messages) or at its trailing space (chunks).
        let mut received = 0;
        while received < TOKENS {
            match reader.recv_piece().await.unwrap() {
                Some(piece) => {
                    let ends = if chunked {
                        piece.payload.iter().filter(|&&b| b == b' ').count()
                    } else {
                        usize::from(piece.last)
                    };
                    for _ in 0..ends {
                        received += 1;
                        writer.send_text("ack").await.unwrap();
                    }
                }
                None => break,
            }
        }
        received
    };
    tokio::time::timeout(bound, async { tokio::join!(server, client).1 }).await
}

#[tokio::test]
async fn every_message_leaves_at_once() {
    assert_eq!(
        token_exchange(Config::default(), false, Duration::from_secs(20)).await,
        Ok(TOKENS)
    );
}

#[tokio::test]
async fn every_chunk_leaves_at_once() {
    assert_eq!(
        token_exchange(Config::default(), true, Duration::from_secs(20)).await,
        Ok(TOKENS)
    );
}

#[tokio::test]
async fn the_test_detects_coalescing() {
    // Control: with an opt-in batch policy that holds bytes back, the same exchange must stall. The
    // normal exchange takes milliseconds; a second is ample to see the stall.
    let batching = Config {
        batch: Some(Batch {
            max_bytes: 1 << 20,
            max_delay: Duration::from_secs(60),
        }),
        ..Config::default()
    };
    assert!(token_exchange(batching, false, Duration::from_secs(1))
        .await
        .is_err());
}

#[test]
fn many_connections_share_non_send_state_on_one_thread() {
    // Rc<RefCell<_>> room state: nothing here is Send, and nothing needs to be.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let room = Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
        let listener = Listener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let server_room = room.clone();
        tokio::task::spawn_local(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let room = server_room.clone();
                tokio::task::spawn_local(async move {
                    let mut ws = accept(stream, Config::default()).await.unwrap();
                    while let Ok(Message::Text(text)) = ws.recv().await {
                        room.borrow_mut().push(text.to_string());
                        let count = room.borrow().len().to_string();
                        ws.send_text(&count).await.unwrap();
                    }
                });
            }
        });
        let clients = (0..20).map(|n| {
            let url = url.clone();
            tokio::task::spawn_local(async move {
                let mut ws = connect(&url, Config::default()).await.unwrap();
                ws.send_text(&format!("hello from {n}")).await.unwrap();
                assert!(matches!(ws.recv().await.unwrap(), Message::Text(_)));
                ws.close(CloseCode::NORMAL, "").await.unwrap();
            })
        });
        for client in clients.collect::<Vec<_>>() {
            tokio::time::timeout(Duration::from_secs(10), client)
                .await
                .unwrap()
                .unwrap();
        }
        assert_eq!(room.borrow().len(), 20);
    });
}

#[tokio::test]
async fn a_batch_policy_flushes_once_it_holds_max_bytes() {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    // Frames of 20-byte tokens take 22 bytes: every third send crosses 60 bytes and flushes the batch.
    let batching = Config {
        batch: Some(Batch {
            max_bytes: 60,
            max_delay: Duration::from_secs(60),
        }),
        // The frame sizes above are uncompressed ones.
        deflate: None,
        ..Config::default()
    };
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = accept(stream, batching).await.unwrap();
        for n in 0..6 {
            ws.send_text(&format!("token {n:>14}")).await.unwrap();
        }
        ws
    });
    let mut ws = connect(&url, Config::default()).await.unwrap();
    let _server_ws = server.await.unwrap(); // kept open: only the policy may have flushed
    for n in 0..6 {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.recv())
            .await
            .expect("held back")
            .unwrap();
        assert_eq!(message, Message::Text(&format!("token {n:>14}")));
    }
}

#[tokio::test]
async fn a_batch_that_stops_growing_leaves_when_its_delay_has_passed() {
    // The batch's timer is the session's deadline: the reading half wakes for it even though no further
    // send comes and nothing arrives from the peer.
    let delay = Duration::from_millis(150);
    let batching = Config {
        batch: Some(Batch {
            max_bytes: 1 << 20,
            max_delay: delay,
        }),
        ..Config::default()
    };
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (mut reader, mut writer) = accept(stream, batching).await.unwrap().split();
        let (heard, heard_rx) = tokio::sync::oneshot::channel();
        let reading = tokio::spawn(async move {
            assert_eq!(reader.recv().await.unwrap(), Message::Text("go"));
            heard.send(()).unwrap();
            while reader.recv().await.is_ok() {} // waiting in a read with no deadline of its own
        });
        heard_rx.await.unwrap();
        for _ in 0..10 {
            tokio::task::yield_now().await; // the reader is back in its read before the send
        }
        let sent = tokio::time::Instant::now();
        writer.send_text("held back").await.unwrap(); // returns with the message still in the batch
        (sent, reading, writer)
    });
    let mut client = connect(&url, Config::default()).await.unwrap();
    client.send_text("go").await.unwrap();
    let message = tokio::time::timeout(Duration::from_secs(5), client.recv())
        .await
        .expect("the batch never left: its timer did not fire");
    assert_eq!(message.unwrap(), Message::Text("held back"));
    let (sent, reading, _writer) = server.await.unwrap();
    let waited = sent.elapsed();
    assert!(
        waited >= delay - Duration::from_millis(10),
        "left after {waited:?}, before its delay"
    );
    reading.abort();
}

/// The close handshake ends when the server's FIN arrives (RFC 6455 section 7.1.1: the server ends TCP
/// first once its close frame is out), not when the close timeout runs out: with a 30 s close timeout,
/// both ends are done within the test's 10 s bound. A shutdown the server's write path skipped left the
/// client waiting for the whole timeout.
#[tokio::test]
async fn the_close_handshake_ends_at_the_servers_fin_not_at_the_close_timeout() {
    let config = Config {
        close_timeout: Duration::from_secs(30),
        ..Config::default()
    };
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let server = async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = accept(stream, config).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Message::Text("hi"));
        ws.send_text("hi").await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            Message::Close(Some(CloseCode::NORMAL), "done")
        );
        assert!(matches!(ws.recv().await, Err(rill_tokio::Error::Closed)));
    };
    let client = async move {
        let mut ws = connect(&url, config).await.unwrap();
        ws.send_text("hi").await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Message::Text("hi"));
        ws.close(CloseCode::NORMAL, "done").await.unwrap();
    };
    let both = async { tokio::join!(server, client) };
    tokio::time::timeout(Duration::from_secs(10), both)
        .await
        .expect("the close handshake waited for its timeout");
}
