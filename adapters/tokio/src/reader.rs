//! The reading half: whole messages (reassembled up to a limit) or pieces of any size, streamed. It reads
//! into the read buffer, hands it to the session, and transmits the replies the session owes when the
//! write side is free; it never waits for the writer.

use crate::shared::{Parked, Shared};
use crate::Error;
use rill_ws::deflate::Inflater;
use rill_ws::{CloseCode, Event, Message, Piece, PieceAt, ProtocolError};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;

/// How long a connection stays quiet before buffers grown by a burst are returned.
const SHRINK_AFTER_MS: u64 = 500;

/// How long (us) a connection may keep reading without its socket running dry before it yields to the other
/// tasks. A yield is a trip through the scheduler (on tokio's multi-thread runtime the task may move to another
/// worker), so the bound is in time: a bound of 64 KiB read made every read of pipelined 64 KiB messages
/// yield, for 10-15% more CPU per message (`docs/performance.md`).
const TURN_MICROS: u64 = 1_000;

/// Takes the reader's waker back from the socket's parking and from its timer when a read is dropped while
/// it waits (a waker left there would wake a task that no longer reads, and keep it alive).
struct Unpark<'a, S> {
    shared: &'a Shared<S>,
    alarm: &'a mut Alarm,
    /// The read's last poll was pending.
    waiting: bool,
}

impl<S> Drop for Unpark<'_, S> {
    fn drop(&mut self) {
        if self.waiting {
            self.release();
        }
    }
}

impl<S> Unpark<'_, S> {
    /// Out of line: the reads that finish (nearly all) should not carry it.
    #[cold]
    #[inline(never)]
    fn release(&mut self) {
        drop(self.shared.unpark_reader());
        self.alarm.disarm();
    }
}

/// What ended a wait for the socket.
enum Woke {
    /// The read finished.
    Read(std::io::Result<usize>),
    /// The alarm rang: a deadline passed, or buffers may shrink.
    Alarm,
    /// A batch the writer left pending moved the session's next deadline earlier: wait again.
    Moved,
    /// A write was dropped with a transmit owed and the write side free: make it, then read on.
    Owed,
}

/// What one read brought, for the session: bytes (where in the read buffer, how many, and when), the end of
/// the stream, or a passed deadline.
enum Input {
    Bytes(usize, usize, rill_ws::Instant),
    Eof,
    Timeout(rill_ws::Instant),
}

/// The reading half of a connection. Pings are answered and pongs recorded while it reads.
pub struct Reader<S> {
    /// The read buffer: twice the most one read takes (`capacity`), so that a frame begun in a read has
    /// room behind it; initialised once when it is made (the session knows which bytes a read brought). Held only while its bytes are in use: a read
    /// that finds the socket dry returns it to the thread's free list ([`pool`]), and the next read takes
    /// one from there.
    buf: Vec<u8>,
    /// The most one read takes: `read_buffer`, doubled while reads fill it.
    capacity: usize,
    /// Where [`Reader::recv`] reassembles a message that spans reads, unless it lies in the read buffer.
    message: Vec<u8>,
    /// [`Reader::recv`] is reassembling a message: kept however long its sender pauses.
    gathering: bool,
    /// The message being reassembled lies in the read buffer, at (start, length): its first piece ended
    /// where its read did, and the rest of its frame is read straight behind it (see
    /// [`Reader::read_within`]), so it is never copied.
    in_place: Option<(usize, usize)>,
    /// Bytes the last read returned.
    last_read: usize,
    /// When this task last waited for its socket or yielded (see [`TURN_MICROS`]).
    turn_began: rill_ws::Instant,
    /// The turn has lasted [`TURN_MICROS`]: yield before the next read.
    turn_over: bool,
    /// The session holds undecoded input, as of the reader's last call into it (only the reader's calls
    /// change that), so [`Reader::has_buffered_input`] takes no lock.
    buffered: bool,
    /// The peer's close frame, copied out of the session when it arrives.
    close: (Option<CloseCode>, String),
    /// The peer's close frame arrived but was not reported yet (the receive was dropped while sending the
    /// reply): the next receive reports it.
    close_unreported: bool,
    /// The next piece (or the peer's close, `None`), read while the connection's owner waited in a send
    /// ([`Reader::read_ahead`]): the next receive returns it before reading on.
    ahead: Option<Option<PieceAt>>,
    /// permessage-deflate's inflater and its window, allocated at the first compressed message.
    inflater: Option<Box<Inflater<Box<[u8]>>>>,
    /// Wakes a read at the session's next deadline or when buffers may shrink.
    alarm: Alarm,
    pub(crate) shared: Arc<Shared<S>>,
    /// The connection's place under a listener's limits and in a drain (`crate::drain`).
    pub(crate) ticket: Option<Arc<rill_net::Ticket>>,
}

