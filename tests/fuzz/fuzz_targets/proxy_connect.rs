//! The HTTP CONNECT answer parser (`rill_ws::proxy::Tunnel::http_connect`): any bytes from a proxy either
//! open the tunnel (a complete 2xx head and nothing after it), ask for more (short of 4 KiB), or fail;
//! a refusal carries the status and at most 64 bytes of reason.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rill_ws::proxy::{Step, Tunnel, TunnelError};

fn fresh() -> Tunnel<'static> {
    let mut tunnel = Tunnel::http_connect("example.com", 443, None).expect("a valid target");
    let mut out = [0u8; 128];
    assert!(tunnel.transmit(&mut out).expect("128 bytes hold it") > 0);
    tunnel
}

fuzz_target!(|data: &[u8]| {
    let mut tunnel = fresh();
    match tunnel.receive(data) {
        Ok(Step::Open) => {
            assert!(tunnel.is_open());
            assert!(data.ends_with(b"\n\n") || data.ends_with(b"\r\n\r\n") || data.ends_with(b"\n\r\n"));
            // One byte less is not a whole head yet.
            assert_eq!(fresh().receive(&data[..data.len() - 1]), Ok(Step::Partial));
        }
        Ok(Step::Partial) => assert!(data.len() < 4096),
        Ok(Step::Next) => panic!("CONNECT has one round trip"),
        Err(TunnelError::Refused(line)) => {
            assert!(!(200..300).contains(&line.code));
            assert!(line.reason.len() <= 64);
        }
        Err(error) => assert!(matches!(
            error,
            TunnelError::Malformed | TunnelError::TooLarge | TunnelError::UnexpectedBytes
        )),
    }
});
