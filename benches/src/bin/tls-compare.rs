//! rill-tokio against tokio-tungstenite over TLS (rustls, ring provider, TLS 1.3), in one process and one run
//! (issue 12): handshake time (TCP + TLS + WebSocket) and echo msgs/s.
//!
//! A throwaway CA and an ECDSA P-256 server certificate for 127.0.0.1 are made in-process (rcgen); both
//! libraries' servers and clients use the same rustls `ServerConfig` / `ClientConfig` (ALPN `http/1.1`,
//! session resumption off unless `--resumption`, so every handshake is a full one). Each library's client
//! talks to its own server: `rill` is `connect_tls` against `accept_tls`, `tungstenite` is
//! `client_async_tls_with_config(.., Connector::Rustls(..))` against `accept_async` over a
//! `tokio_rustls::TlsAcceptor` stream; `rill->tungstenite` (rill's client against tokio-tungstenite's server)
//! is a third row unless `--no-cross`. permessage-deflate is off for rill (`Config { deflate: None, .. }`):
//! tokio-tungstenite has none. The servers echo whole messages with the same loops as `scripts/bench.sh`'s
//! echo servers (`echo-rill`, `echo-tungstenite`: replies to input that arrived together leave in one flush).
//!
//! - handshake: `--handshakes N` sequential connections per library and round (after `--warmup-handshakes`
//!   at start), interleaved in chunks across libraries; time from starting the TCP connect to the WebSocket
//!   being open, each connection closed (close handshake, not timed) before the next; median, p90, p99.
//! - echo: per point (20 B and 1 KiB binary messages, 1 and `--depth` in flight) one connection each, 500
//!   messages of warm-up, then `--msgs` round trips (the client sends, the server echoes the whole message,
//!   the client reads it and, with depth D, keeps D in flight); msgs/s.
//!
//! Rounds (`--rounds`) interleave the libraries (A, B, C, then B, C, A, ...); the summary is the median over
//! rounds. The servers run on a current-thread runtime pinned to core 0, the clients on one pinned to core 1
//! (unless `--no-pin` or a single core). Everything is on 127.0.0.1.
//!
//! CSV (`--csv`): one row per round, library and test; handshake rows carry median/p90/p99 in µs and the wall
//! time of the whole interleaved batch, echo rows msgs/s and their own wall time; `load1` is the 1-minute load
//! average when the row was taken.
//!
//! Run: `bash scripts/bench.sh --tls` (release build, `--runs` rounds, CSV under target/bench/), or
//! `cargo run --release -p rill-benches --bin tls-compare -- --rounds 3 --csv tls.csv`.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rill_benches::args::Args;
use rill_benches::{sink_echo, BoxError};
use rill_tokio::tls::rustls::{self, pki_types, ClientConfig, RootCertStore, ServerConfig};
use rill_tokio::tls::{MaybeTlsStream, TlsAcceptor};
use rill_tokio::{
    accept_tls, connect_tls, CloseCode, Config, Error as RillError, Message as RillMessage,
    MessageKind, WebSocket,
};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as TungMessage;
use tokio_tungstenite::{Connector, WebSocketStream};

const USAGE: &str = "\
usage: tls-compare [options]

  --rounds R                rounds, libraries interleaved in each (default 3)
  --handshakes N            measured handshakes per library and round (default 300)
  --warmup-handshakes W     handshakes per library before the first round (default 100)
  --msgs M                  measured round trips per echo point (default 20000)
  --depth D                 messages in flight for the pipelined points (default 10)
  --csv PATH                write every measurement as a CSV row (header first)
  --no-cross                skip the rill client against the tokio-tungstenite server
  --resumption              let rustls resume TLS sessions (default: every handshake is a full one)
  --no-pin                  do not pin the server thread to core 0 and the client thread to core 1";

const CSV_HEADER: &str =
    "round,label,test,size,depth,count,median_us,p90_us,p99_us,msgs_per_s,elapsed_s,load1";

/// Echo points: (message bytes, depth 1 or `--depth`).
const SIZES: [usize; 2] = [20, 1024];
/// Messages of warm-up on each echo connection before the measured ones.
const ECHO_WARMUP: usize = 500;
/// Bound on one handshake and on one echo point: a stuck run fails instead of hanging.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);
const ECHO_LIMIT: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, PartialEq)]
enum Label {
    Rill,
    Tungstenite,
    /// rill-tokio's client against tokio-tungstenite's server.
    Cross,
}

