//! Echo server on rill-tokio that copies every message it receives and sends it back whole with the
//! connection used whole, `WebSocket::send` (which reads while a send waits), or, with
//! `ECHO_RILL_SEND=writer`, with `Writer::send` through `halves()`: the two rows measure what the unsplit
//! send's reading costs a send that does not wait (docs/performance.md, issue 29). Not a benchmark row
//! against other libraries: `echo-rill` is.

use rill_benches::server::{self, Mode};
use rill_benches::BoxError;
use rill_tokio::{accept, Config, Error, Message, MessageKind};
use tokio::net::TcpStream;

fn main() {
    server::main("rill-send", serve);
}

async fn serve(stream: TcpStream, mode: Mode) -> Result<(), BoxError> {
    let Mode::Echo = mode else {
        return Err("rill-send serves the echo mode only".into());
    };
    let through_writer = std::env::var_os("ECHO_RILL_SEND").is_some_and(|v| v == "writer");
    let mut ws = accept(stream, Config::default()).await?;
    let mut copy = Vec::new();
    loop {
        let (kind, bytes) = match ws.recv().await {
            Ok(Message::Text(text)) => (MessageKind::Text, text.as_bytes()),
            Ok(Message::Binary(bytes)) => (MessageKind::Binary, bytes),
            Ok(Message::Close(..)) | Err(Error::Closed) => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        copy.clear();
        copy.extend_from_slice(bytes);
        match through_writer {
            true => ws.halves().1.send(kind, &copy).await?,
            false => ws.send(kind, &copy).await?,
        }
    }
}
