//! Property: any messages, cut into any fragments with pings between them, sent by either role and read in any
//! split, come out exactly as they went in.

mod common;
use common::{drive, Item};
use proptest::prelude::*;
use rill_ws::codec::ControlFrame;
use rill_ws::{Limits, MessageKind, Receiver, Role, Sender};

#[derive(Clone, Debug)]
struct Message {
    kind: MessageKind,
    bytes: Vec<u8>,
    cuts: Vec<usize>,
    ping_after: Vec<bool>,
}

fn message() -> impl Strategy<Value = Message> {
    let text = ".{0,40}".prop_map(|s: String| (MessageKind::Text, s.into_bytes()));
    let binary =
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| (MessageKind::Binary, b));
    (
        prop_oneof![text, binary],
        proptest::collection::vec(any::<usize>(), 0..5),
        proptest::collection::vec(any::<bool>(), 5),
    )
        .prop_map(|((kind, bytes), mut cuts, ping_after)| {
            // Cuts are byte offsets, so text fragments may split a character: the receiver must cope.
            cuts.iter_mut().for_each(|c| *c %= bytes.len() + 1);
            cuts.sort_unstable();
            Message {
                kind,
                bytes,
                cuts,
                ping_after,
            }
        })
}

/// Encodes `messages` as `role` would send them; returns the wire bytes and what the peer must see.
fn encode(role: Role, messages: &[Message]) -> (Vec<u8>, Vec<Item>) {
    let mut tx = Sender::new(role, [0x5E; 32]);
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    let mut out = vec![0u8; 1024];
    for (n, message) in messages.iter().enumerate() {
        let mut bounds = vec![0];
        bounds.extend(&message.cuts);
        bounds.push(message.bytes.len());
        tx.begin(message.kind).unwrap();
        for (i, window) in bounds.windows(2).enumerate() {
            let piece = &message.bytes[window[0]..window[1]];
            let fin = i + 2 == bounds.len();
            let len = tx
                .chunk(piece.len() as u64, fin)
                .unwrap()
                .encode(piece, &mut out)
                .unwrap();
            wire.extend_from_slice(&out[..len]);
            if !fin && message.ping_after[i % message.ping_after.len()] {
                let payload = [n as u8, i as u8];
                let len = tx
                    .encode_control(&ControlFrame::ping(&payload).unwrap(), &mut out)
                    .unwrap();
                wire.extend_from_slice(&out[..len]);
                expected.push(Item::Ping(payload.to_vec()));
            }
        }
        expected.push(Item::Message(message.kind, message.bytes.clone()));
    }
    (wire, expected)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn any_fragmentation_any_split_both_roles(
        messages in proptest::collection::vec(message(), 1..6),
        reads in proptest::collection::vec(1usize..80, 1..8),
        client_sends in any::<bool>(),
    ) {
        let (sender, receiver) = if client_sends { (Role::Client, Role::Server) } else { (Role::Server, Role::Client) };
        let (wire, expected) = encode(sender, &messages);
        let items = drive(&mut Receiver::new(receiver, Limits::default()), &wire, &reads);
        prop_assert_eq!(items, expected);
    }
}
