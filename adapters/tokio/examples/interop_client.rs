//! A scripted client for interop tests against servers written elsewhere (see `tests/interop`): it prints
//! one JSON line with what it saw, and the test asserts on it and on what the server saw.
//!
//! `cargo run --release -p rill-tokio --example interop_client -- --url ws://127.0.0.1:9002/script`
//!
//! Flags: `--url`, `--protocols a,b` (offered in that order), `--mode script|await-close|listen`,
//! `--close-code 1000`, `--close-reason done`, `--ca PEM` (for a `wss://` URL: trust only the CA
//! certificates in PEM; needs feature `rustls`). A failed connect prints `error` and, for a TLS failure,
//! `tls_error` with rustls' reason.
//!
//! - `script`: a text, a binary, a 1 MiB binary sent in 64 KiB chunks, a text sent in chunks that split a
//!   character, each checked against its echo; then `fragments`, after which the server sends a fragmented
//!   text (pinging us mid-message) and a fragmented 1 MiB binary during which we ping it and then send
//!   `resume`; then a ping; then a close with `--close-code` and `--close-reason`.
//! - `await-close`: send `close-me` and wait for the server to close.
//! - `listen`: read until the server closes or the connection fails (for servers that misbehave).

mod common;

use rill_tokio::{ClientOptions, Config, Error, MaybeTlsStream, MessageKind, Reader, Writer};
use std::fmt::Write as _;
use std::time::Duration;
use tokio::sync::mpsc;

const TEXT: &str = "Hello from rill: ünïcødé ✓ 🦀";
const FRAGMENTED_TEXT: &str = "Fragmented ünïcødé ✓ 🦀 end";
const MIB: usize = 1 << 20;
const CHUNK: usize = 64 * 1024;
const STEP: Duration = Duration::from_secs(10);

/// The bytes of the large test messages, the same in the Python tests.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + 7) % 251) as u8).collect()
}

/// What the reading task saw.
enum Seen {
    /// The first piece of a message that continues.
    Started(MessageKind),
    /// A whole message and how many pieces it came in.
    Message(MessageKind, Vec<u8>, usize),
    /// The peer's close frame.
    Close(Option<u16>, String),
    /// The reader stopped: `Ok` after the close handshake, else why.
    End(Result<(), String>),
}

async fn read_all(mut reader: Reader<MaybeTlsStream>, seen: mpsc::UnboundedSender<Seen>) {
    let mut message = Vec::new();
    let mut pieces = 0;
    loop {
        let event = match reader.recv_piece().await {
            Ok(Some(data)) => {
                if data.first {
                    message.clear();
                    pieces = 0;
                }
                message.extend_from_slice(data.payload);
                pieces += 1;
                if data.last {
                    Seen::Message(data.kind, std::mem::take(&mut message), pieces)
                } else if data.first {
                    Seen::Started(data.kind)
                } else {
                    continue;
                }
            }
            Ok(None) => {
                let (code, reason) = reader.close_frame();
                Seen::Close(code.map(|c| c.0), reason.to_string())
            }
            Err(Error::Closed) => {
                let _ = seen.send(Seen::End(Ok(())));
                return;
            }
            Err(error) => {
                let _ = seen.send(Seen::End(Err(error.to_string())));
                return;
            }
        };
        if seen.send(event).is_err() {
            return;
        }
    }
}

/// One JSON object, built field by field.
#[derive(Default)]
struct Report(String);

