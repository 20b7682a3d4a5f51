//! Load generator: C connections, each keeping D binary messages of S bytes in flight against an echo server for a
//! bounded time. Prints one CSV line on stdout (see `--print-header`) and a human-readable line on stderr.

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use hdrhistogram::Histogram;
use rill_benches::args::Args;
use rill_benches::client::{connect, Client};
use rill_benches::histogram::{self, Summary};
use rill_benches::proc_stat::cpu_time;
use rill_benches::runtime::{Flavor, RuntimeOpts};
use rill_benches::BoxError;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::time::{sleep_until, timeout};
use tokio_websockets::Message;

const USAGE: &str = "\
usage: wsload --addr 127.0.0.1:PORT [options]

  --addr ADDR               echo server (required)
  --conns C                 connections (default 1)
  --size S                  binary message payload bytes (default 16)
  --depth D                 messages in flight per connection (default 1)
  --secs T                  measured duration in seconds (default 5)
  --msgs N                  instead of a timed run: each connection sends exactly N messages (D in flight),
                            collects their echoes and closes (for instruction counts, e.g. under callgrind)
  --warmup W                seconds of load before measuring (default 1)
  --server-pid PID          report this process's CPU time over the measured window
  --label NAME              first CSV column (default: the address)
  --header                  print the CSV header line before the result
  --print-header            print only the CSV header line and exit
  --runtime multi|current   client scheduler (default current)
  --workers N               client worker threads for --runtime multi (default 1)

A message counts if it was sent after warm-up and its echo arrived before the end. Round-trip time is measured
from the moment a message is queued to the moment its echo is read.";

const HEADER: &str =
    "label,conns,size,depth,secs,msgs,msgs_per_s,mb_per_s,p50_us,p99_us,p999_us,max_us,\
server_cpu_s,server_cpu_us_per_msg,client_cpu_s,errors";

struct Opts {
    addr: SocketAddr,
    conns: usize,
    size: usize,
    depth: usize,
    secs: f64,
    warmup: f64,
    /// Messages per connection for a counted run (`--msgs`); `None` for a timed run.
    msgs: Option<u64>,
    server_pid: Option<u32>,
    label: String,
    header: bool,
    runtime: RuntimeOpts,
}

/// What one connection measured.
struct ConnStats {
    msgs: u64,
    errors: u64,
    rtt: Histogram<u64>,
}

impl ConnStats {
    fn new() -> Self {
        ConnStats {
            msgs: 0,
            errors: 0,
            rtt: histogram::latency(),
        }
    }
}

fn main() {
    let mut args = Args::from_env(USAGE);
    if args.switch("print-header") {
        println!("{HEADER}");
        return;
    }
    let addr: SocketAddr = args.required("addr");
    let opts = Opts {
        addr,
        conns: args.value("conns", 1usize).max(1),
        size: args.value("size", 16),
        depth: args.value("depth", 1usize).max(1),
        secs: args.value("secs", 5.0),
        warmup: args.value("warmup", 1.0),
        msgs: args.optional("msgs"),
        server_pid: args.optional("server-pid"),
        label: args.value("label", addr.to_string()),
        header: args.switch("header"),
        runtime: RuntimeOpts::parse(&mut args, Flavor::Current, 1),
    };
    args.finish();
    if !(opts.secs > 0.0 && opts.warmup >= 0.0) {
        eprintln!("wsload: --secs must be > 0 and --warmup >= 0");
        std::process::exit(2);
    }
    if let Err(e) = opts.runtime.build().block_on(run(&opts)) {
        eprintln!("wsload {}: {e}", opts.label);
        std::process::exit(1);
    }
}

async fn run(opts: &Opts) -> Result<(), BoxError> {
    let mut clients = Vec::with_capacity(opts.conns);
    for _ in 0..opts.conns {
        clients.push(connect(opts.addr).await?);
    }
    let payload = Bytes::from(vec![0xa5; opts.size]);
    if let Some(msgs) = opts.msgs {
        return counted(opts, clients, payload, msgs).await;
    }
    let measure_from = Instant::now() + Duration::from_secs_f64(opts.warmup);
    let end = measure_from + Duration::from_secs_f64(opts.secs);
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|ws| {
            let conn = Conn::new(ws, payload.clone(), opts.depth, measure_from, end);
            tokio::spawn(conn.drive(opts.depth))
        })
        .collect();

    sleep_until(measure_from.into()).await;
    let before = CpuSample::take(opts.server_pid)?;
    sleep_until(end.into()).await;
    let after = CpuSample::take(opts.server_pid)?;

    let mut total = ConnStats::new();
    for task in tasks {
        // In-flight echoes are awaited (uncounted) after the end; a server that stops answering is an error.
        let stats = timeout(Duration::from_secs(10), task)
            .await
            .map_err(|_| "a connection did not finish within 10 s after the end")??;
        total.msgs += stats.msgs;
        total.errors += stats.errors;
        total.rtt.add(&stats.rtt)?;
    }
    report(opts, &total, &before, &after);
    Ok(())
}