/// The reader's one timer. It is moved only to ring earlier than it is set for, or after it rang: the
/// deadlines a read waits for (idle, keepalive, the quiet period before grown buffers shrink) move later
/// with every read, and registering a timer per read cost about 570 instructions per message
/// (callgrind, 16 KiB echo). Set too early, it rings, finds the deadline later, and is set again.
/// A timer set and polled by this task, not yet rung, is not polled again for every wait: polling it
/// (tokio's cooperative budget, the waker's registration) cost about 200 instructions per 20 B echo.
#[derive(Default)]
struct Alarm {
    sleep: Option<Pin<Box<Sleep>>>,
    /// The waker the timer holds since its last poll returned pending.
    armed: Option<Waker>,
}

impl Alarm {
    /// Ready once `at` has passed; wakes the task then.
    fn poll_at(&mut self, at: tokio::time::Instant, cx: &mut Context<'_>) -> Poll<()> {
        // Allocated once, at the first deadline the connection waits for.
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        let armed = self.armed.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if armed && sleep.deadline() <= at && !sleep.is_elapsed() {
            return Poll::Pending;
        }
        loop {
            if sleep.deadline() > at || (sleep.is_elapsed() && sleep.deadline() < at) {
                sleep.as_mut().reset(at);
            }
            if sleep.as_mut().poll(cx).is_pending() {
                if !armed {
                    self.armed = Some(cx.waker().clone());
                }
                return Poll::Pending;
            }
            if sleep.deadline() >= at {
                return Poll::Ready(());
            }
        }
    }

    /// Takes the task's waker back from the timer by dropping the timer (made again by the next wait; a new
    /// one made here would need the runtime, which a dropped future may no longer run in).
    fn disarm(&mut self) {
        if self.armed.take().is_some() {
            self.sleep = None;
        }
    }
}

impl<S: AsyncRead + AsyncWrite> Reader<S> {
    /// A reader over `io`; `buf` holds bytes that followed the handshake at `start..`.
    pub(crate) fn new(mut buf: Vec<u8>, start: usize, shared: Arc<Shared<S>>) -> Self {
        buf.drain(..start.min(buf.len()));
        let early = buf.len();
        if early > 0 {
            shared.with_now(|s, now| s.handle_input(0..early, now));
        }
        let buffered = shared.with(|s| s.has_buffered_input());
        Reader {
            buf,
            capacity: shared.config.read_capacity(),
            message: Vec::new(),
            gathering: false,
            in_place: None,
            last_read: 0,
            turn_began: rill_ws::Instant(0),
            turn_over: false,
            buffered,
            close: (None, String::new()),
            close_unreported: false,
            ahead: None,
            inflater: None,
            alarm: Alarm::default(),
            shared,
            ticket: None,
        }
    }

