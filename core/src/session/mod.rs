//! The whole life of one connection after the handshake, as a deterministic state machine: what to decode,
//! what to write, when to wake up, and when it is over.
//!
//! Adapters are pumps around one [`Session`] (the shape of quinn-proto's `Connection`):
//! - **receive**: read into the read buffer, [`Session::handle_input`], then [`Session::poll_event`] until
//!   it says [`Event::NeedInput`]; pieces are borrowed from the read buffer, unmasked in place;
//! - **transmit**: whoever holds the write side calls [`Session::poll_transmit`] and does what it says
//!   (write a range of the write buffer and report it with [`Session::wrote`], flush, shut down);
//! - **time**: sleep until [`Session::poll_timeout`], then [`Session::handle_timeout`].
//!
//! The session never reads a clock: every instant is passed in. It never owns a buffer either: the adapter
//! lends the same read buffer and the same write buffer on every call, and the session records which bytes
//! in them are pending. A frame is placed in the write buffer whole before any byte of it is written, so a
//! pump that is cancelled between two writes never leaves half a frame: the rest goes out with the next
//! transmit, from the session's own record. (A server's message larger than the write buffer may leave
//! from where the caller holds it instead: see [`Session::send_unbuffered`].)

mod clock;
mod receive;
mod transmit;
mod unbuffered;

pub use clock::{micros, Instant};
pub use receive::{Event, NoInflate, PieceAt, NO_INFLATER};
pub use transmit::{NoDeflate, Transmit, MAX_COMPRESS_STEP, MIN_WRITE_BUFFER, NO_DEFLATER};

use crate::codec::{Limits, Receiver, Role, Sender};
use crate::deflate::DeflateParams;
use crate::error::{ProtocolError, Timeout};
use core::time::Duration;

/// Settings of one session: limits on the peer, timeouts and the flush policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Limits on what the peer may send (close code 1009 beyond them).
    pub limits: Limits,
    /// Fail the connection when the peer sends nothing for this long, whatever the writer is doing. With a
    /// shorter `keepalive`, the peer is failed only once a keepalive ping went unanswered for the time
    /// between the two: a connection whose application did not receive for longer than this pings first
    /// when it comes back to its socket, instead of blaming the peer for silence nobody listened to.
    pub idle_timeout: Option<Duration>,
    /// Send a ping after this much silence from the peer.
    pub keepalive: Option<Duration>,
    /// How long to wait for the peer's close frame after ours, and for the end of the TCP connection after
    /// the close handshake or a protocol error.
    pub close_timeout: Duration,
    /// Fail the connection when pending output makes no progress for this long (a peer that stopped
    /// reading).
    pub write_timeout: Option<Duration>,
    /// Opt-in coalescing of sends; `None` flushes every send at once.
    pub batch: Option<Batch>,
}

impl SessionConfig {
    /// A peer that vanishes is dropped on time and no write waits forever: a ping after 30 s of silence
    /// (below the 60 s at which common load balancers and NATs drop idle connections), failure after 60 s
    /// with nothing from the peer (not even the pong), and after 30 s without progress on pending output;
    /// 5 s for the close handshake. What the deadlines cost per message in rill-tokio is measured in
    /// `docs/performance.md` ("Issue 29"); set them to `None` to turn them off. A `const`, so firmware can
    /// keep its configuration in flash instead of in a connection's future.
    pub const DEFAULT: SessionConfig = SessionConfig {
        limits: Limits::DEFAULT,
        idle_timeout: Some(Duration::from_secs(60)),
        keepalive: Some(Duration::from_secs(30)),
        close_timeout: Duration::from_secs(5),
        write_timeout: Some(Duration::from_secs(30)),
        batch: None,
    };
}

impl Default for SessionConfig {
    /// [`SessionConfig::DEFAULT`].
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A batching policy: sends wait in the write buffer until `max_bytes` are pending or the oldest pending
/// byte is `max_delay` old ([`Session::poll_timeout`] wakes the pump for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Flush once this many bytes are pending.
    pub max_bytes: usize,
    /// Flush once the oldest pending byte has waited this long.
    pub max_delay: Duration,
}

/// Why a connection ended; every later receive and send reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum End {
    /// The close handshake finished.
    Closed,
    /// The peer ended the TCP connection without a close frame (close code 1006), or the stream failed.
    Abnormal,
    /// The peer broke the protocol; a close frame with the fault's code was sent.
    Protocol(ProtocolError),
    /// A deadline passed.
    Timeout(Timeout),
}

