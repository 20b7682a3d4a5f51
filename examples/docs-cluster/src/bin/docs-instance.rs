//! One instance of the collaborative-document server: a rill-tokio server on a current-thread runtime.
//!
//! `docs-instance --port P --id N --redis redis://127.0.0.1:6379 [--fanout]`
//!
//! Serves `GET /` (the browser page), `GET /status` (which documents this instance holds) and WebSockets on
//! `GET /doc?doc=NAME[&since=V]`. Every document held here has one *sequencer* task that owns all changes
//! to it: joins, operations (append to Redis, then apply and broadcast), reloads and hand-overs. One task
//! per document gives one order for every viewer without a lock; the state is shared read-only with the
//! status page through `Rc<RefCell<..>>`, and no borrow is held across an await.
//!
//! With `--fanout` (the comparison mode, no affinity): any instance serves any document; each accepted entry
//! is published on a Redis channel by the append itself, and every instance holding the document applies
//! it and broadcasts it to its own viewers. Ownership announcements are off in that mode.

use docs_cluster::doc::{DocState, Entry, Op, Prepared};
use docs_cluster::store::{Append, Store, MOVED_CHANNEL, OPS_CHANNEL};
use docs_cluster::wire::{query_param, ClientMsg, ServerMsg};
use futures_util::StreamExt;
use rill_tokio::{accept_with, CloseCode, Config, Decision, Listener, Message, Request};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::spawn_local;

/// The browser page, served as is (plain HTML and JS, no build step).
const PAGE: &str = include_str!("../../static/index.html");

/// Messages queued for one viewer at most: a viewer this far behind is disconnected (it reconnects with
/// `since` and catches up) rather than queued without bound.
const VIEWER_QUEUE: usize = 1024;

/// Commands queued for one document's sequencer at most; readers wait (backpressure) beyond it.
const DOC_QUEUE: usize = 4096;

/// Times an operation is re-transformed after another instance extended the document, before it is
/// rejected for the client to rebase.
const APPEND_ATTEMPTS: usize = 3;

/// The same in the fan-out mode, where instances compete for every document all the time.
const FANOUT_APPEND_ATTEMPTS: usize = 20;

/// Close code telling a viewer that its document is now served by another instance: reconnect (with
/// `since`), and nginx routes it to the new one.
const MOVED: CloseCode = CloseCode(4001);

/// Close code for a viewer dropped because its queue was full or storage failed.
const DROPPED: CloseCode = CloseCode(4002);

/// Command-line settings.
struct Args {
    port: u16,
    id: u32,
    redis: String,
    fanout: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut port = None;
    let mut id = None;
    let mut redis = "redis://127.0.0.1:6379".to_string();
    let mut fanout = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--fanout" {
            fanout = true;
            continue;
        }
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => port = Some(value()?.parse().map_err(|_| "--port: not a port")?),
            "--id" => id = Some(value()?.parse().map_err(|_| "--id: not a number")?),
            "--redis" => redis = value()?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(Args {
        port: port.ok_or("--port is required")?,
        id: id.ok_or("--id is required")?,
        redis,
        fanout,
    })
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("docs-instance: {error}\nusage: docs-instance --port P --id N [--redis URL] [--fanout]");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let local = tokio::task::LocalSet::new();
    if let Err(error) = local.block_on(&runtime, run(args)) {
        eprintln!("docs-instance: {error}");
        std::process::exit(1);
    }
}

/// Something to write to a viewer.
enum Out {
    /// A message, serialized once for all viewers.
    Text(Rc<str>),
    /// Close the connection with this code and reason.
    Close(CloseCode, String),
}

/// What a document's sequencer is asked to do.
enum Cmd {
    /// Add a viewer that saw version `since` (or nothing); it gets the welcome on `out`.
    Join {
        conn: u64,
        since: Option<u64>,
        out: mpsc::Sender<Out>,
    },
    /// A viewer left.
    Leave { conn: u64 },
    /// A viewer sent an operation.
    Op {
        conn: u64,
        id: String,
        base: u64,
        op: Op,
    },
    /// Another instance announced that it serves the document under `epoch`.
    Moved { by: u32, epoch: u64 },
    /// Fan-out mode: an entry another instance appended (published by its append).
    Remote(Entry),
}

/// A document held by this instance.
struct Doc {
    state: DocState,
    viewers: HashMap<u64, mpsc::Sender<Out>>,
    /// The epoch under which this instance announced the document (0 until announced).
    epoch: u64,
}

/// The way to a document's sequencer, and its state for the status page.
#[derive(Clone)]
struct DocHandle {
    tx: mpsc::Sender<Cmd>,
    doc: Rc<RefCell<Doc>>,
}

