//! The shared log: one Redis stream per document, appended only if the writer is at the stream's version.
//!
//! Entry `v` of a document's stream has the stream ID `v-1`, so the version is readable from the ID and
//! `XRANGE key <v+1> +` returns everything after version `v`. A hash beside the stream maps operation ids
//! to versions so that a resent operation is never appended twice, even by another instance.

use crate::doc::{Entry, Op};
use redis::aio::MultiplexedConnection;
use redis::streams::StreamRangeReply;
use redis::RedisResult;

/// Checks (atomically, inside Redis) that the operation id is new and that the stream's last version is the
/// one the instance extended, then appends. Returns `{1, v}` appended as version v, `{0, v}` the stream
/// is at version v (another instance extended it), `{2, v}` the id was already appended as version v.
/// With a channel in ARGV[5], a successful append also publishes ARGV[6] there, inside the same atomic
/// step: subscribers then receive a document's entries in version order (the pub/sub fan-out mode).
const APPEND: &str = r#"
local seen = redis.call('HGET', KEYS[2], ARGV[2])
if seen then return {2, tonumber(seen)} end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local v = 0
if #last > 0 then v = tonumber(string.match(last[1][1], '^(%d+)-')) end
if v ~= tonumber(ARGV[1]) then return {0, v} end
redis.call('XADD', KEYS[1], (v + 1) .. '-1', 'id', ARGV[2], 'op', ARGV[3], 'inst', ARGV[4])
redis.call('HSET', KEYS[2], ARGV[2], v + 1)
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
return {1, v + 1}
"#;

/// The pub/sub channel on which an instance announces that it now serves a document
/// (`<instance> <epoch> <doc>`),
/// so that an instance still holding it from before a failover lets its viewers go.
pub const MOVED_CHANNEL: &str = "docs:moved";

/// The pub/sub channel of the fan-out mode: every accepted entry, as `<doc> <entry JSON>`.
pub const OPS_CHANNEL: &str = "docs:ops";

/// Entries read per `XRANGE` call, bounding one reply's size.
const PAGE: usize = 1000;

/// The outcome of a conditional append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Append {
    /// Appended as this version.
    Appended(u64),
    /// Not appended: the stream is at this version, not the expected one.
    Conflict(u64),
    /// Not appended: the operation id is already in the stream, as this version.
    Duplicate(u64),
}

/// The stream key of a document (the braces keep a document's keys in one Redis Cluster slot).
pub fn log_key(doc: &str) -> String {
    format!("docs:{{{doc}}}:log")
}

/// The id-to-version hash key of a document.
pub fn ids_key(doc: &str) -> String {
    format!("docs:{{{doc}}}:ids")
}

/// A connection to the shared log.
#[derive(Clone)]
pub struct Store {
    con: MultiplexedConnection,
    append: redis::Script,
}

impl Store {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`).
    pub async fn connect(url: &str) -> RedisResult<Store> {
        let client = redis::Client::open(url)?;
        let con = client.get_multiplexed_async_connection().await?;
        Ok(Store {
            con,
            append: redis::Script::new(APPEND),
        })
    }

    /// Appends `entry` if the stream is at version `entry.v - 1` and its id is new; with `publish`, also
    /// publishes it on [`OPS_CHANNEL`] in the same atomic step.
    pub async fn append(&self, doc: &str, entry: &Entry, publish: bool) -> RedisResult<Append> {
        let mut con = self.con.clone();
        let op = serde_json::to_string(&entry.op).expect("ops always serialize");
        let (channel, payload) = if publish {
            let json = serde_json::to_string(entry).expect("entries always serialize");
            (OPS_CHANNEL, format!("{doc} {json}"))
        } else {
            ("", String::new())
        };
        let (code, v): (i64, u64) = self
            .append
            .key(log_key(doc))
            .key(ids_key(doc))
            .arg(entry.v - 1)
            .arg(&entry.id)
            .arg(op)
            .arg(entry.instance)
            .arg(channel)
            .arg(payload)
            .invoke_async(&mut con)
            .await?;
        Ok(match code {
            1 => Append::Appended(v),
            2 => Append::Duplicate(v),
            _ => Append::Conflict(v),
        })
    }

    /// Every entry after version `after`, in order.
    pub async fn read_after(&self, doc: &str, after: u64) -> RedisResult<Vec<Entry>> {
        let mut con = self.con.clone();
        let key = log_key(doc);
        let mut entries = Vec::new();
        let mut next = after + 1;
        loop {
            let reply: StreamRangeReply = redis::cmd("XRANGE")
                .arg(&key)
                .arg(next)
                .arg("+")
                .arg("COUNT")
                .arg(PAGE)
                .query_async(&mut con)
                .await?;
            let count = reply.ids.len();
            for item in reply.ids {
                let v: u64 = item
                    .id
                    .split('-')
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| bad("stream ID is not <version>-1"))?;
                let id: String = item.get("id").ok_or_else(|| bad("entry without id"))?;
                let op: String = item.get("op").ok_or_else(|| bad("entry without op"))?;
                let op: Op = serde_json::from_str(&op).map_err(|_| bad("op is not JSON"))?;
                let instance: u32 = item.get("inst").unwrap_or(0);
                next = v + 1;
                entries.push(Entry {
                    v,
                    id,
                    op,
                    instance,
                });
            }
            if count < PAGE {
                return Ok(entries);
            }
        }
    }

    /// The document's current ownership epoch (0 if never announced).
    pub async fn epoch(&self, doc: &str) -> RedisResult<u64> {
        let mut con = self.con.clone();
        let epoch: Option<u64> = redis::cmd("GET")
            .arg(format!("docs:{{{doc}}}:epoch"))
            .query_async(&mut con)
            .await?;
        Ok(epoch.unwrap_or(0))
    }

    /// Announces that `instance` now serves `doc`, under a new epoch (a counter per document) that it
    /// returns: an instance that holds the document under a lower epoch lets its viewers go, while a late
    /// announcement of an older epoch is ignored, whatever order pub/sub delivers them in.
    pub async fn announce(&self, doc: &str, instance: u32) -> RedisResult<u64> {
        let mut con = self.con.clone();
        let epoch: u64 = redis::cmd("INCR")
            .arg(format!("docs:{{{doc}}}:epoch"))
            .query_async(&mut con)
            .await?;
        let () = redis::cmd("PUBLISH")
            .arg(MOVED_CHANNEL)
            .arg(format!("{instance} {epoch} {doc}"))
            .query_async(&mut con)
            .await?;
        Ok(epoch)
    }
}

/// A malformed stream entry, as a Redis error so callers handle one error type.
fn bad(what: &'static str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::TypeError, what))
}
