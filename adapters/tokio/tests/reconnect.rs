//! `rill_tokio::reconnect` against a server that dies mid-stream and comes back, and against servers that
//! say not to come back (close 1008, 403 at the handshake).

use rill_tokio::reconnect::{Reconnect, ReconnectState, RetryPolicy};
use rill_tokio::{
    accept_with, CloseCode, Config, Decision, Envelope, EnvelopeKind, Error, Listener, Message,
    StreamEvent, StreamReceiver, StreamSender,
};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::timeout;

const STREAMS: [u32; 2] = [7, 9];
const CHUNKS: u32 = 30;
/// Chunks each stream sends before the server dies.
const SENT_BEFORE: u32 = 10;
/// Chunks each stream produces (into the replay window) but never sends before it dies: lost in flight.
const LOST: u32 = 3;
const LIMIT: Duration = Duration::from_secs(10);

fn policy() -> RetryPolicy {
    RetryPolicy {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(300),
        max_attempts: None,
    }
}

fn payload(stream: u32, sequence: u32) -> String {
    format!("stream {stream} chunk {sequence}")
}

fn kind(sequence: u32) -> EnvelopeKind {
    match sequence + 1 == CHUNKS {
        true => EnvelopeKind::Last,
        false => EnvelopeKind::Chunk,
    }
}

/// The server's first life: sends the first chunks of each stream, produces a few more that never leave,
/// then dies (every socket dropped, no close frame).
async fn first_life(listener: Listener, sender: &mut StreamSender) {
    let (tcp, _) = listener.accept().await.unwrap();
    let mut ws = rill_tokio::accept(tcp, Config::default()).await.unwrap();
    let (_, writer) = ws.halves();
    for sequence in 0..SENT_BEFORE {
        for stream in STREAMS {
            let text = payload(stream, sequence);
            sender
                .send(writer, stream, kind(sequence), text.as_bytes())
                .await
                .unwrap();
        }
    }
    for sequence in SENT_BEFORE..SENT_BEFORE + LOST {
        for stream in STREAMS {
            sender.record(stream, kind(sequence), payload(stream, sequence).as_bytes());
        }
    }
}

/// The server's second life (same replay windows: a server with storage): answers each resume request
/// from the window, then sends the rest of every stream and closes with 1000.
async fn second_life(listener: Listener, sender: &mut StreamSender) {
    let (tcp, _) = listener.accept().await.unwrap();
    let mut ws = rill_tokio::accept(tcp, Config::default()).await.unwrap();
    let (reader, writer) = ws.halves();
    let mut resumed = 0;
    while resumed < STREAMS.len() {
        let Message::Binary(bytes) = reader.recv().await.unwrap() else {
            panic!("expected resume requests")
        };
        let (envelope, _) = Envelope::decode(bytes).unwrap();
        assert_eq!(envelope.kind, EnvelopeKind::Resume);
        assert_eq!(
            envelope.sequence, SENT_BEFORE,
            "asks for the first chunk it lacks"
        );
        let (stream, sequence) = (envelope.stream, envelope.sequence);
        assert_eq!(
            sender.resume(writer, stream, sequence).await.unwrap(),
            LOST as usize
        );
        resumed += 1;
    }
    for sequence in SENT_BEFORE + LOST..CHUNKS {
        for stream in STREAMS {
            let text = payload(stream, sequence);
            sender
                .send(writer, stream, kind(sequence), text.as_bytes())
                .await
                .unwrap();
        }
    }
    ws.close(CloseCode::NORMAL, "done").await.unwrap();
}

