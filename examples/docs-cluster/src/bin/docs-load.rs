//! Load, failover test and benchmark client for docs-cluster.
//!
//! `docs-load --url ws://127.0.0.1:8090 --redis redis://127.0.0.1:6379 --clients 60 --docs 12 --duration 20
//!  [--kill-pidfile 'run/instance-{}.pid' --kill-at 5 --restart-at 10 --restart-cmd 'sh run/instance-{}.sh']
//!  [--reload-at 14] [--bench] [--no-affinity] [--shared-docs]`
//!
//! With `--kill-pidfile`, at `--kill-at` seconds the instance serving the most documents is killed with
//! SIGKILL (`{}` in the pidfile path and the restart command stands for its id), and `--restart-cmd` runs at
//! `--restart-at`. At `--reload-at` every client closes its connection once and reconnects (a page reload):
//! nginx then routes the moved documents back to the restarted instance, which takes them over (the old
//! one closes its viewers with 4001), and the routing check covers that hand-over too.
//!
//! Every client views one document and sends random operations (one in flight, acknowledged by its own
//! broadcast) for `--duration` seconds, reconnecting with `since` whenever its connection ends. Then the
//! clients finish their last operation and catch up, and the checks run; each prints a `PASS:` or `FAIL:`
//! line, numbers print as `STAT:` lines, and the exit status is 1 if any check failed:
//! - convergence: every client of a document has the same text, equal to the text rebuilt from Redis;
//! - acknowledged ops: every op a client saw acknowledged is in the Redis log exactly once;
//! - client errors: no client saw a version gap, an op applied twice, or its version go back;
//! - reconnects (with a kill): clients of the killed instance reconnected elsewhere (> 0);
//! - failover (with a kill): every document of the killed instance accepted operations again;
//! - routing: a document's live connections were on one instance at any moment (a hand-over may overlap
//!   for at most `--handover-ms`, the time the old instance takes to hear of the move); skipped with
//!   `--no-affinity` (the pub/sub fan-out mode).
//!
//! `--store-check` checks the conditional append against Redis directly instead of running clients.
//! `--shared-docs` says that other processes write the same documents: each client is then compared with
//! the log rebuilt at its own version. `--bench` makes the clients closed-loop (no think time) and prints a `BENCH:` line.

use docs_cluster::doc::{DocState, Entry, Op};
use docs_cluster::store::{Append, Store};
use docs_cluster::wire::{ClientMsg, ServerMsg};
use rill_tokio::{connect, CloseCode, Config, Message, WebSocket};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::task::spawn_local;
use tokio::time::sleep_until;

/// Command-line settings.
#[derive(Clone)]
struct Args {
    url: String,
    redis: Option<String>,
    clients: usize,
    docs: usize,
    duration: Duration,
    think_ms: (u64, u64),
    kill_pidfile: Option<String>,
    kill_at: Duration,
    restart_at: Option<Duration>,
    restart_cmd: Option<String>,
    reload_at: Option<Duration>,
    prefix: String,
    handover: Duration,
    bench: bool,
    no_affinity: bool,
    shared_docs: bool,
    store_check: bool,
}

