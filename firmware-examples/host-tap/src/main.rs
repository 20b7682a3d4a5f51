//! The firmware examples' server on the host: same `app` code as the boards, over a TAP device instead of a NIC.
//!
//! It exists so the firmware's network behaviour (accept loops, graceful close, the WebSocket endpoints) is tested
//! in CI against real clients, with no board attached. It owns 10.99.0.2/24 on the TAP; the peer side (10.99.0.1)
//! is the TAP interface itself, inside the test's network namespace.
//!
//! Usage: `rill-host-tap [--tap NAME] [--client ws://IPV4:PORT/PATH | --client-tls wss://IPV4:PORT/PATH --ca FILE]`
//! (or `RILL_TAP=NAME`), default `tap0`. Without a client flag it serves `app::net::listen` on port 80; with
//! `--client` it runs the board's WebSocket client (`app::client::exchange`) against that server once, with
//! `--client-tls` the same client over TLS 1.3 (`app::tls::exchange_tls`), trusting only the CA certificate in
//! FILE (PEM or DER), and exits with 0 on success, 1 on failure.

use embassy_executor::Spawner;

use embassy_net::{Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_tuntap::TunTapDevice;
use static_cell::StaticCell;

/// Sockets the stack must hold: one per listener task.
const SOCKETS: usize = app::net::LISTENERS;

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, TunTapDevice>) -> ! {
    runner.run().await
}

#[embassy_executor::task(pool_size = app::net::LISTENERS)]
async fn listener(stack: Stack<'static>, id: usize) -> ! {
    app::net::listen(stack, id).await
}

/// Minimal stderr logger: one line per record is all the test script's log needs.
struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        eprintln!("{:5} {}", record.level(), record.args());
    }
    fn flush(&self) {}
}

struct Args {
    tap: String,
    /// `--client` or `--client-tls`: the server's URL (`ws://` or `wss://`, IPv4 host).
    client: Option<String>,
    /// `--ca`: the CA certificate `--client-tls` trusts, DER.
    ca: Option<Vec<u8>>,
}

fn usage() -> ! {
    eprintln!(
        "usage: rill-host-tap [--tap NAME] [--client ws://IPV4[:PORT]/PATH | \
         --client-tls wss://IPV4[:PORT]/PATH --ca PEM_OR_DER]   (or RILL_TAP=NAME; default tap0)"
    );
    std::process::exit(2)
}

fn args() -> Args {
    let mut parsed = Args {
        tap: std::env::var("RILL_TAP").unwrap_or_else(|_| "tap0".into()),
        client: None,
        ca: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--tap", Some(name)) => parsed.tap = name,
            ("--client", Some(url)) if url.starts_with("ws://") => parsed.client = Some(url),
            ("--client-tls", Some(url)) if url.starts_with("wss://") => parsed.client = Some(url),
            ("--ca", Some(path)) => parsed.ca = Some(read_certificate(&path)),
            _ => usage(),
        }
    }
    match &parsed.client {
        Some(url) if app::client::parse_url(url).is_none() => usage(),
        Some(url) if url.starts_with("wss://") && parsed.ca.is_none() => usage(),
        _ => parsed,
    }
}

/// The DER bytes of the first certificate in `path`: a PEM file (its first `CERTIFICATE` block) or DER as is.
fn read_certificate(path: &str) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("cannot read {path}: {e}");
        std::process::exit(2)
    });
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return bytes; // binary: DER
    };
    let body = text
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END CERTIFICATE-----").next());
    let der = body.and_then(|body| {
        let b64: String = body.split_whitespace().collect();
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).ok()
    });
    der.unwrap_or_else(|| {
        eprintln!("{path}: no PEM CERTIFICATE block");
        std::process::exit(2)
    })
}

/// The host's clock for the certificates' validity check (boards without a trusted time use `NoClock`).
struct SystemClock;

impl app::tls::TlsClock for SystemClock {
    fn now() -> Option<u64> {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
    }
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    log::set_logger(&Stderr).expect("logger set once");
    log::set_max_level(log::LevelFilter::Info);

    let Args { tap, client, ca } = args();
    let device = match TunTapDevice::new(&tap) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot open TAP device {tap}: {e} (it must exist, and be opened from its network namespace)");
            std::process::exit(1)
        }
    };
    let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(Ipv4Address::new(10, 99, 0, 2), 24),
        gateway: Some(Ipv4Address::new(10, 99, 0, 1)),
        dns_servers: Default::default(),
    });
    // Seeds TCP initial sequence numbers; the process id is enough to differ between runs of a test.
    let seed = u64::from(std::process::id());

    static RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
    let (stack, runner) =
        embassy_net::new(device, config, RESOURCES.init(StackResources::new()), seed);
    spawner.spawn(net_task(runner).unwrap());
    if let Some(url) = client {
        let url = app::client::parse_url(&url).expect("checked in args()");
        let result = if url.tls {
            // Record buffers lent to embedded-tls: on the heap here, in a task's static storage on a board.
            let mut read = vec![0u8; app::tls::READ_RECORD];
            let mut write = vec![0u8; app::tls::WRITE_RECORD];
            let records = app::tls::Records {
                read: &mut read,
                write: &mut write,
            };
            let ca = ca.expect("checked in args()");
            app::tls::exchange_tls::<SystemClock>(stack, &url, &ca, rand_core::OsRng, records).await
        } else {
            // Masking keys must be unpredictable (RFC 6455 section 5.3): their seed comes from the OS.
            let mut mask_seed = [0u8; 32];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut mask_seed);
            app::client::exchange(stack, url.remote, url.authority, url.path, seed, mask_seed).await
        };
        match result {
            Ok(summary) => {
                println!(
                    "client: OK{}, {} bytes echoed, ping rtt {} us",
                    if url.tls { " over TLS 1.3" } else { "" },
                    summary.echoed,
                    summary.ping_rtt.as_micros()
                );
                std::process::exit(0)
            }
            Err(e) => {
                eprintln!("client: FAILED: {e:?}");
                std::process::exit(1)
            }
        }
    }
    for id in 0..app::net::LISTENERS {
        spawner.spawn(listener(stack, id).unwrap());
    }
    log::info!("serving http://10.99.0.2:{}/ on {tap}", app::HTTP_PORT);
}
