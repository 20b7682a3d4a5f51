//! What both halves of a connection share, in memory the caller owns, and the pump that drives the session.
//!
//! The [`rill_ws::Session`] holds all protocol state: replies owed, the close handshake and lingering, every
//! deadline. It sits behind a blocking mutex that is held only for synchronous session calls, never across
//! an await. The write side (the stream's write half and the write buffer) sits behind an async mutex held
//! only while bytes are written; whoever holds it runs the transmit pump. After letting go it looks again,
//! so a reply the reader queued while the lock was held is never stranded.

use crate::{Config, Error, Flush, Upgraded};
use core::cell::RefCell;
use core::future::{pending, Future};
use core::pin::{pin, Pin};
use embassy_futures::select::{select, Either};
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_sync::blocking_mutex::Mutex as BlockingMutex;
use embassy_sync::mutex::{Mutex, MutexGuard};
use embassy_sync::signal::Signal;
use embassy_time::{Duration, Timer, TICK_HZ};
use embedded_io_async::Write;
use rill_ws::session::MIN_WRITE_BUFFER;
use rill_ws::{CloseCode, MessageKind, Role, SendError, Session, Transmit};

/// The clock the session sees: microseconds of `embassy_time`.
pub(crate) fn now() -> rill_ws::Instant {
    rill_ws::Instant(embassy_time::Instant::now().as_micros())
}

/// The instant `timeout` from now, for `with_deadline`. One the embassy clock cannot reach is
/// `Instant::MAX`, whose timer never fires: `Duration::MAX` means never (issue 23: `now + timeout`
/// overflowed and panicked), and so does anything beyond about `u64::MAX / TICK_HZ` microseconds (213 days
/// at 1 MHz ticks). A plain function, not an async wrapper: the awaited future stays the size it was.
pub(crate) fn after(timeout: core::time::Duration) -> embassy_time::Instant {
    let micros = rill_ws::session::micros(timeout);
    // Up to this bound `Duration::from_micros` cannot overflow, whatever the tick rate and its rounding.
    (micros <= (u64::MAX - 1_000_000) / TICK_HZ)
        .then(|| embassy_time::Instant::now().checked_add(Duration::from_micros(micros)))
        .flatten()
        .unwrap_or(embassy_time::Instant::MAX)
}

/// A session deadline on the embassy clock, one tick late rather than early: `from_micros` rounds down,
/// and a timer firing before the deadline would find nothing due and fire again at once.
fn deadline(at: rill_ws::Instant) -> embassy_time::Instant {
    // Clamped so that the conversion to ticks cannot overflow (a saturated "never" deadline).
    embassy_time::Instant::from_micros(at.0.min(u64::MAX / TICK_HZ)) + Duration::from_ticks(1)
}

pub(crate) struct WriteSide<'b, W> {
    io: W,
    buf: &'b mut [u8],
}

/// The write side, locked. Letting go of it, also by dropping it when a write is cancelled, wakes the
/// reader: the session may still owe bytes (a frame's rest, a pong, a close reply) that no other task
/// would otherwise send.
struct Held<'a, 'b, M: RawMutex, W> {
    side: MutexGuard<'a, M, WriteSide<'b, W>>,
    wake: &'a Signal<M, ()>,
}

impl<'b, M: RawMutex, W> core::ops::Deref for Held<'_, 'b, M, W> {
    type Target = WriteSide<'b, W>;
    fn deref(&self) -> &WriteSide<'b, W> {
        &self.side
    }
}

impl<'b, M: RawMutex, W> core::ops::DerefMut for Held<'_, 'b, M, W> {
    fn deref_mut(&mut self) -> &mut WriteSide<'b, W> {
        &mut self.side
    }
}

impl<M: RawMutex, W> Drop for Held<'_, '_, M, W> {
    fn drop(&mut self) {
        self.wake.signal(());
    }
}

/// What the reader and writer halves of one connection share. Create it with the write half of the
/// stream and a write buffer of at least [`rill_ws::session::MIN_WRITE_BUFFER`] bytes (every frame is placed
/// whole in it; a few hundred bytes to a few KiB is typical). For an echo or a relay, make it
/// [`rill_ws::frame::MAX_HEADER_LEN`] bytes larger than the read buffer: each piece then leaves as one frame,
/// not as a frame that fills the buffer and a small tail. Pick the mutex kind with `M`: `NoopRawMutex` when
/// both halves run on one executor.
pub struct Shared<'b, M: RawMutex, W> {
    session: BlockingMutex<M, RefCell<Session>>,
    write: Mutex<M, WriteSide<'b, W>>,
    /// The id of each answered ping, for [`crate::Writer::ping`]; 0 (never an id) once no pong can come.
    pub(crate) pong: Signal<M, u64>,
    /// Wakes a half sleeping in I/O when the other one changed the session: a deadline may have moved
    /// closer (our close frame, pending output) or the connection ended.
    pub(crate) reader_wake: Signal<M, ()>,
    writer_wake: Signal<M, ()>,
    /// [`Config::flush`].
    flush: Flush,
}