impl Label {
    fn name(self) -> &'static str {
        match self {
            Label::Rill => "rill",
            Label::Tungstenite => "tungstenite",
            Label::Cross => "rill->tungstenite",
        }
    }
}

struct Opts {
    rounds: usize,
    handshakes: usize,
    warmup_handshakes: usize,
    msgs: usize,
    depth: usize,
    csv: Option<String>,
    cross: bool,
    resumption: bool,
    pin: bool,
}

/// What the clients need: where each server is and the TLS client config.
struct Target {
    rill: SocketAddr,
    tungstenite: SocketAddr,
    tls: Arc<ClientConfig>,
}

/// rill without permessage-deflate (tokio-tungstenite has none) and with the echo servers' message limit.
fn rill_config() -> Config {
    Config {
        deflate: None,
        max_message: 64 << 20,
        ..Config::default()
    }
}

// ---- certificates and TLS configs --------------------------------------------------------------------------

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A throwaway CA, a server certificate for 127.0.0.1 signed by it, and the two configs.
fn tls_configs(resumption: bool) -> Result<(Arc<ServerConfig>, Arc<ClientConfig>), BoxError> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "rill tls-compare CA");
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let key = rcgen::KeyPair::generate()?;
    let cert =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])?.signed_by(&key, &issuer)?;

    let chain = vec![cert.der().clone()];
    let key =
        pki_types::PrivateKeyDer::Pkcs8(pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()));
    // As rill_tokio::tls::server_config_from_pem builds it.
    let mut server = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    if !resumption {
        server.send_tls13_tickets = 0;
        server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    }

    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone())?;
    let mut client = Arc::unwrap_or_clone(rill_tokio::tls::client_config(roots));
    if !resumption {
        client.resumption = rustls::client::Resumption::disabled();
    }
    Ok((Arc::new(server), Arc::new(client)))
}

// ---- servers ----------------------------------------------------------------------------------------------

async fn rill_server(listener: TcpListener, acceptor: TlsAcceptor) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Err(error) = rill_echo(tcp, acceptor).await {
                eprintln!("rill server: {error}");
            }
        });
    }
}

/// `echo-rill`'s loop: whole messages with `recv`, replies fed and flushed once no input is buffered.
async fn rill_echo(tcp: TcpStream, acceptor: TlsAcceptor) -> Result<(), BoxError> {
    tcp.set_nodelay(true)?;
    let mut ws = accept_tls(tcp, &acceptor, rill_config()).await?;
    let (reader, writer) = ws.halves();
    loop {
        match reader.recv().await {
            Ok(RillMessage::Text(text)) => writer.feed(MessageKind::Text, text.as_bytes()).await?,
            Ok(RillMessage::Binary(bytes)) => writer.feed(MessageKind::Binary, bytes).await?,
            Ok(RillMessage::Close(..)) | Err(RillError::Closed) => return Ok(()),
            Err(error) => return Err(error.into()),
        }
        if !reader.has_buffered_input() {
            writer.flush().await?;
        }
    }
}

async fn tungstenite_server(listener: TcpListener, acceptor: TlsAcceptor) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Err(error) = tungstenite_echo(tcp, acceptor).await {
                eprintln!("tungstenite server: {error}");
            }
        });
    }
}

