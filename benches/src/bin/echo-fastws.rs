//! Echo / token server on fastwebsockets, upgraded through hyper as in the library's own echo example.

use fastwebsockets::upgrade::{upgrade, UpgradeFut};
use fastwebsockets::{FragmentCollector, Frame, OpCode, Payload, WebSocketError};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use rill_benches::server::{self, Mode};
use rill_benches::BoxError;
use tokio::net::TcpStream;

const LIBRARY: &str = "fastwebsockets";

fn main() {
    server::main(LIBRARY, serve);
}

async fn serve(stream: TcpStream, mode: Mode) -> Result<(), BoxError> {
    let service = service_fn(move |mut request: Request<Incoming>| async move {
        let (response, websocket) = upgrade(&mut request)?;
        server::spawn_session(LIBRARY, session(websocket, mode));
        Ok::<_, WebSocketError>(response)
    });
    http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await?;
    Ok(())
}

/// One upgraded connection. Auto-pong and auto-close are on by default; `FragmentCollector` reassembles
/// fragmented messages (and validates UTF-8 of text), which a correct echo server must do.
async fn session(websocket: UpgradeFut, mode: Mode) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(websocket.await?);
    match mode {
        Mode::Echo => loop {
            let frame = ws.read_frame().await?;
            match frame.opcode {
                OpCode::Close => return Ok(()),
                OpCode::Text | OpCode::Binary => {
                    ws.write_frame(frame).await?;
                    rill_benches::alloc_count::note_echo();
                }
                _ => {}
            }
        },
        Mode::Tokens(plan) => {
            let mut ticker = plan.ticker();
            while let Some(token) = ticker.next().await {
                ws.write_frame(Frame::text(Payload::Owned(token.into_bytes())))
                    .await?;
            }
            ws.write_frame(Frame::close(1000, b"")).await?;
            // Wait for the peer's close reply. Data frames that were already in flight are consumed but reported
            // as `ConnectionClosed` once our close is sent: skip them.
            loop {
                match ws.read_frame().await {
                    Ok(frame) if frame.opcode == OpCode::Close => return Ok(()),
                    Ok(_) | Err(WebSocketError::ConnectionClosed) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}