fn parse_args() -> Result<Args, String> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut a = Args {
        url: "ws://127.0.0.1:8090".into(),
        redis: None,
        clients: 60,
        docs: 12,
        duration: Duration::from_secs(20),
        think_ms: (5, 30),
        kill_pidfile: None,
        kill_at: Duration::from_secs(5),
        restart_at: None,
        restart_cmd: None,
        reload_at: None,
        prefix: format!("run{stamp}"),
        handover: Duration::from_millis(1000),
        bench: false,
        no_affinity: false,
        shared_docs: false,
        store_check: false,
    };
    let secs = |v: String| -> Result<Duration, String> {
        v.parse::<f64>()
            .ok()
            .filter(|s| (0.0..3600.0).contains(s))
            .map(Duration::from_secs_f64)
            .ok_or(format!("{v}: not a number of seconds"))
    };
    let num =
        |v: String| -> Result<u64, String> { v.parse().map_err(|_| format!("{v}: not a number")) };
    let mut think_set = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--bench" {
            a.bench = true;
            continue;
        }
        if flag == "--no-affinity" {
            a.no_affinity = true;
            continue;
        }
        if flag == "--shared-docs" {
            a.shared_docs = true;
            continue;
        }
        if flag == "--store-check" {
            a.store_check = true;
            continue;
        }
        let v = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => a.url = v.trim_end_matches('/').to_string(),
            "--redis" => a.redis = Some(v),
            "--clients" => a.clients = num(v)?.clamp(1, 10_000) as usize,
            "--docs" => a.docs = num(v)?.clamp(1, 10_000) as usize,
            "--duration" => a.duration = secs(v)?,
            "--think-ms" => {
                think_set = true;
                let (lo, hi) = v.split_once('-').unwrap_or((&v, &v));
                a.think_ms = (num(lo.into())?, num(hi.into())?.max(num(lo.into())?));
            }
            "--kill-pidfile" => a.kill_pidfile = Some(v),
            "--kill-at" => a.kill_at = secs(v)?,
            "--restart-at" => a.restart_at = Some(secs(v)?),
            "--restart-cmd" => a.restart_cmd = Some(v),
            "--reload-at" => a.reload_at = Some(secs(v)?),
            "--prefix" => a.prefix = v,
            "--handover-ms" => a.handover = Duration::from_millis(num(v)?),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.bench && !think_set {
        a.think_ms = (0, 0); // closed loop: each client sends its next op as soon as the last is acknowledged
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("docs-load: {error}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let local = tokio::task::LocalSet::new();
    let failed = if args.store_check {
        local.block_on(&runtime, store_check(args))
    } else {
        local.block_on(&runtime, run(args))
    };
    std::process::exit(if failed { 1 } else { 0 });
}

/// A connection's life as the client saw it: which instance served which document, from its welcome
/// until the connection ended.
struct Interval {
    doc: usize,
    instance: u32,
    start: Instant,
    end: Option<Instant>,
}

/// One client's state, visible to the coordinator.
#[derive(Clone, Default)]
struct Status {
    version: u64,
    pending: bool,
    connected: bool,
    text: String,
}

/// An operation's way from its author to every viewer, for the broadcast latency.
struct Track {
    sent: Instant,
    seen: u32,
    last: Instant,
}

/// What all clients share (one thread: `Rc<RefCell<..>>`).
struct Ctx {
    args: Args,
    start: Instant,
    /// When clients stop sending new operations.
    send_until: Instant,
    /// A hard limit on the whole run.
    hard_deadline: Instant,
    statuses: RefCell<Vec<Status>>,
    acked: RefCell<Vec<(usize, String)>>,
    intervals: RefCell<Vec<Interval>>,
    errors: RefCell<Vec<String>>,
    tracks: RefCell<HashMap<String, Track>>,
    /// The instance each document was last seen served by.
    owner: RefCell<HashMap<usize, u32>>,
    /// When the instance was killed, and the documents it served then.
    kill: RefCell<Option<(Instant, HashSet<usize>)>>,
    /// Moved documents: time from the kill to their first operation accepted elsewhere.
    failover: RefCell<HashMap<usize, Duration>>,
    /// The instance killed (0 until then): the one serving the most documents at `--kill-at`.
    killed: Cell<u32>,
    reconnected: Cell<usize>,
    rejects: Cell<usize>,
    notices: Cell<usize>,
    connects: Cell<usize>,
    /// Why connections ended before the run stopped, and how often.
    lost: RefCell<HashMap<String, usize>>,
    progress: watch::Sender<u64>,
    stop: watch::Sender<bool>,
    /// Set at `--reload-at`: every client closes its connection once and reconnects, as a page reload.
    reload: watch::Sender<bool>,
}

impl Ctx {
    fn doc_name(&self, doc: usize) -> String {
        format!("{}-d{doc}", self.args.prefix)
    }

    /// The document client `idx` views: consecutive clients share a document, so that clients connecting
    /// in order through a round-robin balancer land on different instances.
    fn doc_of(&self, idx: usize) -> usize {
        (idx * self.args.docs / self.args.clients).min(self.args.docs - 1)
    }

    fn bump(&self) {
        self.progress.send_modify(|n| *n += 1);
    }

    fn error(&self, what: String) {
        eprintln!("docs-load: {what}");
        self.errors.borrow_mut().push(what);
    }
}

/// A small xorshift generator: random enough for operations, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// The operation a client is waiting to see acknowledged.
struct Pending {
    id: String,
    base: u64,
    op: Op,
}

/// One client's replica and bookkeeping across its connections.
struct Client {
    idx: usize,
    doc: usize,
    text: Vec<char>,
    version: u64,
    joined: bool,
    seen_ids: HashSet<String>,
    pending: Option<Pending>,
    sent: u64,
    next_send: Instant,
    rng: Rng,
    /// The connection ended while the killed instance served it, after the kill.
    was_on_killed: bool,
    counted_reconnect: bool,
    /// Reconnected once on `--reload-at` already.
    reloaded: bool,
}

/// Why a connection's loop ended.
enum End {
    Lost(String),
    Stop,
}

async fn run(args: Args) -> bool {
    let (progress, _) = watch::channel(0u64);
    let (stop, _) = watch::channel(false);
    let (reload, _) = watch::channel(false);
    let start = Instant::now();
    let ctx = Rc::new(Ctx {
        send_until: start + args.duration,
        hard_deadline: start + args.duration + Duration::from_secs(40),
        args: args.clone(),
        start,
        statuses: RefCell::new(vec![Status::default(); args.clients]),
        acked: RefCell::default(),
        intervals: RefCell::default(),
        errors: RefCell::default(),
        tracks: RefCell::default(),
        owner: RefCell::default(),
        kill: RefCell::default(),
        failover: RefCell::default(),
        killed: Cell::new(0),
        reconnected: Cell::new(0),
        rejects: Cell::new(0),
        notices: Cell::new(0),
        connects: Cell::new(0),
        lost: RefCell::default(),
        progress,
        stop,
        reload,
    });
    println!(
        "docs-load: {} clients on {} documents ({}-d*) via {} for {:?}",
        args.clients, args.docs, args.prefix, args.url, args.duration
    );
    let mut tasks = Vec::new();
    for idx in 0..args.clients {
        tasks.push(spawn_local(client(ctx.clone(), idx)));
    }
    if let Some(pidfile) = args.kill_pidfile.clone() {
        spawn_local(killer(ctx.clone(), pidfile));
    }
    if let Some(at) = args.reload_at {
        let ctx = ctx.clone();
        spawn_local(async move {
            sleep_until((ctx.start + at).into()).await;
            println!(
                "STAT: every client reconnects (reload) at {:.1} s",
                at.as_secs_f64()
            );
            ctx.reload.send_replace(true);
        });
    }

    // Let the send phase run, then wait (on progress events, with a deadline) for every client to have
    // its last operation answered and to be connected.
    sleep_until((ctx.send_until).into()).await;
    let settle = Instant::now() + Duration::from_secs(15);
    let idle = wait_for(&ctx, settle, |s| {
        s.iter().all(|s| !s.pending && s.connected)
    })
    .await;
    if !idle {
        ctx.error(
            "clients still had unanswered operations or no connection 15 s after the send phase"
                .into(),
        );
    }

    // The log's final state per document, then wait for every client to reach its version.
    let logs = match &args.redis {
        Some(url) => Some(read_logs(&ctx, url).await),
        None => None,
    };
    if let Some(logs) = &logs {
        let targets: Vec<u64> = (0..args.docs)
            .map(|d| logs[d].as_ref().map_or(0, |doc| doc.version()))
            .collect();
        let caught_up = wait_for(&ctx, Instant::now() + Duration::from_secs(10), |s| {
            s.iter()
                .enumerate()
                .all(|(i, s)| s.version >= targets[ctx.doc_of(i)])
        })
        .await;
        if !caught_up {
            ctx.error("clients did not reach the log's final version within 10 s".into());
        }
    }
    ctx.stop.send_replace(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    // Read the logs again for the checks: with other writers (`--shared-docs`) they may have grown.
    let logs = match &args.redis {
        Some(url) => Some(read_logs(&ctx, url).await),
        None => None,
    };
    report(&ctx, logs.as_deref())
}

/// `--store-check`: the conditional append's rules against the real Redis, on a fresh document. Two
/// stores (as two instances) race to extend the same version: exactly one wins; a stale version, a
/// repeated id and a resend are refused; the log reads back in order. True if any check failed.
async fn store_check(args: Args) -> bool {
    let Some(url) = args.redis.as_deref() else {
        eprintln!("docs-load: --store-check needs --redis");
        return true;
    };
    let (a, b) = match (Store::connect(url).await, Store::connect(url).await) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            println!("FAIL: store: redis {url}: {e}");
            return true;
        }
    };
    let doc = format!("{}-store", args.prefix);
    let entry = |v: u64, id: &str, instance: u32| Entry {
        v,
        id: id.into(),
        op: Op::Ins {
            pos: 0,
            text: id.into(),
        },
        instance,
    };
    let mut failed = 0;
    let mut check = |name: &str, ok: bool, detail: String| {
        println!(
            "{}: store: {name}: {detail}",
            if ok { "PASS" } else { "FAIL" }
        );
        failed += usize::from(!ok);
    };
    let result = async {
        let first = a.append(&doc, &entry(1, "x1", 1), false).await?;
        // Both "instances" extend version 1 at once: Redis runs one script after the other.
        let (a2, b2) = (entry(2, "a2", 1), entry(2, "b2", 2));
        let (from_a, from_b) = tokio::join!(a.append(&doc, &a2, false), b.append(&doc, &b2, false));
        let (from_a, from_b) = (from_a?, from_b?);
        let stale = b.append(&doc, &entry(2, "b3", 2), false).await?;
        let resend = b.append(&doc, &entry(3, "x1", 2), false).await?;
        let log = a.read_after(&doc, 0).await?;
        let tail = a.read_after(&doc, 1).await?;
        Ok::<_, redis::RedisError>((first, from_a, from_b, stale, resend, log, tail))
    }
    .await;
    let (first, from_a, from_b, stale, resend, log, tail) = match result {
        Ok(r) => r,
        Err(e) => {
            println!("FAIL: store: redis error: {e}");
            return true;
        }
    };
    check(
        "first append",
        first == Append::Appended(1),
        format!("{first:?}"),
    );
    let winners = [from_a, from_b]
        .iter()
        .filter(|r| **r == Append::Appended(2))
        .count();
    let loser_conflict = [from_a, from_b].contains(&Append::Conflict(2));
    check(
        "two instances extend version 1 at once: exactly one wins",
        winners == 1 && loser_conflict,
        format!("{from_a:?} / {from_b:?}"),
    );
    check(
        "a stale version is refused",
        stale == Append::Conflict(2),
        format!("{stale:?}"),
    );
    check(
        "a resent id is refused as a duplicate",
        resend == Append::Duplicate(1),
        format!("{resend:?}"),
    );
    let versions: Vec<u64> = log.iter().map(|e| e.v).collect();
    check(
        "the log reads back in order, rebuildable",
        versions == [1, 2] && tail.len() == 1 && DocState::rebuild(log).is_ok(),
        format!("versions {versions:?}, after 1: {}", tail.len()),
    );
    failed > 0
}