impl Report {
    fn raw(&mut self, key: &str, value: &str) {
        let sep = if self.0.is_empty() { "" } else { "," };
        let _ = write!(self.0, "{sep}{}:{value}", json_string(key));
    }
    fn bool(&mut self, key: &str, value: bool) {
        self.raw(key, if value { "true" } else { "false" });
    }
    fn num(&mut self, key: &str, value: u128) {
        self.raw(key, &value.to_string());
    }
    fn str(&mut self, key: &str, value: Option<&str>) {
        self.raw(key, &value.map_or("null".into(), json_string));
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Session {
    writer: Writer<MaybeTlsStream>,
    seen: mpsc::UnboundedReceiver<Seen>,
    report: Report,
}

impl Session {
    /// The next event, skipping `Started` unless `started` asks for it.
    async fn next(&mut self, started: bool) -> Result<Seen, String> {
        loop {
            match tokio::time::timeout(STEP, self.seen.recv()).await {
                Err(_) => return Err("timed out waiting for the server".into()),
                Ok(None) => return Err("reader task ended".into()),
                Ok(Some(Seen::Started(_))) if !started => continue,
                Ok(Some(Seen::End(Err(error)))) => return Err(error),
                Ok(Some(seen)) => return Ok(seen),
            }
        }
    }

    async fn message(&mut self) -> Result<(MessageKind, Vec<u8>, usize), String> {
        match self.next(false).await? {
            Seen::Message(kind, data, pieces) => Ok((kind, data, pieces)),
            Seen::Close(code, reason) => Err(format!("closed by the server: {code:?} {reason}")),
            _ => Err("connection ended".into()),
        }
    }

    /// Waits for the peer's close frame (after ours, or after it started the close) and the reader's end.
    async fn closed(&mut self) -> Result<(), String> {
        loop {
            match self.next(false).await? {
                Seen::Close(code, reason) => {
                    self.report.num("close_code", code.map_or(0, u128::from));
                    self.report.str("close_reason", Some(&reason));
                }
                Seen::End(_) => return Ok(()),
                Seen::Message(..) | Seen::Started(_) => {}
            }
        }
    }

    async fn echo(&mut self, name: &str, kind: MessageKind, sent: &[u8]) -> Result<(), String> {
        let (got_kind, got, pieces) = self.message().await?;
        self.report
            .bool(&format!("{name}_echo"), got_kind == kind && got == sent);
        self.report.num(&format!("{name}_pieces"), pieces as u128);
        Ok(())
    }

    async fn script(&mut self, close_code: u16, close_reason: &str) -> Result<(), String> {
        let e = |error: Error| error.to_string();
        // Whole messages, one frame each.
        self.writer.send_text(TEXT).await.map_err(e)?;
        self.echo("text", MessageKind::Text, TEXT.as_bytes())
            .await?;
        let binary: Vec<u8> = (0..=255u8).collect();
        self.writer.send_binary(&binary).await.map_err(e)?;
        self.echo("binary", MessageKind::Binary, &binary).await?;

        // 1 MiB sent as 16 frames of 64 KiB, echoed by the server as it likes.
        let big = pattern(MIB);
        let mut chunks = self.writer.begin(MessageKind::Binary).await.map_err(e)?;
        let (body, last) = big.split_at(MIB - CHUNK);
        for chunk in body.chunks(CHUNK) {
            chunks.send(chunk).await.map_err(e)?;
        }
        chunks.finish(last).await.map_err(e)?;
        self.echo("chunked_binary", MessageKind::Binary, &big)
            .await?;

        // A text in chunks whose boundaries fall inside multi-byte characters.
        let text = TEXT.as_bytes();
        let mut chunks = self.writer.begin(MessageKind::Text).await.map_err(e)?;
        let cut = TEXT.find('ü').unwrap() + 1;
        let cut2 = TEXT.find('🦀').unwrap() + 2;
        chunks.send(&text[..cut]).await.map_err(e)?;
        chunks.send(&text[cut..cut2]).await.map_err(e)?;
        chunks.finish(&text[cut2..]).await.map_err(e)?;
        self.echo("chunked_text", MessageKind::Text, text).await?;

        // The server sends fragmented messages: a text (it pings us between fragments) and 1 MiB of binary,
        // which it leaves open until we have pinged it and said `resume`.
        self.writer.send_text("fragments").await.map_err(e)?;
        let (kind, got, pieces) = self.message().await?;
        self.report.bool(
            "fragmented_text",
            kind == MessageKind::Text && got == FRAGMENTED_TEXT.as_bytes(),
        );
        self.report.num("fragmented_text_pieces", pieces as u128);
        match self.next(true).await? {
            Seen::Started(MessageKind::Binary) => {}
            _ => return Err("expected the start of a fragmented binary message".into()),
        }
        let rtt = self.writer.ping(STEP).await.map_err(e)?;
        self.report.num("rtt_mid_message_us", rtt.as_micros());
        self.writer.send_text("resume").await.map_err(e)?;
        let (kind, got, pieces) = self.message().await?;
        self.report.bool(
            "fragmented_binary",
            kind == MessageKind::Binary && got == big,
        );
        self.report.num("fragmented_binary_pieces", pieces as u128);

        let rtt = self.writer.ping(STEP).await.map_err(e)?;
        self.report.num("rtt_us", rtt.as_micros());

        self.writer
            .send_close(close_code.into(), close_reason)
            .await
            .map_err(e)?;
        self.closed().await
    }
}

/// Connects with the default roots, or trusting only the CA certificates in the PEM file `ca`.
async fn connect(
    url: &str,
    options: &ClientOptions,
    ca: &str,
) -> Result<rill_tokio::WebSocket<MaybeTlsStream>, Error> {
    if ca.is_empty() {
        return rill_tokio::connect_with(url, options, Config::default()).await;
    }
    #[cfg(feature = "rustls")]
    {
        let roots = rill_tokio::tls::roots_from_pem(ca).map_err(Error::Io)?;
        let tls = rill_tokio::tls::client_config(roots);
        let (ws, _) =
            rill_tokio::connect_tls_with_response(url, options, tls, Config::default()).await?;
        Ok(ws)
    }
    #[cfg(not(feature = "rustls"))]
    Err(Error::InvalidUrl(
        "--ca needs TLS: build with --features rustls",
    ))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let url = common::flag("--url", "ws://127.0.0.1:9002/script");
    let protocols: Vec<String> = common::flag("--protocols", "")
        .split(',')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    let mode = common::flag("--mode", "script");
    let close_code: u16 = common::flag("--close-code", "1000").parse().unwrap_or(1000);
    let close_reason = common::flag("--close-reason", "done");

    let options = ClientOptions {
        protocols,
        ..ClientOptions::default()
    };
    let mut report = Report::default();
    let ws = match connect(&url, &options, &common::flag("--ca", "")).await {
        Ok(ws) => ws,
        Err(error) => {
            #[cfg(feature = "rustls")]
            if let Some(tls) = rill_tokio::tls::tls_error(&error) {
                let reason = tls.rustls_error().map(|e| format!("{e:?}"));
                report.str("tls_error", Some(reason.as_deref().unwrap_or("")));
            }
            report.str("error", Some(&format!("connect: {error}")));
            println!("{{{}}}", report.0);
            return;
        }
    };
    report.str("protocol", ws.protocol());
    let (reader, writer) = ws.split();
    let (tx, seen) = mpsc::unbounded_channel();
    let reading = tokio::spawn(read_all(reader, tx));
    let mut session = Session {
        writer,
        seen,
        report,
    };
    let result = match mode.as_str() {
        "script" => session.script(close_code, &close_reason).await,
        "await-close" => match session.writer.send_text("close-me").await {
            Ok(()) => session.closed().await,
            Err(error) => Err(error.to_string()),
        },
        _ => session.closed().await,
    };
    if let Err(error) = result {
        session.report.str("error", Some(&error));
    }
    drop(session.writer);
    let _ = tokio::time::timeout(Duration::from_secs(5), reading).await;
    println!("{{{}}}", session.report.0);
}