#[tokio::test]
async fn a_server_killed_mid_stream_and_restarted_is_resumed_with_every_chunk_once_in_order() {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("ws://{addr}/");
    let mut client = Reconnect::new(policy(), move || {
        let url = url.clone();
        async move { rill_tokio::connect(&url, Config::default()).await }
    });
    let mut state = client.state();
    let client = tokio::spawn(async move {
        let mut receiver = StreamReceiver::new();
        let mut delivered: Vec<(u32, String)> = Vec::new();
        let mut connections = 0;
        loop {
            let mut ws = client.connect().await?;
            connections += 1;
            for resume in receiver.resume_requests() {
                ws.send_binary(&resume).await?;
            }
            let code = loop {
                match ws.recv().await {
                    Ok(Message::Binary(bytes)) => match receiver.receive(bytes).unwrap() {
                        StreamEvent::Chunk { envelope, payload } => {
                            let text = String::from_utf8(payload.to_vec()).unwrap();
                            assert_eq!(text, payload_of(&envelope));
                            delivered.push((envelope.stream, text));
                        }
                        other => panic!("{other:?}"),
                    },
                    Ok(Message::Close(code, _)) => break code,
                    Ok(other) => panic!("{other:?}"),
                    // Killed: the connection vanished without a close frame.
                    Err(Error::AbnormalClosure | Error::Io(_)) => break None,
                    Err(error) => panic!("{error}"),
                }
            };
            if !client.closed(code) {
                return Ok::<_, Error>((delivered, connections));
            }
        }
    });
    let mut sender = StreamSender::new(64 * 1024);
    timeout(LIMIT, first_life(listener, &mut sender))
        .await
        .unwrap();
    // The server is gone: the client's dials fail and it backs off.
    let retrying = timeout(
        LIMIT,
        state.wait_for(|s| matches!(s, ReconnectState::Retrying { .. })),
    )
    .await
    .unwrap()
    .unwrap()
    .clone();
    match retrying {
        ReconnectState::Retrying { delay, .. } => assert!(delay <= policy().max, "{delay:?}"),
        other => panic!("{other:?}"),
    }
    let listener = Listener::bind(addr).await.unwrap();
    // Back within the longest wait (plus the dial itself).
    let bound = policy().max + Duration::from_secs(2);
    timeout(bound, second_life(listener, &mut sender))
        .await
        .expect("the client came back within the backoff bound");
    let (delivered, connections) = timeout(LIMIT, client).await.unwrap().unwrap().unwrap();
    assert_eq!(connections, 2);
    for stream in STREAMS {
        let got: Vec<&String> = delivered
            .iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, text)| text)
            .collect();
        let expected: Vec<String> = (0..CHUNKS).map(|i| payload(stream, i)).collect();
        assert_eq!(got, expected.iter().collect::<Vec<_>>(), "stream {stream}");
    }
    assert_eq!(
        *state.borrow(),
        ReconnectState::GaveUp("the server closed with 1000".into())
    );
}

fn payload_of(envelope: &Envelope) -> String {
    payload(envelope.stream, envelope.sequence)
}

/// A client whose dials are counted.
fn counted(url: String) -> (Arc<AtomicU32>, impl FnMut() -> DialFuture) {
    let dials = Arc::new(AtomicU32::new(0));
    let counter = dials.clone();
    let dial = move || -> DialFuture {
        counter.fetch_add(1, Ordering::SeqCst);
        let url = url.clone();
        Box::pin(async move { rill_tokio::connect(&url, Config::default()).await })
    };
    (dials, dial)
}

type DialFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<rill_tokio::WebSocket<rill_tokio::MaybeTlsStream>, Error>,
            > + Send,
    >,
>;

#[tokio::test]
async fn close_1008_stops_the_client() {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let (dials, dial) = counted(format!("ws://{}/", listener.local_addr().unwrap()));
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = rill_tokio::accept(tcp, Config::default()).await.unwrap();
        ws.close(CloseCode(1008), "banned").await.unwrap();
    });
    let mut client = Reconnect::new(policy(), dial);
    let mut ws = timeout(LIMIT, client.connect()).await.unwrap().unwrap();
    let code = match timeout(LIMIT, ws.recv()).await.unwrap().unwrap() {
        Message::Close(code, reason) => {
            assert_eq!(reason, "banned");
            code
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(code, Some(CloseCode(1008)));
    drop(ws); // the server's close waits for the TCP connection to end
    assert!(!client.closed(code));
    assert!(matches!(client.connect().await, Err(Error::Closed)));
    assert_eq!(dials.load(Ordering::SeqCst), 1, "no dial after 1008");
    assert_eq!(
        *client.state().borrow(),
        ReconnectState::GaveUp("the server closed with 1008".into())
    );
    timeout(LIMIT, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_403_at_the_handshake_stops_the_client() {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let (dials, dial) = counted(format!("ws://{}/", listener.local_addr().unwrap()));
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let refused = accept_with(tcp, Config::default(), |_| Decision::Reject {
            status: 403,
            reason: "no".into(),
        })
        .await;
        assert!(matches!(refused, Err(Error::Rejected(403))));
    });
    let mut client = Reconnect::new(policy(), dial);
    let error = timeout(LIMIT, client.connect()).await.unwrap();
    assert!(
        matches!(
            error,
            Err(Error::Response(
                rill_ws::handshake::client::ResponseError::NotSwitching { status: 403 }
            ))
        ),
        "{:?}",
        error.err()
    );
    assert_eq!(dials.load(Ordering::SeqCst), 1, "no dial after 403");
    assert!(matches!(
        &*client.state().borrow(),
        ReconnectState::GaveUp(why) if why.contains("403")
    ));
    timeout(LIMIT, server).await.unwrap().unwrap();
}