/// Waits until `done` holds for the clients' statuses, or `deadline`; woken by every client change.
async fn wait_for(ctx: &Ctx, deadline: Instant, done: impl Fn(&[Status]) -> bool) -> bool {
    let mut changes = ctx.progress.subscribe();
    loop {
        if done(&ctx.statuses.borrow()) {
            return true;
        }
        match tokio::time::timeout_at(deadline.into(), changes.changed()).await {
            Ok(Ok(())) => {}
            _ => return done(&ctx.statuses.borrow()),
        }
    }
}

/// Reads and rebuilds every document from Redis (`None` where that fails, recorded as an error).
async fn read_logs(ctx: &Ctx, url: &str) -> Vec<Option<DocState>> {
    let store = match Store::connect(url).await {
        Ok(store) => store,
        Err(error) => {
            ctx.error(format!("redis {url}: {error}"));
            return vec![None; ctx.args.docs];
        }
    };
    let mut logs = Vec::new();
    for doc in 0..ctx.args.docs {
        let name = ctx.doc_name(doc);
        let rebuilt = match store.read_after(&name, 0).await {
            Ok(entries) => DocState::rebuild(entries).map_err(|e| format!("{name}: {e}")),
            Err(error) => Err(format!("{name}: {error}")),
        };
        match rebuilt {
            Ok(state) => logs.push(Some(state)),
            Err(error) => {
                ctx.error(format!("rebuilding from the log: {error}"));
                logs.push(None);
            }
        }
    }
    logs
}

