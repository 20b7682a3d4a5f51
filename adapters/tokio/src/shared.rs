//! What the reader and writer halves share: the [`Session`] and the socket behind a lock held only for
//! synchronous calls (a poll of the socket included), the write side beside them, taken out by whichever
//! half writes and must wait and put back when it is done (or dropped), and the pump that writes what the
//! session says: at once under the lock when the socket has room, the slow way with the side taken out
//! otherwise.

use crate::{pool, Config, Error};
use rill_ws::deflate::Inflater;
use rill_ws::{Instant, Session, Transmit};
use rill_zlib::LazyDeflater;
use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

/// What a read by the reader came to (see [`Shared::read_or_park`]).
pub(crate) enum Parked {
    /// The read finished.
    Read(std::io::Result<usize>),
    /// Make the transmit a dropped write left owed.
    Owed,
    /// Wait for the socket until the session's next deadline (`None`: none runs).
    Until(Option<Instant>),
}

/// State shared by the halves of one connection.
pub(crate) struct Shared<S> {
    state: Mutex<State<S>>,
    /// Wakes a task waiting for the write side when its holder puts it back.
    write_free: tokio::sync::Notify,
    /// The id of the latest answered ping, for [`crate::Writer::ping`].
    pub(crate) pong: watch::Sender<u64>,
    /// A send left a batch pending: the reader recomputes the deadline it waits for (batching only).
    pub(crate) deadline_moved: tokio::sync::Notify,
    /// The write buffer is larger than configured (grown for a large message): read without taking the
    /// write side on every receive.
    pub(crate) write_grown: AtomicBool,
    origin: tokio::time::Instant,
    pub(crate) config: Config,
}

/// What the lock guards: the session, the socket, and the write side while no task holds it. Taking the
/// write side out and putting it back are one uncontended lock each, and putting it back also asks whether
/// the session owes a transmit, which the holder must look at once it lets go.
struct State<S> {
    session: Session,
    /// The socket, read and written under the lock (one lock per poll, as `tokio::io::split` takes its own;
    /// a transmit made at once and the reader's parking take it anyway).
    io: Pin<Box<S>>,
    /// `None` while a [`WriteGuard`] holds it.
    write: Option<WriteSide>,
    /// A task waits for the write side: wake it when it comes back.
    write_wanted: bool,
    /// The shutdown the session asked for could not finish at once ([`Shared::transmit_at_once`]): the
    /// next transmit makes it.
    shutdown_owed: bool,
    /// The reader, while it waits for its socket: woken when a dropped write leaves a transmit owed that
    /// no task would otherwise make (see [`WriteGuard`]'s `Drop`).
    reader: Option<Waker>,
}

impl<S> State<S> {
    /// True when a transmit is owed: the session's, or a shutdown that could not finish at once.
    fn owes(&self) -> bool {
        self.shutdown_owed || self.session.wants_transmit()
    }
}

/// The write side, taken out of [`Shared`]; put back by [`WriteGuard::release`], which tells its caller
/// whether a transmit is owed, or when dropped (a cancelled write): then the owed transmit is handed to the
/// reader, which is woken to make it, so no frame's rest, pong or close reply waits for the next call.
pub(crate) struct WriteGuard<'a, S> {
    shared: &'a Shared<S>,
    side: Option<WriteSide>,
    /// The payload of an unbuffered send in progress: what is still unwritten of it is copied into the
    /// write buffer when the side is put back.
    payload: &'a [u8],
    /// A data send's frames not yet placed: placed (in a grown buffer) when the side is put back before
    /// they are, so a cancelled send still leaves its message whole instead of ending data sends for good.
    rest: Option<Unplaced<'a>>,
}

/// What a data send has not placed yet: the payload `parts` from byte `done` on, ending the message when
/// `fin`, flushed by policy when `flush`.
#[derive(Clone, Copy)]
pub(crate) struct Unplaced<'a> {
    pub(crate) parts: &'a [&'a [u8]],
    pub(crate) done: usize,
    pub(crate) fin: bool,
    pub(crate) flush: bool,
}

