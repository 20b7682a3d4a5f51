//! rill-net: what rill's std servers (`rill-tokio`, `rill-blocking`) share to stay up and shut down
//! cleanly. It holds policy and bookkeeping only, no I/O loop: each adapter's `Listener` runs its own
//! (async or blocking) accept loop and asks this crate what to do.
//!
//! - [`accept_error`]: which errors of `accept` are the listener's end ([`AcceptError::Fatal`]), which
//!   are one connection's problem ([`AcceptError::Skip`]) and which mean "out of descriptors or memory,
//!   wait and retry" ([`AcceptError::Retry`]), with the bounded [`Backoff`] between retries. A server that
//!   returns on the first `EMFILE` drops every connection it holds; hyper, axum's `serve` and Python's
//!   asyncio back off instead.
//! - [`Admission`]: the listener's settings for each accepted connection: connection limits (total and
//!   per IP, answered with `503` and `Retry-After`), the [`Drain`] it joins, and counters ([`AcceptStats`]).
//! - [`Drain`]: graceful shutdown. It stops the listeners, tells every enrolled connection to close with
//!   1001 (Going Away) after what it already sent, and reports how many finished the close handshake.
//! - [`proxy`]: what the clients share to go through a proxy: the proxy URL, the environment's choice
//!   (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`) and the error a failed tunnel reports.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod drain;
pub mod proxy;

pub use drain::{Drain, DrainReport, Member, Waiting};

/// The reason sent with the 1001 (Going Away) close frame of a drained connection.
pub const GOING_AWAY_REASON: &str = "server shutting down";
pub use rill_ws::handshake::owned::Decision;

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What an error of `accept` means for the accept loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptError {
    /// Out of descriptors or kernel memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`), or an error this
    /// policy does not know: wait ([`Backoff`]) and accept again. The pending connections wait in the
    /// backlog meanwhile; the ones already open keep being served and, as they end, free descriptors.
    Retry,
    /// One connection failed before it was accepted (reset, aborted, a protocol error pending on it):
    /// accept the next one at once.
    Skip,
    /// The listener itself is unusable (closed, not a listening socket): return the error.
    Fatal,
}

/// Classifies an error of `accept` (see [`AcceptError`]). Kept in one place for every rill listener.
pub fn accept_error(error: &io::Error) -> AcceptError {
    use io::ErrorKind::*;
    #[cfg(unix)]
    if let Some(code) = error.raw_os_error() {
        // accept(2) on Linux passes errors already pending on the new connection; its manual asks to
        // treat these like EAGAIN. EPERM is a firewall rule refusing that one connection.
        let skip = [
            libc::EPROTO,
            libc::ENOPROTOOPT,
            libc::EHOSTDOWN,
            libc::EHOSTUNREACH,
            libc::EOPNOTSUPP,
            libc::ENETDOWN,
            libc::ENETUNREACH,
            libc::EPERM,
            libc::ECONNABORTED,
            libc::ECONNRESET,
            libc::EINTR,
            libc::EAGAIN,
            libc::ETIMEDOUT,
        ];
        if skip.contains(&code) {
            return AcceptError::Skip;
        }
        if [libc::EBADF, libc::EINVAL, libc::ENOTSOCK, libc::EFAULT].contains(&code) {
            return AcceptError::Fatal;
        }
        #[cfg(target_os = "linux")]
        if code == libc::ENONET {
            return AcceptError::Skip;
        }
        return AcceptError::Retry;
    }
    match error.kind() {
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
        | TimedOut | HostUnreachable | NetworkUnreachable | NetworkDown | PermissionDenied => {
            AcceptError::Skip
        }
        InvalidInput | NotConnected | Unsupported => AcceptError::Fatal,
        _ => AcceptError::Retry,
    }
}

