//! A document as an ordered log of operations, and the version rules every instance and client share.
//!
//! Version `n` is the document after its `n`-th accepted operation (version 0 is the empty text). An
//! operation arrives with the version its author last saw (its *base*); if the document has moved on
//! since, the operation is transformed against every operation accepted after the base (simple OT for
//! insert/delete), so that it means what its author meant on the text they saw. Positions count Unicode
//! scalar values (`char`s), as a browser's `Array.from(text)` does.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Longest text a document may grow to, in chars: an insert beyond it is rejected, keeping every
/// instance's memory per document bounded by the text plus its log.
pub const MAX_TEXT_CHARS: usize = 64 * 1024;

/// One edit at a char position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum Op {
    /// Insert `text` before the char at `pos` (`pos` = length appends).
    #[serde(rename = "ins")]
    Ins {
        /// Char position.
        pos: usize,
        /// The inserted text.
        text: String,
    },
    /// Delete `len` chars starting at `pos`.
    #[serde(rename = "del")]
    Del {
        /// Char position.
        pos: usize,
        /// Chars deleted (0 is a no-op that still takes a version, e.g. after a transform).
        len: usize,
    },
}

impl Op {
    /// Rewrites `self` (concurrent with `applied`, both on the same base) so that it can be applied after
    /// `applied`. `applied` wins ties: it was accepted first, so an insert at the same position goes after
    /// it. A delete whose range contains an applied insert grows to cover the inserted text (one range
    /// keeps the operation a single edit; the insert stays in the log, its text is deleted by a later op).
    pub fn transform(&self, applied: &Op) -> Op {
        match (self.clone(), applied) {
            (Op::Ins { pos, text }, Op::Ins { pos: p, text: t }) => {
                let pos = if *p <= pos {
                    pos + t.chars().count()
                } else {
                    pos
                };
                Op::Ins { pos, text }
            }
            (Op::Ins { pos, text }, Op::Del { pos: p, len: l }) => {
                let pos = if pos <= *p {
                    pos
                } else if pos >= p + l {
                    pos - l
                } else {
                    *p
                };
                Op::Ins { pos, text }
            }
            (Op::Del { pos, len }, Op::Ins { pos: p, text: t }) => {
                let k = t.chars().count();
                if *p <= pos {
                    Op::Del { pos: pos + k, len }
                } else if *p >= pos + len {
                    Op::Del { pos, len }
                } else {
                    Op::Del { pos, len: len + k }
                }
            }
            (Op::Del { pos, len }, Op::Del { pos: p, len: l }) => {
                let (p, l) = (*p, *l);
                if pos + len <= p {
                    Op::Del { pos, len }
                } else if pos >= p + l {
                    Op::Del { pos: pos - l, len }
                } else {
                    let overlap = (pos + len).min(p + l) - pos.max(p);
                    Op::Del {
                        pos: pos.min(p),
                        len: len - overlap,
                    }
                }
            }
        }
    }

    /// Applies to `text`, or says why it cannot (a position past the end, a text too long).
    pub fn apply(&self, text: &mut Vec<char>) -> Result<(), String> {
        match self {
            Op::Ins { pos, text: t } => {
                if *pos > text.len() {
                    return Err(format!(
                        "insert at {pos} is past the end ({} chars)",
                        text.len()
                    ));
                }
                let add = t.chars().count();
                if text.len() + add > MAX_TEXT_CHARS {
                    return Err(format!("the text would exceed {MAX_TEXT_CHARS} chars"));
                }
                text.splice(*pos..*pos, t.chars());
                Ok(())
            }
            Op::Del { pos, len } => {
                if pos + len > text.len() {
                    return Err(format!(
                        "delete {pos}..{} is past the end ({} chars)",
                        pos + len,
                        text.len()
                    ));
                }
                text.drain(*pos..pos + len);
                Ok(())
            }
        }
    }
}

/// An accepted operation: the version it created, the client's id for it, the operation as applied (after
/// any transform) and the instance that accepted it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The version this operation created (the first operation creates version 1).
    pub v: u64,
    /// The client-chosen unique id, used to apply a resent operation once.
    pub id: String,
    /// The operation as applied.
    pub op: Op,
    /// The instance that accepted it.
    pub instance: u32,
}

/// What to do with an operation a client sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prepared {
    /// Apply this (transformed) operation as the next version.
    Apply(Op),
    /// An operation with this id was already accepted as this version: do not apply it again.
    Duplicate(u64),
}

/// The state of one document: its text at the current version, every accepted operation, and the ids seen.
#[derive(Clone, Debug, Default)]
pub struct DocState {
    text: Vec<char>,
    log: Vec<Entry>,
    ids: HashMap<String, u64>,
}

impl DocState {
    /// The empty document (version 0).
    pub fn new() -> DocState {
        DocState::default()
    }

