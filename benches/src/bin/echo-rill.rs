//! Echo / token server on rill-tokio: every message is received whole with `recv` and sent back whole, like
//! the other libraries' echo servers; replies to input that arrived together (already in the read buffer)
//! leave in one write.
//! (`echo-rill-relay` relays pieces as they arrive instead.)

use rill_benches::server::{self, Mode};
use rill_benches::BoxError;
use rill_tokio::{accept, CloseCode, Config, Error, Message, MessageKind};
use tokio::net::TcpStream;

fn main() {
    server::main("rill", serve);
}

async fn serve(stream: TcpStream, mode: Mode) -> Result<(), BoxError> {
    // Messages up to 64 MiB, like the other servers' defaults. `ECHO_RILL_DEADLINES=off` turns the idle,
    // keepalive and write timeouts off, to measure what they cost (docs/performance.md).
    let mut config = Config {
        max_message: 64 << 20,
        ..Config::default()
    };
    if std::env::var_os("ECHO_RILL_DEADLINES").is_some_and(|v| v == "off") {
        (config.idle_timeout, config.keepalive, config.write_timeout) = (None, None, None);
    }
    // `ECHO_RILL_BATCH=on` adds a batch policy (16 KiB or 1 ms), to measure the reader's batching path.
    if std::env::var_os("ECHO_RILL_BATCH").is_some_and(|v| v == "on") {
        config.batch = Some(rill_tokio::Batch {
            max_bytes: 16 << 10,
            max_delay: std::time::Duration::from_millis(1),
        });
    }
    let mut ws = accept(stream, config).await?;
    match mode {
        Mode::Echo => {
            let (reader, writer) = ws.halves();
            loop {
                match reader.recv().await {
                    Ok(Message::Text(text)) => {
                        writer.feed(MessageKind::Text, text.as_bytes()).await?
                    }
                    Ok(Message::Binary(bytes)) => writer.feed(MessageKind::Binary, bytes).await?,
                    Ok(Message::Close(..)) | Err(Error::Closed) => return Ok(()),
                    Err(error) => return Err(error.into()),
                }
                rill_benches::alloc_count::note_echo();
                if !reader.has_buffered_input() {
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
