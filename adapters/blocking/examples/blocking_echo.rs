//! Echoes every text and binary message whole, one thread per connection.
//!
//! `cargo run --release -p rill-blocking --example blocking_echo -- --addr 127.0.0.1:9001`
//!
//! `--max-message BYTES` (default 32 MiB) bounds the messages reassembled; the Autobahn suite sends up
//! to 16 MiB.
//!
//! SIGTERM or Ctrl-C drains: the listener stops, each connection gets close 1001 after the echoes already
//! sent (within 100 ms: a blocked read wakes that often to look), and the process exits with status 0.

use rill_blocking::{Admission, Config, Drain, Error, Listener, Message, MessageKind};
use std::time::Duration;

fn flag(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn main() -> std::io::Result<()> {
    let addr = flag("--addr", "127.0.0.1:9001");
    let max_message: usize = flag("--max-message", "33554432")
        .parse()
        .map_err(std::io::Error::other)?;
    let config = Config {
        max_message,
        ..Config::default()
    };
    let drain = Drain::new();
    let listener = Listener::bind(&addr)?.admit(Admission::new().drain(&drain))?;
    println!("blocking_echo listening on ws://{}", listener.local_addr()?);
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])?;
    let shutdown = {
        let drain = drain.clone();
        std::thread::spawn(move || {
            signals.forever().next();
            eprintln!("{}", drain.shutdown_blocking(Duration::from_secs(10)));
        })
    };
    while let Some(incoming) = listener.next()? {
        std::thread::spawn(move || match incoming.accept(config) {
            Ok(mut ws) => match echo(&mut ws) {
                Ok(()) | Err(Error::Closed) => {}
                Err(error) => eprintln!("connection ended: {error}"),
            },
            Err(error) => eprintln!("handshake failed: {error}"),
        });
    }
    // Exit once the drain is over; threads still open end with the process.
    let _ = shutdown.join();
    Ok(())
}

/// Echoes until the connection ends: the peer's close frame is answered inside `recv`, and the next
/// `recv` lingers until the peer ends TCP (then `Error::Closed`).
fn echo(ws: &mut rill_blocking::WebSocket<std::net::TcpStream>) -> Result<(), Error> {
    let mut copy = Vec::new();
    loop {
        // The message is lent from the connection's buffers: copy it to send it back.
        let (kind, bytes) = match ws.recv()? {
            Message::Text(text) => (MessageKind::Text, text.as_bytes()),
            Message::Binary(bytes) => (MessageKind::Binary, bytes),
            // The peer's close, or our 1001's answer in a drain: the next `recv` waits for TCP's end.
            Message::Close(..) => continue,
        };
        copy.clear();
        copy.extend_from_slice(bytes);
        ws.send(kind, &copy)?;
    }
}
