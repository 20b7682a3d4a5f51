//! A whole connection: both halves with one owner, and the close handshake.

use crate::reader::Reader;
use crate::shared::Shared;
use crate::writer::Writer;
use crate::{Config, Error};
use rill_ws::{CloseCode, Message, MessageKind, Piece, Role};
use std::future::Future;
use std::task::Poll;
use tokio::io::{AsyncRead, AsyncWrite};

/// An open WebSocket connection over `S`. Use it whole from one task, or [`WebSocket::split`] it into a
/// [`Reader`] and a [`Writer`] for separate tasks (both are `Send` when `S` is, and neither needs `Send`
/// on a current-thread runtime or a `LocalSet`).
pub struct WebSocket<S> {
    reader: Reader<S>,
    writer: Writer<S>,
    protocol: Option<String>,
}

impl<S: AsyncRead + AsyncWrite> WebSocket<S> {
    /// Wraps a stream whose handshake is done; `buf[start..]` holds bytes that followed it. A client fails
    /// when the OS has no entropy for its masking keys' seed.
    pub(crate) fn new(
        stream: S,
        role: Role,
        config: Config,
        buf: Vec<u8>,
        start: usize,
        protocol: Option<String>,
        deflate: Option<rill_ws::deflate::DeflateParams>,
    ) -> Result<Self, Error> {
        // A server masks nothing, so it needs no entropy.
        let seed = match role {
            Role::Client => mask_seed()?,
            Role::Server => [0; 32],
        };
        let shared = Shared::new(stream, role, seed, config);
        let threshold = config.deflate.map_or(0, |d| d.compress_threshold);
        shared.with(|session| session.set_deflate(deflate, threshold));
        Ok(WebSocket {
            reader: Reader::new(buf, start, shared.clone()),
            writer: Writer::new(shared),
            protocol,
        })
    }

    /// Splits into halves that can be used from different tasks.
    pub fn split(self) -> (Reader<S>, Writer<S>) {
        (self.reader, self.writer)
    }

    /// Both halves, borrowed: e.g. to echo a piece straight from the read buffer, or to `select!` on a
    /// receive and a ping.
    pub fn halves(&mut self) -> (&mut Reader<S>, &mut Writer<S>) {
        (&mut self.reader, &mut self.writer)
    }

    /// Enrolls the connection in `drain`: when it starts, the connection closes with 1001 from inside its
    /// reading half (see [`crate::Drain`]). Connections from a [`crate::Listener`] given a drain, and axum
    /// upgrades under a `Drain` extension, are enrolled already; for them this does nothing.
    pub fn enroll(&mut self, drain: &crate::Drain) {
        if self.reader.ticket.is_none() {
            self.reader.set_ticket(rill_net::Ticket::enrolled(drain));
        }
    }

    /// Holds `ticket` (a listener's limits and drain) for as long as the reading half lives.
    pub(crate) fn admitted(mut self, ticket: rill_net::Ticket) -> Self {
        self.reader.set_ticket(ticket);
        self
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// See [`Reader::recv`].
    pub async fn recv(&mut self) -> Result<Message<'_>, Error> {
        self.reader.recv().await
    }

    /// See [`Reader::recv_piece`].
    pub async fn recv_piece(&mut self) -> Result<Option<Piece<'_>>, Error> {
        self.reader.recv_piece().await
    }

    /// See [`Writer::send_text`] and [`WebSocket::send`].
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send(MessageKind::Text, text.as_bytes()).await
    }

    /// See [`Writer::send_binary`] and [`WebSocket::send`].
    pub async fn send_binary(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.send(MessageKind::Binary, bytes).await
    }

    /// See [`Writer::send`]. While the send waits on the socket (a slow peer), the connection reads on up
    /// to the next message: the peer's pings are answered and its pongs heard, so a peer that reads
    /// slowly but answers is not dropped by the idle timeout however long the send takes. The message
    /// read meanwhile waits for the next [`WebSocket::recv`]. An error that ends the connection while
    /// reading ends the send with it.
    pub async fn send(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error> {
        let WebSocket { reader, writer, .. } = self;
        let mut send = std::pin::pin!(writer.send(kind, payload));
        // Nearly every send finishes within its first poll and reads nothing. One that waits reads on
        // meanwhile; the reading future is boxed, made only then: it is about as large as the send's own
        // (1.1 KB), and the sends that finish at once should not carry room for it.
        let (mut reader, mut ahead) = (Some(reader), None);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(done) = send.as_mut().poll(cx) {
                return Poll::Ready(done);
            }
            if let Some(reader) = reader.take() {
                ahead = Some(Box::pin(reader.read_ahead()));
            }
            if let Some(reading) = ahead.as_mut() {
                match reading.as_mut().poll(cx) {
                    Poll::Ready(Ok(())) => ahead = None,
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Pending => {}
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Closes gracefully: sends a close frame, then reads (discarding messages) until the peer's close
    /// arrives and the TCP connection ends, or `close_timeout` passes (the session's deadline).
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.writer.send_close(code, reason).await?;
        loop {
            match self.reader.recv_piece().await {
                Ok(_) => {}
                Err(Error::Closed) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
    }
}

/// A fresh seed for one connection's masking keys, from the OS. RFC 6455 section 5.3 wants the keys from a
/// strong source of entropy, so without it the connection fails (an I/O error of kind `Other`) rather than
/// masking with predictable keys.
pub(crate) fn mask_seed() -> Result<[u8; 32], Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| {
        Error::Io(std::io::Error::other(format!(
            "no OS entropy for the WebSocket masking keys: {e}"
        )))
    })?;
    Ok(seed)
}
