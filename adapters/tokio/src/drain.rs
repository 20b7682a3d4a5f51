//! Graceful drain for rill-tokio connections: a connection enrolled in a [`Drain`] (by the [`crate::Listener`]
//! that accepted it, the axum extractor, or [`crate::WebSocket::enroll`]) closes with 1001 when the drain
//! starts, from inside its reading half, so the application's receive loop needs no extra wiring: its
//! `recv` returns `Message::Close` (its `recv_piece` `None`) once the close handshake is over.

use crate::{Error, Reader, Writer};
use rill_net::{Drain, DrainReport, Ticket, GOING_AWAY_REASON};
use rill_ws::{CloseCode, PieceAt};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Starts `drain` and waits until every enrolled connection has ended or `deadline` has passed: the
/// listeners stop accepting, each connection sends 1001 after what it already sent and finishes its
/// close handshake. Connections still open at the deadline are left to the caller (they end with the
/// runtime, or at their own `close_timeout`); the report counts them.
///
/// ```no_run
/// # async fn f(drain: rill_tokio::Drain) {
/// tokio::signal::ctrl_c().await.ok();
/// let report = rill_tokio::shutdown(&drain, std::time::Duration::from_secs(10)).await;
/// eprintln!("{} of {} connections closed cleanly", report.closed_cleanly, report.open_at_start);
/// # }
/// ```
pub async fn shutdown(drain: &Drain, deadline: Duration) -> DrainReport {
    drain.start();
    let _ = tokio::time::timeout(deadline, drain.closed()).await;
    drain.report()
}

impl<S: AsyncRead + AsyncWrite> Reader<S> {
    /// Joins the connection to `ticket`'s limits and drain for as long as the reader lives.
    pub(crate) fn set_ticket(&mut self, ticket: Ticket) {
        self.ticket = Some(Arc::new(ticket));
    }

    /// [`Reader::next`], except that once the drain starts it sends 1001 (after what the writer already
    /// placed: the close frame waits for the write side), then discards data until the peer's close frame
    /// or the end of the connection. Cancel-safe like `next`.
    pub(crate) async fn next_or_leave(&mut self) -> Result<Option<PieceAt>, Error> {
        // An Arc, so the membership can be looked at while `next` borrows the reader.
        let Some(ticket) = self.ticket.clone() else {
            return self.next().await;
        };
        let Some(member) = ticket.member() else {
            return self.next().await;
        };
        if !member.is_draining() {
            tokio::select! {
                biased;
                next = self.next() => {
                    let next = next?;
                    if next.is_none() {
                        member.closed_cleanly(); // the peer closed first, maybe during the drain
                    }
                    return Ok(next);
                }
                () = member.started() => {}
            }
        }
        if member.must_go_away() {
            // Refused when the connection ended or already sent its close (a send cancelled after it was
            // placed): `next` says how it ends. Cancelled before, it is sent by the next receive.
            let _ = Writer::new(self.shared.clone())
                .send_close(CloseCode::GOING_AWAY, GOING_AWAY_REASON)
                .await;
            member.gone_away();
        }
        // Nothing can answer these after our close frame.
        while self.next().await?.is_some() {}
        member.closed_cleanly();
        Ok(None)
    }
}