/// Where the connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Open,
    /// Our close frame is queued or sent; data from the peer still arrives until its close frame.
    Closing,
    /// The peer's close frame arrived or the connection failed: our close frame goes out, then input is
    /// read and discarded until the peer ends the TCP connection (closing a socket with unread input makes
    /// the kernel send a reset that can destroy the close frame, RFC 7230 section 6.6).
    Lingering,
    /// Over: nothing more is decoded or sent.
    Done,
}

/// One connection's protocol state; see the module documentation for how adapters drive it.
#[derive(Clone, Debug)]
pub struct Session {
    role: Role,
    timeouts: clock::Timeouts,
    phase: Phase,
    end: Option<End>,
    receiver: Receiver,
    sender: Sender,
    /// Undecoded bytes of the read buffer.
    input: (usize, usize),
    /// Pending bytes of the write buffer, and how many of them are written.
    output: (usize, usize),
    /// Payload bytes that follow the write buffer's pending bytes from where the caller holds them, not yet
    /// written (see [`Session::send_unbuffered`]; `u32` keeps the session as small as before).
    unbuffered: u32,
    /// Our latest ping is not yet in the write buffer (our close frame is placed at once by
    /// [`Session::close`], so no reason is kept here).
    own_ping: bool,
    /// End of our close frame in the write buffer, once it is there.
    close_at: Option<usize>,
    close_written: bool,
    flush_requested: bool,
    /// A [`Transmit::Flush`] was asked for and the adapter has not polled since: the write timeout runs for
    /// it as for a write (a TLS stream's flush writes, and can stall like one).
    flushing: bool,
    /// A frame waits for room in the write buffer: write out what is pending.
    need_room: bool,
    shut_down: bool,
    /// The adapter reads no further until the application takes a piece ([`Session::hold_input`]).
    input_held: bool,
    clock: clock::Clock,
    /// permessage-deflate, when the handshake agreed it.
    deflate: Option<DeflateParams>,
    /// Messages sent whole below this many bytes go uncompressed.
    compress_threshold: usize,
    /// The compressed message being inflated.
    inflow: Option<receive::Inflow>,
    /// The compressed message being sent.
    outflow: Option<transmit::Outflow>,
}

impl Session {
    /// A session for `role` starting at `now`. `seed` keys a client's masking keys (a ChaCha8 keystream,
    /// the codec's `Sender::client`): take 32 fresh bytes for every connection from a strong entropy
    /// source (the OS, a hardware RNG), never a constant or a clock. A server masks nothing and ignores it.
    pub fn new(role: Role, config: SessionConfig, seed: [u8; 32], now: Instant) -> Self {
        Session {
            role,
            timeouts: clock::Timeouts::new(&config),
            phase: Phase::Open,
            end: None,
            receiver: Receiver::new(role, config.limits),
            sender: Sender::new(role, seed),
            input: (0, 0),
            output: (0, 0),
            unbuffered: 0,
            own_ping: false,
            close_at: None,
            close_written: false,
            flush_requested: false,
            flushing: false,
            need_room: false,
            shut_down: false,
            input_held: false,
            clock: clock::Clock::new(now),
            deflate: None,
            compress_threshold: 0,
            inflow: None,
            outflow: None,
        }
    }

