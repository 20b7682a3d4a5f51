//! README's demo: three simulated model answers streaming token by token to a web page, on one WebSocket,
//! with resume after a dropped connection.
//!
//! `cargo run --release -p rill-tokio --example token_stream -- --addr 127.0.0.1:8080`, then open the URL.
//!
//! `GET /` serves the page, `GET /rill-streams.js` the browser module, `GET /expected` the full answers
//! (for tests), and `/ws?session=ID` the WebSocket. Each token is one envelope message (docs/streams.md),
//! sent and flushed the moment it is produced. Everything runs on one thread with `Rc` state: sessions
//! outlive connections, so a page that reconnects resumes each answer where it stopped.
//!
//! Flags: `--interval-ms N` between tokens (default 15), `--drop-after N` drops each session's first
//! connection after N tokens (a test hook for resume), `--events` prints one JSON line per event (token
//! sent first/last, first token rendered by the page) with a global order number, `--tls-cert PEM
//! --tls-key PEM` serves the page and the socket over HTTPS and WSS on the same port (needs feature
//! `rustls`: `cargo run --release -p rill-tokio --features rustls --example token_stream -- ...`).
//!
//! The socket serves pages of its own origin only (`Origin::same_host()`: a page elsewhere gets 403; clients
//! without `Origin`, which are not browsers, are served); `--allow-origin URL` (repeatable) admits another.
//! SIGTERM or Ctrl-C drains: each page gets close 1001 (its script reconnects elsewhere), exit status 0.

mod common;

use rill_tokio::{
    Admission, Config, Decision, Drain, EnvelopeKind, Error, Incoming, Listener, Message, Origin,
    StreamSender, Writer,
};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

const PAGE: &str = include_str!("../../../web/token_stream.html");
const MODULE: &str = include_str!("../../../web/rill-streams.js");
const ANSWERS: [&str; 3] = [
    "A WebSocket starts life as an HTTP request that asks to upgrade. The server answers 101 Switching \
     Protocols, and from then on both ends exchange frames: small headers, masked payloads from the client, \
     and control frames for ping, pong and close.",
    "Streaming tokens well means sending each one the moment it exists. Nagle's algorithm, a write buffer \
     that waits to fill, or a proxy that batches can each hold a token back by tens of milliseconds, and \
     users see the answer stutter.",
    "Resuming after a dropped connection needs two things: a sequence number on every chunk, so the page \
     knows exactly what it has, and a bounded window of recent chunks on the server, so it can send what \
     was missed. Neither side repeats or loses a token.",
];

/// The answers cut into tokens: one word and the space after it.
fn tokens(answer: &str) -> impl Iterator<Item = &str> {
    answer.split_inclusive(' ')
}

/// Per page session: what was produced so far, kept across reconnections.
struct Session {
    sender: StreamSender,
    produced: [usize; 3],
    tokens_sent: usize,
    dropped_once: bool,
}

impl Session {
    fn new() -> Self {
        Session {
            sender: StreamSender::new(16 * 1024),
            produced: [0; 3],
            tokens_sent: 0,
            dropped_once: false,
        }
    }

    /// The next token, round-robin across the answers that are not finished.
    fn next_token(&mut self) -> Option<(u32, &'static str, bool)> {
        let start = self.tokens_sent % 3;
        (0..3).map(|i| (start + i) % 3).find_map(|answer| {
            let token = tokens(ANSWERS[answer]).nth(self.produced[answer])?;
            self.produced[answer] += 1;
            let last = tokens(ANSWERS[answer]).nth(self.produced[answer]).is_none();
            Some((answer as u32 + 1, token, last))
        })
    }
}

struct Options {
    origin: Origin,
    interval: Duration,
    drop_after: usize,
    events: bool,
}

/// Prints numbered events (their order, not their time, is what tests check).
#[derive(Clone)]
struct Events {
    enabled: bool,
    counter: Rc<Cell<u64>>,
}

impl Events {
    fn log(&self, event: &str, session: &str, stream: u32) {
        if self.enabled {
            let order = self.counter.get();
            self.counter.set(order + 1);
            println!(
                r#"{{"order":{order},"event":"{event}","session":"{session}","stream":{stream}}}"#
            );
        }
    }
}

type Sessions = Rc<RefCell<HashMap<String, Rc<tokio::sync::Mutex<Session>>>>>;

