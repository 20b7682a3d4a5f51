//! A client that comes back: [`Reconnect`] dials through the application's closure (so each handshake
//! gets fresh tokens) with exponential backoff and jitter between failures, stops when the server says
//! not to come back (a close code, a 4xx at the handshake), and shows where it is through a watch
//! channel ([`ReconnectState`]). What the peer missed is resumed by the application with what it is
//! handed: [`crate::StreamReceiver::resume_requests`] for streams in the envelope, [`Outbox`] for plain
//! messages sent and not acknowledged. See docs/client.md.
//!
//! ```no_run
//! # async fn f() -> Result<(), rill_tokio::Error> {
//! use rill_tokio::reconnect::{Reconnect, RetryPolicy};
//! use rill_tokio::{Config, Message, StreamEvent, StreamReceiver};
//! let mut receiver = StreamReceiver::new(); // outlives the connections
//! let mut client = Reconnect::new(RetryPolicy::default(), || {
//!     rill_tokio::connect("wss://example.com/answers", Config::default())
//! });
//! loop {
//!     let mut ws = client.connect().await?; // Err once it gave up
//!     for resume in receiver.resume_requests() {
//!         ws.send_binary(&resume).await?; // "send again from the sequence I need"
//!     }
//!     let code = loop {
//!         match ws.recv().await {
//!             Ok(Message::Binary(bytes)) => {
//!                 if let Ok(StreamEvent::Chunk { envelope, payload }) = receiver.receive(bytes) {
//!                     println!("stream {} #{}: {payload:?}", envelope.stream, envelope.sequence);
//!                 }
//!             }
//!             Ok(Message::Text(_)) => {}
//!             Ok(Message::Close(code, _)) => break code,
//!             Err(_) => break None, // dropped: come back
//!         }
//!     };
//!     if !client.closed(code) {
//!         return Ok(()); // 1000 (done), 1008 (policy)...: do not come back
//!     }
//! }
//! # }
//! ```

use crate::{proxy_error, Error, WebSocket};
use rill_ws::handshake::client::ResponseError;
use rill_ws::proxy::TunnelError;
use rill_ws::{CloseCode, MessageKind};
use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

/// How long to wait between dials: `initial`, doubling after each failure up to `max`, each wait drawn
/// at random between its half and itself (jitter, so clients dropped together do not return together).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// Failed dials in a row after which [`Reconnect::connect`] gives up; `None` never gives up for
    /// that reason.
    pub max_attempts: Option<u32>,
}

impl Default for RetryPolicy {
    /// 100 ms doubling up to 10 s, never giving up on failed dials alone.
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
            max_attempts: None,
        }
    }
}

impl RetryPolicy {
    /// The wait after `failures` failed dials in a row (1 or more), before jitter.
    fn ceiling(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial
            .saturating_mul(1 << doublings)
            .min(self.max)
            .max(Duration::from_millis(1))
    }

    /// The jittered wait after `failures` failed dials: between half the ceiling and the ceiling.
    fn wait(&self, failures: u32) -> Duration {
        let ceiling = self.ceiling(failures);
        let random = getrandom::u32().unwrap_or(u32::MAX);
        let half = ceiling / 2;
        half + (ceiling - half).mul_f64(f64::from(random) / f64::from(u32::MAX))
    }
}

/// Where a [`Reconnect`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReconnectState {
    /// Dialing.
    Connecting,
    /// A connection is open.
    Connected,
    /// Dial number `attempt` failed; the next one starts in `delay`.
    Retrying {
        /// Failed dials in a row.
        attempt: u32,
        /// The wait before the next dial.
        delay: Duration,
    },
    /// It will not dial again, for this reason.
    GaveUp(String),
}

/// Dials again and again: see the [module](self) documentation.
pub struct Reconnect<F> {
    dial: F,
    policy: RetryPolicy,
    state: watch::Sender<ReconnectState>,
}

