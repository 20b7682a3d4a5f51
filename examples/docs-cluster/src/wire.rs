//! The JSON text messages between clients and instances (see docs/cluster.md for the protocol).

use crate::doc::{Entry, Op};
use serde::{Deserialize, Serialize};

/// What a client sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum ClientMsg {
    /// An operation written against version `base`, with an id unique to the client and operation (a
    /// resent operation keeps its id, so it is applied once).
    #[serde(rename = "op")]
    Op {
        /// Unique operation id.
        id: String,
        /// The version the client saw when it wrote the operation.
        base: u64,
        /// The edit.
        op: Op,
    },
}

/// What an instance sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum ServerMsg {
    /// First message on a connection: the document's version, and either its whole text (no `since`, or
    /// `since` unknown here) or every operation after `since`, in order.
    #[serde(rename = "welcome")]
    Welcome {
        /// The instance serving the document.
        instance: u32,
        /// The document's name.
        doc: String,
        /// The version the client is at once it has applied this message.
        version: u64,
        /// The text at `version`, when the client starts over.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// Operations after the client's `since`, when `text` is absent.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ops: Vec<Entry>,
    },
    /// An accepted operation, sent to every viewer in version order; for its author it is the
    /// acknowledgement (same `id`).
    #[serde(rename = "op")]
    Op(Entry),
    /// The operation `id` was not applied; the client rebases on `version` and may send a new one.
    #[serde(rename = "reject")]
    Reject {
        /// The rejected operation's id.
        id: String,
        /// Why, for people.
        reason: String,
        /// The document's version now.
        version: u64,
    },
    /// The operation `id` had already been accepted as version `v` (a resend): nothing was applied again.
    #[serde(rename = "dup")]
    Dup {
        /// The operation's id.
        id: String,
        /// The version that accepted it.
        v: u64,
    },
    /// Something the client should know but need not act on (e.g. the instance reloaded the document
    /// because another instance had extended it).
    #[serde(rename = "notice")]
    Notice {
        /// For people.
        text: String,
    },
}

impl ServerMsg {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// Decodes `%XX` and `+` in a query value (document names from a browser may be escaped).
pub fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of one hex digit.
fn hex(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

/// The value of `name` in a query string `a=1&b=2`, percent-decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_in_the_documented_shape() {
        let msg: ClientMsg = serde_json::from_str(
            r#"{"t":"op","id":"c1-1","base":3,"op":{"k":"ins","pos":2,"text":"hi"}}"#,
        )
        .unwrap();
        assert_eq!(
            msg,
            ClientMsg::Op {
                id: "c1-1".into(),
                base: 3,
                op: Op::Ins {
                    pos: 2,
                    text: "hi".into()
                }
            }
        );
        let ack = ServerMsg::Op(Entry {
            v: 4,
            id: "c1-1".into(),
            op: Op::Del { pos: 0, len: 1 },
            instance: 2,
        });
        assert_eq!(
            ack.to_json(),
            r#"{"t":"op","v":4,"id":"c1-1","op":{"k":"del","pos":0,"len":1},"instance":2}"#
        );
        let back: ServerMsg = serde_json::from_str(&ack.to_json()).unwrap();
        assert_eq!(back, ack);
    }

    #[test]
    fn query_params_are_found_and_decoded() {
        assert_eq!(
            query_param(Some("doc=a%20b&since=4"), "doc").as_deref(),
            Some("a b")
        );
        assert_eq!(
            query_param(Some("doc=a&since=4"), "since").as_deref(),
            Some("4")
        );
        assert_eq!(query_param(Some("doc=a"), "since"), None);
        assert_eq!(query_param(None, "doc"), None);
        assert_eq!(
            query_param(Some("doc=%zz%4"), "doc").as_deref(),
            Some("%zz%4")
        );
    }
}