impl<'a, S> WriteGuard<'a, S> {
    /// Puts the write side back; true when the session owes a transmit (asked under the same lock).
    pub(crate) fn release(mut self) -> bool {
        self.rest = None;
        self.shared
            .put_back(self.side.take(), self.payload, None, true)
    }

    /// Records how far a data send got placing its frames (`None` once all are placed).
    pub(crate) fn placing(&mut self, rest: Option<Unplaced<'a>>) {
        self.rest = rest;
    }

    /// Holds `payload` for an unbuffered send (see [`rill_ws::Session::send_unbuffered`]) until the side is
    /// put back.
    pub(crate) fn hold(&mut self, payload: &'a [u8]) {
        self.payload = payload;
    }
}

impl<S> std::ops::Deref for WriteGuard<'_, S> {
    type Target = WriteSide;
    fn deref(&self) -> &WriteSide {
        self.side.as_ref().expect("held until released")
    }
}

impl<S> std::ops::DerefMut for WriteGuard<'_, S> {
    fn deref_mut(&mut self) -> &mut WriteSide {
        self.side.as_mut().expect("held until released")
    }
}

impl<S> Drop for WriteGuard<'_, S> {
    fn drop(&mut self) {
        if let Some(side) = self.side.take() {
            if self
                .shared
                .put_back(Some(side), self.payload, self.rest.take(), false)
            {
                self.shared.wake_reader();
            }
        }
    }
}

impl<S> Shared<S> {
    /// The shared state (never held across an await).
    fn lock(&self) -> std::sync::MutexGuard<'_, State<S>> {
        // Plain data that a panic elsewhere cannot leave half-updated.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Puts the write side back, wakes a task waiting for it; true when the session owes a transmit. The
    /// unwritten rest of an unbuffered `payload`, and the frames of a data send not placed yet (`rest`),
    /// are copied into the write buffer first, so the next holder sends the message whole. `released`: the
    /// holder let go after finishing (a flush it made is done), not by being dropped (a flush it was in is
    /// asked for again).
    fn put_back(
        &self,
        mut side: Option<WriteSide>,
        payload: &[u8],
        rest: Option<Unplaced<'_>>,
        released: bool,
    ) -> bool {
        let (wanted, owed) = {
            let mut state = self.lock();
            // Under the lock every holder takes as it lets go: a finished flush costs no lock of its own.
            match released {
                true => state.session.flushed(),
                false => state.session.flush_abandoned(),
            }
            // Copies nothing once the payload is all written.
            if let Some(side) = side.as_mut().filter(|_| !payload.is_empty()) {
                if side.absorb(&mut state.session, payload, self.config.write_buffer) {
                    self.write_grown.store(true, Ordering::Relaxed);
                }
            }
            if let (Some(side), Some(rest)) = (side.as_mut(), rest) {
                side.place_rest(&mut state.session, rest, self.place_now());
                if side.buf.len() > self.config.write_buffer {
                    self.write_grown.store(true, Ordering::Relaxed);
                }
            }
            state.write = side;
            let wanted = std::mem::take(&mut state.write_wanted);
            (wanted, state.owes())
        };
        if wanted {
            self.write_free.notify_waiters();
        }
        owed
    }

    /// The session's clock: microseconds since the connection began.
    pub(crate) fn now(&self) -> Instant {
        Instant(self.origin.elapsed().as_micros() as u64)
    }

    /// The instant for writes and flushes that may wait: the session uses it only for the write timeout
    /// and for batching; without either, the clock is not read (it costs more than placing a small frame).
    pub(crate) fn write_now(&self) -> Instant {
        if self.config.write_timeout.is_some() || self.config.batch.is_some() {
            self.now()
        } else {
            Instant::UNKNOWN
        }
    }