impl<F, Fut, S> Reconnect<F>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<WebSocket<S>, Error>>,
{
    /// Dials with `dial` (called for every attempt) under `policy`.
    pub fn new(policy: RetryPolicy, dial: F) -> Self {
        Reconnect {
            dial,
            policy,
            state: watch::Sender::new(ReconnectState::Connecting),
        }
    }

    /// The state, now and as it changes.
    pub fn state(&self) -> watch::Receiver<ReconnectState> {
        self.state.subscribe()
    }

    /// The next connection: dials until one opens, waiting [`RetryPolicy`]'s backoff after each
    /// failure. Returns the error that made it give up: a failure [`is_final`] (a 4xx at the handshake,
    /// a proxy refusing the credentials), `max_attempts` failures in a row, or an earlier
    /// [`Reconnect::closed`] that said not to come back (then [`Error::Closed`]). Each dial is bounded by
    /// the handshake timeout of the `Config` the closure passes.
    pub async fn connect(&mut self) -> Result<WebSocket<S>, Error> {
        if matches!(*self.state.borrow(), ReconnectState::GaveUp(_)) {
            return Err(Error::Closed);
        }
        let mut failures = 0;
        loop {
            self.state.send_replace(ReconnectState::Connecting);
            let error = match (self.dial)().await {
                Ok(ws) => {
                    self.state.send_replace(ReconnectState::Connected);
                    return Ok(ws);
                }
                Err(error) => error,
            };
            failures += 1;
            if is_final(&error) || self.policy.max_attempts.is_some_and(|max| failures >= max) {
                let why = format!("after {failures} attempts: {error}");
                self.state.send_replace(ReconnectState::GaveUp(why));
                return Err(error);
            }
            let delay = self.policy.wait(failures);
            self.state.send_replace(ReconnectState::Retrying {
                attempt: failures,
                delay,
            });
            tokio::time::sleep(delay).await;
        }
    }

    /// Reports how the last connection ended: the peer's close code, or `None` when it dropped without
    /// one (an error, a close frame without a code). Returns whether to come back (the next
    /// [`Reconnect::connect`] dials); when not, the state becomes [`ReconnectState::GaveUp`].
    pub fn closed(&mut self, code: Option<CloseCode>) -> bool {
        let Some(code) = code.filter(|&code| !comes_back(code)) else {
            return true;
        };
        let why = format!("the server closed with {}", code.0);
        self.state.send_replace(ReconnectState::GaveUp(why));
        false
    }
}

/// True when a connection the peer closed with `code` should be dialed again. Not for 1000 (the
/// conversation is over), 1008 (policy violation: the server refuses this client), and the codes that say
/// the client sent something the server will refuse again: 1002 (protocol error), 1003 (data it does not
/// accept), 1007 (invalid payload), 1009 (message too big), 1010 (an extension it lacks). Yes for the
/// others: 1001 (going away: a restart), 1011 (server error), 1012 (service restart), 1013 (try again
/// later), 1014 (bad gateway), and the application's 3000-4999, whose meaning rill cannot know.
pub fn comes_back(code: CloseCode) -> bool {
    !matches!(code.0, 1000 | 1002 | 1003 | 1007 | 1008 | 1009 | 1010)
}

/// True when a failed dial should not be tried again: the server answered the handshake with a 4xx
/// (but 408 Request Timeout and 429 Too Many Requests, which say to come back later), or a proxy
/// refused with a 4xx or rejected the credentials. Everything else (TCP, TLS, timeouts, 5xx) is
/// retried.
pub fn is_final(error: &Error) -> bool {
    let client_error = |status: u16| (400..500).contains(&status) && !matches!(status, 408 | 429);
    if let Error::Response(ResponseError::NotSwitching { status }) = error {
        return client_error(*status);
    }
    match proxy_error(error).and_then(|e| e.tunnel_error()) {
        Some(TunnelError::Refused(line)) => client_error(line.code),
        Some(TunnelError::AuthenticationFailed(_) | TunnelError::NoAcceptableMethod) => true,
        _ => false,
    }
}