impl<'b, M: RawMutex, W: Write> Shared<'b, M, W> {
    /// State for one connection: `io` is the stream's write half; `mask_seed` keys a client's masking keys
    /// (a ChaCha8 keystream, RFC 6455 section 5.3). For a client it must be 32 fresh bytes from the
    /// board's hardware RNG for every connection, never a constant, a counter or a clock; a server masks
    /// nothing and may pass zeros.
    pub fn new(
        io: W,
        write_buf: &'b mut [u8],
        role: Role,
        mask_seed: [u8; 32],
        config: Config,
    ) -> Self {
        Shared {
            session: BlockingMutex::new(RefCell::new(Session::new(
                role,
                config.session(),
                mask_seed,
                now(),
            ))),
            write: Mutex::new(WriteSide { io, buf: write_buf }),
            pong: Signal::new(),
            reader_wake: Signal::new(),
            writer_wake: Signal::new(),
            flush: config.flush,
        }
    }

    /// Starts the session after the handshake `upgraded` describes: the permessage-deflate agreement
    /// first (frames that came right behind the handshake may be compressed), then those frames, decoded
    /// where they lie in the read buffer of `read_len` bytes.
    pub(crate) fn begin(&self, upgraded: Upgraded, read_len: usize) {
        self.with(|s| s.set_deflate(upgraded.deflate, 0));
        if upgraded.start < upgraded.end && upgraded.end <= read_len {
            self.with(|s| s.handle_input(upgraded.start..upgraded.end, now()));
        }
    }

