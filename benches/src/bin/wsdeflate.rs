//! permessage-deflate client (rill-tokio) for the interop tests and `scripts/deflate-bench.sh`: the same
//! client against every server, counting the bytes on the wire (frames, after the handshake).
//!
//! Modes:
//! - `echo`: seeded random text and binary messages (0..`--max-size` bytes), one at a time, each echo
//!   checked byte for byte (`tests/interop/test_deflate.py`, `test_node_deflate.py`);
//! - `bench`: a token-stream-like corpus (`--corpus tokens`: English text tokens of 3-20 bytes, one message
//!   each; `--corpus chunks`: 300-500 byte chunks of the same text), `--window` messages in flight, each
//!   echo checked; reports wire bytes per payload byte both ways and echoed messages per second;
//! - `memory`: opens `--connections` connections (all agree deflate unless `--no-deflate`), reads the RSS of
//!   `--server-pid` before, with all idle, right after each echoed one `--message-size` binary message, and
//!   after `--settle-ms` of quiet.
//!
//! Prints one JSON line on stdout; exits 1 when an echo differs or the connection fails.

use rill_benches::args::Args;
use rill_tokio::{ClientOptions, Config, Message, WebSocket};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

const USAGE: &str = "\
usage: wsdeflate --url ws://127.0.0.1:PORT/PATH [options]

  --mode echo|bench|memory     (default echo)
  --no-deflate                 offer no permessage-deflate
  --send-window-bits N         window we compress with, 8..15 (default 12, rill's default)
  --receive-window-bits N      window we inflate with; below 15 asks server_max_window_bits=N (default 15)
  --send-no-context-takeover   reset our compressor after every message
  --compress-threshold BYTES   send messages below BYTES uncompressed (default 1024, rill's default)
  --ask-no-context-takeover    ask the server to reset after every message (server_no_context_takeover)
  --timeout-secs T             give up after T seconds (default 60)
 echo:   --seed N (1) --count N (40) --max-size BYTES (204800)
 bench:  --corpus tokens|chunks (tokens) --messages N (20000) --window N (32) --seed N (1)
 memory: --connections N (1000) --server-pid PID (required) --message-size BYTES (16384) --settle-ms MS (1500)";

/// Bytes read and written on one socket, shared with the code that reports them.
#[derive(Default)]
struct Wire {
    read: AtomicU64,
    written: AtomicU64,
}

struct Counted {
    inner: TcpStream,
    wire: Arc<Wire>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.wire.read.fetch_add(n, Ordering::Relaxed);
        poll
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &poll {
            self.wire.written.fetch_add(*n as u64, Ordering::Relaxed);
        }
        poll
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// xorshift64*: seeded, so a failing case can be rerun exactly.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "model",
    "answer",
    "stream",
    "token",
    "server",
    "connection",
    "message",
    "compression",
    "window",
    "question",
    "because",
    "however",
    "example",
    "between",
    "through",
    "important",
    "information",
    "different",
    "following",
    "understanding",
    "consider",
    "therefore",
    "result",
    "system",
    "response",
    "function",
    "language",
    "particular",
];

/// English-like text: words, commas, sentences, paragraphs.
fn english(rng: &mut Rng, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 32);
    let mut sentence = 0;
    while out.len() < bytes {
        let word = WORDS[rng.below(WORDS.len())];
        if sentence == 0 {
            let mut chars = word.chars();
            let first = chars.next().unwrap().to_ascii_uppercase();
            out.push(first);
            out.push_str(chars.as_str());
        } else {
            out.push_str(word);
        }
        sentence += 1;
        match rng.below(16) {
            0 if sentence > 4 => {
                out.push_str(". ");
                sentence = 0;
                if rng.below(6) == 0 {
                    out.push_str("\n\n");
                }
            }
            1 => out.push_str(", "),
            _ => out.push(' '),
        }
    }
    out
}

/// The corpus: tokens of 3..=20 bytes (whole words with their spacing, as a model's tokens), or chunks of
/// 300..=500 bytes, cut from one English-like text.
fn corpus(kind: &str, messages: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let (low, high) = if kind == "chunks" {
        (300, 500)
    } else {
        (3, 20)
    };
    let text = english(&mut rng, messages * (high + 8));
    let mut out = Vec::with_capacity(messages);
    let mut at = 0;
    while out.len() < messages {
        let want = low + rng.below(high - low + 1);
        let mut end = (at + want).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if end - at < low {
            at = 0; // wrap around: the text is long enough for every cut
            continue;
        }
        out.push(text[at..end].to_string());
        at = end;
    }
    out
}

/// One random message for `echo`: text (words and any code points) or binary (compressible or not).
fn random_message(rng: &mut Rng, max: usize) -> (bool, Vec<u8>) {
    let size = match rng.below(10) {
        0 => 0,
        1..=4 => rng.below(200),
        5..=7 => rng.below(16 << 10),
        _ => rng.below(max + 1),
    };
    if rng.below(2) == 0 {
        let mut text = String::with_capacity(size + 8);
        while text.len() < size {
            if rng.below(10) < 7 {
                text.push_str(WORDS[rng.below(WORDS.len())]);
                text.push(' ');
            } else {
                text.push(char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{fffd}'));
            }
        }
        (true, text.into_bytes())
    } else {
        let compressible = rng.below(2) == 0;
        let bytes = (0..size)
            .map(|i| {
                if compressible {
                    (i as u8).wrapping_mul(31).wrapping_add(rng.below(4) as u8)
                } else {
                    rng.next() as u8
                }
            })
            .collect();
        (false, bytes)
    }
}

struct Client {
    ws: WebSocket<Counted>,
    wire: Arc<Wire>,
    answer: Option<String>,
    agreed: bool,
}

fn config(args: &mut Args) -> Config {
    let mut config = Config::default();
    if args.switch("no-deflate") {
        config.deflate = None;
    } else if let Some(deflate) = config.deflate.as_mut() {
        deflate.send_window_bits = Some(args.value("send-window-bits", 12));
        deflate.receive_window_bits = args.value("receive-window-bits", 15);
        deflate.send_no_context_takeover = args.switch("send-no-context-takeover");
        deflate.receive_no_context_takeover = args.switch("ask-no-context-takeover");
        deflate.compress_threshold = args.value("compress-threshold", 1024);
    }
    config.limits.max_message_len = 64 << 20;
    config.limits.max_frame_len = 64 << 20;
    config
}

async fn open(url: &str, config: &Config) -> Result<Client, String> {
    let rest = url.strip_prefix("ws://").ok_or("only ws:// URLs")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let tcp = TcpStream::connect(authority)
        .await
        .map_err(|e| format!("connect {authority}: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let wire = Arc::new(Wire::default());
    let stream = Counted {
        inner: tcp,
        wire: wire.clone(),
    };
    let (ws, response) = rill_tokio::client_handshake_with_response(
        stream,
        authority,
        path,
        &ClientOptions::default(),
        *config,
    )
    .await
    .map_err(|e| format!("handshake: {e}"))?;
    // Frames only from here on.
    wire.read.store(0, Ordering::Relaxed);
    wire.written.store(0, Ordering::Relaxed);
    Ok(Client {
        ws,
        wire,
        answer: response
            .header("Sec-WebSocket-Extensions")
            .map(String::from),
        agreed: response.deflate().is_some(),
    })
}

fn json_str(s: Option<&str>) -> String {
    match s {
        None => "null".into(),
        Some(s) => format!("{s:?}"), // the header values are ASCII: Rust's escaping is JSON's
    }
}

async fn echo(url: &str, config: Config, args: &mut Args) -> Result<String, String> {
    let seed: u64 = args.value("seed", 1);
    let count: usize = args.value("count", 40);
    let max: usize = args.value("max-size", 200 << 10);
    let mut rng = Rng::new(seed);
    let mut client = open(url, &config).await?;
    let (mut payload, mut texts) = (0u64, 0usize);
    for index in 0..count {
        let (is_text, bytes) = random_message(&mut rng, max);
        if is_text {
            client
                .ws
                .send_text(std::str::from_utf8(&bytes).unwrap())
                .await
        } else {
            client.ws.send_binary(&bytes).await
        }
        .map_err(|e| format!("send {index}: {e}"))?;
        let same = match client
            .ws
            .recv()
            .await
            .map_err(|e| format!("recv {index}: {e}"))?
        {
            Message::Text(text) => is_text && text.as_bytes() == bytes,
            Message::Binary(data) => !is_text && data == bytes,
            Message::Close(code, reason) => {
                return Err(format!("closed at {index}: {code:?} {reason}"))
            }
        };
        if !same {
            return Err(format!(
                "echo {index} differs (text {is_text}, {} bytes, seed {seed})",
                bytes.len()
            ));
        }
        payload += bytes.len() as u64;
        texts += is_text as usize;
    }
    client
        .ws
        .close(rill_tokio::CloseCode::NORMAL, "done")
        .await
        .map_err(|e| format!("close: {e}"))?;
    Ok(format!(
        "{{\"mode\":\"echo\",\"agreed\":{},\"answer\":{},\"messages\":{count},\"texts\":{texts},\"payload_bytes\":{payload},\"wire_written\":{},\"wire_read\":{}}}",
        client.agreed,
        json_str(client.answer.as_deref()),
        client.wire.written.load(Ordering::Relaxed),
        client.wire.read.load(Ordering::Relaxed)
    ))
}

async fn bench(url: &str, config: Config, args: &mut Args) -> Result<String, String> {
    let kind: String = args.value("corpus", "tokens".to_string());
    let messages: usize = args.value("messages", 20_000);
    let window: usize = args.value("window", 32);
    let seed: u64 = args.value("seed", 1);
    let corpus = corpus(&kind, messages, seed);
    let payload: u64 = corpus.iter().map(|m| m.len() as u64).sum();
    let client = open(url, &config).await?;
    let wire = client.wire.clone();
    let (mut reader, mut writer) = client.ws.split();
    let in_flight = tokio::sync::Semaphore::new(window);
    let started = Instant::now();
    let send = async {
        for (index, message) in corpus.iter().enumerate() {
            in_flight.acquire().await.unwrap().forget();
            writer
                .feed(rill_tokio::MessageKind::Text, message.as_bytes())
                .await
                .map_err(|e| format!("send {index}: {e}"))?;
            if in_flight.available_permits() == 0 || index + 1 == corpus.len() {
                writer.flush().await.map_err(|e| format!("flush: {e}"))?;
            }
        }
        Ok::<_, String>(())
    };
    let receive = async {
        for (index, message) in corpus.iter().enumerate() {
            match reader
                .recv()
                .await
                .map_err(|e| format!("recv {index}: {e}"))?
            {
                Message::Text(text) if text == message => {}
                other => {
                    return Err(format!(
                        "echo {index} differs: {:?}",
                        matches!(other, Message::Text(_))
                    ))
                }
            }
            in_flight.add_permits(1);
        }
        Ok::<_, String>(())
    };
    let (sent, received) = tokio::join!(send, receive);
    sent?;
    received?;
    let elapsed = started.elapsed();
    let (written, read) = (
        wire.written.load(Ordering::Relaxed),
        wire.read.load(Ordering::Relaxed),
    );
    writer
        .send_close(rill_tokio::CloseCode::NORMAL, "done")
        .await
        .map_err(|e| format!("close: {e}"))?;
    Ok(format!(
        "{{\"mode\":\"bench\",\"corpus\":\"{kind}\",\"agreed\":{},\"answer\":{},\"messages\":{messages},\"payload_bytes\":{payload},\"wire_written\":{written},\"wire_read\":{read},\"up_ratio\":{:.4},\"down_ratio\":{:.4},\"seconds\":{:.4},\"msgs_per_s\":{:.0}}}",
        client.agreed,
        json_str(client.answer.as_deref()),
        written as f64 / payload as f64,
        read as f64 / payload as f64,
        elapsed.as_secs_f64(),
        messages as f64 / elapsed.as_secs_f64()
    ))
}

fn rss_kib(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS".into())
}

async fn memory(url: &str, config: Config, args: &mut Args) -> Result<String, String> {
    let n: usize = args.value("connections", 1000);
    let pid: u32 = args
        .optional("server-pid")
        .ok_or("--server-pid is required")?;
    let size: usize = args.value("message-size", 16 << 10);
    let settle = Duration::from_millis(args.value("settle-ms", 1500));
    let message = corpus("chunks", size / 300 + 1, 7).concat().into_bytes()[..size].to_vec();
    let before = rss_kib(pid)?;
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(open(url, &config).await?);
    }
    let agreed = clients.iter().filter(|c| c.agreed).count();
    let idle = rss_kib(pid)?;
    for (index, client) in clients.iter_mut().enumerate() {
        client
            .ws
            .send_binary(&message)
            .await
            .map_err(|e| format!("send {index}: {e}"))?;
        match client
            .ws
            .recv()
            .await
            .map_err(|e| format!("recv {index}: {e}"))?
        {
            Message::Binary(data) if data == message => {}
            _ => return Err(format!("echo {index} differs")),
        }
    }
    let echoed = rss_kib(pid)?;
    tokio::time::sleep(settle).await; // a measurement point, not synchronisation: buffers a burst grew are freed after 500 ms of quiet
    let settled = rss_kib(pid)?;
    drop(clients);
    Ok(format!(
        "{{\"mode\":\"memory\",\"connections\":{n},\"agreed\":{agreed},\"message_size\":{size},\"rss_before_kib\":{before},\"rss_idle_kib\":{idle},\"rss_echoed_kib\":{echoed},\"rss_settled_kib\":{settled}}}"
    ))
}

fn main() {
    let mut args = Args::from_env(USAGE);
    let url: String = args.required("url");
    let mode: String = args.value("mode", "echo".to_string());
    let limit = Duration::from_secs_f64(args.value("timeout-secs", 60.0));
    let config = config(&mut args);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        let run = async {
            match mode.as_str() {
                "echo" => echo(&url, config, &mut args).await,
                "bench" => bench(&url, config, &mut args).await,
                "memory" => memory(&url, config, &mut args).await,
                other => Err(format!("unknown --mode {other}")),
            }
        };
        tokio::time::timeout(limit, run)
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {limit:?}")))
    });
    match result {
        Ok(line) => println!("{line}"),
        Err(error) => {
            println!("{{\"error\":{error:?}}}");
            std::process::exit(1);
        }
    }
}
