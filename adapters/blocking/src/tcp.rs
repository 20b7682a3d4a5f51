//! The server's accept loop over `std::net`: retried through transient errors, limited, drained. The
//! policy (which errors, how long to wait, the limits, the drain) is `rill_net`'s, shared with rill-tokio.

use crate::{accept_with, Config, Decision, Error, Request, WebSocket};
use rill_net::{Admission, Backoff, Next, Ticket};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A TCP listener whose accepted sockets have `TCP_NODELAY` set, and whose accept loop outlives transient
/// errors: out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) it waits (1 ms doubling
/// up to 100 ms) and accepts again while the open connections are served; a connection reset before it
/// was accepted, or whose `TCP_NODELAY` fails, is skipped. Only an error that means the listener itself is
/// gone is returned.
///
/// With an [`Admission`] ([`Listener::admit`]) it limits the connections open at once (answering the
/// excess `503` with `Retry-After` at their handshake) and enrolls them in a [`crate::Drain`]:
///
/// ```no_run
/// use rill_blocking::{Admission, Config, Drain, Listener, Message};
/// let drain = Drain::new();
/// let listener = Listener::bind("127.0.0.1:9001")?.admit(Admission::new().drain(&drain))?;
/// while let Some(incoming) = listener.next()? { // None once the drain has started
///     std::thread::spawn(move || {
///         let mut ws = incoming.accept(Config::default())?;
///         while let Message::Text(text) = ws.recv()? { // Close(1001...) once drained
///             let reply = text.to_uppercase();
///             ws.send_text(&reply)?;
///         }
///         Ok::<_, rill_blocking::Error>(())
///     });
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    nodelay: bool,
    admission: Admission,
}

impl Listener {
    /// Binds to `addr`; accepted sockets get `TCP_NODELAY`.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Listener> {
        Ok(Listener::from_std(TcpListener::bind(addr)?, true))
    }

    /// Wraps an existing listener; `nodelay` decides `TCP_NODELAY` on accepted sockets.
    pub fn from_std(inner: TcpListener, nodelay: bool) -> Listener {
        let admission = Admission::new();
        Listener {
            inner,
            nodelay,
            admission,
        }
    }

    /// Limits and drain for the connections [`Listener::next`] hands out. A blocked `next` is woken when
    /// the drain starts (by a connection to the listener's own address, which is then dropped).
    pub fn admit(mut self, admission: Admission) -> io::Result<Listener> {
        if let Some(drain) = admission.drain_handle() {
            let mut wake = self.inner.local_addr()?;
            if wake.ip().is_unspecified() {
                wake.set_ip(match wake {
                    SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                    SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
                });
            }
            drain.on_start(move || {
                let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
            });
        }
        self.admission = admission;
        Ok(self)
    }

    /// The limits, the drain, the open connections ([`Admission::open`]) and the accept loop's counters
    /// ([`Admission::stats`]).
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Accepts the next connection, through transient errors (see [`Listener`]); no limit or drain
    /// applies (see [`Listener::next`]).
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let mut backoff = Backoff::default();
        loop {
            let accepted = self.inner.accept();
            let nodelay = |stream: &TcpStream| stream.set_nodelay(self.nodelay);
            match self.admission.accepted(accepted, nodelay, &mut backoff) {
                Next::Ready(stream, peer) => return Ok((stream, peer)),
                Next::Again => {}
                Next::Wait(wait) => std::thread::sleep(wait),
                Next::Fail(error) => return Err(error),
            }
        }
    }

    /// The next connection under the listener's [`Admission`]: `None` once its drain has started. A
    /// connection past a limit is handed out too, and its handshake answers `503` with `Retry-After`.
    pub fn next(&self) -> io::Result<Option<Incoming>> {
        if self.admission.is_draining() {
            return Ok(None);
        }
        let (stream, peer) = self.accept()?;
        if self.admission.is_draining() {
            return Ok(None); // the drain's wake-up call, or a client just too late
        }
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
/// limits and in its drain, which the WebSocket keeps while it lives.
#[derive(Debug)]
pub struct Incoming {
    stream: TcpStream,
    peer: SocketAddr,
    ticket: Ticket,
}

impl Incoming {
    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The stream.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// [`crate::accept`] for this connection, with `config`.
    pub fn accept(self, config: Config) -> Result<WebSocket<TcpStream>, Error> {
        self.accept_with(config, |_| Decision::accept())
    }

    /// [`crate::accept_with`] for this connection; past a limit (or once the drain started) the answer
    /// is `503` with `Retry-After` and `decide` is not asked.
    pub fn accept_with<F>(self, config: Config, decide: F) -> Result<WebSocket<TcpStream>, Error>
    where
        F: FnOnce(&Request<'_>) -> Decision,
    {
        let Incoming { stream, ticket, .. } = self;
        let ws = match ticket.refusal() {
            Some(refusal) => accept_with(stream, config, |_| refusal.clone()),
            None => accept_with(stream, config, decide),
        };
        Ok(ws?.admitted(ticket))
    }
}
