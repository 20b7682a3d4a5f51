//! Chunked emission rules: one data message at a time, control frames between fragments, nothing after close.

mod common;
use common::{drive, Item};
use rill_ws::codec::ControlFrame;
use rill_ws::{CloseCode, Limits, MessageKind, Receiver, Role, SendError, Sender};

#[test]
fn a_second_message_cannot_start_before_the_first_finishes() {
    let mut tx = Sender::server();
    tx.begin(MessageKind::Text).unwrap();
    assert_eq!(
        tx.begin(MessageKind::Binary),
        Err(SendError::MessageInProgress)
    );
    assert_eq!(
        tx.message(MessageKind::Binary, 1),
        Err(SendError::MessageInProgress)
    );
    tx.chunk(0, true).unwrap();
    assert!(tx.message(MessageKind::Binary, 1).is_ok());
}

#[test]
fn chunks_need_a_begun_message() {
    let mut tx = Sender::server();
    assert_eq!(tx.chunk(1, true), Err(SendError::NoMessageInProgress));
}

#[test]
fn fragments_use_the_data_opcode_once_then_continuation() {
    let mut tx = Sender::server();
    tx.begin(MessageKind::Binary).unwrap();
    assert_eq!(tx.chunk(1, false).unwrap().as_bytes(), &[0x02, 0x01]);
    assert_eq!(tx.chunk(1, false).unwrap().as_bytes(), &[0x00, 0x01]);
    assert_eq!(tx.chunk(1, true).unwrap().as_bytes(), &[0x80, 0x01]);
}

#[test]
fn control_frames_interleave_and_close_ends_sending() {
    let mut tx = Sender::server();
    tx.begin(MessageKind::Text).unwrap();
    assert!(tx.control(&ControlFrame::ping(b"p").unwrap()).is_ok());
    tx.control(&ControlFrame::close(Some(CloseCode::NORMAL), "done").unwrap())
        .unwrap();
    assert!(tx.is_closed());
    assert_eq!(tx.chunk(1, true), Err(SendError::Closed));
    assert_eq!(tx.message(MessageKind::Text, 1), Err(SendError::Closed));
    assert_eq!(
        tx.control(&ControlFrame::pong(b"").unwrap()),
        Err(SendError::Closed)
    );
}

#[test]
fn control_payloads_are_checked() {
    assert_eq!(
        ControlFrame::ping(&[0; 126]),
        Err(SendError::InvalidControl)
    );
    assert_eq!(
        ControlFrame::close(Some(CloseCode(1005)), ""),
        Err(SendError::InvalidControl)
    );
    assert_eq!(
        ControlFrame::close(None, "reason without code"),
        Err(SendError::InvalidControl)
    );
    assert_eq!(
        ControlFrame::close(Some(CloseCode::NORMAL), &"x".repeat(124)),
        Err(SendError::InvalidControl)
    );
    assert!(ControlFrame::close(Some(CloseCode::NORMAL), &"x".repeat(123)).is_ok());
}

#[test]
fn client_frames_are_masked_with_fresh_keys_and_decode_on_a_server() {
    let mut tx = Sender::client([42; 32]);
    let mut wire = vec![0u8; 64];
    let a = tx
        .message(MessageKind::Text, 5)
        .unwrap()
        .encode(b"hello", &mut wire)
        .unwrap();
    let b = tx
        .message(MessageKind::Text, 5)
        .unwrap()
        .encode(b"hello", &mut wire[a..])
        .unwrap();
    assert_ne!(
        wire[2..6],
        wire[a + 2..a + 6],
        "each frame gets a new masking key"
    );
    assert_ne!(&wire[6..11], b"hello", "the payload is masked");
    let items = drive(
        &mut Receiver::new(Role::Server, Limits::default()),
        &wire[..a + b],
        &[],
    );
    assert_eq!(
        items,
        [
            Item::Message(MessageKind::Text, b"hello".to_vec()),
            Item::Message(MessageKind::Text, b"hello".to_vec())
        ]
    );
}

#[test]
fn payload_masker_masks_in_pieces() {
    let mut tx = Sender::client([7; 32]);
    let head = tx.message(MessageKind::Binary, 10).unwrap();
    let mut whole = [0u8; 32];
    let len = head.encode(b"0123456789", &mut whole).unwrap();
    let mut pieces = *b"0123456789";
    let mut masker = head.payload_masker();
    for piece in pieces.chunks_mut(3) {
        masker.apply(piece);
    }
    assert_eq!(&whole[head.as_bytes().len()..len], &pieces);
}

#[test]
fn encode_reports_the_space_it_needs() {
    let head = Sender::server().message(MessageKind::Binary, 10).unwrap();
    assert_eq!(
        head.encode(&[0; 10], &mut [0; 5]),
        Err(SendError::BufferTooSmall { needed: 12 })
    );
}
