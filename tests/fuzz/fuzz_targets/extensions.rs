//! permessage-deflate negotiation (RFC 7692 section 7.1) on any `Sec-WebSocket-Extensions` values: the
//! server's `negotiate` and answer, the client's `parse_agreement`, and the round trip of an offer.
//!
//! Input layout: bytes 0 and 1 are the server's configuration, bytes 2 and 3 the client's (see `config`;
//! window bits range over 0..=17, so values outside 8..=15 are tried too); the rest are header values, one
//! per line (`\n`), at most four (as the parsers keep them), invalid UTF-8 replaced.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill_ws::deflate::{negotiate, parse_agreement, write_offer, DeflateConfig, DeflateParams};

/// A client that offered `permessage-deflate; client_max_window_bits` with no limits: every valid answer
/// is an agreement, read exactly as written.
fn open() -> DeflateConfig {
    DeflateConfig {
        receive_window_bits: 15,
        send_window_bits: Some(15),
        receive_no_context_takeover: false,
        send_no_context_takeover: false,
        ..DeflateConfig::default()
    }
}

/// Byte `a`: receive window bits (low 5 bits, modulo 18) and the two context-takeover flags (bits 6, 7);
/// byte `b`: send window bits (low 5 bits, modulo 18), or none when bit 7 is set.
fn config(a: u8, b: u8) -> DeflateConfig {
    DeflateConfig {
        receive_window_bits: (a & 0x1f) % 18,
        send_window_bits: (b & 0x80 == 0).then_some((b & 0x1f) % 18),
        receive_no_context_takeover: a & 0x40 != 0,
        send_no_context_takeover: a & 0x80 != 0,
        ..DeflateConfig::default()
    }
}

fn bounded(bits: u8) -> u8 {
    bits.clamp(8, 15)
}

fn answer(values: &[&str], params: &DeflateParams) -> String {
    let mut out = [0u8; 256];
    let len = params
        .write_response(values, &mut out)
        .expect("the answer to an agreed offer is refused");
    String::from_utf8(out[..len].to_vec()).expect("the answer is ASCII")
}

fuzz_target!(|data: &[u8]| {
    let [s0, s1, c0, c1, rest @ ..] = data else {
        return;
    };
    let (server, client) = (config(*s0, *s1), config(*c0, *c1));
    let text = String::from_utf8_lossy(rest);
    let values: Vec<&str> = text.split('\n').take(4).collect();

    // Server: whatever it agrees lies within its configuration and is answered so that a client reads
    // the same agreement back.
    if let Some(agreed) = negotiate(&values, &server) {
        let window = 8..=15;
        assert!(window.contains(&agreed.server_max_window_bits));
        assert!(window.contains(&agreed.client_max_window_bits));
        assert!(agreed.client_max_window_bits <= bounded(server.receive_window_bits));
        if let Some(send) = server.send_window_bits {
            assert!(agreed.server_max_window_bits <= bounded(send));
        }
        assert!(agreed.server_no_context_takeover >= server.send_no_context_takeover);
        assert!(agreed.client_no_context_takeover >= server.receive_no_context_takeover);
        let answered = answer(&values, &agreed);
        assert_eq!(
            parse_agreement(&[&answered], &open()),
            Ok(Some(agreed)),
            "{values:?} -> {answered}"
        );
    }

    // Client: any answer is refused or read as an agreement within what was offered.
    if let Ok(Some(agreed)) = parse_agreement(&values, &client) {
        assert!(agreed.server_max_window_bits >= 8);
        assert!(agreed.server_max_window_bits <= bounded(client.receive_window_bits));
        assert!(agreed.client_max_window_bits >= 8);
        assert!(agreed.client_max_window_bits <= client.send_window_bits.map_or(15, bounded));
        assert!(agreed.server_no_context_takeover >= client.receive_no_context_takeover);
        assert!(agreed.client_no_context_takeover >= client.send_no_context_takeover);
    }

    // Round trip: the client's offer is always acceptable (it has client_max_window_bits), and the
    // answer reads back as the same agreement, also after the fuzzed offers are declined.
    let mut out = [0u8; 256];
    let len = write_offer(&client, &mut out).expect("an offer fits 256 bytes");
    let offer = std::str::from_utf8(&out[..len]).expect("the offer is ASCII");
    let agreed = negotiate(&[offer], &server).expect("our own offer is declined");
    let answered = answer(&[offer], &agreed);
    // The client compresses with its own window when it is smaller than the one agreed.
    let client_side = DeflateParams {
        client_max_window_bits: agreed
            .client_max_window_bits
            .min(client.send_window_bits.map_or(15, bounded)),
        ..agreed
    };
    assert_eq!(parse_agreement(&[&answered], &client), Ok(Some(client_side)));
    let mut with_ours = values.clone();
    with_ours.truncate(3);
    with_ours.push(offer);
    if let Some(first) = negotiate(&with_ours, &server) {
        let answered = answer(&with_ours, &first);
        assert_eq!(parse_agreement(&[&answered], &open()), Ok(Some(first)));
    }
});