/// This instance: its id, the shared log, and the documents it holds.
struct Instance {
    id: u32,
    store: Store,
    docs: RefCell<HashMap<String, DocHandle>>,
    next_conn: Cell<u64>,
    /// The pub/sub fan-out mode (no affinity) instead of one instance per document.
    fanout: bool,
}

async fn run(args: Args) -> Result<(), String> {
    let store = Store::connect(&args.redis)
        .await
        .map_err(|e| format!("redis {}: {e}", args.redis))?;
    let instance = Rc::new(Instance {
        id: args.id,
        store,
        docs: RefCell::new(HashMap::new()),
        next_conn: Cell::new(0),
        fanout: args.fanout,
    });
    spawn_local(listen(instance.clone(), args.redis.clone()));
    let listener = Listener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| format!("bind 127.0.0.1:{}: {e}", args.port))?;
    eprintln!(
        "docs-instance {}: listening on 127.0.0.1:{}",
        args.id, args.port
    );
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                spawn_local(serve(instance.clone(), stream));
            }
            // Out of descriptors and the like: the listener stays usable; do not spin.
            Err(error) => {
                eprintln!("docs-instance {}: accept: {error}", args.id);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Subscribes to hand-over announcements (or, in the fan-out mode, to accepted entries) and tells the
/// sequencer of each document held here. Resubscribes after a lost connection (Redis restarting), once a
/// second.
async fn listen(instance: Rc<Instance>, url: String) {
    loop {
        let result: redis::RedisResult<()> = async {
            let client = redis::Client::open(url.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub
                .subscribe(if instance.fanout {
                    OPS_CHANNEL
                } else {
                    MOVED_CHANNEL
                })
                .await?;
            let mut messages = pubsub.on_message();
            while let Some(message) = messages.next().await {
                let payload: String = message.get_payload()?;
                if instance.fanout {
                    remote_entry(&instance, &payload);
                    continue;
                }
                let mut parts = payload.splitn(3, ' ');
                let (Some(by), Some(epoch), Some(doc)) = (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let (Ok(by), Ok(epoch)) = (by.parse::<u32>(), epoch.parse::<u64>()) else {
                    continue;
                };
                if by == instance.id {
                    continue;
                }
                let handle = instance.docs.borrow().get(doc).cloned();
                if let Some(handle) = handle {
                    // A hand-over must not be lost: if the queue is full, wait for room in a task of its
                    // own (few: one per announcement), so this listener keeps reading.
                    if let Err(mpsc::error::TrySendError::Full(cmd)) =
                        handle.tx.try_send(Cmd::Moved { by, epoch })
                    {
                        spawn_local(async move {
                            let _ = handle.tx.send(cmd).await;
                        });
                    }
                }
            }
            Ok(())
        }
        .await;
        if let Err(error) = result {
            eprintln!("docs-instance {}: pub/sub: {error}", instance.id);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Hands a published entry (`<doc> <entry JSON>`) to the document's sequencer, if the document is held
/// here. A full queue drops it: the next entry then shows a gap, and the sequencer reads the log instead.
fn remote_entry(instance: &Instance, payload: &str) {
    let Some((doc, json)) = payload.split_once(' ') else {
        return;
    };
    let handle = instance.docs.borrow().get(doc).cloned();
    let (Some(handle), Ok(entry)) = (handle, serde_json::from_str::<Entry>(json)) else {
        return;
    };
    if entry.instance != instance.id {
        let _ = handle.tx.try_send(Cmd::Remote(entry));
    }
}

/// What the handshake decided for a connection.
enum Route {
    /// A WebSocket viewing `doc`, having seen version `since`.
    Doc { doc: String, since: Option<u64> },
    /// Answered as plain HTTP, or refused.
    Done,
}

/// Document names: short and plain, so they are safe in Redis keys, logs and URLs.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

impl Instance {
    fn status_json(&self) -> String {
        let docs: Vec<serde_json::Value> = self
            .docs
            .borrow()
            .iter()
            .map(|(name, handle)| {
                let doc = handle.doc.borrow();
                serde_json::json!({
                    "doc": name,
                    "version": doc.state.version(),
                    "viewers": doc.viewers.len(),
                })
            })
            .collect();
        serde_json::json!({ "instance": self.id, "docs": docs }).to_string()
    }

    fn decide(&self, request: &Request<'_>, route: &mut Route) -> Decision {
        match request.path() {
            "/" | "/index.html" => Decision::Respond {
                status: 200,
                content_type: "text/html; charset=utf-8".into(),
                body: PAGE.as_bytes().to_vec(),
            },
            "/status" => Decision::Respond {
                status: 200,
                content_type: "application/json".into(),
                body: self.status_json().into_bytes(),
            },
            "/doc" => {
                let Some(doc) = query_param(request.query(), "doc").filter(|d| valid_name(d))
                else {
                    return Decision::Reject {
                        status: 400,
                        reason: "expected /doc?doc=NAME (1-64 of A-Z a-z 0-9 - _ .)".into(),
                    };
                };
                let since = match query_param(request.query(), "since") {
                    None => None,
                    Some(v) => match v.parse() {
                        Ok(v) => Some(v),
                        Err(_) => {
                            return Decision::Reject {
                                status: 400,
                                reason: "since must be a version number".into(),
                            }
                        }
                    },
                };
                *route = Route::Doc { doc, since };
                Decision::accept()
            }
            _ => Decision::Reject {
                status: 404,
                reason: "try / or /doc?doc=NAME".into(),
            },
        }
    }

    /// The sequencer of `name`, started (and the document loaded by it) if this instance does not hold it.
    fn doc_sender(self: &Rc<Self>, name: &str) -> mpsc::Sender<Cmd> {
        if let Some(handle) = self.docs.borrow().get(name) {
            return handle.tx.clone();
        }
        let (tx, rx) = mpsc::channel(DOC_QUEUE);
        let doc = Rc::new(RefCell::new(Doc {
            state: DocState::new(),
            viewers: HashMap::new(),
            epoch: 0,
        }));
        self.docs.borrow_mut().insert(
            name.to_string(),
            DocHandle {
                tx: tx.clone(),
                doc: doc.clone(),
            },
        );
        spawn_local(sequencer(self.clone(), name.to_string(), doc, rx));
        tx
    }

    /// Forgets `name` if `doc` is still what the map holds for it.
    fn evict(&self, name: &str, doc: &Rc<RefCell<Doc>>) {
        let mut docs = self.docs.borrow_mut();
        if docs.get(name).is_some_and(|h| Rc::ptr_eq(&h.doc, doc)) {
            docs.remove(name);
        }
    }
}

/// One connection: the handshake, then a viewer whose operations go to its document's sequencer and whose
/// messages are written by a task of its own.
async fn serve(instance: Rc<Instance>, stream: TcpStream) {
    let config = Config {
        keepalive: Some(Duration::from_secs(10)),
        idle_timeout: Some(Duration::from_secs(30)),
        ..Config::default()
    };
    let mut route = Route::Done;
    let Ok(ws) = accept_with(stream, config, |request| {
        instance.decide(request, &mut route)
    })
    .await
    else {
        return; // a page, a refusal, or a failed handshake
    };
    let Route::Doc { doc: name, since } = route else {
        return;
    };
    let conn = instance.next_conn.get() + 1;
    instance.next_conn.set(conn);
    let (mut reader, mut writer) = ws.split();

    // The writer task owns the writing half: each message is written and flushed before the next. It ends
    // when the sequencer drops this viewer (the channel closes) or the peer is gone.
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(VIEWER_QUEUE);
    spawn_local(async move {
        while let Some(out) = out_rx.recv().await {
            match out {
                Out::Text(text) => {
                    if writer.send_text(&text).await.is_err() {
                        return;
                    }
                }
                Out::Close(code, reason) => {
                    let _ = writer.send_close(code, &reason).await;
                    return;
                }
            }
        }
        let _ = writer.send_close(DROPPED, "dropped: too far behind").await;
    });
    let notices = out_tx.downgrade();

    // The sequencer may end between looking it up and joining (its last viewer left): look again.
    let mut joined = None;
    for _ in 0..3 {
        let tx = instance.doc_sender(&name);
        let join = Cmd::Join {
            conn,
            since,
            out: out_tx.clone(),
        };
        if tx.send(join).await.is_ok() {
            joined = Some(tx);
            break;
        }
    }
    drop(out_tx); // from now on the sequencer's copy alone keeps this viewer
    let Some(doc_tx) = joined else {
        return;
    };

    loop {
        let cmd = match reader.recv().await {
            Ok(Message::Text(text)) => match serde_json::from_str::<ClientMsg>(text) {
                Ok(ClientMsg::Op { id, base, op }) => Cmd::Op { conn, id, base, op },
                Err(error) => {
                    if let Some(tx) = notices.upgrade() {
                        let text = format!("ignored a message that is not an op: {error}");
                        let _ = tx.try_send(Out::Text(ServerMsg::Notice { text }.to_json().into()));
                    }
                    continue;
                }
            },
            Ok(Message::Binary(_)) => continue,
            Ok(Message::Close(..)) | Err(_) => break,
        };
        if doc_tx.send(cmd).await.is_err() {
            break; // the document moved away: its viewers were told to reconnect
        }
    }
    let _ = doc_tx.send(Cmd::Leave { conn }).await;
}

/// Owns every change to one document: loads it from Redis on start, then handles joins, operations and
/// hand-overs one at a time, and ends (forgetting the document) when its last viewer leaves.
async fn sequencer(
    instance: Rc<Instance>,
    name: String,
    doc: Rc<RefCell<Doc>>,
    mut rx: mpsc::Receiver<Cmd>,
) {
    let loaded = async {
        catch_up(&instance, &name, &doc).await?;
        if instance.fanout {
            Ok(0) // no owner: every instance may serve the document
        } else {
            instance.store.announce(&name, instance.id).await
        }
    };
    match loaded.await {
        Ok(epoch) => {
            doc.borrow_mut().epoch = epoch;
            eprintln!(
                "docs-instance {}: serving {name} at version {} (epoch {epoch})",
                instance.id,
                doc.borrow().state.version()
            );
        }
        Err(error) => {
            eprintln!("docs-instance {}: loading {name}: {error}", instance.id);
            instance.evict(&name, &doc);
            // Joins already queued get a close: their clients retry.
            rx.close();
            while let Some(cmd) = rx.recv().await {
                if let Cmd::Join { out, .. } = cmd {
                    let _ = out.try_send(Out::Close(DROPPED, "storage unavailable".into()));
                }
            }
            return;
        }
    }
    let mut fresh = true;
    while let Some(cmd) = rx.recv().await {
        match cmd {
            Cmd::Join { conn, since, out } => {
                // Another instance may have extended the document since this one loaded it.
                if !fresh {
                    if let Err(error) = catch_up(&instance, &name, &doc).await {
                        eprintln!("docs-instance {}: catching up {name}: {error}", instance.id);
                    }
                }
                let mut d = doc.borrow_mut();
                let version = d.state.version();
                let welcome = match since {
                    Some(since) if since <= version => ServerMsg::Welcome {
                        instance: instance.id,
                        doc: name.clone(),
                        version,
                        text: None,
                        ops: d.state.since(since).to_vec(),
                    },
                    _ => ServerMsg::Welcome {
                        instance: instance.id,
                        doc: name.clone(),
                        version,
                        text: Some(d.state.text()),
                        ops: Vec::new(),
                    },
                };
                if out.try_send(Out::Text(welcome.to_json().into())).is_ok() {
                    d.viewers.insert(conn, out);
                }
            }
            Cmd::Leave { conn } => {
                doc.borrow_mut().viewers.remove(&conn);
            }
            Cmd::Op { conn, id, base, op } => {
                if accept_op(&instance, &name, &doc, conn, id, base, op).await {
                    hand_over(&instance, &name, &doc, "moved to another instance");
                    return;
                }
            }
            Cmd::Remote(entry) => {
                let version = doc.borrow().state.version();
                if entry.v == version + 1 {
                    let mut d = doc.borrow_mut();
                    if d.state.apply(entry.clone()).is_ok() {
                        broadcast(&mut d, &ServerMsg::Op(entry));
                    }
                } else if entry.v > version + 1 {
                    // A message was dropped (or arrived before the load finished): read the log.
                    if let Err(error) = catch_up(&instance, &name, &doc).await {
                        eprintln!("docs-instance {}: catching up {name}: {error}", instance.id);
                    }
                }
            }
            Cmd::Moved { by, epoch } => {
                if epoch > doc.borrow().epoch {
                    hand_over(&instance, &name, &doc, &format!("moved to instance {by}"));
                    return;
                }
            }
        }
        fresh = false;
        // Nothing queued and nobody watching: forget the document (no await between the check and the
        // removal, so no join can slip in between).
        if doc.borrow().viewers.is_empty() && rx.is_empty() {
            instance.evict(&name, &doc);
            return;
        }
    }
}

/// Lets the document go: its viewers are closed with 4001 (they reconnect, and nginx sends them to the
/// instance that now serves it) and the document is forgotten here.
fn hand_over(instance: &Instance, name: &str, doc: &Rc<RefCell<Doc>>, reason: &str) {
    eprintln!("docs-instance {}: {name} {reason}", instance.id);
    for (_, out) in doc.borrow_mut().viewers.drain() {
        let _ = out.try_send(Out::Close(MOVED, reason.to_string()));
    }
    instance.evict(name, doc);
}

/// Appends an operation to the log, then applies and broadcasts it; or tells its author why not. Returns
/// true if the append failed because another instance took the document over (a higher epoch): the
/// caller hands it over; the operation was not applied, and its author resends it after reconnecting.
async fn accept_op(
    instance: &Instance,
    name: &str,
    doc: &Rc<RefCell<Doc>>,
    conn: u64,
    id: String,
    base: u64,
    op: Op,
) -> bool {
    let attempts = if instance.fanout {
        FANOUT_APPEND_ATTEMPTS
    } else {
        APPEND_ATTEMPTS
    };
    for _ in 0..attempts {
        let prepared = doc.borrow().state.prepare(&id, base, &op);
        let version = doc.borrow().state.version();
        let op = match prepared {
            Err(reason) => {
                let reject = ServerMsg::Reject {
                    id,
                    reason,
                    version,
                };
                send_to(&doc.borrow(), conn, &reject);
                return false;
            }
            Ok(Prepared::Duplicate(v)) => {
                send_to(&doc.borrow(), conn, &ServerMsg::Dup { id, v });
                return false;
            }
            Ok(Prepared::Apply(op)) => op,
        };
        let entry = Entry {
            v: version + 1,
            id: id.clone(),
            op,
            instance: instance.id,
        };
        // Durable first: only an operation in the log is applied, acknowledged and broadcast.
        match instance.store.append(name, &entry, instance.fanout).await {
            Ok(Append::Appended(_)) => {
                let mut d = doc.borrow_mut();
                if let Err(error) = d.state.apply(entry.clone()) {
                    // Cannot happen (prepare checked it); the log has it, so a reload would repair this.
                    eprintln!("docs-instance {}: {name}: {error}", instance.id);
                }
                broadcast(&mut d, &ServerMsg::Op(entry));
                return false;
            }
            Ok(Append::Conflict(_)) | Ok(Append::Duplicate(_)) => {
                // Taken over while its announcement is still on the way (or was missed): move now.
                if !instance.fanout
                    && instance
                        .store
                        .epoch(name)
                        .await
                        .is_ok_and(|epoch| epoch > doc.borrow().epoch)
                {
                    return true;
                }
                // Another instance extended the document (or appended this very operation): load what it
                // appended, which every viewer here receives too, then transform again.
                if let Err(error) = catch_up(instance, name, doc).await {
                    let reject = ServerMsg::Reject {
                        id,
                        reason: format!("storage unavailable: {error}"),
                        version,
                    };
                    send_to(&doc.borrow(), conn, &reject);
                    return false;
                }
                let text = format!(
                    "instance {} reloaded {name} to version {}: another instance had extended it",
                    instance.id,
                    doc.borrow().state.version()
                );
                send_to(&doc.borrow(), conn, &ServerMsg::Notice { text });
            }
            Err(error) => {
                let reject = ServerMsg::Reject {
                    id,
                    reason: format!("storage unavailable: {error}"),
                    version,
                };
                send_to(&doc.borrow(), conn, &reject);
                return false;
            }
        }
    }
    let reject = ServerMsg::Reject {
        id,
        reason: "the document keeps changing on another instance: rebase and retry".into(),
        version: doc.borrow().state.version(),
    };
    send_to(&doc.borrow(), conn, &reject);
    false
}

/// Applies (and broadcasts) every entry the log has after this instance's version.
async fn catch_up(
    instance: &Instance,
    name: &str,
    doc: &Rc<RefCell<Doc>>,
) -> Result<(), redis::RedisError> {
    let after = doc.borrow().state.version();
    let entries = instance.store.read_after(name, after).await?;
    let mut d = doc.borrow_mut();
    for entry in entries {
        if entry.v <= d.state.version() {
            continue;
        }
        if let Err(error) = d.state.apply(entry.clone()) {
            return Err(redis::RedisError::from((
                redis::ErrorKind::TypeError,
                "log does not apply",
                error,
            )));
        }
        broadcast(&mut d, &ServerMsg::Op(entry));
    }
    Ok(())
}

/// Queues `msg` for every viewer, in the same order for all; a viewer whose queue is full (or whose
/// connection is gone) is dropped, which closes its connection once its queue drains.
fn broadcast(doc: &mut Doc, msg: &ServerMsg) {
    if doc.viewers.is_empty() {
        return;
    }
    let text: Rc<str> = msg.to_json().into();
    doc.viewers
        .retain(|_, out| out.try_send(Out::Text(text.clone())).is_ok());
}

/// Queues `msg` for one viewer (if it is still here).
fn send_to(doc: &Doc, conn: u64, msg: &ServerMsg) {
    if let Some(out) = doc.viewers.get(&conn) {
        let _ = out.try_send(Out::Text(msg.to_json().into()));
    }
}
