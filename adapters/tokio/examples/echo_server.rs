//! Echoes every text and binary message, streaming each piece back as it arrives (messages of any size).
//!
//! `cargo run --release -p rill-tokio --example echo_server -- --addr 127.0.0.1:9001`

mod common;

use rill_tokio::{accept, Config, Listener};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = common::flag("--addr", "127.0.0.1:9001");
    let listener = Listener::bind(&addr).await?;
    println!("echo_server listening on ws://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let Ok(mut ws) = accept(stream, Config::default()).await else {
                return;
            };
            if let Err(error) = common::echo(&mut ws).await {
                eprintln!("connection ended: {error}");
            }
        });
    }
}
