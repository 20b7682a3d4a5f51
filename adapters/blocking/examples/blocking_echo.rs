//! Echoes every text and binary message whole, one thread per connection.
//!
//! `cargo run --release -p rill-blocking --example blocking_echo -- --addr 127.0.0.1:9001`
//!
//! `--max-message BYTES` (default 32 MiB) bounds the messages reassembled; the Autobahn suite sends up
//! to 16 MiB.

use rill_blocking::{accept_with, Config, Decision, Error, Message, MessageKind};
use std::net::TcpListener;

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
    let listener = TcpListener::bind(&addr)?;
    println!("blocking_echo listening on ws://{}", listener.local_addr()?);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::spawn(move || {
            // Messages must leave at once, not wait for Nagle's algorithm.
            let _ = stream.set_nodelay(true);
            match accept_with(stream, config, |_| Decision::accept()) {
                Ok(mut ws) => match echo(&mut ws) {
                    Ok(()) | Err(Error::Closed) => {}
                    Err(error) => eprintln!("connection ended: {error}"),
                },
                Err(error) => eprintln!("handshake failed: {error}"),
            }
        });
    }
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
            Message::Close(..) => continue,
        };
        copy.clear();
        copy.extend_from_slice(bytes);
        ws.send(kind, &copy)?;
    }
}