    /// The instant for placing data frames and for writes that may finish at once: the session uses it only
    /// for batching (when the oldest pending byte was placed) and for a write timeout, which `bounded` starts
    /// with the real time before a write waits, so without a batch policy the clock is not read.
    pub(crate) fn place_now(&self) -> Instant {
        match self.config.batch {
            Some(_) => self.now(),
            None => Instant::UNKNOWN,
        }
    }

    /// Wakes the reader if it waits for its socket (see [`Shared::read_or_park`]).
    fn wake_reader(&self) {
        if let Some(waker) = self.unpark_reader() {
            waker.wake();
        }
    }

    /// Takes the reader's waker out of its parking (to wake it, or because its read was dropped while it
    /// waited); used or dropped once the lock is let go.
    pub(crate) fn unpark_reader(&self) -> Option<Waker> {
        self.lock().reader.take()
    }

    /// Runs `f` on the session and on the write side where it lies, if no task holds it (`None` then).
    pub(crate) fn with_free_side<T>(
        &self,
        f: impl FnOnce(&mut Session, &mut WriteSide) -> T,
    ) -> Option<T> {
        let mut state = self.lock();
        let State { session, write, .. } = &mut *state;
        write.as_mut().map(|side| f(session, side))
    }

    /// The write side if no task holds it.
    pub(crate) fn try_write_side(&self) -> Option<WriteGuard<'_, S>> {
        let side = self.lock().write.take()?;
        Some(WriteGuard {
            shared: self,
            side: Some(side),
            payload: &[],
            rest: None,
        })
    }

    /// The write side, waited for while another task holds it. Callers try [`Shared::try_write_side`]
    /// first: this future costs more than the lock.
    pub(crate) async fn wait_write_side(&self) -> WriteGuard<'_, S> {
        loop {
            let free = self.write_free.notified();
            let mut free = std::pin::pin!(free);
            // Registered before looking, so a side put back in between still wakes this task.
            free.as_mut().enable();
            {
                let mut state = self.lock();
                if let Some(side) = state.write.take() {
                    return WriteGuard {
                        shared: self,
                        side: Some(side),
                        payload: &[],
                        rest: None,
                    };
                }
                state.write_wanted = true;
            }
            free.await;
        }
    }
}

/// The write buffer the session places frames in, and the compressor.
pub(crate) struct WriteSide {
    /// Allocated at the first write (an idle connection never touches it).
    pub(crate) buf: Vec<u8>,
    /// permessage-deflate's compressor, made at the first message that leaves compressed.
    pub(crate) deflater: LazyDeflater,
}

impl WriteSide {
    /// Allocates the write buffer at the first write (an idle connection never touches it).
    pub(crate) fn allocate(&mut self, config: &Config) {
        if self.buf.is_empty() {
            self.buf = vec![0; config.write_buffer.max(rill_ws::session::MIN_WRITE_BUFFER)];
        }
    }

    /// Copies the unwritten rest of the unbuffered `payload` into the write buffer, growing it when the
    /// rest does not fit; true when it grew beyond `write_buffer`.
    fn absorb(&mut self, session: &mut Session, payload: &[u8], write_buffer: usize) -> bool {
        if let Err(rill_ws::SendError::BufferTooSmall { needed }) =
            session.absorb_unbuffered(&mut self.buf, payload)
        {
            self.buf.resize(needed, 0);
            // Cannot fail now: the buffer holds `needed` bytes.
            let _ = session.absorb_unbuffered(&mut self.buf, payload);
        }
        self.buf.len() > write_buffer
    }