/// Kills the instance in `pidfile` at `--kill-at` and runs `--restart-cmd` at `--restart-at`.
async fn killer(ctx: Rc<Ctx>, pidfile: String) {
    sleep_until((ctx.start + ctx.args.kill_at).into()).await;
    // The instance serving the most documents, so that the kill moves as many as possible.
    let mut served: HashMap<u32, usize> = HashMap::new();
    for owner in ctx.owner.borrow().values() {
        *served.entry(*owner).or_default() += 1;
    }
    let Some(killed) = served
        .iter()
        .max_by_key(|(id, n)| (**n, std::cmp::Reverse(**id)))
        .map(|(id, _)| *id)
    else {
        ctx.error("no document was served by any instance at the kill time".into());
        return;
    };
    let pidfile = pidfile.replace("{}", &killed.to_string());
    let pid = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok());
    let Some(pid) = pid else {
        ctx.error(format!("no pid in {pidfile}"));
        return;
    };
    let moved: HashSet<usize> = ctx
        .owner
        .borrow()
        .iter()
        .filter(|(_, owner)| **owner == killed)
        .map(|(doc, _)| *doc)
        .collect();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    let at = Instant::now();
    ctx.killed.set(killed);
    *ctx.kill.borrow_mut() = Some((at, moved.clone()));
    println!(
        "STAT: killed instance {killed} (pid {pid}) at {:.1} s, serving {} documents: {status:?}",
        (at - ctx.start).as_secs_f64(),
        moved.len()
    );
    let (Some(restart_at), Some(cmd)) = (ctx.args.restart_at, ctx.args.restart_cmd.clone()) else {
        return;
    };
    sleep_until((ctx.start + restart_at).into()).await;
    let status = run_shell(&cmd.replace("{}", &killed.to_string()));
    println!(
        "STAT: restarted instance {killed} at {:.1} s: {status}",
        ctx.start.elapsed().as_secs_f64()
    );
}

/// Runs `cmd` with `sh -c` to completion (it starts a background process and returns at once), returning
/// how it ended, for the log.
fn run_shell(cmd: &str) -> String {
    match std::process::Command::new("sh").args(["-c", cmd]).status() {
        Ok(status) => status.to_string(),
        Err(error) => error.to_string(),
    }
}