/// `echo-tungstenite`'s loop over a rustls stream.
async fn tungstenite_echo(tcp: TcpStream, acceptor: TlsAcceptor) -> Result<(), BoxError> {
    tcp.set_nodelay(true)?;
    let tls = acceptor.accept(tcp).await?;
    let ws = tokio_tungstenite::accept_async(tls).await?;
    match sink_echo::echo(ws, |m: &TungMessage| m.is_text() || m.is_binary()).await {
        Ok(()) | Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

// ---- clients ----------------------------------------------------------------------------------------------

enum Client {
    Rill(Box<WebSocket<MaybeTlsStream>>),
    Tungstenite(Box<WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>>),
}

impl Client {
    /// Opens a connection the way `label` does: TCP connect, TLS handshake, WebSocket handshake.
    async fn open(label: Label, target: &Target) -> Result<Client, BoxError> {
        match label {
            Label::Rill | Label::Cross => {
                let addr = if label == Label::Rill {
                    target.rill
                } else {
                    target.tungstenite
                };
                let url = format!("wss://{addr}/");
                Ok(Client::Rill(Box::new(
                    connect_tls(&url, target.tls.clone(), rill_config()).await?,
                )))
            }
            Label::Tungstenite => {
                let url = format!("wss://{}/", target.tungstenite);
                let tcp = TcpStream::connect(target.tungstenite).await?;
                tcp.set_nodelay(true)?;
                let (ws, _) = tokio_tungstenite::client_async_tls_with_config(
                    url.as_str(),
                    tcp,
                    None,
                    Some(Connector::Rustls(target.tls.clone())),
                )
                .await?;
                Ok(Client::Tungstenite(Box::new(ws)))
            }
        }
    }

    async fn send(&mut self, payload: &Bytes) -> Result<(), BoxError> {
        match self {
            Client::Rill(ws) => ws.send(MessageKind::Binary, payload).await?,
            Client::Tungstenite(ws) => ws.send(TungMessage::Binary(payload.clone())).await?,
        }
        Ok(())
    }

    /// The next data message's length.
    async fn recv(&mut self) -> Result<usize, BoxError> {
        match self {
            Client::Rill(ws) => match ws.recv().await? {
                RillMessage::Binary(bytes) => Ok(bytes.len()),
                RillMessage::Text(text) => Ok(text.len()),
                RillMessage::Close(..) => Err("server closed".into()),
            },
            Client::Tungstenite(ws) => loop {
                match ws.next().await {
                    Some(Ok(TungMessage::Binary(bytes))) => return Ok(bytes.len()),
                    Some(Ok(TungMessage::Text(text))) => return Ok(text.len()),
                    Some(Ok(TungMessage::Close(_))) | None => return Err("server closed".into()),
                    Some(Ok(_)) => continue,
                    Some(Err(error)) => return Err(error.into()),
                }
            },
        }
    }

    /// Close handshake (errors after it are of no interest here).
    async fn close(self) {
        match self {
            Client::Rill(mut ws) => {
                let _ = ws.close(CloseCode::NORMAL, "").await;
            }
            Client::Tungstenite(mut ws) => {
                let _ = WebSocketStream::close(&mut *ws, None).await;
                while let Some(Ok(_)) = ws.next().await {}
            }
        }
    }
}

/// One connection's opening time; the connection is closed afterwards.
async fn handshake(label: Label, target: &Target) -> Result<Duration, BoxError> {
    let start = Instant::now();
    let client = timeout(HANDSHAKE_LIMIT, Client::open(label, target))
        .await
        .map_err(|_| format!("{}: handshake timed out", label.name()))??;
    let elapsed = start.elapsed();
    client.close().await;
    Ok(elapsed)
}

/// `count` round trips of `size`-byte messages with `depth` in flight; returns the elapsed time.
async fn echo_run(
    client: &mut Client,
    size: usize,
    depth: usize,
    count: usize,
) -> Result<Duration, BoxError> {
    let payload = Bytes::from(vec![0x5a; size]);
    let start = Instant::now();
    let mut sent = 0;
    while sent < depth.min(count) {
        client.send(&payload).await?;
        sent += 1;
    }
    for _ in 0..count {
        let len = client.recv().await?;
        if len != size {
            return Err(format!("echo of {size} bytes came back with {len}").into());
        }
        if sent < count {
            client.send(&payload).await?;
            sent += 1;
        }
    }
    Ok(start.elapsed())
}

/// One echo point on a fresh connection: warm-up, then the measured run; msgs/s and the elapsed time.
async fn echo_point(
    label: Label,
    target: &Target,
    size: usize,
    depth: usize,
    count: usize,
) -> Result<(f64, Duration), BoxError> {
    let run = async {
        let mut client = Client::open(label, target).await?;
        echo_run(&mut client, size, depth, ECHO_WARMUP).await?;
        let elapsed = echo_run(&mut client, size, depth, count).await?;
        client.close().await;
        Ok::<_, BoxError>(elapsed)
    };
    let elapsed = timeout(ECHO_LIMIT, run)
        .await
        .map_err(|_| format!("{}: echo {size} B x {depth} timed out", label.name()))??;
    Ok((count as f64 / elapsed.as_secs_f64(), elapsed))
}

// ---- statistics and output --------------------------------------------------------------------------------

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1e6
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn load1() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_default()
}

/// Pins the calling thread to `core` (Linux); a failure only costs the pinning.
fn pin(core: usize) {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity(0, ..) applies to the calling thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!(
                "tls-compare: could not pin to core {core}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// One measurement: (round, label, test, size, depth) and its numbers.
struct Row {
    round: usize,
    label: Label,
    test: &'static str,
    size: usize,
    depth: usize,
    count: usize,
    /// median, p90, p99 in µs (handshake rows).
    times: Option<[f64; 3]>,
    /// msgs/s (echo rows).
    rate: Option<f64>,
    elapsed: f64,
    load: String,
}

impl Row {
    fn csv(&self) -> String {
        let (size, depth) = if self.test == "handshake" {
            (String::new(), String::new())
        } else {
            (self.size.to_string(), self.depth.to_string())
        };
        let times = match self.times {
            Some([a, b, c]) => format!("{a:.1},{b:.1},{c:.1}"),
            None => ",,".into(),
        };
        let rate = self.rate.map(|r| format!("{r:.0}")).unwrap_or_default();
        format!(
            "{},{},{},{size},{depth},{},{times},{rate},{:.3},{}",
            self.round,
            self.label.name(),
            self.test,
            self.count,
            self.elapsed,
            self.load
        )
    }
}

fn summary(rows: &[Row], labels: &[Label], depth: usize) -> String {
    let mut out = String::new();
    let ratio = |a: f64, b: f64| {
        if b > 0.0 && a.is_finite() && b.is_finite() {
            format!("{:.2}", a / b)
        } else {
            "-".into()
        }
    };
    let med_times = |label: Label, k: usize| {
        let mut v: Vec<f64> = rows
            .iter()
            .filter(|r| r.label == label && r.test == "handshake")
            .filter_map(|r| r.times.map(|t| t[k]))
            .collect();
        median(&mut v)
    };
    let _ = writeln!(
        out,
        "\nhandshake, TCP + TLS 1.3 + WebSocket (µs, median of rounds)\n"
    );
    let _ = writeln!(out, "| client -> server | median | p90 | p99 |");
    let _ = writeln!(out, "| --- | --- | --- | --- |");
    for &label in labels {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.0} |",
            label.name(),
            med_times(label, 0),
            med_times(label, 1),
            med_times(label, 2)
        );
    }
    let _ = writeln!(
        out,
        "| rill / tungstenite | {} | {} | {} |",
        ratio(med_times(Label::Rill, 0), med_times(Label::Tungstenite, 0)),
        ratio(med_times(Label::Rill, 1), med_times(Label::Tungstenite, 1)),
        ratio(med_times(Label::Rill, 2), med_times(Label::Tungstenite, 2)),
    );

    let med_rate = |label: Label, size: usize, d: usize| {
        let mut v: Vec<f64> = rows
            .iter()
            .filter(|r| r.label == label && r.test == "echo" && r.size == size && r.depth == d)
            .filter_map(|r| r.rate)
            .collect();
        median(&mut v)
    };
    let _ = writeln!(
        out,
        "\necho over TLS, one connection (msgs/s, median of rounds)\n"
    );
    let mut head = "| message x in flight |".to_string();
    let mut rule = "| --- |".to_string();
    for &label in labels {
        let _ = write!(head, " {} |", label.name());
        rule.push_str(" --- |");
    }
    let _ = writeln!(out, "{head} rill / tungstenite |\n{rule} --- |");
    for d in [1, depth] {
        for size in SIZES {
            let _ = write!(out, "| {size} B x {d} |");
            for &label in labels {
                let _ = write!(out, " {:.0} |", med_rate(label, size, d));
            }
            let _ = writeln!(
                out,
                " {} |",
                ratio(
                    med_rate(Label::Rill, size, d),
                    med_rate(Label::Tungstenite, size, d)
                )
            );
        }
    }
    out
}

// ---- main -------------------------------------------------------------------------------------------------

fn main() {
    let mut args = Args::from_env(USAGE);
    let opts = Opts {
        rounds: args.value("rounds", 3),
        handshakes: args.value("handshakes", 300),
        warmup_handshakes: args.value("warmup-handshakes", 100),
        msgs: args.value("msgs", 20_000),
        depth: args.value("depth", 10),
        csv: args.optional("csv"),
        cross: !args.switch("no-cross"),
        resumption: args.switch("resumption"),
        pin: !args.switch("no-pin"),
    };
    args.finish();
    if let Err(error) = run(opts) {
        eprintln!("tls-compare: {error}");
        std::process::exit(1);
    }
}

fn run(opts: Opts) -> Result<(), BoxError> {
    let pin_cores = opts.pin && std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    let (server_tls, client_tls) = tls_configs(opts.resumption)?;
    let acceptor = TlsAcceptor::from(server_tls);

    // Servers: their own thread and current-thread runtime (core 0).
    let rill_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let tung_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    rill_listener.set_nonblocking(true)?;
    tung_listener.set_nonblocking(true)?;
    let target = Target {
        rill: rill_listener.local_addr()?,
        tungstenite: tung_listener.local_addr()?,
        tls: client_tls,
    };
    std::thread::Builder::new()
        .name("servers".into())
        .spawn(move || {
            if pin_cores {
                pin(0);
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                let rill = TcpListener::from_std(rill_listener).expect("rill listener");
                let tung = TcpListener::from_std(tung_listener).expect("tungstenite listener");
                tokio::spawn(rill_server(rill, acceptor.clone()));
                tungstenite_server(tung, acceptor).await;
            });
        })?;

    // Clients: this thread (core 1).
    if pin_cores {
        pin(1);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut labels = vec![Label::Rill, Label::Tungstenite];
    if opts.cross {
        labels.push(Label::Cross);
    }
    let mut csv = String::from(CSV_HEADER);
    csv.push('\n');
    let rows = runtime.block_on(measure(&opts, &target, &labels))?;
    for row in &rows {
        csv.push_str(&row.csv());
        csv.push('\n');
    }
    if let Some(path) = &opts.csv {
        std::fs::write(path, &csv)?;
        eprintln!("tls-compare: wrote {path}");
    }
    println!("{}", summary(&rows, &labels, opts.depth));
    println!(
        "rounds {}, {} handshakes (after {} warm-up), {} round trips per echo point; load average at the end {}; pinned {}",
        opts.rounds,
        opts.handshakes,
        opts.warmup_handshakes,
        opts.msgs,
        load1(),
        if pin_cores { "servers core 0, clients core 1" } else { "no" }
    );
    Ok(())
}

async fn measure(opts: &Opts, target: &Target, labels: &[Label]) -> Result<Vec<Row>, BoxError> {
    eprintln!("tls-compare: warm-up (load average {})", load1());
    for &label in labels {
        for _ in 0..opts.warmup_handshakes {
            handshake(label, target).await?;
        }
        for size in SIZES {
            echo_point(label, target, size, opts.depth, opts.msgs / 10).await?;
        }
    }
    // Handshakes run in chunks, the libraries taking turns: a burst of background load hits all of them.
    const CHUNKS: usize = 6;
    let mut rows = Vec::new();
    for round in 1..=opts.rounds {
        let mut order = labels.to_vec();
        order.rotate_left((round - 1) % labels.len());
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); labels.len()];
        let started = Instant::now();
        for chunk in 0..CHUNKS {
            let n = opts.handshakes * (chunk + 1) / CHUNKS - opts.handshakes * chunk / CHUNKS;
            for &label in &order {
                let slot = labels.iter().position(|l| *l == label).expect("label");
                for _ in 0..n {
                    times[slot].push(handshake(label, target).await?);
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        for (slot, &label) in labels.iter().enumerate() {
            let t = &mut times[slot];
            t.sort();
            let row = Row {
                round,
                label,
                test: "handshake",
                size: 0,
                depth: 0,
                count: t.len(),
                times: Some([percentile(t, 0.5), percentile(t, 0.9), percentile(t, 0.99)]),
                rate: None,
                elapsed,
                load: load1(),
            };
            let [a, b, c] = row.times.unwrap_or_default();
            eprintln!(
                "round {round} handshake {:<18} median {a:7.0} us  p90 {b:7.0} us  p99 {c:7.0} us",
                label.name()
            );
            rows.push(row);
        }
        for d in [1, opts.depth] {
            for size in SIZES {
                for &label in &order {
                    let (rate, elapsed) = echo_point(label, target, size, d, opts.msgs).await?;
                    eprintln!(
                        "round {round} echo {size:>5} B x {d:<3} {:<18} {rate:9.0} msgs/s",
                        label.name()
                    );
                    rows.push(Row {
                        round,
                        label,
                        test: "echo",
                        size,
                        depth: d,
                        count: opts.msgs,
                        times: None,
                        rate: Some(rate),
                        elapsed: elapsed.as_secs_f64(),
                        load: load1(),
                    });
                }
            }
        }
    }
    Ok(rows)
}