/// A counted run: every connection sends `msgs` messages with `depth` in flight, then closes; the server's
/// work then depends on the count only, not on timing. Prints the messages echoed (stderr).
async fn counted(
    opts: &Opts,
    clients: Vec<Client>,
    payload: Bytes,
    msgs: u64,
) -> Result<(), BoxError> {
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|ws| {
            // The end is never reached: the count ends the run.
            let conn = Conn::new(
                ws,
                payload.clone(),
                opts.depth,
                start,
                start + Duration::from_secs(86_400),
            );
            tokio::spawn(conn.drive_counted(opts.depth, msgs))
        })
        .collect();
    let (mut echoed, mut errors) = (0, 0);
    for task in tasks {
        let stats = task.await?;
        echoed += stats.msgs;
        errors += stats.errors;
    }
    eprintln!(
        "{}: {echoed} echoes of {} B in {:.2} s, errors {errors}",
        opts.label,
        opts.size,
        start.elapsed().as_secs_f64()
    );
    if errors > 0 || echoed != msgs * opts.conns as u64 {
        return Err("not every message was echoed".into());
    }
    Ok(())
}

/// One client connection and its share of the measurement.
struct Conn {
    ws: Client,
    payload: Bytes,
    /// Send times of the messages whose echo has not arrived yet (echoes come back in order).
    in_flight: VecDeque<Instant>,
    measure_from: Instant,
    end: Instant,
    stats: ConnStats,
}

impl Conn {
    /// A connection sending `payload` with up to `depth` in flight, counting from `measure_from` to `end`.
    fn new(ws: Client, payload: Bytes, depth: usize, measure_from: Instant, end: Instant) -> Self {
        Conn {
            ws,
            payload,
            in_flight: VecDeque::with_capacity(depth),
            measure_from,
            end,
            stats: ConnStats::new(),
        }
    }

    async fn drive(mut self, depth: usize) -> ConnStats {
        if let Err(e) = self.pump(depth).await {
            eprintln!("wsload: connection: {e}");
            self.stats.errors += 1;
        }
        let ws = &mut self.ws;
        let _ = timeout(Duration::from_secs(1), async {
            if ws.close().await.is_ok() {
                while let Some(Ok(_)) = ws.next().await {}
            }
        })
        .await;
        self.stats
    }

    /// Sends exactly `msgs` messages, `depth` in flight, then closes.
    async fn drive_counted(mut self, depth: usize, msgs: u64) -> ConnStats {
        let mut left = msgs;
        let result = async {
            loop {
                while left > 0 && self.in_flight.len() < depth {
                    self.send(Instant::now()).await?;
                    left -= 1;
                }
                self.ws.flush().await?;
                if self.in_flight.is_empty() {
                    return Ok::<(), BoxError>(());
                }
                // One echo awaited, then every echo already readable, then refill. Unlike `pump`, no bound on the
                // turn: a counted run measures the server's work, not how long a message waits.
                let echo = self.ws.next().await;
                self.count_echo(echo)?;
                while let Some(echo) = self.ws.next().now_or_never() {
                    self.count_echo(echo)?;
                }
            }
        }
        .await;
        if let Err(e) = result {
            eprintln!("wsload: connection: {e}");
            self.stats.errors += 1;
        }
        let _ = timeout(Duration::from_secs(5), async {
            if self.ws.close().await.is_ok() {
                while let Some(Ok(_)) = self.ws.next().await {}
            }
        })
        .await;
        self.stats
    }

    /// Checks and counts one echo of a counted run.
    fn count_echo(
        &mut self,
        echo: Option<Result<Message, tokio_websockets::Error>>,
    ) -> Result<(), BoxError> {
        let echo = echo.ok_or("server closed the connection")??;
        self.in_flight.pop_front().ok_or("unsolicited message")?;
        if !echo.is_binary() || echo.as_payload().len() != self.payload.len() {
            return Err("echo differs from the message sent".into());
        }
        self.stats.msgs += 1;
        Ok(())
    }

