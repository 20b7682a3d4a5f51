//! Echo / token server on sockudo-ws, set up as in the library's own examples: its server handshake helper, then a
//! `WebSocketStream` (a `Stream + Sink` of messages) over the TCP stream. No permessage-deflate: the crate is built
//! without the feature, and `server_handshake` answers without a `Sec-WebSocket-Extensions` header.

use rill_benches::server::{self, Mode};
use rill_benches::{sink_echo, BoxError};
use sockudo_ws::handshake::server_handshake;
use sockudo_ws::{Config, Message, Role, WebSocketStream};
use tokio::net::TcpStream;

fn main() {
    // The crate's advice: calibrate its clock (quanta, up to 200 ms of spinning) before the runtime starts, not in
    // the first connection. Outside `server::main`, so `scripts/callgrind.sh` does not count it either: its
    // instruction count follows wall time and would not cancel between the N and 2N runs.
    sockudo_ws::init_clock();
    server::main("sockudo-ws", serve);
}

async fn serve(mut stream: TcpStream, mode: Mode) -> Result<(), BoxError> {
    let handshake = server_handshake(&mut stream).await?;
    // Frames that arrived with the upgrade request are replayed through the stream (`accept` does the same).
    let ws = WebSocketStream::from_raw_with_leftover(
        stream,
        Role::Server,
        Config::default(),
        handshake.leftover,
    );
    match mode {
        Mode::Echo => sink_echo::echo(ws, |m: &Message| m.is_text() || m.is_binary()).await?,
        Mode::Tokens(plan) => sink_echo::send_tokens(ws, plan, Message::text).await?,
    }
    Ok(())
}
