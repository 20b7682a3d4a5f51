//! Time as the session sees it: instants the adapter passes in, and what the session remembers of them.

use core::num::NonZeroU64;
use core::time::Duration;

/// A point in time, in microseconds since an origin the adapter chooses (its clock's start, or the
/// connection's). The session only compares instants and adds durations to them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(pub u64);

impl Instant {
    /// An instant the adapter did not read its clock for: reading it costs more than placing or writing a
    /// small frame, and the session needs the time there only if a write then waits, or for a batch
    /// policy. Accepted where data and control frames are placed and written
    /// ([`Session::send_chunk`](super::Session::send_chunk), [`Session::relay`](super::Session::relay),
    /// [`Session::send_unbuffered`](super::Session::send_unbuffered),
    /// [`Session::poll_transmit`](super::Session::poll_transmit), [`Session::wrote`](super::Session::wrote))
    /// when no batch policy runs. A write timeout it starts begins at the instant the next
    /// [`Session::handle_timeout`](super::Session::handle_timeout) is given, so an adapter that passes it calls
    /// that before it waits for its socket.
    pub const UNKNOWN: Instant = Instant(u64::MAX - 1);

    /// The instant `duration` after this one (saturating: a far deadline never wraps to the past).
    pub fn after(self, duration: Duration) -> Instant {
        Instant(self.0.saturating_add(micros(duration)))
    }

    /// The time from `earlier` to this instant (zero if `earlier` is later).
    pub fn since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

/// Whole microseconds in `duration`, saturating. Computed from seconds and sub-second microseconds, with
/// neither 128-bit arithmetic nor a 64-bit division (a 32-bit MCU would link a division routine for
/// `Duration::as_micros`).
pub fn micros(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(duration.subsec_micros()))
}

/// A timeout that is not configured, in [`Timeouts`].
pub(super) const OFF: u64 = u64::MAX;

/// The configured timeouts in microseconds ([`OFF`] when not configured), converted once from the
/// [`super::SessionConfig`]: every deadline is then one saturating addition, with no `Duration` arithmetic
/// per call, and the session keeps 48 bytes instead of the 88 the `Option<Duration>`s take.
#[derive(Clone, Copy, Debug)]
pub(super) struct Timeouts {
    pub idle: u64,
    pub keepalive: u64,
    pub close: u64,
    pub write: u64,
    /// Batching: flush once this much is pending or the oldest byte is `batch_delay` old; no batching
    /// when `batch_delay` is [`OFF`].
    pub batch_bytes: usize,
    pub batch_delay: u64,
}

impl Timeouts {
    pub fn new(config: &super::SessionConfig) -> Self {
        // A configured timeout never reads as OFF, however long it is.
        let on = |d: Duration| micros(d).min(OFF - 1);
        let off = |d: Option<Duration>| d.map_or(OFF, on);
        Timeouts {
            idle: off(config.idle_timeout),
            keepalive: off(config.keepalive),
            close: on(config.close_timeout),
            write: off(config.write_timeout),
            batch_bytes: config.batch.map_or(0, |batch| batch.max_bytes),
            batch_delay: off(config.batch.map(|batch| batch.max_delay)),
        }
    }

    /// True under a batching policy.
    pub fn batching(&self) -> bool {
        self.batch_delay != OFF
    }
}

/// The deadline `timeout` microseconds after `since`; `None` when the timeout is [`OFF`].
pub(super) fn deadline(since: Instant, timeout: u64) -> Option<Instant> {
    (timeout != OFF).then(|| Instant(since.0.saturating_add(timeout)))
}

/// An instant the session may or may not have, in 8 bytes where `Option<Instant>` takes 16 (the
/// session keeps four): the instant plus one, zero for none. (`Instant(u64::MAX)` reads back one
/// microsecond early, some 584,000 years after the origin.)
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Stamp(Option<NonZeroU64>);

impl Stamp {
    /// No instant.
    pub const NONE: Stamp = Stamp(None);

    pub fn new(at: Option<Instant>) -> Stamp {
        Stamp(at.and_then(|at| NonZeroU64::new(at.0.saturating_add(1))))
    }

    pub fn get(self) -> Option<Instant> {
        self.0.map(|stamp| Instant(stamp.get() - 1))
    }
}

/// The instants the session keeps.
#[derive(Clone, Copy, Debug)]
pub(super) struct Clock {
    /// When the peer last sent anything.
    pub last_heard: Instant,
    /// When we last queued a ping.
    pub last_ping: Instant,
    /// When we queued the first ping after the peer was last heard (see [`Clock::unanswered_ping`]).
    pub first_ping: Instant,
    /// When the latest ping was queued, until its pong arrives (a pong for an older ping is not waited
    /// for: a newer ping replaced it).
    pub outstanding: Stamp,
    /// The id of the latest answered ping (0: none yet) and its round-trip time in microseconds (made a
    /// `Duration` only when asked for: the conversion divides).
    pub answered: (u64, u64),
    /// The id of the latest ping (0: none yet); ids count from 1.
    pub latest_ping: u64,
    /// Since when pending output has made no progress.
    pub stalled_since: Stamp,
    /// When the oldest pending byte was buffered.
    pub oldest: Stamp,
    /// The close handshake or lingering ends at this instant.
    pub close_by: Stamp,
}

impl Clock {
    pub fn new(now: Instant) -> Self {
        Clock {
            last_heard: now,
            last_ping: now,
            first_ping: now,
            outstanding: Stamp::NONE,
            answered: (0, 0),
            latest_ping: 0,
            stalled_since: Stamp::NONE,
            oldest: Stamp::NONE,
            close_by: Stamp::NONE,
        }
    }

    /// Puts `now` in place of a write stall stamped with [`Instant::UNKNOWN`].
    pub fn learn(&mut self, now: Instant) {
        if now != Instant::UNKNOWN && self.stalled_since.get() == Some(Instant::UNKNOWN) {
            self.stalled_since = Stamp::new(Some(now));
        }
    }

    /// When the first ping since the peer was last heard was queued; `None` when none was.
    pub fn unanswered_ping(&self) -> Option<Instant> {
        (self.last_ping > self.last_heard).then_some(self.first_ping)
    }

    /// Records a ping queued at `now`; returns its id.
    pub fn ping_sent(&mut self, now: Instant) -> u64 {
        self.latest_ping += 1;
        if self.unanswered_ping().is_none() {
            self.first_ping = now;
        }
        self.last_ping = now;
        self.outstanding = Stamp::new(Some(now));
        self.latest_ping
    }

    /// Records a pong received at `now`; returns the id it answers, if it answers our outstanding ping.
    pub fn pong(&mut self, payload: &[u8], now: Instant) -> Option<u64> {
        let id = <[u8; 8]>::try_from(payload).ok().map(u64::from_be_bytes)?;
        let sent = self.outstanding.get().filter(|_| id == self.latest_ping)?;
        self.outstanding = Stamp::NONE;
        self.answered = (id, now.0.saturating_sub(sent.0));
        Some(id)
    }
}