    /// Places the frames a dropped data send had not placed yet, growing the write buffer as they need:
    /// at most the rest of the caller's payload (plus framing and compression overhead) is copied. Nothing
    /// is placed once the session refuses (it ended).
    fn place_rest(&mut self, session: &mut Session, rest: Unplaced<'_>, now: Instant) {
        let total: usize = rest.parts.iter().map(|part| part.len()).sum();
        let mut done = rest.done;
        // Each round either places everything or grows the buffer by more than the rest's worst case, so
        // the second round always finishes; the bound only guards against a session that never does.
        for _ in 0..4 {
            let placed = session.send_chunk(
                &mut self.buf,
                rest.parts,
                done,
                rest.fin,
                now,
                self.deflater.get(),
            );
            let Ok(placed) = placed else { return };
            done = placed;
            if done >= total && !(rest.fin && session.in_message()) {
                if rest.flush {
                    session.flush_by_policy();
                }
                return;
            }
            let left = total - done;
            let grown = self.buf.len() + left + left / 8 + 2 * rill_ws::session::MIN_WRITE_BUFFER;
            self.buf.resize(grown, 0);
        }
    }
}

impl<S: AsyncWrite> Shared<S> {
    pub(crate) fn new(io: S, role: rill_ws::Role, seed: [u8; 32], config: Config) -> Arc<Self> {
        let origin = tokio::time::Instant::now();
        let session = Session::new(role, config.session(), seed, Instant(0));
        Arc::new(Shared {
            state: Mutex::new(State {
                session,
                io: Box::pin(io),
                write: Some(WriteSide {
                    buf: Vec::new(),
                    deflater: LazyDeflater::new(config.deflate.unwrap_or_default()),
                }),
                write_wanted: false,
                shutdown_owed: false,
                reader: None,
            }),
            write_free: tokio::sync::Notify::new(),
            pong: watch::Sender::new(0),
            deadline_moved: tokio::sync::Notify::new(),
            write_grown: AtomicBool::new(false),
            origin,
            config,
        })
    }