    /// Rebuilds a document from its log (e.g. a Redis stream read from the start): the entries must be
    /// versions 1, 2, 3... in order, each applying cleanly.
    pub fn rebuild(entries: impl IntoIterator<Item = Entry>) -> Result<DocState, String> {
        let mut doc = DocState::new();
        for entry in entries {
            doc.apply(entry)?;
        }
        Ok(doc)
    }

    /// The current version: the number of accepted operations.
    pub fn version(&self) -> u64 {
        self.log.len() as u64
    }

    /// The current text.
    pub fn text(&self) -> String {
        self.text.iter().collect()
    }

    /// The text's length in chars.
    pub fn len_chars(&self) -> usize {
        self.text.len()
    }

    /// Every operation after version `since` (empty when `since` is the current version or later).
    pub fn since(&self, since: u64) -> &[Entry] {
        let start = (since as usize).min(self.log.len());
        &self.log[start..]
    }

    /// The version at which the operation `id` was accepted, if it was.
    pub fn version_of(&self, id: &str) -> Option<u64> {
        self.ids.get(id).copied()
    }

    /// Decides what an operation `op` with id `id` written against version `base` becomes now: a duplicate
    /// of an accepted one, or the operation transformed against everything accepted after `base` and
    /// checked against the current text. Errors are the message to send the client (it should rebase).
    pub fn prepare(&self, id: &str, base: u64, op: &Op) -> Result<Prepared, String> {
        if let Some(v) = self.version_of(id) {
            return Ok(Prepared::Duplicate(v));
        }
        if base > self.version() {
            return Err(format!(
                "base version {base} is ahead of the document (version {}): reload",
                self.version()
            ));
        }
        let op = self
            .since(base)
            .iter()
            .fold(op.clone(), |op, entry| op.transform(&entry.op));
        // Check on a copy-free basis: lengths only, so a rejected op costs no allocation of the text.
        match &op {
            Op::Ins { pos, text } => {
                if *pos > self.text.len() {
                    return Err(format!(
                        "insert at {pos} is past the end ({} chars)",
                        self.text.len()
                    ));
                }
                if self.text.len() + text.chars().count() > MAX_TEXT_CHARS {
                    return Err(format!("the text would exceed {MAX_TEXT_CHARS} chars"));
                }
            }
            Op::Del { pos, len } => {
                if pos + len > self.text.len() {
                    return Err(format!(
                        "delete {pos}..{} is past the end ({} chars)",
                        pos + len,
                        self.text.len()
                    ));
                }
            }
        }
        Ok(Prepared::Apply(op))
    }