    /// Receives the next complete message. A message that arrived in one read is returned straight from the
    /// read buffer; a larger one is reassembled, up to `max_message` (the peer gets close code 1009 beyond
    /// it). A frame that began in a read is completed in the read buffer itself when its rest fits there
    /// (the rest is read straight behind it), so most large messages are never copied; others are
    /// reassembled in memory. Use [`Reader::recv_piece`] to stream instead.
    ///
    /// Cancel-safe: dropped while waiting (e.g. in `tokio::select!`), it loses nothing; the next call
    /// continues the message where this one stopped.
    pub async fn recv(&mut self) -> Result<Message<'_>, Error> {
        let (kind, whole) = loop {
            // Without a drain, `next` is awaited directly: a wrapping future costs about 90
            // instructions per message.
            let next = match self.ticket {
                None => self.next().await?,
                Some(_) => self.next_or_leave().await?,
            };
            let Some(at) = next else {
                let (code, reason) = self.close_frame();
                return Ok(Message::Close(code, reason));
            };
            let limit = self.shared.config.max_message;
            let whole = at.first && at.last;
            if whole && at.end - at.start <= limit {
                break (at.kind, Some(at));
            }
            if at.first {
                self.in_place = None;
                self.message.clear();
            }
            let len = at.end - at.start;
            let gathered = self.in_place.map_or(self.message.len(), |(_, len)| len);
            if whole || gathered + len > limit {
                (self.message, self.gathering, self.in_place) = (Vec::new(), false, None);
                let error = ProtocolError::MessageTooLarge {
                    limit: limit as u64,
                };
                self.shared.with_now(|s, now| s.fail(error, now));
                continue;
            }
            match self.in_place {
                // Read straight behind it.
                Some((start, gathered)) if at.start == start + gathered => {
                    self.in_place = Some((start, gathered + len));
                }
                // Nothing follows it in the read buffer: the rest can be read behind it.
                _ if at.first && !at.inflated && !self.buffered => {
                    self.in_place = Some((at.start, len));
                }
                _ => {
                    self.leave_in_place();
                    let piece = at.of_with(&self.buf, self.inflater.as_deref()).payload;
                    self.message.extend_from_slice(piece);
                }
            }
            self.gathering = !at.last;
            if at.last {
                break (at.kind, None);
            }
        };
        let bytes = match (whole, self.in_place) {
            (Some(at), _) => at.of_with(&self.buf, self.inflater.as_deref()).payload,
            (None, Some((start, len))) => &self.buf[start..start + len],
            (None, None) => &self.message[..],
        };
        Ok(Message::new(kind, bytes))
    }

    /// Receives the next piece of a message as soon as it arrives: a message of any size streams through
    /// the read buffer. Text pieces may end inside a character; the message as a whole is validated UTF-8.
    /// `None` when the peer's close frame arrived (its reply is sent; see [`Reader::close_frame`]); the
    /// next call waits for the end of the connection and reports [`Error::Closed`].
    pub async fn recv_piece(&mut self) -> Result<Option<Piece<'_>>, Error> {
        let next = match self.ticket {
            None => self.next().await?,
            Some(_) => self.next_or_leave().await?,
        };
        let Some(at) = next else {
            return Ok(None);
        };
        // Pieces are not reassembled: a message `recv` began and left is given up, its buffer may go.
        (self.gathering, self.in_place) = (false, None);
        Ok(Some(at.of_with(&self.buf, self.inflater.as_deref())))
    }

    /// Copies a message reassembled in the read buffer into `message`, before the read buffer is read
    /// into from its start again.
    fn leave_in_place(&mut self) {
        if let Some((start, len)) = self.in_place.take() {
            self.message.clear();
            self.message
                .extend_from_slice(&self.buf[start..start + len]);
        }
    }

    /// The peer's close frame, once [`Reader::recv_piece`] returned `None`: its code and reason.
    pub fn close_frame(&self) -> (Option<CloseCode>, &str) {
        (self.close.0, &self.close.1)
    }

    /// True when input already read waits to be received: bytes not decoded yet, or a piece read while a
    /// send of the connection used whole waited.
    pub fn has_buffered_input(&self) -> bool {
        self.buffered || self.ahead.is_some()
    }

    /// True when more input is ready now: bytes already read, or bytes the socket hands over without
    /// waiting (one non-blocking read). The extra read costs a system call and an event-loop round trip
    /// per message when the peer has one message in flight: measured with uWebSockets' `load_test` (10
    /// connections, 20 B), an echo that flushed when this was false made 62k msgs/s, one that flushed when
    /// [`Reader::has_buffered_input`] was false 107k. Prefer that check; this one only pays when peers
    /// pipeline deeply.
    pub fn input_ready(&mut self) -> bool {
        if self.has_buffered_input() {
            return true;
        }
        self.leave_in_place();
        let mut context = Context::from_waker(Waker::noop());
        match self
            .shared
            .poll_read(&mut self.buf, self.capacity, &mut context)
        {
            Poll::Ready(result) => {
                // An error ends the session; the next receive reports how it ended.
                let _ = self.handle_read(Some(result));
                true
            }
            Poll::Pending => false,
        }
    }

    /// Decodes until a data piece (`Some`) or the peer's close frame (`None`); reads when the buffer runs
    /// dry, transmits replies on the way, and wakes on the session's deadlines.
    pub(crate) async fn next(&mut self) -> Result<Option<PieceAt>, Error> {
        if let Some(kept) = self.ahead.take() {
            if kept.is_some() {
                let now = self.shared.now();
                self.shared.with(|s| s.hold_input(false, now));
            }
            return Ok(kept);
        }
        // Each receive spends from tokio's cooperative budget (before anything is decoded, so yielding here
        // loses nothing): a connection whose peer keeps the read buffer full yields to the others every
        // so often instead of starving them.
        tokio::task::consume_budget().await;
        if self.close_unreported {
            return self.report_close().await;
        }
        // A read's outcome, handed to the session under the same lock as the next decode.
        let mut input = None;
        loop {
            let inflater = self.inflater.as_deref_mut();
            let (event, owed, buffered) = self.shared.with(|s| {
                match input.take() {
                    Some(Input::Bytes(at, read, now)) => s.handle_input(at..at + read, now),
                    Some(Input::Eof) => s.handle_eof(),
                    Some(Input::Timeout(now)) => s.handle_timeout(now),
                    None => {}
                }
                let event = s.poll_event(&mut self.buf, inflater);
                (event, s.wants_transmit(), s.has_buffered_input())
            });
            self.buffered = buffered;
            match event {
                Event::NeedInput => {
                    // Checked here: even a transmit with nothing owed costs its future.
                    if owed {
                        self.shared.transmit_owed(owed).await?;
                    }
                    input = Some(self.read().await?);
                }
                Event::Ping if owed => self.shared.transmit_owed(owed).await?,
                Event::Ping => {}
                Event::Piece(at) => return Ok(Some(at)),
                Event::NeedInflater => self.inflater = self.shared.inflater(),
                Event::Pong(id) => {
                    self.shared.pong.send_replace(id);
                }
                Event::Close => {
                    self.close = self.shared.with(|s| {
                        let (code, reason) = s.close_frame();
                        (code, reason.to_owned())
                    });
                    self.close_unreported = true;
                    return self.report_close().await;
                }
                Event::End(end) => {
                    self.shared.transmit_if_free().await?;
                    return Err(end.into());
                }
            }
        }
    }

    /// Reads on until the next piece or the peer's close frame and keeps it for the next receive: what the
    /// connection's owner runs while a send waits on the socket, so the peer's pings are answered and its
    /// pongs heard (the idle timeout runs from them) even though nobody receives. Reading stops at the
    /// first data piece: the read buffer then holds it for the owner (what follows waits in the socket), and
    /// the session does not count the peer's silence until the owner takes it ([`rill_ws::Session::hold_input`]).
    /// Cancel-safe like [`Reader::next`].
    pub(crate) async fn read_ahead(&mut self) -> Result<(), Error> {
        // `next_or_leave` is `next` for a connection in no drain; the extra future costs only this path.
        let kept = self.next_or_leave().await?;
        if kept.is_some() {
            // The peer is not read from until the owner takes the piece: not its silence.
            self.shared
                .with(|s| s.hold_input(true, rill_ws::Instant::UNKNOWN));
        }
        self.ahead = Some(kept);
        Ok(())
    }

    /// Sends the reply to the peer's close frame if the write side is free, then reports the close frame
    /// (`None`). Dropped while sending, the close is reported by the next receive.
    async fn report_close(&mut self) -> Result<Option<PieceAt>, Error> {
        self.shared.transmit_if_free().await?;
        self.close_unreported = false;
        Ok(None)
    }

    /// One read into the empty buffer, bounded by the session's next deadline (asked for only when the
    /// socket is dry: a read that finds bytes waits for nothing).
    async fn read(&mut self) -> Result<Input, Error> {
        // A peer that keeps the socket full would keep this task running for as long as it sends: tokio's
        // cooperative budget stops that only for tasks that are not `unconstrained`, so the reader bounds
        // its own turn too (yielding before a read loses nothing).
        if self.turn_over {
            self.turn_over = false;
            tokio::task::yield_now().await;
            self.turn_began = self.shared.now();
        }
        self.size_buffer();
        // A message returned from the read buffer is done with once the next read begins. (Checked here:
        // the call would cost a read that reassembles nothing about 20 instructions.)
        let within = match self.gathering {
            true => self.read_within(),
            false => {
                self.in_place = None;
                None
            }
        };
        loop {
            // Memory a burst grew is returned once the connection has been quiet for a moment, so an idle
            // connection costs its configured buffers only; under load the alarm never rings for it.
            let shrink = self.holds_bulk_memory().then(|| {
                tokio::time::Instant::now() + std::time::Duration::from_millis(SHRINK_AFTER_MS)
            });
            let Reader {
                buf,
                capacity,
                alarm,
                ..
            } = self;
            let shared = &*self.shared;
            // A read dropped while it waits leaves no waker behind.
            let mut parked = Unpark {
                shared,
                alarm,
                waiting: false,
            };
            let (mut waited, mut deadline) = (false, None);
            let timed = std::future::poll_fn(|cx| {
                let woke = match shared.read_or_park(buf, *capacity, within.clone(), cx) {
                    Parked::Read(result) => Poll::Ready(Woke::Read(result)),
                    Parked::Owed => Poll::Ready(Woke::Owed),
                    Parked::Until(at) => {
                        (waited, deadline) = (true, at);
                        let wake = match (at.map(|at| shared.deadline(at)), shrink) {
                            (Some(deadline), Some(shrink)) => Some(deadline.min(shrink)),
                            (deadline, shrink) => deadline.or(shrink),
                        };
                        match wake {
                            Some(at) => parked.alarm.poll_at(at, cx).map(|()| Woke::Alarm),
                            None => Poll::Pending,
                        }
                    }
                };
                parked.waiting = woke.is_pending();
                woke
            });
            let result = if self.shared.config.batch.is_some() {
                // A batch the writer left pending sets an earlier deadline: wake to wait for it instead.
                tokio::select! {
                    biased;
                    result = timed => result,
                    () = self.shared.deadline_moved.notified() => Woke::Moved,
                }
            } else {
                timed.await
            };
            // Done waiting, or waiting again at once (`Moved`): the waker stays where it is.
            parked.waiting = false;
            drop(parked);
            let result = match result {
                // Back to the session after it: the transmit may have ended the connection.
                Woke::Owed => {
                    self.shared.transmit_if_free().await?;
                    return Ok(Input::Timeout(self.shared.now()));
                }
                Woke::Moved => continue,
                Woke::Alarm => None,
                Woke::Read(result) => Some(result),
            };
            if result.is_none() && shrink.is_some_and(|at| at <= tokio::time::Instant::now()) {
                self.release_bulk_memory();
                if deadline.is_none_or(|at| self.shared.deadline(at) > tokio::time::Instant::now())
                {
                    continue;
                }
            }
            return match result {
                None => Ok(Input::Timeout(self.shared.now())),
                Some(Ok(0)) => Ok(Input::Eof),
                Some(Ok(read)) => {
                    // A read behind a message in place says nothing about how large reads should be.
                    let at = match &within {
                        Some(range) => range.start,
                        None => {
                            self.last_read = read;
                            0
                        }
                    };
                    let now = self.shared.now();
                    if waited {
                        self.turn_began = now;
                    }
                    self.turn_over = now.0.saturating_sub(self.turn_began.0) >= TURN_MICROS;
                    Ok(Input::Bytes(at, read, now))
                }
                Some(Err(error)) => {
                    self.shared.with(|s| s.abort());
                    Err(Error::Io(error))
                }
            };
        }
    }

    /// Where in the read buffer the next read goes when a message is reassembled there: straight behind
    /// it, up to the end of its frame, when the session says the bytes to come are that frame's payload
    /// and nothing else ([`rill_ws::Session::payload_left`]) and they fit (the session unmasks them where
    /// they land). Otherwise the message moves to `message` and the read goes to the buffer's start.
    fn read_within(&mut self) -> Option<std::ops::Range<usize>> {
        let (start, gathered) = self.in_place?;
        let left = self.shared.with(|s| s.payload_left());
        let at = start + gathered;
        match left.and_then(|left| usize::try_from(left).ok()) {
            Some(left) if at + left <= self.buf.len() => Some(at..at + left),
            _ => {
                self.leave_in_place();
                None
            }
        }
    }

    /// True when a burst left buffers larger than configured (a message being reassembled does not count:
    /// it is kept, not returned).
    fn holds_bulk_memory(&self) -> bool {
        let config = &self.shared.config;
        self.capacity > config.read_capacity()
            || (!self.gathering && self.message.capacity() > config.read_buffer)
            || self.shared.write_buffer_grown()
    }

    /// Returns the read, reassembly and write buffers to their configured sizes (the read buffer itself is
    /// back on the thread's free list here: a read is being waited for).
    fn release_bulk_memory(&mut self) {
        debug_assert!(
            self.buf.capacity() == 0 || self.in_place.is_some(),
            "a dry read gave the buffer back"
        );
        self.capacity = self.shared.config.read_capacity();
        self.last_read = 0;
        if !self.gathering {
            self.message = Vec::new();
        }
        self.shared.shrink_write_buffer();
    }

    /// Hands a read's outcome (`None`: the deadline passed) to the session.
    fn handle_read(&mut self, result: Option<std::io::Result<usize>>) -> Result<(), Error> {
        match result {
            None => self.shared.with_now(|s, now| s.handle_timeout(now)),
            Some(Ok(0)) => {
                self.buffered = false;
                self.shared.with(|s| s.handle_eof());
            }
            Some(Ok(read)) => {
                self.last_read = read;
                self.buffered = self.shared.with_now(|s, now| {
                    s.handle_input(0..read, now);
                    s.has_buffered_input()
                });
            }
            Some(Err(error)) => {
                self.shared.with(|s| s.abort());
                return Err(Error::Io(error));
            }
        }
        Ok(())
    }

    /// Doubles the read buffer (up to `max_read_buffer`) when the last read filled it, so bulk transfers
    /// take fewer system calls. It stays grown while traffic continues (shrinking at every smaller read
    /// would re-grow it for each large message); once the connection has been quiet for a moment,
    /// [`Reader::release_bulk_memory`] returns it to its configured size.
    fn size_buffer(&mut self) {
        let max = self.shared.config.max_read_buffer;
        if self.last_read >= self.capacity && self.capacity < max {
            self.capacity = (self.capacity * 2).min(max);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, WebSocket};
    use rill_ws::{Message, Role};
    use tokio::io::AsyncWriteExt;

    /// A masked binary frame of `payload`.
    fn masked(payload: &[u8]) -> Vec<u8> {
        let key = [3, 1, 4, 1];
        let mut frame = vec![0x82, 0x80 | 127];
        frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        frame
    }

    /// Frames that span reads (a 16 KiB pipe) are completed in the read buffer when they fit behind their
    /// first piece: nothing is copied into the reassembly buffer. One that does not fit is reassembled
    /// there, whole all the same.
    #[tokio::test]
    async fn a_frame_spanning_reads_is_completed_in_the_read_buffer_when_it_fits() {
        let (server_io, mut peer) = tokio::io::duplex(16 << 10);
        let config = Config {
            read_buffer: 64 << 10,
            max_read_buffer: 64 << 10,
            ..Config::default()
        };
        let role = Role::Server;
        let mut ws = WebSocket::new(server_io, role, config, Vec::new(), 0, None, None).unwrap();
        let fits: Vec<u8> = (0..40_000u32).map(|i| (i % 253) as u8).collect();
        let larger: Vec<u8> = (0..300_000u32).map(|i| (i % 249) as u8).collect();
        let frames = [masked(&fits), masked(&larger)];
        let peer = tokio::spawn(async move {
            for frame in frames {
                peer.write_all(&frame).await.unwrap();
            }
            peer
        });
        let (reader, _) = ws.halves();
        assert!(reader.recv().await.unwrap() == Message::Binary(&fits));
        assert_eq!(reader.message.capacity(), 0, "completed in the read buffer");
        assert!(reader.recv().await.unwrap() == Message::Binary(&larger));
        assert!(reader.message.capacity() >= larger.len(), "reassembled");
        drop(peer.await.unwrap());
    }
}
