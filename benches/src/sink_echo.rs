//! Echo and token loops for libraries exposing a `futures` `Stream + Sink` of messages (tokio-tungstenite,
//! tokio-websockets, sockudo-ws).

use crate::tokens::TokenPlan;
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};

/// Echoes every data message, batching under load: replies are `feed`-ed (buffered, not flushed) while more
/// input is already available, and flushed once the next read would block. One flush (one `write` syscall in
/// the common case) thus covers every message that arrived in the same read.
pub async fn echo<S, M, E>(mut ws: S, is_data: fn(&M) -> bool) -> Result<(), E>
where
    S: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
{
    while let Some(message) = ws.next().await {
        reply(&mut ws, message?, is_data).await?;
        while let Some(ready) = ws.next().now_or_never() {
            match ready {
                Some(message) => reply(&mut ws, message?, is_data).await?,
                None => return Ok(()),
            }
        }
        ws.flush().await?;
    }
    Ok(())
}

async fn reply<S, M, E>(ws: &mut S, message: M, is_data: fn(&M) -> bool) -> Result<(), E>
where
    S: Sink<M, Error = E> + Unpin,
{
    if is_data(&message) {
        ws.feed(message).await?;
        crate::alloc_count::note_echo();
    }
    Ok(())
}

/// Sends the token stream, each token flushed on its own (latency is the point), then closes and waits for the
/// peer's close reply.
pub async fn send_tokens<S, M, E>(
    mut ws: S,
    plan: TokenPlan,
    text: fn(String) -> M,
) -> Result<(), E>
where
    S: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
{
    let mut ticker = plan.ticker();
    while let Some(token) = ticker.next().await {
        ws.send(text(token)).await?;
    }
    ws.close().await?;
    while ws.next().await.is_some() {}
    Ok(())
}