    /// Applies an accepted entry: it must be exactly the next version and carry an id not seen before.
    pub fn apply(&mut self, entry: Entry) -> Result<(), String> {
        if entry.v != self.version() + 1 {
            return Err(format!(
                "entry for version {} does not follow version {}",
                entry.v,
                self.version()
            ));
        }
        if let Some(v) = self.version_of(&entry.id) {
            return Err(format!(
                "operation {} was already applied as version {v}",
                entry.id
            ));
        }
        entry.op.apply(&mut self.text)?;
        self.ids.insert(entry.id.clone(), entry.v);
        self.log.push(entry);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(pos: usize, text: &str) -> Op {
        Op::Ins {
            pos,
            text: text.into(),
        }
    }

    fn del(pos: usize, len: usize) -> Op {
        Op::Del { pos, len }
    }

    fn entry(v: u64, id: &str, op: Op) -> Entry {
        Entry {
            v,
            id: id.into(),
            op,
            instance: 1,
        }
    }

    /// Accepts `op` from `base` the way an instance does.
    fn accept(doc: &mut DocState, id: &str, base: u64, op: Op) -> Result<(), String> {
        match doc.prepare(id, base, &op)? {
            Prepared::Apply(op) => doc.apply(entry(doc.version() + 1, id, op)),
            Prepared::Duplicate(_) => Ok(()),
        }
    }

    #[test]
    fn apply_inserts_and_deletes_by_char() {
        let mut doc = DocState::new();
        accept(&mut doc, "a", 0, ins(0, "héllo")).unwrap();
        accept(&mut doc, "b", 1, ins(5, " wörld")).unwrap();
        accept(&mut doc, "c", 2, del(0, 1)).unwrap();
        assert_eq!(doc.text(), "éllo wörld");
        assert_eq!(doc.version(), 3);
        assert_eq!(doc.len_chars(), 10);
    }

    #[test]
    fn out_of_range_ops_are_rejected_without_a_version() {
        let mut doc = DocState::new();
        accept(&mut doc, "a", 0, ins(0, "abc")).unwrap();
        assert!(doc.prepare("b", 1, &ins(4, "x")).is_err());
        assert!(doc.prepare("c", 1, &del(2, 2)).is_err());
        assert!(doc
            .prepare("d", 5, &ins(0, "x"))
            .unwrap_err()
            .contains("ahead"));
        assert_eq!(doc.version(), 1);
    }

    #[test]
    fn concurrent_inserts_keep_both_and_the_first_accepted_goes_first() {
        let mut doc = DocState::new();
        accept(&mut doc, "base", 0, ins(0, "ac")).unwrap();
        // Two clients at version 1 both insert at 1.
        accept(&mut doc, "x", 1, ins(1, "X")).unwrap();
        accept(&mut doc, "y", 1, ins(1, "Y")).unwrap();
        assert_eq!(doc.text(), "aXYc");
        // An insert after a concurrent insert before it shifts right.
        accept(&mut doc, "z", 1, ins(2, "Z")).unwrap();
        assert_eq!(doc.text(), "aXYcZ");
    }

    #[test]
    fn inserts_and_deletes_transform_against_each_other() {
        let mut doc = DocState::new();
        accept(&mut doc, "base", 0, ins(0, "0123456789")).unwrap();
        accept(&mut doc, "d", 1, del(2, 3)).unwrap(); // 0156789
        accept(&mut doc, "i1", 1, ins(8, "X")).unwrap(); // after the deleted range: shifts left by 3
        assert_eq!(doc.text(), "01567X89");
        accept(&mut doc, "i2", 1, ins(3, "Y")).unwrap(); // inside the deleted range: lands at its start
        assert_eq!(doc.text(), "01Y567X89");
        // A delete concurrent with an insert inside its range grows to cover it.
        let mut doc = DocState::new();
        accept(&mut doc, "base", 0, ins(0, "abcdef")).unwrap();
        accept(&mut doc, "i", 1, ins(3, "XY")).unwrap();
        accept(&mut doc, "d", 1, del(2, 2)).unwrap();
        assert_eq!(doc.text(), "abef");
    }

    #[test]
    fn overlapping_deletes_delete_each_char_once() {
        let mut doc = DocState::new();
        accept(&mut doc, "base", 0, ins(0, "0123456789")).unwrap();
        accept(&mut doc, "d1", 1, del(2, 4)).unwrap(); // 016789
        accept(&mut doc, "d2", 1, del(4, 4)).unwrap(); // 4,5 already gone: deletes 6,7
        assert_eq!(doc.text(), "0189");
        accept(&mut doc, "d3", 1, del(3, 1)).unwrap(); // fully inside d1: a no-op
        assert_eq!(doc.text(), "0189");
        assert_eq!(doc.version(), 4);
    }

    #[test]
    fn duplicate_op_ids_are_applied_once() {
        let mut doc = DocState::new();
        accept(&mut doc, "a", 0, ins(0, "x")).unwrap();
        assert_eq!(
            doc.prepare("a", 0, &ins(0, "x")),
            Ok(Prepared::Duplicate(1))
        );
        accept(&mut doc, "a", 0, ins(0, "x")).unwrap();
        assert_eq!(doc.text(), "x");
        // Applying a log entry with a known id is refused, whatever its version.
        assert!(doc.apply(entry(2, "a", ins(0, "x"))).is_err());
    }

    #[test]
    fn entries_must_follow_the_version_exactly() {
        let mut doc = DocState::new();
        assert!(doc.apply(entry(2, "a", ins(0, "x"))).is_err());
        doc.apply(entry(1, "a", ins(0, "x"))).unwrap();
        assert!(doc.apply(entry(1, "b", ins(0, "y"))).is_err());
    }

    #[test]
    fn rebuild_from_a_log_gives_the_same_document() {
        let mut doc = DocState::new();
        let mut seed = 7u64;
        for i in 0..500u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let base = seed % (doc.version() + 1);
            let len = doc.len_chars();
            let op = if len > 0 && seed.is_multiple_of(3) {
                let pos = (seed >> 8) as usize % len;
                del(pos, 1 + (seed >> 20) as usize % 3)
            } else {
                ins((seed >> 8) as usize % (len + 1), "ab")
            };
            // Random bases make many ops out of range: those are rejected, the others transformed.
            let _ = accept(&mut doc, &format!("op{i}"), base, op);
        }
        assert!(doc.version() > 100);
        let rebuilt = DocState::rebuild(doc.since(0).to_vec()).unwrap();
        assert_eq!(rebuilt.text(), doc.text());
        assert_eq!(rebuilt.version(), doc.version());
        // A log with a gap or a repeated id does not rebuild.
        let mut gap = doc.since(0).to_vec();
        gap.remove(3);
        assert!(DocState::rebuild(gap).is_err());
    }

    #[test]
    fn clients_at_different_bases_converge_with_the_server() {
        // The server transforms; a client applies the broadcast entries in version order, so its text is
        // the server's text at its version.
        let mut server = DocState::new();
        accept(&mut server, "s", 0, ins(0, "hello")).unwrap();
        let mut client = DocState::rebuild(server.since(0).to_vec()).unwrap();
        accept(&mut server, "a", 1, del(0, 1)).unwrap();
        accept(&mut server, "b", 1, ins(5, "!")).unwrap();
        accept(&mut server, "c", 2, ins(0, "J")).unwrap();
        for e in server.since(client.version()).to_vec() {
            client.apply(e).unwrap();
        }
        assert_eq!(client.text(), "Jello!");
        assert_eq!(client.text(), server.text());
    }
}