async fn client(ctx: Rc<Ctx>, idx: usize) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (idx as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    rng.next();
    let mut c = Client {
        idx,
        doc: ctx.doc_of(idx),
        text: Vec::new(),
        version: 0,
        joined: false,
        seen_ids: HashSet::new(),
        pending: None,
        sent: 0,
        next_send: Instant::now(),
        rng,
        was_on_killed: false,
        counted_reconnect: false,
        reloaded: false,
    };
    let config = Config {
        handshake_timeout: Duration::from_secs(3),
        close_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let mut backoff = Duration::from_millis(10);
    let mut stop = ctx.stop.subscribe();
    while Instant::now() < ctx.hard_deadline && !*stop.borrow() {
        let name = ctx.doc_name(c.doc);
        let url = if c.joined {
            format!("{}/doc?doc={name}&since={}", ctx.args.url, c.version)
        } else {
            format!("{}/doc?doc={name}", ctx.args.url)
        };
        let ws = match connect(&url, config).await {
            Ok(ws) => ws,
            Err(_) => {
                // Reconnect delay, not synchronisation: it only spaces out attempts.
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                backoff = (backoff * 2).min(Duration::from_millis(500));
                continue;
            }
        };
        backoff = Duration::from_millis(10);
        ctx.connects.set(ctx.connects.get() + 1);
        let end = connection(&ctx, &mut c, ws, &mut stop).await;
        ctx.statuses.borrow_mut()[idx].connected = false;
        ctx.bump();
        match end {
            End::Stop => break,
            End::Lost(why) => *ctx.lost.borrow_mut().entry(why).or_default() += 1,
        }
    }
    let mut statuses = ctx.statuses.borrow_mut();
    statuses[idx].text = c.text.iter().collect();
    statuses[idx].version = c.version;
}

/// One connection: welcome, then operations in and out until it ends or the run stops.
/// Generic over the stream so that it does not depend on which stream type `connect` returns.
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    ctx: &Ctx,
    c: &mut Client,
    mut ws: WebSocket<S>,
    stop: &mut watch::Receiver<bool>,
) -> End {
    let mut interval: Option<usize> = None;
    let mut reload = ctx.reload.subscribe();
    let end = loop {
        let can_send = interval.is_some() && c.pending.is_none() && Instant::now() < ctx.send_until;
        let can_reload = interval.is_some() && !c.reloaded;
        let event = tokio::select! {
            received = ws.recv() => match received {
                Ok(Message::Text(text)) => Ok(text.to_string()),
                Ok(Message::Binary(_)) => continue,
                Ok(Message::Close(code, reason)) => Err(format!("closed {code:?} {reason}")),
                Err(error) => Err(error.to_string()),
            },
            _ = sleep_until(c.next_send.into()), if can_send => {
                if let Err(error) = send_op(ctx, c, &mut ws).await {
                    break End::Lost(error);
                }
                continue;
            }
            _ = reload.wait_for(|r| *r), if can_reload => {
                c.reloaded = true;
                let _ = ws.close(CloseCode::NORMAL, "reload").await;
                break End::Lost("reconnected on purpose (reload)".into());
            }
            _ = stop.wait_for(|s| *s) => {
                let _ = ws.close(CloseCode::NORMAL, "done").await;
                break End::Stop;
            }
        };
        let text = match event {
            Ok(text) => text,
            Err(why) => break End::Lost(why),
        };
        let msg: ServerMsg = match serde_json::from_str(&text) {
            Ok(msg) => msg,
            Err(error) => {
                ctx.error(format!("client {}: bad message {text}: {error}", c.idx));
                continue;
            }
        };
        match handle(ctx, c, msg, &mut interval) {
            Ok(Some(resend)) => {
                if let Err(error) = ws.send_text(&resend).await {
                    break End::Lost(error.to_string());
                }
            }
            Ok(None) => {}
            Err(why) => break End::Lost(why),
        }
    };
    let now = Instant::now();
    if let Some(i) = interval {
        let mut intervals = ctx.intervals.borrow_mut();
        intervals[i].end = Some(now);
        let killed = ctx.kill.borrow().as_ref().map(|(at, _)| *at);
        if killed.is_some_and(|at| now >= at) && intervals[i].instance == ctx.killed.get() {
            c.was_on_killed = true;
        }
    }
    end
}

