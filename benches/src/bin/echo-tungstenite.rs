//! Echo / token server on tokio-tungstenite.

use rill_benches::server::{self, Mode};
use rill_benches::{sink_echo, BoxError};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

fn main() {
    server::main("tungstenite", serve);
}

async fn serve(stream: TcpStream, mode: Mode) -> Result<(), BoxError> {
    let ws = tokio_tungstenite::accept_async(stream).await?;
    match mode {
        Mode::Echo => sink_echo::echo(ws, |m: &Message| m.is_text() || m.is_binary()).await?,
        Mode::Tokens(plan) => sink_echo::send_tokens(ws, plan, Message::text).await?,
    }
    Ok(())
}
