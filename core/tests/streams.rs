//! The stream envelope: round trips, ordered delivery with gaps and duplicates, bounded replay and resume.

use proptest::prelude::*;
use rill_ws::streams::{
    Arrival, Envelope, EnvelopeError, EnvelopeKind, ReplayWindow, StreamTracker,
    ENVELOPE_HEADER_LEN,
};

fn kind() -> impl Strategy<Value = EnvelopeKind> {
    prop_oneof![
        Just(EnvelopeKind::Chunk),
        Just(EnvelopeKind::Last),
        Just(EnvelopeKind::Cancel),
        Just(EnvelopeKind::Error),
        Just(EnvelopeKind::Resume),
        Just(EnvelopeKind::Gone),
    ]
}

proptest! {
    #[test]
    fn envelopes_round_trip(kind in kind(), stream: u32, sequence: u32, payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let envelope = Envelope { kind, stream, sequence };
        let mut message = envelope.header().to_vec();
        message.extend_from_slice(&payload);
        let (decoded, rest) = Envelope::decode(&message).unwrap();
        prop_assert_eq!(decoded, envelope);
        prop_assert_eq!(rest, &payload[..]);
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
        let _ = Envelope::decode(&bytes);
    }
}

#[test]
fn header_layout_is_kind_stream_sequence_big_endian() {
    let envelope = Envelope {
        kind: EnvelopeKind::Last,
        stream: 0x0102_0304,
        sequence: 0x0A0B_0C0D,
    };
    assert_eq!(
        envelope.header(),
        [0x01, 1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D]
    );
    assert_eq!(Envelope::decode(&[0; 8]), Err(EnvelopeError::Truncated));
    assert_eq!(
        Envelope::decode(&[0x7F; 9]),
        Err(EnvelopeError::UnknownKind(0x7F))
    );
}

fn chunk(sequence: u32) -> Envelope {
    Envelope {
        kind: EnvelopeKind::Chunk,
        stream: 1,
        sequence,
    }
}

#[test]
fn tracker_delivers_in_order_and_reports_duplicates_and_gaps() {
    let mut tracker = StreamTracker::new();
    assert_eq!(tracker.arrive(&chunk(0)), Arrival::Deliver);
    assert_eq!(tracker.arrive(&chunk(0)), Arrival::Duplicate);
    assert_eq!(tracker.arrive(&chunk(3)), Arrival::Gap { expected: 1 });
    assert_eq!(tracker.arrive(&chunk(1)), Arrival::Deliver);
    let last = Envelope {
        kind: EnvelopeKind::Last,
        stream: 1,
        sequence: 2,
    };
    assert_eq!(tracker.arrive(&last), Arrival::Deliver);
    assert!(tracker.is_ended());
    assert_eq!(tracker.arrive(&chunk(3)), Arrival::AfterEnd);
}

#[test]
fn replay_window_keeps_the_newest_within_its_storage() {
    let mut storage = [0u8; 64];
    let mut window = ReplayWindow::new(&mut storage);
    // Each entry takes 4 + 9 + 3 = 16 bytes: four fit.
    for n in 0..6u8 {
        window.record(EnvelopeKind::Chunk, 7, &[n; 3]);
    }
    assert_eq!(window.oldest_sequence(), 2);
    assert_eq!(window.next_sequence(), 6);
    assert!(window.replay_from(1).is_none(), "sequence 1 is gone");
    let replayed: Vec<_> = window
        .replay_from(3)
        .unwrap()
        .map(|m| Envelope::decode(m).unwrap())
        .collect();
    assert_eq!(
        replayed.iter().map(|(e, _)| e.sequence).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    assert_eq!(replayed[0].1, &[3, 3, 3]);
    assert_eq!(
        window.replay_from(6).unwrap().count(),
        0,
        "resuming at the head replays nothing"
    );
    assert!(window.replay_from(7).is_none(), "a sequence never sent");
}

#[test]
fn an_envelope_larger_than_the_window_is_not_kept() {
    let mut storage = [0u8; 32];
    let mut window = ReplayWindow::new(&mut storage);
    window.record(EnvelopeKind::Chunk, 1, b"small");
    window.record(EnvelopeKind::Chunk, 1, &[0; 100]);
    assert!(window.replay_from(0).is_none());
    assert!(window.replay_from(1).is_none());
    window.record(EnvelopeKind::Last, 1, b"");
    assert_eq!(window.replay_from(2).unwrap().count(), 1);
}

/// A connection that drops everything after `drop_after` envelopes, duplicating one on the way.
fn deliver(
    tracker: &mut StreamTracker,
    messages: &[Vec<u8>],
    drop_after: usize,
    duplicate: usize,
    out: &mut Vec<u8>,
) -> Option<u32> {
    let mut sent: Vec<&Vec<u8>> = messages.iter().take(drop_after).collect();
    if let Some(copy) = sent.get(duplicate).copied() {
        sent.insert(duplicate, copy);
    }
    for message in sent {
        let (envelope, payload) = Envelope::decode(message).unwrap();
        match tracker.arrive(&envelope) {
            Arrival::Deliver => out.extend_from_slice(payload),
            Arrival::Duplicate | Arrival::AfterEnd => {}
            Arrival::Gap { expected } => return Some(expected),
        }
    }
    None
}

proptest! {
    #[test]
    fn resume_after_reconnects_loses_and_repeats_nothing(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..8), 1..40),
        cuts in proptest::collection::vec((0usize..40, 0usize..40), 0..4),
    ) {
        let mut storage = vec![0u8; 40 * (4 + ENVELOPE_HEADER_LEN + 8)];
        let mut window = ReplayWindow::new(&mut storage);
        let mut messages = Vec::new();
        for (n, payload) in chunks.iter().enumerate() {
            let kind = if n + 1 == chunks.len() { EnvelopeKind::Last } else { EnvelopeKind::Chunk };
            let envelope = window.record(kind, 9, payload);
            messages.push([&envelope.header()[..], payload].concat());
        }
        let mut tracker = StreamTracker::new();
        let mut received = Vec::new();
        let mut from = 0u32;
        for (drop_after, duplicate) in cuts.into_iter().chain([(usize::MAX, usize::MAX)]) {
            // Each connection replays from where the receiver says it stopped.
            let replay: Vec<Vec<u8>> = window.replay_from(from).unwrap().map(<[u8]>::to_vec).collect();
            prop_assert_eq!(deliver(&mut tracker, &replay, drop_after, duplicate, &mut received), None);
            from = tracker.next_sequence();
        }
        prop_assert!(tracker.is_ended());
        prop_assert_eq!(received, chunks.concat());
    }
}
