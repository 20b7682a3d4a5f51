//! Token-latency stream: a server sends `count` small text messages, one every `interval`, each carrying its
//! send time; the client (`wstokens`) measures one-way delay. Both ends run on the same host and read
//! `CLOCK_REALTIME`, so the difference is the delay through the server library, the kernel and the client.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::{interval, Interval, MissedTickBehavior};

/// Length of a token payload: the send time as 20 zero-padded decimal digits of nanoseconds.
pub const TOKEN_LEN: usize = 20;

/// How many tokens to send and how often.
#[derive(Clone, Copy, Debug)]
pub struct TokenPlan {
    /// Number of messages per connection.
    pub count: u32,
    /// Gap between two ticks.
    pub interval: Duration,
    /// Messages sent back to back (each flushed on its own) at every tick: 1 for a steady stream; 2 or more
    /// exercises Nagle's algorithm, which holds a small write while an earlier one is unacknowledged.
    pub burst: u32,
}

impl TokenPlan {
    /// Starts the schedule; the first token is due immediately.
    pub fn ticker(self) -> Ticker {
        let mut timer = interval(self.interval);
        timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ticker {
            timer,
            left: self.count,
            burst: self.burst.max(1),
            sent_this_tick: 0,
        }
    }
}

/// Yields token payloads on schedule.
pub struct Ticker {
    timer: Interval,
    left: u32,
    burst: u32,
    sent_this_tick: u32,
}

impl Ticker {
    /// Waits for the next tick and returns a payload stamped with the current time, or `None` when done.
    pub async fn next(&mut self) -> Option<String> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        if self.sent_this_tick.is_multiple_of(self.burst) {
            self.timer.tick().await;
        }
        self.sent_this_tick = self.sent_this_tick.wrapping_add(1);
        Some(encode(now_ns()))
    }
}

/// Nanoseconds since the Unix epoch (`CLOCK_REALTIME`).
pub fn now_ns() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// Formats a send time as a token payload.
pub fn encode(ns: u64) -> String {
    format!("{ns:0width$}", width = TOKEN_LEN)
}

/// Reads the send time back from a token payload.
pub fn decode(payload: &[u8]) -> Option<u64> {
    std::str::from_utf8(payload).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let now = now_ns();
        let token = encode(now);
        assert_eq!(token.len(), TOKEN_LEN);
        assert_eq!(decode(token.as_bytes()), Some(now));
        assert_eq!(decode(b"not a number"), None);
    }
}
