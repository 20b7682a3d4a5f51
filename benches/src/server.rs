//! The skeleton shared by every echo server binary: command line, runtime, listener, `TCP_NODELAY`, one task per
//! connection. A server binary only supplies `serve(stream, mode)` for its library:
//!
//! ```text
//! fn main() {
//!     rill_benches::server::main("tungstenite", serve);
//! }
//! async fn serve(stream: tokio::net::TcpStream, mode: Mode) -> Result<(), BoxError> { /* handshake, then echo or tokens */ }
//! ```
//!
//! The rill server (`src/bin/echo-rill.rs`, added with the tokio adapter) plugs in the same way; `scripts/bench.sh`
//! benchmarks it as soon as that binary exists.

use crate::args::Args;
use crate::runtime::{Flavor, RuntimeOpts};
use crate::tokens::TokenPlan;
use crate::BoxError;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "\
usage: echo-<library> --addr 127.0.0.1:PORT [options]

  --addr ADDR               listen address (required)
  --runtime multi|current   tokio scheduler (default multi)
  --workers N               worker threads for the multi-thread runtime (default 2)
  --nodelay true|false      TCP_NODELAY on accepted sockets (default true)
  --tokens                  token mode: instead of echoing, send --token-count text messages, one every
                            --token-interval-us, each stamped with its send time, then close
  --token-count N           default 1000
  --token-interval-us US    default 1000
  --token-burst K           tokens sent back to back per tick, each flushed on its own (default 1)

Prints `<library>: listening on ADDR` on stderr once ready. Built with `--features count-alloc`, prints an
`alloc-report:` line on SIGUSR1 and on SIGTERM.";

/// What the server does with each accepted connection.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Echo every text and binary message back unchanged.
    Echo,
    /// Send a timed token stream (see [`crate::tokens`]), then close.
    Tokens(TokenPlan),
}

struct Opts {
    addr: SocketAddr,
    runtime: RuntimeOpts,
    nodelay: bool,
    mode: Mode,
}

impl Opts {
    fn parse() -> Self {
        let mut args = Args::from_env(USAGE);
        let addr = args.required("addr");
        let runtime = RuntimeOpts::parse(&mut args, Flavor::Multi, 2);
        let nodelay = args.value("nodelay", true);
        let plan = TokenPlan {
            count: args.value("token-count", 1000),
            interval: Duration::from_micros(args.value("token-interval-us", 1000)),
            burst: args.value("token-burst", 1),
        };
        let mode = if args.switch("tokens") {
            Mode::Tokens(plan)
        } else {
            Mode::Echo
        };
        args.finish();
        Self {
            addr,
            runtime,
            nodelay,
            mode,
        }
    }
}

/// Runs an echo server until killed. `library` names it in log lines; `serve` handles one accepted connection.
pub fn main<F, Fut>(library: &'static str, serve: F)
where
    F: Fn(TcpStream, Mode) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    let opts = Opts::parse();
    let result: std::io::Result<()> = opts.runtime.build().block_on(async move {
        let listener = TcpListener::bind(opts.addr).await?;
        crate::alloc_count::start_reporter();
        eprintln!(
            "{library}: listening on {} ({}, nodelay={}, mode={:?})",
            listener.local_addr()?,
            opts.runtime,
            opts.nodelay,
            opts.mode
        );
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    eprintln!("{library}: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            stream.set_nodelay(opts.nodelay)?;
            spawn_session(library, serve(stream, opts.mode));
        }
    });
    if let Err(e) = result {
        eprintln!("{library}: {e}");
        std::process::exit(1);
    }
}

/// Spawns one connection's task, logging its error if it fails.
///
/// Tasks run `unconstrained` (outside tokio's cooperative budget), as the fastwebsockets and tokio-websockets
/// echo examples do; applying it to every server keeps the comparison even.
pub fn spawn_session<E: std::fmt::Display>(
    library: &'static str,
    session: impl Future<Output = Result<(), E>> + Send + 'static,
) {
    tokio::spawn(tokio::task::unconstrained(async move {
        if let Err(e) = session.await {
            eprintln!("{library}: connection: {e}");
        }
    }));
}