    /// Runs `f` on the session (never across an await).
    #[inline]
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        f(&mut self.lock().session)
    }

    /// Runs `f` on the session with the current instant (reading the clock costs more than the session
    /// call, so only calls that need the time read it).
    pub(crate) fn with_now<T>(&self, f: impl FnOnce(&mut Session, Instant) -> T) -> T {
        let now = self.now();
        self.with(|session| f(session, now))
    }

    /// The tokio instant of a session deadline.
    pub(crate) fn deadline(&self, at: Instant) -> tokio::time::Instant {
        self.origin + std::time::Duration::from_micros(at.0)
    }

    /// The inflater for the window the handshake agreed, when it agreed permessage-deflate.
    pub(crate) fn inflater(&self) -> Option<Box<Inflater<Box<[u8]>>>> {
        self.with(|s| rill_zlib::agreed_inflater(s))
    }

    /// The error a finished session reports.
    pub(crate) fn ended(&self) -> Option<Error> {
        self.with(|session| session.end()).map(Error::from)
    }

    /// Writes what the session says until it has nothing more; every write is bounded by the session's
    /// next deadline (a peer that stopped reading fails the connection on the idle or write timeout).
    /// With `flush`, asks the session for a flush first (under the same lock as the first poll). `payload`
    /// is the payload of an unbuffered send in progress (empty otherwise): its unwritten rest follows the
    /// buffer's pending bytes in the same write.
    pub(crate) async fn transmit(
        &self,
        side: &mut WriteSide,
        flush: bool,
        payload: &[u8],
    ) -> Result<(), Error> {
        side.allocate(&self.config);
        // The clock is read only for a write that waits (`bounded`), not for one that finishes at once
        // (a batch policy needs it for placing).
        let (mut now, mut written, mut flush) = (self.place_now(), None, flush);
        loop {
            let transmit = {
                let mut state = self.lock();
                let shutdown = std::mem::take(&mut state.shutdown_owed);
                let s = &mut state.session;
                if std::mem::take(&mut flush) {
                    s.flush();
                }
                if let Some(n) = written.take() {
                    s.wrote(n, now);
                }
                match shutdown {
                    true => Transmit::Shutdown,
                    false => s.poll_transmit(&mut side.buf, now),
                }
            };
            match transmit {
                Transmit::Write {
                    start,
                    end,
                    unbuffered,
                } => {
                    let rest = match unbuffered {
                        0 => &[][..],
                        n => payload
                            .len()
                            .checked_sub(n)
                            .map_or(&[][..], |at| &payload[at..]),
                    };
                    let write = self.write_pending(&side.buf[start..end], rest);
                    let (result, waited) = self.bounded(write).await;
                    // Progress is judged when the write ended: a write that finished at once ended at
                    // `now` as far as any deadline can tell, so only one that waited reads the clock.
                    if waited {
                        now = self.write_now();
                    }
                    match result {
                        Some(Ok(0)) => return Err(self.abort(ErrorKind::WriteZero.into())),
                        Some(Ok(n)) => written = Some(n),
                        Some(Err(error)) => return Err(self.abort(error)),
                        None => {
                            // A deadline passed: judged by the real time (`now` may stand in for it).
                            self.with_now(|s, now| s.handle_timeout(now));
                            if let Some(error) = self.ended() {
                                return Err(error);
                            }
                        }
                    }
                }
                // Everything is out. Every caller asks the session again once it lets go of the write
                // side (`transmit_if_free`, `transmit_owed`, or the next placing step), so this one stops
                // here instead of polling once more for `Idle`. A TLS stream's flush writes, so it is
                // bounded like a write (the session runs the write timeout for it until the side is released).
                Transmit::Flush => loop {
                    let flush = std::future::poll_fn(|cx| self.lock().io.as_mut().poll_flush(cx));
                    match self.bounded(flush).await.0 {
                        // The session hears that the flush is done when the side is released.
                        Some(Ok(())) => return Ok(()),
                        Some(Err(error)) => return Err(self.abort(error)),
                        None => {
                            self.with_now(|s, now| s.handle_timeout(now));
                            if let Some(error) = self.ended() {
                                return Err(error);
                            }
                            // Another deadline passed (a keepalive ping is now owed): flush on.
                        }
                    }
                },
                Transmit::Shutdown => self.shut_down().await,
                Transmit::Idle => return Ok(()),
            }
        }
    }

    /// `io` until the session's next deadline (`None` when it passed first), and whether it waited. Most
    /// writes finish at once: `io` is polled once first, and the clock read, the deadline asked for and
    /// the timer made only for one that must wait (a timer registered per write cost about 800
    /// instructions per 20 B echo, asking for the deadline about 70, reading the clock about 110,
    /// callgrind). The session hears the time first: the placing and writing before passed it none
    /// ([`Instant::UNKNOWN`]), so a write timeout they started runs from here.
    async fn bounded<F: std::future::Future>(&self, io: F) -> (Option<F::Output>, bool) {
        let mut io = std::pin::pin!(io);
        let first = std::future::poll_fn(|cx| Poll::Ready(io.as_mut().poll(cx))).await;
        if let Poll::Ready(output) = first {
            return (Some(output), false);
        }
        let deadline = self.with_now(|s, now| {
            s.handle_timeout(now);
            s.end().is_none().then(|| s.poll_timeout())
        });
        let output = match deadline {
            // A deadline had passed: the caller hears it as one that passed while waiting.
            None => None,
            Some(None) => Some(io.await),
            Some(Some(at)) => tokio::time::timeout_at(self.deadline(at), io).await.ok(),
        };
        (output, true)
    }

    /// Writes what the session says under one lock, with the write side where it lies, as long as every
    /// write and flush finishes at once (the socket has room: the common case). Taking the side out, the
    /// transmit's futures and putting the side back cost about 400 instructions per 20 B echo (callgrind).
    /// `None` when another task holds the side, a write, flush or shutdown would wait (its deadline is the
    /// slow path's), or a batch policy runs (the reader must hear of a moved deadline): the caller then
    /// transmits the slow way, which goes on from where this stopped. With `flush`, asks the session for a
    /// flush first.
    fn transmit_at_once(&self, cx: &mut Context<'_>, flush: bool) -> Option<Result<(), Error>> {
        if self.config.batch.is_some() {
            return None;
        }
        let mut state = self.lock();
        let State {
            session,
            io,
            write,
            shutdown_owed,
            ..
        } = &mut *state;
        let side = write.as_mut()?;
        side.allocate(&self.config);
        if flush {
            session.flush();
        }
        // Writes that finish at once start no write timeout, so the clock is not read here: one that
        // would wait returns to the slow path, which gives the session the time before it waits
        // (`bounded`; about 110 instructions per message, callgrind).
        let now = Instant::UNKNOWN;
        loop {
            let io = io.as_mut();
            let done = match session.poll_transmit(&mut side.buf, now) {
                // No unbuffered payload follows: its sender holds the side until the rest is absorbed.
                Transmit::Write { start, end, .. } => {
                    match io.poll_write(cx, &side.buf[start..end]) {
                        Poll::Ready(Ok(0)) => Err(ErrorKind::WriteZero.into()),
                        Poll::Ready(Ok(n)) => {
                            session.wrote(n, now);
                            continue;
                        }
                        Poll::Ready(Err(error)) => Err(error),
                        Poll::Pending => return None,
                    }
                }
                Transmit::Flush => match io.poll_flush(cx) {
                    // The next poll records the flush done.
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(error)) => Err(error),
                    Poll::Pending => {
                        // Asked for again, so the slow path flushes.
                        session.flush_abandoned();
                        return None;
                    }
                },
                // The session asks once: a shutdown that must wait is the slow path's to finish.
                Transmit::Shutdown => match io.poll_shutdown(cx) {
                    Poll::Ready(_) => continue,
                    Poll::Pending => {
                        *shutdown_owed = true;
                        return None;
                    }
                },
                Transmit::Idle => Ok(()),
            };
            return Some(done.map_err(|error| {
                session.abort();
                Error::Io(error)
            }));
        }
    }

    /// Ends our side of the TCP connection. The peer may already be gone; the connection is over either
    /// way, so the shutdown (a TLS close_notify is a write) gets the close timeout at most.
    async fn shut_down(&self) {
        let limit = self.config.close_timeout;
        let shutdown = std::future::poll_fn(|cx| self.lock().io.as_mut().poll_shutdown(cx));
        drop(tokio::time::timeout(limit, shutdown).await);
    }

    /// Writes `pending` (bytes of the write buffer) followed by `rest` (an unbuffered payload's unwritten
    /// end) in one write; returns how many bytes of the two went.
    fn write_pending<'a>(
        &'a self,
        pending: &'a [u8],
        rest: &'a [u8],
    ) -> impl std::future::Future<Output = std::io::Result<usize>> + 'a {
        std::future::poll_fn(move |cx| {
            let mut state = self.lock();
            let io = state.io.as_mut();
            match (pending.is_empty(), rest.is_empty()) {
                (_, true) => io.poll_write(cx, pending),
                (true, false) => io.poll_write(cx, rest),
                (false, false) => io.poll_write_vectored(
                    cx,
                    &[std::io::IoSlice::new(pending), std::io::IoSlice::new(rest)],
                ),
            }
        })
    }

    /// [`Shared::transmit_at_once`] from an async caller: `Some` when it is done.
    pub(crate) fn at_once(
        &self,
        flush: bool,
    ) -> impl std::future::Future<Output = Option<Result<(), Error>>> + '_ {
        std::future::poll_fn(move |cx| Poll::Ready(self.transmit_at_once(cx, flush)))
    }

    /// Takes the write side, transmits (flushing everything first with `flush`), lets go, and transmits
    /// anything queued meanwhile.
    pub(crate) async fn transmit_now(&self, flush: bool) -> Result<(), Error> {
        if let Some(done) = self.at_once(flush).await {
            return done;
        }
        let mut side = match self.try_write_side() {
            Some(side) => side,
            None => self.wait_write_side().await,
        };
        self.transmit(&mut side, flush, &[]).await?;
        match side.release() {
            true => self.transmit_owed(true).await,
            false => Ok(()),
        }
    }

    /// Transmits what the session owes if the write side is free; its holder transmits otherwise, and
    /// looks again after letting go, so a reply is never stranded and the reader never waits on a writer.
    pub(crate) async fn transmit_if_free(&self) -> Result<(), Error> {
        self.transmit_owed(self.owes()).await
    }

    /// True when the session has something to transmit. Hot paths ask this before awaiting
    /// [`Shared::transmit_owed`]: even a transmit with nothing to do costs its future.
    pub(crate) fn owes(&self) -> bool {
        self.lock().owes()
    }

    /// [`Shared::transmit_if_free`] when the caller already asked the session whether anything is owed.
    pub(crate) async fn transmit_owed(&self, mut owed: bool) -> Result<(), Error> {
        if owed {
            if let Some(done) = self.at_once(false).await {
                return done;
            }
        }
        while owed {
            let Some(mut side) = self.try_write_side() else {
                return Ok(());
            };
            self.transmit(&mut side, false, &[]).await?;
            owed = side.release();
        }
        Ok(())
    }

    /// Lets go of the write side after a send; true when the session owes a transmit. Under a batch policy
    /// the reader recomputes the deadline it waits for (the send may have left a batch pending).
    pub(crate) fn sent(&self, side: WriteGuard<'_, S>) -> bool {
        if self.config.batch.is_some() {
            self.deadline_moved.notify_one();
        }
        side.release()
    }

    /// True when the write buffer is larger than configured (grown for a large message).
    pub(crate) fn write_buffer_grown(&self) -> bool {
        self.write_grown.load(Ordering::Relaxed)
    }

    /// Frees a grown write buffer if nothing is pending in it (it is allocated again at the next write).
    pub(crate) fn shrink_write_buffer(&self) {
        if let Some(mut side) = self.try_write_side() {
            let grown = side.buf.len() > self.config.write_buffer;
            if grown && !self.with(|s| s.has_pending_output()) {
                side.buf = Vec::new();
                self.write_grown.store(false, Ordering::Relaxed);
            }
        }
    }

    fn abort(&self, error: std::io::Error) -> Error {
        self.with(|s| s.abort());
        Error::Io(error)
    }
}

