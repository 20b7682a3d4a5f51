//! Time as the session sees it: instants the adapter passes in, and what the session remembers of them.

use core::time::Duration;

/// A point in time, in microseconds since an origin the adapter chooses (its clock's start, or the
/// connection's). The session only compares instants and adds durations to them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(pub u64);

impl Instant {
    /// The instant `duration` after this one (saturating: a far deadline never wraps to the past).
    pub fn after(self, duration: Duration) -> Instant {
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(micros))
    }

    /// The time from `earlier` to this instant (zero if `earlier` is later).
    pub fn since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

/// The instants the session keeps.
#[derive(Clone, Copy, Debug)]
pub(super) struct Clock {
    /// When the peer last sent anything.
    pub last_heard: Instant,
    /// When we last queued a ping.
    pub last_ping: Instant,
    /// The ping waiting for its pong: id and when it was queued.
    pub outstanding: Option<(u64, Instant)>,
    /// The latest answered ping and its round-trip time.
    pub answered: Option<(u64, Duration)>,
    next_ping: u64,
    /// Since when pending output has made no progress.
    pub stalled_since: Option<Instant>,
    /// When the oldest pending byte was buffered.
    pub oldest: Option<Instant>,
    /// The close handshake or lingering ends at this instant.
    pub close_by: Option<Instant>,
}

impl Clock {
    pub fn new(now: Instant) -> Self {
        Clock {
            last_heard: now,
            last_ping: now,
            outstanding: None,
            answered: None,
            next_ping: 1,
            stalled_since: None,
            oldest: None,
            close_by: None,
        }
    }

    /// Records a ping queued at `now`; returns its id.
    pub fn ping_sent(&mut self, now: Instant) -> u64 {
        let id = self.next_ping;
        self.next_ping += 1;
        self.last_ping = now;
        self.outstanding = Some((id, now));
        id
    }

    /// Records a pong received at `now`; returns the id it answers, if it answers our outstanding ping.
    pub fn pong(&mut self, payload: &[u8], now: Instant) -> Option<u64> {
        let id = <[u8; 8]>::try_from(payload).ok().map(u64::from_be_bytes)?;
        let (expected, sent) = self.outstanding?;
        if expected != id {
            return None;
        }
        self.outstanding = None;
        self.answered = Some((id, now.since(sent)));
        Some(id)
    }
}