/// Plain messages sent and not yet acknowledged, kept across connections so that after a reconnect the
/// application can see what the peer may have missed and send it again. WebSocket has no
/// acknowledgements: the application's protocol says when the peer has a message ([`Outbox::acknowledge`]).
/// At most `max_bytes` of payload are kept; the oldest go first (and are reported by
/// [`Outbox::dropped`]).
#[derive(Debug)]
pub struct Outbox {
    sent: VecDeque<(u64, MessageKind, Box<[u8]>)>,
    next: u64,
    bytes: usize,
    max_bytes: usize,
    dropped: u64,
}

impl Outbox {
    /// An outbox keeping at most `max_bytes` of payload.
    pub fn new(max_bytes: usize) -> Self {
        Outbox {
            sent: VecDeque::new(),
            next: 0,
            bytes: 0,
            max_bytes,
            dropped: 0,
        }
    }

    /// Records a message as sent (call it as you send it) and returns its number: 0, then 1, 2...
    pub fn record(&mut self, kind: MessageKind, payload: &[u8]) -> u64 {
        let id = self.next;
        self.next += 1;
        self.sent.push_back((id, kind, payload.into()));
        self.bytes += payload.len();
        while self.bytes > self.max_bytes {
            let Some((_, _, oldest)) = self.sent.pop_front() else {
                break;
            };
            self.bytes -= oldest.len();
            self.dropped += 1;
        }
        id
    }

    /// The peer has every message up to number `through`: forget them.
    pub fn acknowledge(&mut self, through: u64) {
        while self.sent.front().is_some_and(|(id, _, _)| *id <= through) {
            if let Some((_, _, payload)) = self.sent.pop_front() {
                self.bytes -= payload.len();
            }
        }
    }

    /// What was sent and not acknowledged, oldest first: number, kind, payload.
    pub fn unacknowledged(&self) -> impl Iterator<Item = (u64, MessageKind, &[u8])> {
        self.sent.iter().map(|(id, kind, p)| (*id, *kind, &p[..]))
    }

    /// How many unacknowledged messages were forgotten to stay within `max_bytes`.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_bound_with_jitter_below_each_ceiling() {
        let policy = RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            max_attempts: None,
        };
        let ceilings: Vec<u128> = (1..=6).map(|n| policy.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_millis(1000));
        for failures in 1..=8 {
            let wait = policy.wait(failures);
            let ceiling = policy.ceiling(failures);
            assert!(wait >= ceiling / 2 && wait <= ceiling, "{wait:?}");
        }
    }

    #[test]
    fn policy_and_message_codes_stop_restarts_and_server_errors_come_back() {
        for code in [1000, 1002, 1003, 1007, 1008, 1009, 1010] {
            assert!(!comes_back(CloseCode(code)), "{code}");
        }
        for code in [1001, 1006, 1011, 1012, 1013, 1014, 3000, 4000] {
            assert!(comes_back(CloseCode(code)), "{code}");
        }
        let status = |status| Error::Response(ResponseError::NotSwitching { status });
        assert!(is_final(&status(403)) && is_final(&status(401)) && is_final(&status(404)));
        assert!(!is_final(&status(429)) && !is_final(&status(503)) && !is_final(&status(408)));
        assert!(!is_final(&Error::AbnormalClosure));
    }

    #[test]
    fn the_outbox_keeps_what_was_not_acknowledged_within_its_bound() {
        let mut outbox = Outbox::new(10);
        for text in ["aaaa", "bbbb", "cc"] {
            outbox.record(MessageKind::Text, text.as_bytes());
        }
        outbox.acknowledge(0);
        let left: Vec<_> = outbox
            .unacknowledged()
            .map(|(id, _, p)| (id, p.to_vec()))
            .collect();
        assert_eq!(left, [(1, b"bbbb".to_vec()), (2, b"cc".to_vec())]);
        assert_eq!(outbox.record(MessageKind::Binary, b"dddddd"), 3);
        let ids: Vec<u64> = outbox.unacknowledged().map(|(id, _, _)| id).collect();
        assert_eq!((ids, outbox.dropped()), (vec![2, 3], 1));
    }
}