    /// permessage-deflate as the handshake agreed it, if it did.
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.deflate
    }

    /// Turns on permessage-deflate as the handshake agreed it (`None`: not negotiated); messages sent
    /// whole below `compress_threshold` bytes go uncompressed (compressing them costs more time than the
    /// bytes it saves). Call before the first event or send.
    pub fn set_deflate(&mut self, params: Option<DeflateParams>, compress_threshold: usize) {
        self.deflate = params;
        self.compress_threshold = compress_threshold;
        self.receiver.set_deflate(params.is_some());
    }

    /// True when a message whose first frame carries `len` payload bytes (its last frame too when `fin`)
    /// leaves compressed, given a compressor: permessage-deflate was agreed, and the message is not one
    /// sent whole below the threshold. Adapters make their compressor the first time this holds, so a
    /// connection that only sends small messages never pays for one.
    pub fn compresses(&self, len: usize, fin: bool) -> bool {
        self.deflate.is_some() && !(fin && len < self.compress_threshold)
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Why the connection ended, once it has: nothing more will be decoded or sent.
    pub fn end(&self) -> Option<End> {
        match self.phase {
            Phase::Done => self.end.or(Some(End::Abnormal)),
            _ => None,
        }
    }

    /// The earliest instant at which [`Session::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let earliest = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut at = earliest(self.idle_deadline(), self.keepalive_deadline());
        at = earliest(at, self.clock.close_by.get());
        at = earliest(at, self.stall_deadline());
        if self.has_pending_output() && !self.flush_requested {
            at = earliest(at, self.batch_deadline());
        }
        at
    }

    /// Acts on every deadline that `now` has reached: queues a keepalive ping, fails the connection on the
    /// idle, write or close timeout, ends lingering, marks a batch due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Done {
            return;
        }
        self.clock.learn(now);
        let reached = |deadline: Option<Instant>| deadline.is_some_and(|at| at <= now);
        if reached(self.idle_deadline()) {
            return self.finish(End::Timeout(Timeout::Idle));
        }
        if reached(self.stall_deadline()) {
            return self.finish(End::Timeout(Timeout::Write));
        }
        if reached(self.clock.close_by.get()) {
            return match self.phase {
                Phase::Closing => self.finish(End::Timeout(Timeout::Close)),
                _ => self.finish(self.end.unwrap_or(End::Closed)),
            };
        }
        if reached(self.keepalive_deadline()) {
            self.queue_ping(now);
        }
        if reached(self.batch_deadline()) {
            self.flush_requested = true;
        }
    }

    /// Queues a ping carrying a fresh id (sent with the next transmit) and returns the id; its pong
    /// completes [`Session::rtt`]. `None` once the connection is closing.
    pub fn ping(&mut self, now: Instant) -> Option<u64> {
        (self.phase == Phase::Open).then(|| self.queue_ping(now))
    }

    /// The round-trip time of ping `id`, once its pong arrived.
    pub fn rtt(&self, id: u64) -> Option<Duration> {
        let (answered, rtt) = self.clock.answered;
        (answered == id && id != 0).then(|| Duration::from_micros(rtt))
    }

    /// Fails the connection with `error` as if the peer had caused it (an application limit such as a
    /// reassembly buffer): a close frame with its code is queued, then the session lingers.
    pub fn fail(&mut self, error: ProtocolError, now: Instant) {
        if matches!(self.phase, Phase::Open | Phase::Closing) {
            self.receiver.fail(error);
            self.linger(End::Protocol(error), now);
        }
    }

    /// Ends the connection at once (the stream failed, or the application gave up on it).
    pub fn abort(&mut self) {
        self.finish(self.end.unwrap_or(End::Abnormal));
    }

    fn queue_ping(&mut self, now: Instant) -> u64 {
        let id = self.clock.ping_sent(now);
        self.own_ping = true;
        self.flush_requested = true;
        id
    }

    fn idle_deadline(&self) -> Option<Instant> {
        if !matches!(self.phase, Phase::Open | Phase::Closing) || self.input_held {
            return None;
        }
        let clock::Timeouts {
            idle, keepalive, ..
        } = self.timeouts;
        let heard = clock::deadline(self.clock.last_heard, idle)?;
        if self.phase == Phase::Closing || keepalive >= idle {
            return Some(heard);
        }
        // Silence is the peer's fault only once a ping went unanswered: nobody may have driven the
        // session for a while (the application did not receive), and then its keepalive ping goes out
        // first and is given the time it normally has.
        let pinged = self.clock.unanswered_ping()?;
        Some(heard.max(clock::deadline(pinged, idle - keepalive)?))
    }

    fn keepalive_deadline(&self) -> Option<Instant> {
        let since = self.clock.last_heard.max(self.clock.last_ping);
        (self.phase == Phase::Open).then(|| clock::deadline(since, self.timeouts.keepalive))?
    }

    /// Pending output has made no progress since `stalled_since`: the write timeout runs from there.
    fn stall_deadline(&self) -> Option<Instant> {
        clock::deadline(self.clock.stalled_since.get()?, self.timeouts.write)
    }

    /// The oldest pending byte must leave by then under a batching policy.
    fn batch_deadline(&self) -> Option<Instant> {
        clock::deadline(self.clock.oldest.get()?, self.timeouts.batch_delay)
    }

    /// The peer's close frame arrived or the connection failed: reply, then read until the end of TCP.
    fn linger(&mut self, end: End, now: Instant) {
        self.end.get_or_insert(end);
        self.phase = Phase::Lingering;
        self.clock.close_by = clock::Stamp::new(clock::deadline(now, self.timeouts.close));
        self.flush_requested = true;
    }

    fn finish(&mut self, end: End) {
        self.end.get_or_insert(end);
        self.phase = Phase::Done;
        self.clock.close_by = clock::Stamp::NONE;
    }
}

#[cfg(test)]
mod tests;
