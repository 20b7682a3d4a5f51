//! Token-latency client: connects to a server started with `--tokens`, reads its timed text messages and reports
//! the one-way delay (receive time − send time stamped in the payload; same host, same clock).

use futures_util::{SinkExt, StreamExt};
use rill_benches::args::Args;
use rill_benches::client::connect;
use rill_benches::histogram::{self, Summary};
use rill_benches::runtime::{Flavor, RuntimeOpts};
use rill_benches::{tokens, BoxError};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::timeout;
use tokio_websockets::Message;

const USAGE: &str = "\
usage: wstokens --addr 127.0.0.1:PORT [options]

  --addr ADDR          token server, i.e. an echo server started with --tokens (required)
  --count N            tokens to wait for (default 1000)
  --reply-every N      send a 1-byte text message after every Nth token (default 0: never); see below
  --timeout-secs T     give up after T seconds (default 30)
  --label NAME         first CSV column (default: the address)
  --header             print the CSV header line before the result
  --print-header       print only the CSV header line and exit

Prints one CSV line on stdout and a human line on stderr; exits 1 if fewer than --count tokens arrived.";

const HEADER: &str = "label,tokens,p50_us,p99_us,p999_us,max_us";

fn main() {
    let mut args = Args::from_env(USAGE);
    if args.switch("print-header") {
        println!("{HEADER}");
        return;
    }
    let addr: SocketAddr = args.required("addr");
    let count: usize = args.value("count", 1000);
    let reply_every: usize = args.value("reply-every", 0);
    let limit = Duration::from_secs_f64(args.value("timeout-secs", 30.0));
    let label = args.value("label", addr.to_string());
    let header = args.switch("header");
    let runtime = RuntimeOpts::parse(&mut args, Flavor::Current, 1);
    args.finish();

    let mut delays = histogram::latency();
    let outcome = runtime.build().block_on(async {
        timeout(limit, receive(addr, count, reply_every, &mut delays))
            .await
            .map_err(|_| BoxError::from(format!("timed out after {limit:?}")))?
    });
    let received = delays.len();
    let s = Summary::of(&delays);
    if header {
        println!("{HEADER}");
    }
    println!(
        "{label},{received},{:.1},{:.1},{:.1},{:.1}",
        s.p50_us, s.p99_us, s.p999_us, s.max_us
    );
    eprintln!(
        "{label}: {received} tokens, one-way delay p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
        s.p50_us, s.p99_us, s.p999_us, s.max_us
    );
    if let Err(e) = outcome {
        eprintln!("wstokens {label}: {e}");
        std::process::exit(1);
    }
}

async fn receive(
    addr: SocketAddr,
    count: usize,
    reply_every: usize,
    delays: &mut hdrhistogram::Histogram<u64>,
) -> Result<(), BoxError> {
    let mut ws = connect(addr).await?;
    for i in 1..=count {
        let message = ws.next().await.ok_or("server closed early")??;
        let now = tokens::now_ns();
        let sent = message
            .as_text()
            .and_then(|text| tokens::decode(text.as_bytes()))
            .ok_or("not a token message")?;
        histogram::record(delays, Duration::from_nanos(now.saturating_sub(sent)));
        if reply_every > 0 && i % reply_every == 0 {
            ws.send(Message::text("r")).await?;
        }
    }
    // The server closes after its last token; answer and wait for the end of the stream.
    while let Some(Ok(_)) = ws.next().await {}
    Ok(())
}