/// The wait between accepts that failed for lack of resources: 1 ms, doubling up to 100 ms. Bounded
/// low because the wait is also the delay before a server that ran out of descriptors serves again once
/// some are free (at most 100 ms), while a retry costs one failed system call (at most 10 per second).
#[derive(Clone, Copy, Debug, Default)]
pub struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    /// The shortest wait.
    pub const MIN: Duration = Duration::from_millis(1);
    /// The longest wait.
    pub const MAX: Duration = Duration::from_millis(100);

    /// The wait before the next retry; each call doubles the following one up to [`Backoff::MAX`].
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next.unwrap_or(Self::MIN);
        self.next = Some((wait * 2).min(Self::MAX));
        wait
    }

    /// True while retrying (since the last [`Backoff::reset`]).
    pub fn is_retrying(&self) -> bool {
        self.next.is_some()
    }

    /// An accept succeeded: the next failure starts a new burst at [`Backoff::MIN`].
    pub fn reset(&mut self) {
        self.next = None;
    }
}

/// What a listener's accept loop met, counted since it started: rill writes no logs (the crates have no
/// logging dependency, and a line per failed accept would flood stderr exactly when a server is
/// overloaded), so a server reads these where it reports its health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcceptStats {
    /// Bursts of accepts failing for lack of resources (each ends with the next accepted connection).
    pub exhausted_bursts: u64,
    /// Accepts that failed for lack of resources and were retried after a wait.
    pub retries: u64,
    /// Connections skipped: failed before they were accepted, or unusable (`TCP_NODELAY` refused).
    pub skipped: u64,
    /// Connections refused with `503` because a limit was reached or the drain had started.
    pub refused: u64,
}

/// The next step of an accept loop, from [`Admission::accepted`] or [`Admission::accept_failed`].
#[derive(Debug)]
pub enum Next<S = ()> {
    /// A connection to hand out, and its peer.
    Ready(S, std::net::SocketAddr),
    /// Accept again at once.
    Again,
    /// Wait this long, then accept again.
    Wait(Duration),
    /// Return this error: the listener is gone.
    Fail(io::Error),
}

/// A listener's settings for the connections it accepts: limits, the drain they join, counters. Cheap to
/// clone; clones count the same connections.
#[derive(Clone, Debug)]
pub struct Admission {
    max: usize,
    per_ip: usize,
    retry_after: u32,
    counters: Arc<Counters>,
    drain: Option<Drain>,
}

/// The counts every clone of an [`Admission`] shares.
#[derive(Debug, Default)]
struct Counters {
    open: AtomicUsize,
    /// Open connections per address, kept only under a per-IP limit.
    by_ip: Mutex<HashMap<IpAddr, usize>>,
    exhausted_bursts: AtomicU64,
    retries: AtomicU64,
    skipped: AtomicU64,
    refused: AtomicU64,
}

impl Default for Admission {
    fn default() -> Self {
        Admission::new()
    }
}

impl Admission {
    /// No limits, no drain.
    pub fn new() -> Admission {
        Admission {
            max: usize::MAX,
            per_ip: usize::MAX,
            retry_after: 1,
            counters: Arc::default(),
            drain: None,
        }
    }

