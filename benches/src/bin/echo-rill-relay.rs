//! Echo server on rill-tokio that relays pieces as they arrive (a message of any size streams through the
//! fixed buffers, never reassembled); replies to input that arrived together leave in one write. A row of
//! its own in the benchmarks: it does less work than a whole-message echo.

use rill_benches::server::{self, Mode};
use rill_benches::BoxError;
use rill_tokio::{accept, Config, Error};
use tokio::net::TcpStream;

fn main() {
    server::main("rill-relay", serve);
}

async fn serve(stream: TcpStream, mode: Mode) -> Result<(), BoxError> {
    let Mode::Echo = mode else {
        return Err("rill-relay serves the echo mode only".into());
    };
    let mut ws = accept(stream, Config::default()).await?;
    let (reader, writer) = ws.halves();
    loop {
        match reader.recv_piece().await {
            Ok(Some(piece)) => {
                writer.feed_piece(&piece).await?;
                if piece.last {
                    rill_benches::alloc_count::note_echo();
                }
            }
            Ok(None) | Err(Error::Closed) => return Ok(()),
            Err(error) => return Err(error.into()),
        }
        if !reader.has_buffered_input() {
            writer.flush().await?;
        }
    }
}
