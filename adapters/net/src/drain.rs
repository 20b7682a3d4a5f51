//! [`Drain`]: graceful shutdown shared by the async and the blocking adapter. Waiting works both ways: as
//! futures ([`Drain::started`], [`Drain::closed`]) for any executor, and blocking
//! ([`Drain::shutdown_blocking`]), so it holds wakers and a condition variable rather than a runtime's
//! channel.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Graceful shutdown for a server. Give it to the listener (`Admission::drain`), and every connection
/// the listener hands out is enrolled. When it starts ([`Drain::start`]):
///
/// 1. listeners stop accepting (their `next()` returns `None`);
/// 2. every enrolled connection sends close 1001 (Going Away) after what it already sent, the next time
///    its reading half waits for input (a `recv` or `recv_piece` in progress is woken for it), finishes
///    the close handshake (discarding the messages that still arrive: nothing can be sent after a close
///    frame) and ends like a connection the peer closed;
/// 3. whoever shuts down waits until every enrolled connection has ended or a deadline passes, and gets a
///    [`DrainReport`].
///
/// Cheap to clone: the clones are the same drain.
#[derive(Clone, Debug, Default)]
pub struct Drain {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    changed: Condvar,
}

/// The drain's counts and waiters, under its lock.
#[derive(Default)]
struct State {
    started: Option<Instant>,
    /// Enrolled connections not ended yet.
    open: usize,
    /// Of those, open when the drain started.
    open_at_start: usize,
    /// Connections that finished the close handshake after the drain started.
    closed_cleanly: usize,
    /// Tasks waiting for a change, by waiter id (so a waiter polled again replaces its waker).
    wakers: HashMap<u64, Waker>,
    next_id: u64,
    /// Run once when the drain starts (a blocking listener wakes its `accept` with them).
    on_start: Vec<Box<dyn FnOnce() + Send>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("started", &self.started)
            .field("open", &self.open)
            .field("closed_cleanly", &self.closed_cleanly)
            .finish_non_exhaustive()
    }
}

/// How a drain went; `Display` is one line for a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainReport {
    /// Enrolled connections open when the drain started.
    pub open_at_start: usize,
    /// Connections that finished the close handshake after the drain started.
    pub closed_cleanly: usize,
    /// Connections still open when the report was made (the deadline passed): their tasks end with the
    /// process, or at their `close_timeout`.
    pub remaining: usize,
    /// From the start of the drain to the report.
    pub elapsed: Duration,
}

impl std::fmt::Display for DrainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "drained in {} ms: {} of {} connections closed cleanly, {} left",
            self.elapsed.as_millis(),
            self.closed_cleanly,
            self.open_at_start,
            self.remaining
        )
    }
}

impl Drain {
    /// A drain not started, with no connections.
    pub fn new() -> Drain {
        Drain::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change leaves the counts consistent, so a panic elsewhere is no reason to stop draining.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the drain (again: nothing happens): listeners stop, connections close with 1001.
    pub fn start(&self) {
        let hooks = {
            let mut state = self.lock();
            if state.started.is_some() {
                return;
            }
            state.started = Some(Instant::now());
            state.open_at_start = state.open;
            wake_all(&mut state);
            std::mem::take(&mut state.on_start)
        };
        self.inner.changed.notify_all();
        for hook in hooks {
            hook();
        }
    }

    /// True once [`Drain::start`] was called.
    pub fn is_started(&self) -> bool {
        self.lock().started.is_some()
    }

    /// Enrolled connections that have not ended.
    pub fn open(&self) -> usize {
        self.lock().open
    }

    /// Enrolls a connection: it leaves the drain when the [`Member`] is dropped.
    pub fn enroll(&self) -> Member {
        let mut state = self.lock();
        state.open += 1;
        let id = state.next_id;
        state.next_id += 1;
        Member {
            drain: self.clone(),
            id,
            going_away: AtomicBool::new(false),
            clean: AtomicBool::new(false),
        }
    }

    /// Runs `hook` once when the drain starts (at once if it has).
    pub fn on_start(&self, hook: impl FnOnce() + Send + 'static) {
        let mut state = self.lock();
        if state.started.is_none() {
            state.on_start.push(Box::new(hook));
            return;
        }
        drop(state);
        hook();
    }

    /// Ready once the drain has started.
    pub fn started(&self) -> Waiting<'_> {
        let id = self.waiter_id();
        let done = has_started;
        Waiting {
            drain: self,
            id,
            done,
        }
    }

