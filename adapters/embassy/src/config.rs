//! Connection settings. Buffers are not here: the caller lends them.
//!
//! Timeouts are `core::time::Duration`, as in the core's [`rill_ws::SessionConfig`] (which owns every deadline
//! after the handshake) and every other rill adapter; the session counts them in microseconds of
//! `embassy_time`'s clock, so no conversion through `embassy_time::Duration` (a 64-bit division on a
//! 32-bit MCU) is linked.

use core::time::Duration;
pub use rill_ws::Batch;

/// Limits, timeouts and the flush policy of one connection.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Limits on what the peer may send (close code 1009 beyond them).
    pub limits: rill_ws::Limits,
    /// Largest handshake header block accepted (431 beyond it); at most the read buffer's size.
    pub max_head_len: usize,
    /// The opening handshake must finish within this time.
    pub handshake_timeout: Duration,
    /// How long to wait for the peer's close frame after ours, and for the end of the TCP connection after
    /// the close handshake or a protocol error.
    pub close_timeout: Duration,
    /// Fail the connection when the peer sends nothing for this long, whatever the writer is doing.
    pub idle_timeout: Option<Duration>,
    /// Send a ping after this much silence from the peer.
    pub keepalive: Option<Duration>,
    /// Fail the connection when pending output makes no progress for this long (a peer that stopped
    /// reading).
    pub write_timeout: Option<Duration>,
    /// Opt-in coalescing of sends; `None` flushes every send at once.
    pub batch: Option<Batch>,
    /// permessage-deflate (RFC 7692), inflate only, with the feature `deflate`: what [`crate::accept`]
    /// accepts and [`crate::connect`] offers; `None` (the default) neither. `send_window_bits` is taken as `None` whatever it says: this
    /// endpoint never compresses (RFC 7692 allows it), so it needs no compressor memory, only a window of
    /// `1 << receive_window_bits` bytes to inflate with (below 15 the peer must agree to compress with no
    /// more; a server declines clients that cannot). The agreement is in [`crate::Upgraded::deflate`].
    pub deflate: Option<rill_ws::deflate::DeflateConfig>,
    /// What a flush does with the stream: by default ([`Flush::NoAckWait`]) it hands the bytes to the
    /// network stack and returns.
    pub flush: Flush,
}

/// What rill-embassy does when the session asks for a flush ([`Config::flush`]).
///
/// embassy-net's `TcpSocket::flush` returns only when the peer has acknowledged every byte. rill-embassy
/// flushes after each `send_*` (so a ready message leaves at once), so with the socket's own flush each
/// send would also wait a round trip plus the peer's delayed ACK (up to 40 ms on Linux): a streaming echo
/// over the host TAP ran at about 50 KB/s that way and above 10 MB/s without the wait. The stack sends what
/// is in its buffer on its own (turn Nagle off with `set_nagle_enabled(false)`); a write still waits for
/// room in the buffer, which is the backpressure, and a graceful close still waits for every byte to be
/// acknowledged (the firmware's `socket.flush()` after `socket.close()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Flush {
    /// Written bytes are in the stream's hands: the stream's `flush` is not called. For embassy-net's
    /// `TcpSocket` halves, whose writes go straight into the stack's transmit buffer.
    #[default]
    NoAckWait,
    /// Call the stream's `flush`: for streams that hold bytes back until flushed (a TLS session, a
    /// buffered writer), or to wait for the peer's ACK on embassy-net.
    Stream,
}

impl Default for Config {
    /// [`Config::DEFAULT`].
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Config {
    /// The defaults, as a `const` (a `const CONFIG: Config = Config::DEFAULT;` lies in flash, where a
    /// `let` holding `Config::default()` across awaits is a copy in the connection's future). The session's
    /// timeouts are [`rill_ws::SessionConfig::DEFAULT`]'s, as in the std adapters: keepalive ping after 30 s
    /// of silence, idle failure after 60 s, write failure after 30 s without progress, so a vanished peer
    /// never holds one of a board's few sockets.
    pub const DEFAULT: Config = Config {
        limits: rill_ws::Limits::DEFAULT,
        max_head_len: 1024,
        handshake_timeout: Duration::from_secs(10),
        close_timeout: rill_ws::SessionConfig::DEFAULT.close_timeout,
        idle_timeout: rill_ws::SessionConfig::DEFAULT.idle_timeout,
        keepalive: rill_ws::SessionConfig::DEFAULT.keepalive,
        write_timeout: rill_ws::SessionConfig::DEFAULT.write_timeout,
        batch: None,
        deflate: None,
        flush: Flush::NoAckWait,
    };

    /// The permessage-deflate configuration the handshakes use: [`Config::deflate`], inflate only, and
    /// only with the feature `deflate` (without it nothing is offered or accepted).
    pub fn deflate(&self) -> Option<rill_ws::deflate::DeflateConfig> {
        if cfg!(not(feature = "deflate")) {
            return None;
        }
        self.deflate.map(|config| rill_ws::deflate::DeflateConfig {
            send_window_bits: None,
            ..config
        })
    }

    /// The session's share of these settings (everything after the handshake).
    pub fn session(&self) -> rill_ws::SessionConfig {
        rill_ws::SessionConfig {
            limits: self.limits,
            idle_timeout: self.idle_timeout,
            keepalive: self.keepalive,
            close_timeout: self.close_timeout,
            write_timeout: self.write_timeout,
            batch: self.batch,
        }
    }
}
