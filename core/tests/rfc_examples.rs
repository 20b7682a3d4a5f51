//! The examples of RFC 6455 section 5.7, byte for byte, decoded and encoded.

mod common;
use common::{drive, Item};
use rill_ws::frame::{apply_mask, FrameHeader, OpCode};
use rill_ws::{Limits, MessageKind, Receiver, Role, Sender};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

#[test]
fn single_frame_unmasked_text() {
    let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let mut rx = Receiver::new(Role::Client, Limits::default());
    assert_eq!(
        drive(&mut rx, &wire, &[]),
        [Item::Message(MessageKind::Text, b"Hello".to_vec())]
    );
    let mut out = [0u8; 16];
    let len = Sender::server()
        .message(MessageKind::Text, 5)
        .unwrap()
        .encode(b"Hello", &mut out)
        .unwrap();
    assert_eq!(&out[..len], &wire);
}

#[test]
fn single_frame_masked_text() {
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let mut rx = Receiver::new(Role::Server, Limits::default());
    assert_eq!(
        drive(&mut rx, &wire, &[1]),
        [Item::Message(MessageKind::Text, b"Hello".to_vec())]
    );
    let header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode: OpCode::Text,
        mask: Some(KEY),
        payload_len: 5,
    };
    let mut out = [0u8; 11];
    let len = header.emit(&mut out).unwrap();
    out[len..].copy_from_slice(b"Hello");
    apply_mask(&mut out[len..], KEY, 0);
    assert_eq!(out, wire);
}

#[test]
fn fragmented_unmasked_text() {
    let wire = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    let mut rx = Receiver::new(Role::Client, Limits::default());
    assert_eq!(
        drive(&mut rx, &wire, &[2]),
        [Item::Message(MessageKind::Text, b"Hello".to_vec())]
    );
    let mut tx = Sender::server();
    tx.begin(MessageKind::Text).unwrap();
    let mut out = [0u8; 9];
    let first = tx
        .chunk(3, false)
        .unwrap()
        .encode(b"Hel", &mut out)
        .unwrap();
    let second = tx
        .chunk(2, true)
        .unwrap()
        .encode(b"lo", &mut out[first..])
        .unwrap();
    assert_eq!(first + second, 9);
    assert_eq!(out, wire);
}

#[test]
fn unmasked_ping_and_masked_pong() {
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let mut rx = Receiver::new(Role::Client, Limits::default());
    assert_eq!(drive(&mut rx, &ping, &[]), [Item::Ping(b"Hello".to_vec())]);
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let mut rx = Receiver::new(Role::Server, Limits::default());
    assert_eq!(drive(&mut rx, &pong, &[3]), [Item::Pong(b"Hello".to_vec())]);
}

#[test]
fn binary_256_bytes_and_64_kib_length_encodings() {
    for (len, prefix) in [
        (256usize, vec![0x82, 0x7E, 0x01, 0x00]),
        (65536, vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]),
    ] {
        let payload = vec![0xA5; len];
        let mut wire = prefix.clone();
        wire.extend_from_slice(&payload);
        let mut rx = Receiver::new(Role::Client, Limits::default());
        assert_eq!(
            drive(&mut rx, &wire, &[1000]),
            [Item::Message(MessageKind::Binary, payload.clone())]
        );
        let head = Sender::server()
            .message(MessageKind::Binary, len as u64)
            .unwrap();
        assert_eq!(head.as_bytes(), &prefix[..]);
    }
}