    /// Keeps `depth` messages in flight until the end, then collects the outstanding echoes. Like the servers,
    /// it sends replacements for every echo that is already readable before flushing once; a turn handles at most
    /// `depth` echoes and then yields, so that the connections sharing this thread take turns as separate
    /// clients would, whatever the server's speed.
    async fn pump(&mut self, depth: usize) -> Result<(), BoxError> {
        for _ in 0..depth {
            self.send(Instant::now()).await?;
        }
        self.ws.flush().await?;
        while !self.in_flight.is_empty() {
            let echo = self.ws.next().await;
            self.on_echo(echo).await?;
            let mut handled = 1;
            while handled < depth {
                let Some(echo) = self.ws.next().now_or_never() else {
                    break;
                };
                self.on_echo(echo).await?;
                handled += 1;
            }
            self.ws.flush().await?;
            if handled == depth {
                // A whole window of echoes was readable without waiting: this client must not keep the thread
                // while the server answers its replacements as fast as it sends them.
                tokio::task::yield_now().await;
            }
        }
        Ok(())
    }

    async fn send(&mut self, now: Instant) -> Result<(), BoxError> {
        self.ws.feed(Message::binary(self.payload.clone())).await?;
        self.in_flight.push_back(now);
        Ok(())
    }

    /// Records one echo and, while the run lasts, queues its replacement.
    async fn on_echo(
        &mut self,
        echo: Option<Result<Message, tokio_websockets::Error>>,
    ) -> Result<(), BoxError> {
        let echo = echo.ok_or("server closed the connection")??;
        let sent = self.in_flight.pop_front().ok_or("unsolicited message")?;
        let now = Instant::now();
        if !echo.is_binary() || echo.as_payload().len() != self.payload.len() {
            return Err("echo differs from the message sent".into());
        }
        if sent >= self.measure_from && now <= self.end {
            self.stats.msgs += 1;
            histogram::record(&mut self.stats.rtt, now - sent);
        }
        if now < self.end {
            self.send(now).await?;
        }
        Ok(())
    }
}

/// CPU time of the server (if known) and of this client at one instant.
struct CpuSample {
    server: Option<Duration>,
    client: Duration,
}

impl CpuSample {
    fn take(server_pid: Option<u32>) -> std::io::Result<Self> {
        Ok(Self {
            server: server_pid
                .map(|pid| cpu_time(&pid.to_string()))
                .transpose()?,
            client: cpu_time("self")?,
        })
    }
}

fn report(opts: &Opts, total: &ConnStats, before: &CpuSample, after: &CpuSample) {
    let msgs_per_s = total.msgs as f64 / opts.secs;
    let mb_per_s = msgs_per_s * opts.size as f64 / 1e6;
    let rtt = Summary::of(&total.rtt);
    let server_cpu = after
        .server
        .zip(before.server)
        .map(|(a, b)| a.saturating_sub(b).as_secs_f64());
    let client_cpu = after.client.saturating_sub(before.client).as_secs_f64();
    let us_per_msg = server_cpu
        .filter(|_| total.msgs > 0)
        .map(|s| s * 1e6 / total.msgs as f64);
    let opt = |v: Option<f64>, digits: usize| v.map_or(String::new(), |v| format!("{v:.digits$}"));

    if opts.header {
        println!("{HEADER}");
    }
    println!(
        "{},{},{},{},{},{},{:.0},{:.3},{:.1},{:.1},{:.1},{:.1},{},{},{:.3},{}",
        opts.label,
        opts.conns,
        opts.size,
        opts.depth,
        opts.secs,
        total.msgs,
        msgs_per_s,
        mb_per_s,
        rtt.p50_us,
        rtt.p99_us,
        rtt.p999_us,
        rtt.max_us,
        opt(server_cpu, 3),
        opt(us_per_msg, 3),
        client_cpu,
        total.errors
    );
    eprintln!(
        "{} C={} S={} D={}: {:.0} msg/s, {:.1} MB/s, rtt p50 {:.1} us p99 {:.1} us p99.9 {:.1} us, \
         server cpu {} s ({} us/msg), client cpu {:.2} s, errors {}",
        opts.label,
        opts.conns,
        opts.size,
        opts.depth,
        msgs_per_s,
        mb_per_s,
        rtt.p50_us,
        rtt.p99_us,
        rtt.p999_us,
        opt(server_cpu, 2),
        opt(us_per_msg, 2),
        client_cpu,
        total.errors
    );
}