    /// At most `max` connections open at once (counted from accept until the connection ends); the next
    /// ones are answered `503 Service Unavailable` with `Retry-After` at their handshake.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max = max;
        self
    }

    /// At most `max` connections open at once from one IP address (503 beyond, as for
    /// [`Admission::max_connections`]). Behind a proxy every client has the proxy's address: leave it off.
    pub fn max_connections_per_ip(mut self, max: usize) -> Self {
        self.per_ip = max;
        self
    }

    /// The `Retry-After` of a 503, in seconds (default 1).
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = seconds;
        self
    }

    /// Connections accepted from now on join `drain`: they close with 1001 when it starts, and the
    /// listener stops accepting.
    pub fn drain(mut self, drain: &Drain) -> Self {
        self.drain = Some(drain.clone());
        self
    }

    /// The drain connections join, if any.
    pub fn drain_handle(&self) -> Option<&Drain> {
        self.drain.as_ref()
    }

    /// True once the drain (if any) has started: the accept loop ends.
    pub fn is_draining(&self) -> bool {
        self.drain.as_ref().is_some_and(Drain::is_started)
    }

    /// Connections open now (accepted and not ended; refused ones are not counted).
    pub fn open(&self) -> usize {
        self.counters.open.load(Ordering::Relaxed)
    }

    /// The accept loop's counters.
    pub fn stats(&self) -> AcceptStats {
        let c = &*self.counters;
        AcceptStats {
            exhausted_bursts: c.exhausted_bursts.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
        }
    }

    /// What the accept loop does with what `accept` returned: hand the connection out once `nodelay`
    /// succeeded on it (a failure means the peer reset it already: skipped), or see
    /// [`Admission::accept_failed`]. Each adapter's loop only runs the I/O and the wait.
    pub fn accepted<S>(
        &self,
        accepted: io::Result<(S, std::net::SocketAddr)>,
        nodelay: impl FnOnce(&S) -> io::Result<()>,
        backoff: &mut Backoff,
    ) -> Next<S> {
        match accepted {
            Ok((stream, peer)) => match nodelay(&stream) {
                Ok(()) => {
                    backoff.reset();
                    Next::Ready(stream, peer)
                }
                Err(_) => {
                    self.skipped();
                    Next::Again
                }
            },
            Err(error) => self.accept_failed(error, backoff),
        }
    }

    /// What the accept loop does after `error` (see [`accept_error`]); `backoff` is the loop's.
    pub fn accept_failed<S>(&self, error: io::Error, backoff: &mut Backoff) -> Next<S> {
        match accept_error(&error) {
            AcceptError::Fatal => Next::Fail(error),
            AcceptError::Skip => {
                self.skipped();
                Next::Again
            }
            AcceptError::Retry => {
                if !backoff.is_retrying() {
                    self.counters
                        .exhausted_bursts
                        .fetch_add(1, Ordering::Relaxed);
                }
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
                Next::Wait(backoff.next_wait())
            }
        }
    }

    /// Counts a connection accepted but unusable (its `TCP_NODELAY` was refused: it was reset already).
    pub fn skipped(&self) {
        self.counters.skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// Admits a connection from `peer`: a [`Ticket`] that holds its place under the limits and its
    /// membership of the drain until dropped, or that says to refuse it ([`Ticket::refusal`]).
    pub fn admit(&self, peer: IpAddr) -> Ticket {
        let draining = self.is_draining();
        let permit = match draining {
            true => None,
            false => self.take(peer),
        };
        let Some(permit) = permit else {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            let reason = match draining {
                true => "the server is shutting down",
                false => "the server is at its connection limit",
            };
            return Ticket {
                _permit: None,
                member: None,
                refusal: Some(Decision::Unavailable {
                    retry_after: self.retry_after,
                    reason: reason.into(),
                }),
            };
        };
        Ticket {
            _permit: Some(permit),
            member: self.drain.as_ref().map(Drain::enroll),
            refusal: None,
        }
    }

    /// Takes a place for `peer` if the limits leave one.
    fn take(&self, peer: IpAddr) -> Option<Permit> {
        let counters = &self.counters;
        let max = self.max;
        counters
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |open| {
                (open < max).then_some(open + 1)
            })
            .ok()?;
        let mut permit = Permit {
            counters: counters.clone(),
            peer: None,
        };
        if self.per_ip != usize::MAX {
            let mut by_ip = counters
                .by_ip
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let count = by_ip.entry(peer).or_insert(0);
            if *count >= self.per_ip {
                return None; // the permit's drop gives the place back (after the lock is released)
            }
            *count += 1;
            permit.peer = Some(peer);
        }
        Some(permit)
    }
}