    /// Runs one synchronous step of the session.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        self.session.lock(|session| f(&mut session.borrow_mut()))
    }

    /// Tells both halves, and a waiting ping, that the connection is closing or over.
    pub(crate) fn wake_both(&self) {
        self.reader_wake.signal(());
        self.writer_wake.signal(());
        self.pong.signal(0);
    }

    /// The error for a send the session refused: the connection's end once it is over.
    pub(crate) fn refused(&self, error: SendError) -> Error<W::Error> {
        match self.with(|s| s.end()) {
            Some(end) => end.into(),
            None => Error::Send(error),
        }
    }

    /// Waits for `op` (a read or a write) until the session's next deadline or a wake from the other half.
    /// `None`: the deadline passed (and was handled) or the other half changed something, with the
    /// connection still going; `op` is left pending for the caller to poll again or drop.
    pub(crate) async fn wait<T>(
        &self,
        op: impl Future<Output = Result<T, W::Error>>,
        wake: &Signal<M, ()>,
    ) -> Result<Option<T>, Error<W::Error>> {
        let at = self.with(|s| s.poll_timeout());
        let tick = async {
            match at {
                Some(at) => Timer::at(deadline(at)).await,
                None => pending().await,
            }
        };
        match select(op, select(tick, wake.wait())).await {
            Either::First(Ok(done)) => Ok(Some(done)),
            Either::First(Err(error)) => {
                self.with(Session::abort);
                self.wake_both();
                Err(Error::Io(error))
            }
            Either::Second(_) => {
                let end = self.with(|s| {
                    s.handle_timeout(now());
                    s.end()
                });
                match end {
                    Some(end) => {
                        self.wake_both();
                        Err(end.into())
                    }
                    None => Ok(None),
                }
            }
        }
    }

    /// [`Shared::wait`] until `op` finishes or the connection ends.
    async fn finish<T>(
        &self,
        mut op: Pin<&mut impl Future<Output = Result<T, W::Error>>>,
    ) -> Result<T, Error<W::Error>> {
        loop {
            if let Some(done) = self.wait(op.as_mut(), &self.writer_wake).await? {
                return Ok(done);
            }
        }
    }

    /// Does what the session asks of the write side until it is idle; returns whether it did anything.
    async fn pump(&self, side: &mut WriteSide<'b, W>) -> Result<bool, Error<W::Error>> {
        let mut worked = false;
        loop {
            match self.with(|s| s.poll_transmit(side.buf, now())) {
                Transmit::Write { start, end, .. } => {
                    let bytes = side.buf.get(start..end).unwrap_or_default();
                    let written = self.finish(pin!(side.io.write(bytes))).await?;
                    if written == 0 {
                        // A writer that takes nothing will never take anything.
                        self.with(Session::abort);
                        self.reader_wake.signal(());
                        return Err(Error::AbnormalClosure);
                    }
                    self.with(|s| s.wrote(written, now()));
                }
                Transmit::Flush if self.flush == Flush::Stream => {
                    self.finish(pin!(side.io.flush())).await?
                }
                Transmit::Flush => {}
                // A server's close frame is out and it must end TCP first (RFC 6455 section 7.1.1), but
                // embedded-io has no half-close. So the session ends here, keeping why it ended: the
                // reader returns that, and the application closes the socket, which sends the FIN (and,
                // with `app::net::close`-style code, reads to the peer's FIN, which is the lingering).
                Transmit::Shutdown => {
                    self.with(Session::abort);
                    self.reader_wake.signal(());
                }
                Transmit::Idle => return Ok(worked),
            }
            worked = true;
        }
    }

    /// Runs the pump if the write side is free, as long as the session has work; never waits for the lock
    /// (its holder pumps, and looks again after letting go). Returns whether anything was done.
    pub(crate) async fn try_pump(&self) -> Result<bool, Error<W::Error>> {
        let mut worked = false;
        while self.with(|s| s.wants_transmit()) {
            let Ok(side) = self.write.try_lock() else {
                break;
            };
            let mut side = self.held(side);
            if !self.pump(&mut side).await? {
                break;
            }
            worked = true;
        }
        Ok(worked)
    }

    /// The write side, waited for.
    async fn lock(&self) -> Held<'_, 'b, M, W> {
        self.held(self.write.lock().await)
    }

    fn held<'a>(&'a self, side: MutexGuard<'a, M, WriteSide<'b, W>>) -> Held<'a, 'b, M, W> {
        Held {
            side,
            wake: &self.reader_wake,
        }
    }

    /// Ends a write operation: lets go of the lock (which tells the reader deadlines may have moved), and
    /// sends whatever was queued meanwhile.
    async fn unlock(
        &self,
        side: Held<'_, 'b, M, W>,
        result: Result<(), Error<W::Error>>,
    ) -> Result<(), Error<W::Error>> {
        drop(side);
        let pumped = self.try_pump().await;
        result.and(pumped.map(drop))
    }

    /// Writes out what the session wants written (owed replies, a ping, a close frame, a flush).
    pub(crate) async fn transmit(&self) -> Result<(), Error<W::Error>> {
        let mut side = self.lock().await;
        let result = self.pump(&mut side).await.map(drop);
        self.unlock(side, result).await
    }

    /// Places our close frame with `code` and `reason` after what is pending (writing that out while it
    /// needs room), then writes it out.
    pub(crate) async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error<W::Error>> {
        let mut side = self.lock().await;
        let result = self
            .place(&mut side, |s, buf| s.close(code, reason, buf, now()))
            .await;
        self.unlock(side, result).await
    }

    /// Sends the concatenation of `parts` as the next frame(s) of a message (begun first if `begin` is
    /// given; `fin` ends it), then flushes by the session's policy if `flush`, else leaves it placed.
    pub(crate) async fn send(
        &self,
        begin: Option<MessageKind>,
        parts: &[&[u8]],
        fin: bool,
        flush: bool,
    ) -> Result<(), Error<W::Error>> {
        let mut side = self.lock().await;
        let total: usize = parts.iter().map(|part| part.len()).sum();
        let (mut begin, mut placed) = (begin, 0);
        let result = self
            .place(&mut side, move |s, buf| {
                if let Some(kind) = begin.take() {
                    s.begin(kind)?;
                }
                placed = s.send_chunk(
                    buf,
                    parts,
                    placed,
                    fin,
                    now(),
                    rill_ws::session::NO_DEFLATER,
                )?;
                let done = placed >= total && !(fin && s.in_message());
                if done && flush {
                    s.flush_by_policy();
                }
                Ok(done)
            })
            .await;
        self.unlock(side, result).await
    }

    /// Places frames with `step` (given the session and the write buffer; true once everything is
    /// placed), writing out what is pending whenever it needs room, then writes out what the session
    /// asks for.
    async fn place(
        &self,
        side: &mut WriteSide<'b, W>,
        mut step: impl FnMut(&mut Session, &mut [u8]) -> Result<bool, SendError>,
    ) -> Result<(), Error<W::Error>> {
        if side.buf.len() < MIN_WRITE_BUFFER {
            // The session could never place a frame: refuse instead of waiting for room forever.
            let needed = MIN_WRITE_BUFFER;
            return Err(Error::Send(SendError::BufferTooSmall { needed }));
        }
        // What does not fit waits for room: write out what is pending.
        while !self
            .with(|s| step(s, side.buf))
            .map_err(|e| self.refused(e))?
        {
            self.pump(side).await?;
        }
        self.pump(side).await.map(drop)
    }
}
