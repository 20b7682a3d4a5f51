//! Thread-per-core echo server: one current-thread tokio runtime per thread, each with its own
//! `SO_REUSEPORT` listener on the same address, so the kernel spreads incoming connections over the threads
//! and nothing is shared between them (no work stealing, no cross-thread wake-ups, no locks).
//!
//! `cargo run --release -p rill-tokio --example echo_per_core -- --addr 127.0.0.1:9001 --threads 2`
//!
//! - `--addr ADDR`: listen address (default `127.0.0.1:9001`);
//! - `--threads N`: threads, each with its runtime and listener (default: the available cores).
//!
//! Every text and binary message is received whole (`recv`) and sent back whole (`feed`); replies to input
//! that arrived together leave in one write (`flush` once `input_ready` is false), as in the benchmark server
//! `benches/src/bin/echo-rill.rs`. Prints `echo_per_core listening on ADDR (...)` on stderr once every
//! thread listens. `scripts/bench.sh --uws` compares it with one multi-thread runtime (docs/benchmarks.md).
//!
//! A connection stays on the thread that accepted it for its whole life: with few connections (fewer than
//! threads, or a few busy ones hashed onto one thread) some cores idle. That is the price of sharing nothing.

use rill_tokio::{accept, Config, Error, Message, MessageKind};
use std::net::SocketAddr;
use std::sync::mpsc;
use tokio::net::{TcpListener, TcpStream};

fn main() {
    let mut addr: SocketAddr = "127.0.0.1:9001".parse().expect("default address");
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        match (flag.as_str(), value) {
            ("--addr", Some(v)) => {
                addr = v
                    .parse()
                    .unwrap_or_else(|e| usage(&format!("--addr {v}: {e}")))
            }
            ("--threads", Some(v)) => {
                threads = v
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| {
                        usage(&format!("--threads {v}: expected a positive integer"))
                    })
            }
            _ => usage(&format!("unexpected argument {flag}")),
        }
    }

    // Every thread binds its own listener, then reports; the first failure ends the process.
    let (ready_tx, ready) = mpsc::channel::<std::io::Result<SocketAddr>>();
    let workers: Vec<_> = (0..threads)
        .map(|i| {
            let ready_tx = ready_tx.clone();
            std::thread::Builder::new()
                .name(format!("echo-core-{i}"))
                .spawn(move || run_thread(addr, ready_tx))
                .expect("spawn thread")
        })
        .collect();
    drop(ready_tx);
    for _ in 0..threads {
        match ready.recv() {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                eprintln!("echo_per_core: cannot listen on {addr}: {e}");
                std::process::exit(1);
            }
            Err(_) => {
                eprintln!("echo_per_core: a thread ended before listening");
                std::process::exit(1);
            }
        }
    }
    eprintln!("echo_per_core listening on {addr} ({threads} threads, one current-thread runtime and SO_REUSEPORT listener each)");
    for worker in workers {
        let _ = worker.join();
    }
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "echo_per_core: {problem}\nusage: echo_per_core [--addr 127.0.0.1:9001] [--threads N]"
    );
    std::process::exit(2);
}

/// One thread: its own current-thread runtime and listener; connections accepted here are served here.
fn run_thread(addr: SocketAddr, ready: mpsc::Sender<std::io::Result<SocketAddr>>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build tokio runtime");
    runtime.block_on(async move {
        let listener = match reuseport_listener(addr) {
            Ok(listener) => listener,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(listener.local_addr());
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        eprintln!("echo_per_core: TCP_NODELAY: {e}");
                        continue;
                    }
                    // `unconstrained`, as the benchmark servers run their connection tasks.
                    tokio::spawn(tokio::task::unconstrained(async move {
                        if let Err(e) = serve(stream).await {
                            eprintln!("echo_per_core: connection: {e}");
                        }
                    }));
                }
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    eprintln!("echo_per_core: accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    });
}

/// A listener sharing `addr` with the other threads' listeners (`SO_REUSEPORT`: the kernel hashes each new
/// connection onto one of them).
#[cfg(unix)]
fn reuseport_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

#[cfg(not(unix))]
fn reuseport_listener(_addr: SocketAddr) -> std::io::Result<TcpListener> {
    Err(std::io::Error::other(
        "SO_REUSEPORT is not available on this platform",
    ))
}

/// One connection: the handshake, then echo every message whole until the peer closes.
async fn serve(stream: TcpStream) -> Result<(), Error> {
    // Messages up to 64 MiB, like the benchmark servers.
    let config = Config {
        max_message: 64 << 20,
        ..Config::default()
    };
    let mut ws = accept(stream, config).await?;
    let (reader, writer) = ws.halves();
    loop {
        match reader.recv().await {
            Ok(Message::Text(text)) => writer.feed(MessageKind::Text, text.as_bytes()).await?,
            Ok(Message::Binary(bytes)) => writer.feed(MessageKind::Binary, bytes).await?,
            Ok(Message::Close(..)) | Err(Error::Closed) => return Ok(()),
            Err(error) => return Err(error),
        }
        if !reader.has_buffered_input() {
            writer.flush().await?;
        }
    }
}