/// Applies a server message to the client's replica. Returns a message to send (a resent operation after
/// a reconnect), or why the connection must be dropped.
fn handle(
    ctx: &Ctx,
    c: &mut Client,
    msg: ServerMsg,
    interval: &mut Option<usize>,
) -> Result<Option<String>, String> {
    let now = Instant::now();
    match msg {
        ServerMsg::Welcome {
            instance,
            version,
            text,
            ops,
            ..
        } => {
            if let Some(text) = text {
                if c.joined && version < c.version {
                    ctx.error(format!(
                        "client {}: welcome at version {version} after having seen {}",
                        c.idx, c.version
                    ));
                }
                c.text = text.chars().collect();
                c.version = version;
            }
            for entry in ops {
                apply(ctx, c, entry, now)?;
            }
            if c.version != version {
                return Err(format!(
                    "welcome left the client at {} not {version}",
                    c.version
                ));
            }
            c.joined = true;
            let mut intervals = ctx.intervals.borrow_mut();
            *interval = Some(intervals.len());
            intervals.push(Interval {
                doc: c.doc,
                instance,
                start: now,
                end: None,
            });
            ctx.owner.borrow_mut().insert(c.doc, instance);
            if c.was_on_killed && !c.counted_reconnect && instance != ctx.killed.get() {
                c.counted_reconnect = true;
                ctx.reconnected.set(ctx.reconnected.get() + 1);
            }
            c.next_send = c.next_send.max(now);
            update_status(ctx, c, true);
            // An operation sent before the connection was lost and not in the replay: send it again (same
            // id and base: the server applies it once and transforms it from its original base).
            if let Some(p) = &c.pending {
                let msg = ClientMsg::Op {
                    id: p.id.clone(),
                    base: p.base,
                    op: p.op.clone(),
                };
                return Ok(Some(serde_json::to_string(&msg).expect("serializes")));
            }
        }
        ServerMsg::Op(entry) => {
            ctx.owner.borrow_mut().insert(c.doc, entry.instance);
            apply(ctx, c, entry, now)?;
            update_status(ctx, c, true);
        }
        ServerMsg::Reject { id, .. } => {
            if c.pending.as_ref().is_some_and(|p| p.id == id) {
                c.pending = None;
                ctx.rejects.set(ctx.rejects.get() + 1);
                schedule(ctx, c, now);
                update_status(ctx, c, true);
            }
        }
        ServerMsg::Dup { id, .. } => {
            // Already in the log (and so in this client's replica, which applies versions in order).
            if c.pending.as_ref().is_some_and(|p| p.id == id) {
                c.pending = None;
                ctx.acked.borrow_mut().push((c.doc, id));
                schedule(ctx, c, now);
                update_status(ctx, c, true);
            }
        }
        ServerMsg::Notice { .. } => ctx.notices.set(ctx.notices.get() + 1),
    }
    Ok(None)
}

/// Applies one broadcast entry in version order; the author's own entry is its acknowledgement.
fn apply(ctx: &Ctx, c: &mut Client, entry: Entry, now: Instant) -> Result<(), String> {
    if entry.v <= c.version {
        return Ok(()); // already applied (a replay overlapping what was seen)
    }
    if entry.v != c.version + 1 {
        ctx.error(format!(
            "client {}: version gap: at {}, got {}",
            c.idx, c.version, entry.v
        ));
        return Err("version gap".into());
    }
    if let Err(error) = entry.op.apply(&mut c.text) {
        ctx.error(format!(
            "client {}: entry {} does not apply: {error}",
            c.idx, entry.v
        ));
        return Err("bad entry".into());
    }
    c.version = entry.v;
    if !c.seen_ids.insert(entry.id.clone()) {
        ctx.error(format!("client {}: op {} applied twice", c.idx, entry.id));
    }
    if let Some(track) = ctx.tracks.borrow_mut().get_mut(&entry.id) {
        track.seen += 1;
        track.last = now;
    }
    if let Some((at, moved)) = ctx.kill.borrow().as_ref() {
        if moved.contains(&c.doc) && entry.instance != ctx.killed.get() {
            ctx.failover
                .borrow_mut()
                .entry(c.doc)
                .or_insert_with(|| now.saturating_duration_since(*at));
        }
    }
    if c.pending.as_ref().is_some_and(|p| p.id == entry.id) {
        c.pending = None;
        ctx.acked.borrow_mut().push((c.doc, entry.id));
        schedule(ctx, c, now);
    }
    Ok(())
}

/// Picks when to send the next operation (think time).
fn schedule(ctx: &Ctx, c: &mut Client, now: Instant) {
    let (lo, hi) = ctx.args.think_ms;
    c.next_send = now + Duration::from_millis(lo + c.rng.below(hi - lo + 1));
}

fn update_status(ctx: &Ctx, c: &Client, connected: bool) {
    let mut statuses = ctx.statuses.borrow_mut();
    let s = &mut statuses[c.idx];
    s.version = c.version;
    s.pending = c.pending.is_some();
    s.connected = connected;
    drop(statuses);
    ctx.bump();
}

