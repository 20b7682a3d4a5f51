//! TCP helpers that set `TCP_NODELAY`, so small messages leave at once instead of waiting for Nagle, and
//! the server's accept loop: retried through transient errors, limited, drained (policy in `rill_net`).

use crate::{Config, Decision, Error, OwnedRequestInfo, Request, WebSocket};
use rill_net::{Admission, Backoff, Next, Ticket};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

/// A TCP listener whose accepted sockets have `TCP_NODELAY` set, and whose accept loop outlives transient
/// errors: out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) it waits (1 ms doubling
/// up to 100 ms) and accepts again while the open connections are served; a connection reset before it
/// was accepted, or whose `TCP_NODELAY` fails, is skipped. Only an error that means the listener itself is
/// gone is returned. [`Listener::admission`] shows what it met.
///
/// With an [`Admission`] ([`Listener::admit`]) it limits the connections open at once (answering the
/// excess `503` with `Retry-After` at their handshake) and enrolls them in a [`crate::Drain`]:
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// use rill_tokio::{Admission, Config, Drain, Listener, Message};
/// let drain = Drain::new();
/// let listener = Listener::bind("127.0.0.1:9001")
///     .await?
///     .admit(Admission::new().max_connections(10_000).drain(&drain));
/// while let Some(incoming) = listener.next().await? { // None once the drain has started
///     tokio::spawn(async move {
///         let mut ws = incoming.accept(Config::default()).await?; // a 503 past the limit
///         while let Message::Text(text) = ws.recv().await? { // Close(1001...) once drained
///             let reply = text.to_uppercase();
///             ws.send_text(&reply).await?;
///         }
///         Ok::<_, rill_tokio::Error>(())
///     });
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    nodelay: bool,
    admission: Admission,
}

impl Listener {
    /// Binds to `addr`; accepted sockets get `TCP_NODELAY`.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Listener> {
        Ok(Listener::from_tokio(TcpListener::bind(addr).await?, true))
    }

    /// Wraps an existing listener; `nodelay` decides `TCP_NODELAY` on accepted sockets.
    pub fn from_tokio(inner: TcpListener, nodelay: bool) -> Listener {
        let admission = Admission::new();
        Listener {
            inner,
            nodelay,
            admission,
        }
    }

    /// Limits and drain for the connections [`Listener::next`] hands out.
    pub fn admit(mut self, admission: Admission) -> Listener {
        self.admission = admission;
        self
    }

    /// The limits, the drain, the open connections ([`Admission::open`]) and the accept loop's counters
    /// ([`Admission::stats`]).
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Accepts the next connection, through transient errors (see [`Listener`]); no limit or drain
    /// applies (see [`Listener::next`]).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let mut backoff = Backoff::default();
        loop {
            let accepted = self.inner.accept().await;
            let nodelay = |stream: &TcpStream| stream.set_nodelay(self.nodelay);
            match self.admission.accepted(accepted, nodelay, &mut backoff) {
                Next::Ready(stream, peer) => return Ok((stream, peer)),
                Next::Again => {}
                Next::Wait(wait) => tokio::time::sleep(wait).await,
                Next::Fail(error) => return Err(error),
            }
        }
    }

    /// The next connection under the listener's [`Admission`]: `None` once its drain has started. A
    /// connection past a limit is handed out too, and its handshake answers `503` with `Retry-After`.
    pub async fn next(&self) -> io::Result<Option<Incoming>> {
        let accepted = match self.admission.drain_handle() {
            None => self.accept().await?,
            Some(drain) => tokio::select! {
                biased;
                () = drain.started() => return Ok(None),
                accepted = self.accept() => accepted?,
            },
        };
        let (stream, peer) = accepted;
        let ticket = self.admission.admit(peer.ip());
        Ok(Some(Incoming {
            stream,
            peer,
            ticket,
        }))
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection from [`Listener::next`], before its handshake: it holds its place under the listener's
/// limits and in its drain, which the WebSocket keeps until its reading half is dropped.
#[derive(Debug)]
pub struct Incoming<S = TcpStream> {
    stream: S,
    peer: SocketAddr,
    ticket: Ticket,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Incoming<S> {
    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The stream.
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// Replaces the stream with what `wrap` makes of it (a TLS stream, say), keeping the connection's
    /// place: `incoming.wrap(|tcp| tls::tls_accept(tcp, &acceptor, &config)).await?`.
    pub async fn wrap<T, E, F, Fut>(self, wrap: F) -> Result<Incoming<T>, E>
    where
        F: FnOnce(S) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        Ok(Incoming {
            stream: wrap(self.stream).await?,
            peer: self.peer,
            ticket: self.ticket,
        })
    }

    /// [`crate::accept`] for this connection.
    pub async fn accept(self, config: Config) -> Result<WebSocket<S>, Error> {
        self.accept_with(config, |_| Decision::accept()).await
    }

    /// [`crate::accept_with`] for this connection; past a limit (or once the drain started) the answer
    /// is `503` with `Retry-After` and `decide` is not asked.
    pub async fn accept_with<F>(self, config: Config, decide: F) -> Result<WebSocket<S>, Error>
    where
        F: FnOnce(&Request<'_>) -> Decision,
    {
        let Incoming { stream, ticket, .. } = self;
        let ws = match ticket.refusal() {
            Some(refusal) => crate::accept_with(stream, config, |_| refusal.clone()).await,
            None => crate::accept_with(stream, config, decide).await,
        };
        Ok(ws?.admitted(ticket))
    }

    /// [`crate::accept_with_async`] for this connection; see [`Incoming::accept_with`].
    pub async fn accept_with_async<F, Fut>(
        self,
        config: Config,
        decide: F,
    ) -> Result<WebSocket<S>, Error>
    where
        F: FnOnce(OwnedRequestInfo) -> Fut,
        Fut: Future<Output = Decision>,
    {
        let Incoming { stream, ticket, .. } = self;
        let ws = match ticket.refusal() {
            Some(refusal) => crate::accept_with(stream, config, |_| refusal.clone()).await,
            None => crate::accept_with_async(stream, config, decide).await,
        };
        Ok(ws?.admitted(ticket))
    }
}

/// Connects to `addr` and sets `TCP_NODELAY` as asked.
pub async fn connect_tcp(addr: &str, nodelay: bool) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(nodelay)?;
    Ok(stream)
}