impl<S: AsyncRead> Shared<S> {
    /// One read into `buf` for the reader (see [`pool::poll_read`]).
    pub(crate) fn poll_read(
        &self,
        buf: &mut Vec<u8>,
        capacity: usize,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<usize>> {
        pool::poll_read(self.lock().io.as_mut(), buf, capacity, None, cx)
    }

    /// One read into `buf` (into `within`, when given; see [`pool::poll_read`]) for the reader and, when the
    /// socket is dry, the reader's parking, under one lock: [`Parked::Owed`] when a transmit is owed and the write side is free (a write was dropped with
    /// it owed: make it now); else the reader is woken if that happens while it waits, and waits until
    /// the session's next deadline.
    pub(crate) fn read_or_park(
        &self,
        buf: &mut Vec<u8>,
        capacity: usize,
        within: Option<std::ops::Range<usize>>,
        cx: &mut Context<'_>,
    ) -> Parked {
        let mut state = self.lock();
        if let Poll::Ready(result) = pool::poll_read(state.io.as_mut(), buf, capacity, within, cx) {
            return Parked::Read(result);
        }
        if state.write.is_some() && state.owes() {
            return Parked::Owed;
        }
        match &mut state.reader {
            Some(parked) if parked.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Parked::Until(state.session.poll_timeout())
    }
}