/// A connection's place under the limits; given back when dropped.
#[derive(Debug)]
struct Permit {
    counters: Arc<Counters>,
    /// The address counted under the per-IP limit.
    peer: Option<IpAddr>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let counters = &self.counters;
        if let Some(peer) = self.peer {
            let mut by_ip = counters
                .by_ip
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = by_ip.get_mut(&peer) {
                *count -= 1;
                if *count == 0 {
                    by_ip.remove(&peer);
                }
            }
        }
        counters.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What [`Admission::admit`] decided for one connection. Keep it as long as the connection lives (the
/// adapters keep it inside the WebSocket): dropping it frees the connection's place and leaves the drain.
#[derive(Debug, Default)]
pub struct Ticket {
    // Held for its `Drop`, which gives the place back.
    _permit: Option<Permit>,
    member: Option<Member>,
    refusal: Option<Decision>,
}

impl Ticket {
    /// The answer to give instead of a WebSocket (`503` with `Retry-After`), when the connection was not
    /// admitted.
    pub fn refusal(&self) -> Option<&Decision> {
        self.refusal.as_ref()
    }

    /// The connection's membership of the drain.
    pub fn member(&self) -> Option<&Member> {
        self.member.as_ref()
    }

    /// A ticket for a connection that only joins `drain` (no limits): for WebSockets that did not come
    /// through a listener (an axum upgrade, a stream of your own).
    pub fn enrolled(drain: &Drain) -> Ticket {
        Ticket {
            member: Some(drain.enroll()),
            ..Ticket::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_errors_are_retried_aborted_connections_skipped_and_a_closed_listener_fatal() {
        let os = io::Error::from_raw_os_error;
        #[cfg(unix)]
        {
            for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
                assert_eq!(accept_error(&os(code)), AcceptError::Retry, "{code}");
            }
            for code in [
                libc::ECONNABORTED,
                libc::ECONNRESET,
                libc::EPROTO,
                libc::EPERM,
            ] {
                assert_eq!(accept_error(&os(code)), AcceptError::Skip, "{code}");
            }
            for code in [libc::EBADF, libc::EINVAL, libc::ENOTSOCK] {
                assert_eq!(accept_error(&os(code)), AcceptError::Fatal, "{code}");
            }
        }
        let kind = io::Error::from;
        assert_eq!(
            accept_error(&kind(io::ErrorKind::ConnectionReset)),
            AcceptError::Skip
        );
        assert_eq!(
            accept_error(&kind(io::ErrorKind::InvalidInput)),
            AcceptError::Fatal
        );
        assert_eq!(
            accept_error(&kind(io::ErrorKind::OutOfMemory)),
            AcceptError::Retry
        );
    }

    #[test]
    fn the_backoff_doubles_up_to_its_bound_and_a_burst_is_counted_once() {
        let admission = Admission::new();
        let mut backoff = Backoff::default();
        let mut waits = Vec::new();
        for _ in 0..10 {
            let error = io::Error::from(io::ErrorKind::OutOfMemory);
            match admission.accept_failed::<()>(error, &mut backoff) {
                Next::Wait(wait) => waits.push(wait.as_millis()),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 100, 100, 100]);
        backoff.reset();
        let _ = admission
            .accept_failed::<()>(io::Error::from(io::ErrorKind::OutOfMemory), &mut backoff);
        let stats = admission.stats();
        assert_eq!((stats.exhausted_bursts, stats.retries), (2, 11));
    }

    #[test]
    fn limits_refuse_with_503_and_a_freed_place_is_taken_again() {
        let admission = Admission::new()
            .max_connections(2)
            .max_connections_per_ip(1)
            .retry_after(7);
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = admission.admit(a);
        assert!(first.refusal().is_none());
        let same_ip = admission.admit(a);
        assert!(matches!(
            same_ip.refusal(),
            Some(Decision::Unavailable { retry_after: 7, .. })
        ));
        let second = admission.admit(b);
        assert!(second.refusal().is_none());
        assert_eq!(admission.open(), 2);
        let third = admission.admit("10.0.0.3".parse().unwrap());
        assert!(third.refusal().is_some());
        drop(first);
        assert_eq!(admission.open(), 1);
        assert!(admission.admit(a).refusal().is_none());
        assert_eq!(admission.stats().refused, 2);
    }
}