fn main() -> std::io::Result<()> {
    let addr = common::flag("--addr", "127.0.0.1:8080");
    let allowed = std::env::args()
        .zip(std::env::args().skip(1))
        .filter(|(flag, _)| flag == "--allow-origin")
        .map(|(_, origin)| origin);
    let options = Rc::new(Options {
        origin: Origin::same_host().and(allowed),
        interval: Duration::from_millis(common::flag("--interval-ms", "15").parse().unwrap_or(15)),
        drop_after: common::flag("--drop-after", "0").parse().unwrap_or(0),
        events: std::env::args().any(|a| a == "--events"),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let tls = common::tls_acceptor()?;
    local.block_on(&runtime, async move {
        let drain = Drain::new();
        let listener = Listener::bind(&addr)
            .await?
            .admit(Admission::new().drain(&drain));
        let shutdown = tokio::task::spawn_local(async move {
            common::drain_on_signal(&drain, Duration::from_secs(10)).await
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("token_stream: open {scheme}://{}/", listener.local_addr()?);
        let sessions: Sessions = Rc::default();
        let events = Events {
            enabled: options.events,
            counter: Rc::default(),
        };
        while let Some(incoming) = listener.next().await? {
            let (sessions, options, events) = (sessions.clone(), options.clone(), events.clone());
            let tls = tls.clone();
            tokio::task::spawn_local(async move {
                let result = match tls {
                    None => connection(incoming, sessions, &options, &events).await,
                    #[cfg(feature = "rustls")]
                    Some(acceptor) => {
                        let config = Config::default();
                        let tls = |tcp| rill_tokio::tls::tls_accept(tcp, &acceptor, &config);
                        match incoming.wrap(tls).await {
                            Ok(incoming) => connection(incoming, sessions, &options, &events).await,
                            Err(error) => Err(error),
                        }
                    }
                    #[cfg(not(feature = "rustls"))]
                    Some(never) => match never {},
                };
                if let Err(error) = result {
                    if !matches!(error, Error::Rejected(_) | Error::Closed) {
                        eprintln!("connection ended: {error}");
                    }
                }
            });
        }
        // The drain started: wait for it to finish (it prints its report), then exit with status 0.
        let _ = shutdown.await;
        Ok(())
    })
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    incoming: Incoming<S>,
    sessions: Sessions,
    options: &Options,
    events: &Events,
) -> Result<(), Error> {
    let mut session_id = String::new();
    let mut ws = incoming
        .accept_with(Config::default(), |request| {
            match (request.path(), request.is_upgrade()) {
                ("/ws", true) if options.origin.check(request).is_err() => {
                    options.origin.refusal(request.origin().unwrap_or(""))
                }
                ("/ws", true) => {
                    let query = request.query().unwrap_or("");
                    session_id = query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("session="))
                        .unwrap_or("")
                        .to_string();
                    Decision::accept()
                }
                ("/", false) => respond("text/html; charset=utf-8", PAGE),
                ("/rill-streams.js", false) => respond("text/javascript; charset=utf-8", MODULE),
                ("/expected", false) => respond("application/json", &expected_json()),
                _ => Decision::Reject {
                    status: 404,
                    reason: "not found".into(),
                },
            }
        })
        .await?;
    let session = sessions
        .borrow_mut()
        .entry(session_id.clone())
        .or_insert_with(|| Rc::new(Session::new().into()))
        .clone();
    // One connection per session at a time: a reconnect waits until the old connection is gone.
    let mut session = session.lock().await;
    let (reader, writer) = ws.halves();
    let mut tick = tokio::time::interval(options.interval);
    loop {
        tokio::select! {
            message = reader.recv() => match message? {
                Message::Binary(bytes) => {
                    if let Ok((envelope, _)) = rill_tokio::Envelope::decode(bytes) {
                        if envelope.kind == EnvelopeKind::Resume {
                            let (stream, sequence) = (envelope.stream, envelope.sequence);
                            session.sender.resume(writer, stream, sequence).await?;
                        }
                    }
                }
                Message::Text(text) => {
                    if let Some(stream) = text.strip_prefix("rendered ").and_then(|s| s.parse().ok()) {
                        events.log("first_rendered", &session_id, stream);
                    }
                }
                Message::Close(..) => return Ok(()),
            },
            _ = tick.tick() => {
                let Some((stream, token, last)) = session.next_token() else { continue };
                send_token(&mut session, writer, stream, token, last).await?;
                if session.produced[stream as usize - 1] == 1 {
                    events.log("sent_first", &session_id, stream);
                }
                if last {
                    events.log("sent_last", &session_id, stream);
                }
                if options.drop_after > 0 && session.tokens_sent == options.drop_after && !session.dropped_once {
                    session.dropped_once = true;
                    events.log("dropped", &session_id, 0);
                    return Ok(()); // no close frame: the page sees the connection vanish
                }
            }
        }
    }
}

async fn send_token<S: AsyncRead + AsyncWrite>(
    session: &mut Session,
    writer: &mut Writer<S>,
    stream: u32,
    token: &str,
    last: bool,
) -> Result<(), Error> {
    let kind = if last {
        EnvelopeKind::Last
    } else {
        EnvelopeKind::Chunk
    };
    session.tokens_sent += 1;
    session
        .sender
        .send(writer, stream, kind, token.as_bytes())
        .await?;
    Ok(())
}

fn respond(content_type: &str, body: &str) -> Decision {
    Decision::Respond {
        status: 200,
        content_type: content_type.into(),
        body: body.as_bytes().to_vec(),
    }
}

/// `{"1": "...", "2": "...", "3": "..."}`: what each answer must read when complete.
fn expected_json() -> String {
    let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let fields: Vec<String> = ANSWERS
        .iter()
        .enumerate()
        .map(|(i, a)| format!(r#""{}":"{}""#, i + 1, escape(a)))
        .collect();
    format!("{{{}}}", fields.join(","))
}
