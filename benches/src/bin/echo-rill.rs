//! Echo / token server on rill-tokio: pieces are echoed as they arrive (a message of any size streams
//! through the fixed buffers) and replies to input that arrived together leave in one write.

use rill_benches::server::{self, Mode};
use rill_benches::BoxError;
use rill_tokio::{accept, CloseCode, Config, Error, Piece};
use tokio::net::TcpStream;

fn main() {
    server::main("rill", serve);
}

async fn serve(stream: TcpStream, mode: Mode) -> Result<(), BoxError> {
    let mut ws = accept(stream, Config::default()).await?;
    match mode {
        Mode::Echo => {
            let (reader, writer) = ws.halves();
            loop {
                match reader.recv_piece().await {
                    Ok(Piece::Data(piece)) => {
                        writer.feed_piece(&piece).await?;
                        if piece.last {
                            rill_benches::alloc_count::note_echo();
                        }
                    }
                    Ok(Piece::Close(..)) | Err(Error::Closed) => return Ok(()),
                    Err(error) => return Err(error.into()),
                }
                if !reader.input_ready() {
                    writer.flush().await?;
                }
            }
        }
        Mode::Tokens(plan) => {
            let mut ticker = plan.ticker();
            while let Some(token) = ticker.next().await {
                ws.send_text(&token).await?;
            }
            ws.close(CloseCode::NORMAL, "").await?;
            Ok(())
        }
    }
}
