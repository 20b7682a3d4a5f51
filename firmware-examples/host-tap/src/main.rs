//! The firmware examples' server on the host: same `app` code as the boards, over a TAP device instead of a NIC.
//!
//! It exists so the firmware's network behaviour (accept loops, graceful close, later the WebSocket endpoints) is
//! tested in CI against real clients, with no board attached. It owns 10.99.0.2/24 on the TAP; the peer side
//! (10.99.0.1) is the TAP interface itself, inside the test's network namespace.
//!
//! Usage: `rill-host-tap [--tap NAME]` (or `RILL_TAP=NAME`), default `tap0`.

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

fn tap_name() -> String {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (Some("--tap"), Some(name)) => name,
        (None, _) => std::env::var("RILL_TAP").unwrap_or_else(|_| "tap0".into()),
        _ => {
            eprintln!("usage: rill-host-tap [--tap NAME]   (or RILL_TAP=NAME; default tap0)");
            std::process::exit(2)
        }
    }
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    log::set_logger(&Stderr).expect("logger set once");
    log::set_max_level(log::LevelFilter::Info);

    let tap = tap_name();
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
    for id in 0..app::net::LISTENERS {
        spawner.spawn(listener(stack, id).unwrap());
    }
    log::info!("serving http://10.99.0.2:{}/ on {tap}", app::HTTP_PORT);
}
