//! The firmware examples' server on the host: same `app` code as the boards, over a TAP device instead of a NIC.
//!
//! It exists so the firmware's network behaviour (accept loops, graceful close, the WebSocket endpoints) is tested
//! in CI against real clients, with no board attached. It owns 10.99.0.2/24 on the TAP; the peer side (10.99.0.1)
//! is the TAP interface itself, inside the test's network namespace.
//!
//! Usage: `rill-host-tap [--tap NAME] [--client ws://IPV4:PORT/PATH]` (or `RILL_TAP=NAME`), default `tap0`.
//! Without `--client` it serves `app::net::listen` on port 80; with it, it runs the board's WebSocket client
//! (`app::client::exchange`) against that server once and exits with 0 on success, 1 on failure.

use embassy_executor::Spawner;
use std::net::SocketAddrV4;

use embassy_net::{IpEndpoint, Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
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
    /// `--client`: the server's address, its `host[:port]` for the Host header, and the path.
    client: Option<(SocketAddrV4, String, String)>,
}

fn usage() -> ! {
    eprintln!("usage: rill-host-tap [--tap NAME] [--client ws://IPV4[:PORT]/PATH]   (or RILL_TAP=NAME; default tap0)");
    std::process::exit(2)
}

fn args() -> Args {
    let mut parsed = Args {
        tap: std::env::var("RILL_TAP").unwrap_or_else(|_| "tap0".into()),
        client: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--tap", Some(name)) => parsed.tap = name,
            ("--client", Some(url)) => {
                parsed.client = Some(parse_ws_url(&url).unwrap_or_else(|| usage()))
            }
            _ => usage(),
        }
    }
    parsed
}

/// `ws://10.99.0.1:9000/path` -> (address, "10.99.0.1:9000", "/path"); IPv4 literals only (no DNS here).
fn parse_ws_url(url: &str) -> Option<(SocketAddrV4, String, String)> {
    let rest = url.strip_prefix("ws://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let address = match authority.parse::<SocketAddrV4>() {
        Ok(a) => a,
        Err(_) => SocketAddrV4::new(authority.parse().ok()?, 80),
    };
    Some((address, authority.to_string(), path.to_string()))
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    log::set_logger(&Stderr).expect("logger set once");
    log::set_max_level(log::LevelFilter::Info);

    let Args { tap, client } = args();
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
    if let Some((address, host, path)) = client {
        let ip = address.ip().octets();
        let remote = IpEndpoint::new(
            Ipv4Address::new(ip[0], ip[1], ip[2], ip[3]).into(),
            address.port(),
        );
        // Masking keys must not be predictable to the network; the time and pid are enough for a test client.
        let seed = seed
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        match app::client::exchange(stack, remote, &host, &path, seed).await {
            Ok(summary) => {
                println!(
                    "client: OK, {} bytes echoed, ping rtt {} us",
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