/// Sends a random operation on the client's current text.
async fn send_op<S: AsyncRead + AsyncWrite + Unpin>(
    ctx: &Ctx,
    c: &mut Client,
    ws: &mut WebSocket<S>,
) -> Result<(), String> {
    let len = c.text.len() as u64;
    // Keep texts short (deletes win once they grow), so positions are spread and conflicts frequent.
    let delete = len > 0 && c.rng.below(100) < if len > 120 { 70 } else { 35 };
    let op = if delete {
        let pos = c.rng.below(len);
        Op::Del {
            pos: pos as usize,
            len: (1 + c.rng.below(3)).min(len - pos) as usize,
        }
    } else {
        let letters = b"abcdefghijklmnopqrstuvwxyz";
        let n = 1 + c.rng.below(3);
        let text = (0..n)
            .map(|_| letters[c.rng.below(26) as usize] as char)
            .collect();
        Op::Ins {
            pos: c.rng.below(len + 1) as usize,
            text,
        }
    };
    c.sent += 1;
    // The process id keeps ids unique when several load processes write the same documents.
    let id = format!("p{}c{}-{}", std::process::id(), c.idx, c.sent);
    let msg = ClientMsg::Op {
        id: id.clone(),
        base: c.version,
        op: op.clone(),
    };
    let now = Instant::now();
    ctx.tracks.borrow_mut().insert(
        id.clone(),
        Track {
            sent: now,
            seen: 0,
            last: now,
        },
    );
    c.pending = Some(Pending {
        id,
        base: c.version,
        op,
    });
    update_status(ctx, c, true);
    let text = serde_json::to_string(&msg).expect("serializes");
    ws.send_text(&text).await.map_err(|e| e.to_string())
}

