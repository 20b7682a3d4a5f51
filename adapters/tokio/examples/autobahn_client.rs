//! The Autobahn|Testsuite client loop: ask the fuzzing server for its case count, run each case by echoing
//! every message whole (reassembled by `recv`, up to 64 MiB as the suite's largest messages need), then
//! ask it to write its reports. (`echo_server` relays pieces instead, so both receive paths are tested.)
//!
//! `cargo run --release -p rill-tokio --example autobahn_client -- --url ws://127.0.0.1:9001 --agent rill`
//!
//! permessage-deflate (RFC 7692) is offered by default, with `Config::default()`'s settings except that every
//! message is compressed, whatever its size (the suite's sections 12 and 13 test it); `--no-deflate` offers
//! no extension.

mod common;

use rill_tokio::{connect, Config, Error, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let url = common::flag("--url", "ws://127.0.0.1:9001");
    let agent = common::flag("--agent", "rill");
    let base = Config {
        deflate: if std::env::args().any(|arg| arg == "--no-deflate") {
            None
        } else {
            Config::default()
                .deflate
                .map(|deflate| rill_ws::deflate::DeflateConfig {
                    compress_threshold: 0,
                    ..deflate
                })
        },
        ..Config::default()
    };
    let mut ws = connect(&format!("{url}/getCaseCount"), base).await?;
    let count: u32 = match ws.recv().await? {
        Message::Text(text) => text
            .trim()
            .parse()
            .map_err(|_| Error::InvalidUrl("case count is not a number"))?,
        _ => return Err(Error::InvalidUrl("expected the case count as text")),
    };
    drop(ws);
    let config = Config {
        max_message: 64 << 20,
        ..base
    };
    for case in 1..=count {
        let mut ws = connect(&format!("{url}/runCase?case={case}&agent={agent}"), config).await?;
        if let Err(error) = common::echo_messages(&mut ws).await {
            eprintln!("case {case}: {error}");
        }
    }
    // The server closes this one itself once the reports are written.
    let mut ws = connect(&format!("{url}/updateReports?agent={agent}"), base).await?;
    common::echo(&mut ws).await?;
    println!("ran {count} cases");
    Ok(())
}
