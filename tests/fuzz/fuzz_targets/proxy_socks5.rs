//! The SOCKS5 exchange (`rill_ws::proxy::Tunnel::socks5`) against any bytes from a proxy. The first byte
//! chooses the client: bit 0 with credentials, bit 1 an IPv4 target, bit 2 an IPv6 one (else a name).
//! The rest is the proxy's side, handed over one byte more at a time the way a socket may deliver it:
//! every answer either moves the exchange on, asks for more, or fails, and the client only writes when
//! the exchange expects it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill_ws::proxy::{Credentials, Step, Tunnel};

fuzz_target!(|data: &[u8]| {
    let Some((&control, answer)) = data.split_first() else {
        return;
    };
    let credentials = (control & 1 == 1).then_some(Credentials {
        user: "user",
        password: "password",
    });
    let host = match control & 6 {
        2 => "192.0.2.1",
        4 => "2001:db8::1",
        _ => "example.com",
    };
    let mut tunnel = Tunnel::socks5(host, 443, credentials).expect("a valid target");
    let mut out = [0u8; 512];
    let mut at = 0;
    let mut round_trips = 0;
    loop {
        let len = tunnel.transmit(&mut out).expect("512 bytes hold it");
        assert!(len > 0 && len <= tunnel.max_transmit_len());
        round_trips += 1;
        assert!(round_trips <= 3, "greeting, authentication, request");
        let mut end = at;
        let step = loop {
            match tunnel.receive(&answer[at..end]) {
                Ok(Step::Partial) if end < answer.len() => end += 1,
                other => break other,
            }
        };
        match step {
            Ok(Step::Next) => {
                at = end;
                continue;
            }
            Ok(Step::Open) => assert!(tunnel.is_open()),
            Ok(Step::Partial) | Err(_) => assert!(!tunnel.is_open()),
        }
        assert_eq!(tunnel.transmit(&mut out), Ok(0), "nothing to write now");
        return;
    }
});