    /// Ready once the drain has started and every enrolled connection has ended.
    pub fn closed(&self) -> Waiting<'_> {
        let id = self.waiter_id();
        let done = has_closed;
        Waiting {
            drain: self,
            id,
            done,
        }
    }

    fn waiter_id(&self) -> u64 {
        let mut state = self.lock();
        state.next_id += 1;
        state.next_id - 1
    }

    /// How the drain went so far.
    pub fn report(&self) -> DrainReport {
        let state = self.lock();
        DrainReport {
            open_at_start: state.open_at_start,
            closed_cleanly: state.closed_cleanly,
            remaining: state.open,
            elapsed: state.started.map_or(Duration::ZERO, |at| at.elapsed()),
        }
    }

    /// Starts the drain and blocks until every enrolled connection has ended or `deadline` has passed;
    /// for blocking servers (an async server awaits [`Drain::closed`] under its runtime's timeout).
    pub fn shutdown_blocking(&self, deadline: Duration) -> DrainReport {
        self.start();
        let until = Instant::now() + deadline;
        let mut state = self.lock();
        while state.open > 0 {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .inner
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(state);
        self.report()
    }

    /// Polls a waiter: ready when `done` holds, else its waker is kept under `id`.
    fn poll_until(&self, id: u64, cx: &mut Context<'_>, done: fn(&State) -> bool) -> Poll<()> {
        let mut state = self.lock();
        if done(&state) {
            state.wakers.remove(&id);
            return Poll::Ready(());
        }
        match state.wakers.get_mut(&id) {
            Some(waker) => waker.clone_from(cx.waker()),
            None => {
                state.wakers.insert(id, cx.waker().clone());
            }
        }
        Poll::Pending
    }

    fn forget(&self, id: u64) {
        self.lock().wakers.remove(&id);
    }
}

fn wake_all(state: &mut State) {
    for (_, waker) in state.wakers.drain() {
        waker.wake();
    }
}

/// A future ready once the drain reaches a point: started ([`Drain::started`], [`Member::started`]), or
/// started with every connection ended ([`Drain::closed`]).
pub struct Waiting<'d> {
    drain: &'d Drain,
    id: u64,
    done: fn(&State) -> bool,
}

impl std::fmt::Debug for Waiting<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiting").field("id", &self.id).finish()
    }
}

impl Future for Waiting<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.drain.poll_until(self.id, cx, self.done)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.drain.forget(self.id);
    }
}

fn has_started(state: &State) -> bool {
    state.started.is_some()
}

fn has_closed(state: &State) -> bool {
    state.started.is_some() && state.open == 0
}

/// One connection's membership of a [`Drain`]; the adapters keep it inside the connection and leave the
/// drain when it is dropped.
#[derive(Debug)]
pub struct Member {
    drain: Drain,
    id: u64,
    going_away: AtomicBool,
    clean: AtomicBool,
}

impl Member {
    /// True once the drain has started.
    pub fn is_draining(&self) -> bool {
        self.drain.is_started()
    }

    /// Ready once the drain has started. One connection waits on one of these at a time (a new one
    /// replaces the waker of the last).
    pub fn started(&self) -> Waiting<'_> {
        Waiting {
            drain: &self.drain,
            id: self.id,
            done: has_started,
        }
    }

    /// True when the drain has started and the connection has not sent its 1001 close frame yet.
    pub fn must_go_away(&self) -> bool {
        self.is_draining() && !self.has_gone_away()
    }

    /// Records that the 1001 close frame was sent (or the connection could send no more): called after
    /// the send, so a send cancelled half-way is tried again.
    pub fn gone_away(&self) {
        self.going_away.store(true, Ordering::Release);
    }

    /// True once [`Member::gone_away`] was called.
    pub fn has_gone_away(&self) -> bool {
        self.going_away.load(Ordering::Acquire)
    }

    /// Records that the connection finished its close handshake during the drain.
    pub fn closed_cleanly(&self) {
        if self.is_draining() {
            self.clean.store(true, Ordering::Release);
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        {
            let mut state = self.drain.lock();
            state.open -= 1;
            if self.clean.load(Ordering::Acquire) {
                state.closed_cleanly += 1;
            }
            state.wakers.remove(&self.id);
            if state.open == 0 {
                wake_all(&mut state);
            }
        }
        self.drain.inner.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_counts_its_members_and_reports_who_closed_cleanly() {
        let drain = Drain::new();
        let (a, b, c) = (drain.enroll(), drain.enroll(), drain.enroll());
        assert!(!a.must_go_away());
        a.closed_cleanly(); // before the drain: not counted
        drain.start();
        assert!(a.must_go_away());
        a.gone_away();
        assert!(!a.must_go_away());
        a.closed_cleanly();
        drop(a);
        drop(b);
        let report = drain.report();
        assert_eq!(
            (
                report.open_at_start,
                report.closed_cleanly,
                report.remaining
            ),
            (3, 1, 1)
        );
        let waiter = {
            let drain = drain.clone();
            std::thread::spawn(move || drain.shutdown_blocking(Duration::from_secs(60)))
        };
        drop(c);
        assert_eq!(waiter.join().unwrap().remaining, 0);
    }
}