/// Runs the checks and prints the numbers; true if any check failed.
fn report(ctx: &Ctx, logs: Option<&[Option<DocState>]>) -> bool {
    let mut failed = 0;
    let mut check = |name: &str, ok: bool, detail: String| {
        println!("{}: {name}: {detail}", if ok { "PASS" } else { "FAIL" });
        if !ok {
            failed += 1;
        }
    };
    let args = &ctx.args;
    let statuses = ctx.statuses.borrow();
    let acked = ctx.acked.borrow();
    let elapsed = args.duration.as_secs_f64();

    if let Some(logs) = logs {
        let mut bad = Vec::new();
        for (doc, log) in logs.iter().enumerate() {
            let Some(log) = log else {
                bad.push(format!("{}: no log", ctx.doc_name(doc)));
                continue;
            };
            let texts: Vec<&Status> = statuses
                .iter()
                .enumerate()
                .filter(|(i, _)| ctx.doc_of(*i) == doc)
                .map(|(_, s)| s)
                .collect();
            let want = log.text();
            for s in &texts {
                // With other writers, a client stopped at an earlier version: compare with the log there.
                let same = if args.shared_docs && s.version <= log.version() {
                    let prefix = log.since(0)[..s.version as usize].to_vec();
                    DocState::rebuild(prefix).is_ok_and(|at| at.text() == s.text)
                } else {
                    s.text == want && s.version == log.version()
                };
                if !same {
                    bad.push(format!(
                        "{}: a client at version {} differs from the log at {}",
                        ctx.doc_name(doc),
                        s.version,
                        log.version()
                    ));
                    break;
                }
            }
        }
        let versions: u64 = logs.iter().flatten().map(DocState::version).sum();
        check(
            "convergence",
            bad.is_empty(),
            if bad.is_empty() {
                format!(
                    "{} documents: every client's text equals the text rebuilt from Redis{} ({versions} ops in all)",
                    args.docs,
                    if args.shared_docs { " at the client's version" } else { "" }
                )
            } else {
                bad.join("; ")
            },
        );
        let missing: Vec<&String> = acked
            .iter()
            .filter(|(doc, id)| {
                logs[*doc]
                    .as_ref()
                    .is_none_or(|log| log.version_of(id).is_none())
            })
            .map(|(_, id)| id)
            .collect();
        // DocState::rebuild refuses a log with a repeated id, so "in the log" means exactly once.
        check(
            "acknowledged ops in the log exactly once",
            missing.is_empty() && !acked.is_empty(),
            format!(
                "{} acknowledged, {} missing{}",
                acked.len(),
                missing.len(),
                missing
                    .first()
                    .map_or(String::new(), |id| format!(" (e.g. {id})"))
            ),
        );
    }
    let errors = ctx.errors.borrow();
    check(
        "client errors",
        errors.is_empty(),
        if errors.is_empty() {
            "no version gap, no op applied twice, no version going back".into()
        } else {
            format!(
                "{}: {}",
                errors.len(),
                errors[..errors.len().min(3)].join("; ")
            )
        },
    );
    let kill = ctx.kill.borrow();
    if args.kill_pidfile.is_some() {
        let moved = kill.as_ref().map_or(0, |(_, moved)| moved.len());
        check(
            "reconnects after the kill",
            ctx.reconnected.get() > 0,
            format!(
                "{} clients of the killed instance {} reconnected to another instance ({moved} documents moved)",
                ctx.reconnected.get(),
                ctx.killed.get()
            ),
        );
        let failover = ctx.failover.borrow();
        let times: Vec<Duration> = failover.values().copied().collect();
        check(
            "moved documents accept operations again",
            kill.is_some() && moved > 0 && times.len() == moved,
            format!(
                "{} of {moved} moved documents; SIGKILL to first op accepted elsewhere: first {:.1} ms, last {:.1} ms",
                times.len(),
                times.iter().min().map_or(0.0, |d| d.as_secs_f64() * 1e3),
                times.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1e3)
            ),
        );
    }
    if let (Some(_), Some(_), Some((_, moved))) =
        (args.reload_at, args.restart_cmd.as_ref(), kill.as_ref())
    {
        let owner = ctx.owner.borrow();
        let back = moved
            .iter()
            .filter(|doc| owner.get(doc) == Some(&ctx.killed.get()))
            .count();
        // Not a check: nginx lets one probe connection through to a failed server after fail_timeout
        // and counts it a success only when that long-lived connection ends, so how many documents go
        // back at once depends on timing (docs/cluster.md). Each is on one instance either way (below).
        println!(
            "STAT: after the reload, {back} of {} moved documents are served by the restarted instance {} again",
            moved.len(),
            ctx.killed.get()
        );
    }
    // Routing: intervals of one document on different instances overlap at most by the hand-over time.
    let intervals = ctx.intervals.borrow();
    let end_of_run = Instant::now();
    let mut worst = Duration::ZERO;
    let mut worst_doc = None;
    let mut instances_per_doc: HashMap<usize, HashSet<u32>> = HashMap::new();
    for (i, a) in intervals.iter().enumerate() {
        instances_per_doc
            .entry(a.doc)
            .or_default()
            .insert(a.instance);
        for b in &intervals[i + 1..] {
            if a.doc != b.doc || a.instance == b.instance {
                continue;
            }
            let start = a.start.max(b.start);
            let end = a.end.unwrap_or(end_of_run).min(b.end.unwrap_or(end_of_run));
            let overlap = end.saturating_duration_since(start);
            if overlap > worst {
                worst = overlap;
                worst_doc = Some(a.doc);
            }
        }
    }
    let moved_docs = instances_per_doc.values().filter(|s| s.len() > 1).count();
    if args.no_affinity {
        println!(
            "STAT: no affinity expected: {} connections, {moved_docs} documents served by several instances",
            intervals.len()
        );
    } else {
        check(
        "one instance per document at any moment",
        worst <= args.handover,
        format!(
            "{} connections; {moved_docs} documents changed instance; longest overlap of two instances {:.1} ms{} (allowed {} ms)",
            intervals.len(),
            worst.as_secs_f64() * 1e3,
            worst_doc.map_or(String::new(), |d| format!(" on {}", ctx.doc_name(d))),
            args.handover.as_millis()
        ),
    );
    }

    println!(
        "STAT: {} ops acknowledged in {elapsed:.0} s = {:.0} ops/s; {} rejected, {} notices, {} connections, {} reconnected after the kill",
        acked.len(),
        acked.len() as f64 / elapsed,
        ctx.rejects.get(),
        ctx.notices.get(),
        ctx.connects.get(),
        ctx.reconnected.get()
    );
    let lost = ctx.lost.borrow();
    if !lost.is_empty() {
        let mut reasons: Vec<String> = lost.iter().map(|(why, n)| format!("{n}x {why}")).collect();
        reasons.sort();
        println!("STAT: connections lost: {}", reasons.join("; "));
    }
    let per_doc = (args.clients / args.docs).max(1) as u32;
    let mut latencies: Vec<Duration> = ctx
        .tracks
        .borrow()
        .values()
        .filter(|t| t.seen >= per_doc)
        .map(|t| t.last - t.sent)
        .collect();
    latencies.sort();
    if !latencies.is_empty() {
        let at =
            |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
        println!(
            "STAT: broadcast latency (send to seen by all {per_doc} viewers): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} ops",
            at(0.5),
            at(0.99),
            at(1.0),
            latencies.len()
        );
    }
    if args.bench {
        println!(
            "BENCH: clients={} docs={} ops_per_sec={:.0} p50_ms={:.2} p99_ms={:.2}",
            args.clients,
            args.docs,
            acked.len() as f64 / elapsed,
            latencies
                .get(latencies.len() / 2)
                .map_or(0.0, |d| d.as_secs_f64() * 1e3),
            latencies
                .get(((latencies.len().max(1) - 1) as f64 * 0.99) as usize)
                .map_or(0.0, |d| d.as_secs_f64() * 1e3)
        );
    }
    failed > 0
}
