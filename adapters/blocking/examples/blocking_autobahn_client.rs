//! The Autobahn|Testsuite client loop: ask the fuzzing server for its case count, run each case by
//! echoing every message, then ask it to write its reports.
//!
//! `cargo run --release -p rill-blocking --example blocking_autobahn_client -- --url ws://127.0.0.1:9001 --agent rill-blocking`

use rill_blocking::{connect_with, ClientOptions, Config, Error, Message, MessageKind, WebSocket};
use std::net::TcpStream;

fn flag(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn main() -> Result<(), Error> {
    let url = flag("--url", "ws://127.0.0.1:9001");
    let agent = flag("--agent", "rill-blocking");
    // Section 9 sends messages of up to 16 MiB.
    let config = Config {
        max_message: 32 << 20,
        ..Config::default()
    };
    let open =
        |path: &str| connect_with(&format!("{url}{path}"), &ClientOptions::default(), config);
    let mut ws = open("/getCaseCount")?;
    let count: u32 = match ws.recv()? {
        Message::Text(text) => text
            .trim()
            .parse()
            .map_err(|_| Error::InvalidUrl("case count is not a number"))?,
        _ => return Err(Error::InvalidUrl("expected the case count as text")),
    };
    drop(ws);
    for case in 1..=count {
        // One failed case (refused handshake, protocol error) must not stop the run.
        let result =
            open(&format!("/runCase?case={case}&agent={agent}")).and_then(|mut ws| echo(&mut ws));
        if let Err(error) = result {
            eprintln!("case {case}: {error}");
        }
    }
    // The server closes this one itself once the reports are written (sometimes with a reset, after
    // the reports are out: reported, not fatal).
    let mut ws = open(&format!("/updateReports?agent={agent}"))?;
    if let Err(error) = echo(&mut ws) {
        eprintln!("updateReports: {error}");
    }
    println!("ran {count} cases");
    Ok(())
}

/// Echoes every message until the connection ends; a finished close handshake is success.
fn echo(ws: &mut WebSocket<TcpStream>) -> Result<(), Error> {
    let mut copy = Vec::new();
    loop {
        let (kind, bytes) = match ws.recv() {
            Ok(Message::Text(text)) => (MessageKind::Text, text.as_bytes()),
            Ok(Message::Binary(bytes)) => (MessageKind::Binary, bytes),
            Ok(Message::Close(..)) => continue,
            Err(Error::Closed) => return Ok(()),
            Err(error) => return Err(error),
        };
        copy.clear();
        copy.extend_from_slice(bytes);
        ws.send(kind, &copy)?;
    }
}
