//! Test helpers: drive a receiver over input split at given points and collect what it reports.
#![allow(dead_code)]

use rill_ws::codec::Decoded;
use rill_ws::{MessageKind, ProtocolError, Receiver};

/// Everything a receiver reported, with message pieces joined into whole messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Message(MessageKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Error(ProtocolError),
}

/// Feeds `wire` to `receiver` in reads of the given sizes (cycled; the rest in one read if empty), the
/// way an adapter does: unconsumed bytes are kept and more appended.
pub fn drive(receiver: &mut Receiver, wire: &[u8], read_sizes: &[usize]) -> Vec<Item> {
    let mut items = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut message: Option<(MessageKind, Vec<u8>)> = None;
    let mut fed = 0;
    let mut sizes = read_sizes.iter().copied().filter(|&s| s > 0).cycle();
    while fed < wire.len() || !pending.is_empty() {
        let size = sizes.next().unwrap_or(wire.len());
        let end = (fed + size).min(wire.len());
        pending.extend_from_slice(&wire[fed..end]);
        fed = end;
        loop {
            let received = match receiver.receive(&mut pending) {
                Ok(received) => received,
                Err(error) => {
                    items.push(Item::Error(error));
                    return items;
                }
            };
            let consumed = received.consumed;
            let made_event = received.event.is_some();
            match received.event {
                Some(Decoded::Data(data)) => {
                    if data.first {
                        assert!(
                            message.is_none(),
                            "a new message started before the last ended"
                        );
                        message = Some((data.kind, Vec::new()));
                    }
                    let (_, bytes) = message.as_mut().expect("a piece outside a message");
                    bytes.extend_from_slice(data.payload);
                    if data.last {
                        let (kind, bytes) = message.take().unwrap();
                        items.push(Item::Message(kind, bytes));
                    }
                }
                // These receivers have no permessage-deflate agreed: RSV1 is refused before this.
                Some(Decoded::Compressed(_)) => unreachable!("compressed data without deflate"),
                Some(Decoded::Ping(p)) => items.push(Item::Ping(p.to_vec())),
                Some(Decoded::Pong(p)) => items.push(Item::Pong(p.to_vec())),
                Some(Decoded::Close { code, reason }) => {
                    items.push(Item::Close(code.map(|c| c.0), reason.into()))
                }
                None => {}
            }
            pending.drain(..consumed);
            if !made_event && (consumed == 0 || pending.is_empty()) {
                break;
            }
        }
        if fed == wire.len() && !pending.is_empty() {
            // Nothing more will arrive: the receiver must have taken everything it could.
            break;
        }
    }
    items
}

/// A masked (client-to-server) frame carrying `payload`.
pub fn masked(first_byte: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let header = rill_ws::frame::FrameHeader {
        fin: first_byte & 0x80 != 0,
        rsv: (first_byte >> 4) & 7,
        opcode: rill_ws::frame::OpCode::from_bits(first_byte).expect("test uses a valid opcode"),
        mask: Some(key),
        payload_len: payload.len() as u64,
    };
    let mut out = vec![0; header.encoded_len()];
    header.emit(&mut out).unwrap();
    let start = out.len();
    out.extend_from_slice(payload);
    rill_ws::frame::apply_mask(&mut out[start..], key, 0);
    out
}

/// An unmasked (server-to-client) frame carrying `payload`.
pub fn unmasked(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first_byte];
    match payload.len() {
        len @ 0..=125 => out.push(len as u8),
        len @ 126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}
