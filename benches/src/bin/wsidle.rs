//! Idle-connection client for the memory probe: opens N WebSocket connections, completes every handshake
//! (and, with `--bulk-bytes`, has each echo one message of that size first), prints `ready N` on stdout and
//! holds the connections open (sending nothing) until `--hold-secs` have passed.

use futures_util::{SinkExt, StreamExt};
use rill_benches::args::Args;
use rill_benches::client::connect;
use rill_benches::runtime::{Flavor, RuntimeOpts};
use rill_benches::BoxError;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_websockets::Message;

const USAGE: &str = "\
usage: wsidle --addr 127.0.0.1:PORT [options]

  --addr ADDR          server (required)
  --conns N            connections to open (default 10000)
  --parallel P         handshakes in progress at once (default 64)
  --hold-secs T        how long to hold the connections after `ready` (default 60)
  --bulk-bytes B       each connection first echoes one binary message of B bytes (default 0: none)

Needs `ulimit -n` above N (the server too).";

fn main() {
    let mut args = Args::from_env(USAGE);
    let addr: SocketAddr = args.required("addr");
    let conns: usize = args.value("conns", 10_000);
    let parallel: usize = args.value("parallel", 64usize).max(1);
    let hold = Duration::from_secs_f64(args.value("hold-secs", 60.0));
    let bulk: usize = args.value("bulk-bytes", 0);
    let runtime = RuntimeOpts::parse(&mut args, Flavor::Current, 1);
    args.finish();

    let outcome = runtime.build().block_on(async {
        let gate = Arc::new(Semaphore::new(parallel));
        let tasks: Vec<_> = (0..conns)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move {
                    let _permit = gate.acquire_owned().await?;
                    let mut ws = connect(addr).await?;
                    if bulk > 0 {
                        ws.send(Message::binary(vec![7u8; bulk])).await?;
                        let echoed = ws.next().await.ok_or("closed before the echo")??;
                        if echoed.as_payload().len() != bulk {
                            return Err("the echo has the wrong length".into());
                        }
                    }
                    Ok::<_, BoxError>(ws)
                })
            })
            .collect();
        let mut held = Vec::with_capacity(conns);
        for task in tasks {
            held.push(task.await??);
        }
        println!("ready {}", held.len());
        std::io::stdout().flush()?;
        tokio::time::sleep(hold).await;
        Ok::<_, BoxError>(())
    });
    if let Err(e) = outcome {
        eprintln!("wsidle: {e}");
        std::process::exit(1);
    }
}
