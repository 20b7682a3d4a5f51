//! Connection settings: buffer sizes, limits, timeouts and the flush policy.

use std::time::Duration;

/// Settings for one connection. `Config::default()` suits a server streaming small messages.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// The read buffer's initial size: bytes read from the socket at most per read, and the largest piece
    /// the streaming API yields, until bulk traffic grows it.
    pub read_buffer: usize,
    /// How far the read buffer may grow while large frames arrive faster than they are read (see
    /// [`crate::Reader`]). Set it equal to `read_buffer` to keep memory per connection fixed.
    pub max_read_buffer: usize,
    /// Bytes collected before a write; frames that do not fit are written straight from the caller's slice.
    pub write_buffer: usize,
    /// Limits on what the peer may send (close code 1009 beyond them). For [`crate::Reader::recv`],
    /// `max_message_len` also bounds the memory a reassembled message may take.
    pub limits: rill::Limits,
    /// Largest handshake header block accepted (431 beyond it).
    pub max_head_len: usize,
    /// The whole opening handshake must finish within this time.
    pub handshake_timeout: Duration,
    /// How long [`crate::WebSocket::close`] waits for the peer's close frame.
    pub close_timeout: Duration,
    /// Fail the connection when the peer sends nothing for this long.
    pub idle_timeout: Option<Duration>,
    /// Send a ping after this much silence from the peer, to keep NATs open and detect dead peers.
    pub keepalive: Option<Duration>,
    /// Set `TCP_NODELAY` on sockets made by [`crate::Listener`] and [`crate::connect`]. On by default:
    /// a ready message must leave at once, not wait for Nagle's algorithm.
    pub nodelay: bool,
    /// Opt-in coalescing of sends; `None` (the default) flushes every send at once.
    pub batch: Option<Batch>,
}

/// A batching policy: sends are buffered and flushed once `max_bytes` are waiting or the oldest waiting
/// byte is `max_delay` old (checked on each send; [`crate::Writer::flush`] forces it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Flush once this many bytes are buffered.
    pub max_bytes: usize,
    /// Flush once the oldest buffered byte has waited this long.
    pub max_delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            read_buffer: 8 * 1024,
            max_read_buffer: 256 * 1024,
            write_buffer: 8 * 1024,
            limits: rill::Limits::default(),
            max_head_len: rill::handshake::DEFAULT_MAX_HEAD_LEN,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            idle_timeout: None,
            keepalive: None,
            nodelay: true,
            batch: None,
        }
    }
}
