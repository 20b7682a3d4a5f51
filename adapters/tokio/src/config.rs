//! Connection settings: buffer sizes, limits, timeouts and the flush policy.

pub use rill_ws::Batch;
use std::time::Duration;

/// Settings for one connection. `Config::default()` suits a server streaming small messages.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// The read buffer's initial size: bytes read from the socket at most per read, and the largest piece
    /// the streaming API yields, until bulk traffic grows it. The buffer a read takes (from the thread's
    /// free list, while the connection holds bytes) is twice this, so that a frame that begins in a read
    /// has room behind it for its rest ([`crate::Reader::recv`] completes it there without a copy).
    pub read_buffer: usize,
    /// How far the read buffer may grow while large frames arrive faster than they are read (see
    /// [`crate::Reader`]). Set it equal to `read_buffer` to keep memory per connection fixed. A connection
    /// holds its read buffer only while the bytes in it are in use: a read that finds the socket dry
    /// returns it to a free list shared by the connections of the thread (at most 16 buffers and 1 MiB per
    /// thread), so an idle connection holds none, and busy connections reuse buffers still in the cache.
    pub max_read_buffer: usize,
    /// The write buffer's size: every frame is placed whole in it before it is written. A server's whole
    /// message that does not fit (and is not compressed) is written from the caller's bytes instead, up to
    /// `max_write_buffer`; other messages that do not fit grow it (up to `max_write_buffer`) so they leave
    /// in one write. It returns to this size once the connection has been quiet for half a second.
    pub write_buffer: usize,
    /// How far the write buffer may grow for one large message (or hold of a cancelled unbuffered one);
    /// larger messages leave as several frames.
    pub max_write_buffer: usize,
    /// Limits on what the peer may send (close code 1009 beyond them), for both receive APIs.
    pub limits: rill_ws::Limits,
    /// The largest message [`crate::Reader::recv`] reassembles in memory (close code 1009 beyond it); the
    /// streaming [`crate::Reader::recv_piece`] has no such limit.
    pub max_message: usize,
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
    /// Fail the connection when pending output makes no progress for this long (a peer that stopped
    /// reading).
    pub write_timeout: Option<Duration>,
    /// Set `TCP_NODELAY` on sockets made by [`crate::Listener`] and [`crate::connect`]. On by default:
    /// a ready message must leave at once, not wait for Nagle's algorithm.
    pub nodelay: bool,
    /// Opt-in coalescing of sends; `None` (the default) flushes every send at once.
    pub batch: Option<Batch>,
    /// permessage-deflate (RFC 7692): what a server accepts and what a client offers; `None` neither
    /// offers nor accepts it. The default inflates with a full 32 KiB window (whatever the peer
    /// compresses with) and compresses with a 4 KiB one: memory per connection for the inflater's window
    /// and the compressor's state, only on connections that agree on it. A server's decision can decline
    /// it per request (`Decision::Accept { deflate: false, .. }`).
    pub deflate: Option<rill_ws::deflate::DeflateConfig>,
}

impl Default for Config {
    /// The timeouts are [`rill_ws::SessionConfig::default`]'s: keepalive ping after 30 s of silence, idle
    /// failure after 60 s, write failure after 30 s without progress, close handshake 5 s.
    fn default() -> Self {
        let session = rill_ws::SessionConfig::default();
        Config {
            read_buffer: 8 * 1024,
            max_read_buffer: 256 * 1024,
            write_buffer: 8 * 1024,
            max_write_buffer: 128 * 1024,
            limits: session.limits,
            max_message: 1 << 20,
            max_head_len: rill_ws::handshake::DEFAULT_MAX_HEAD_LEN,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: session.close_timeout,
            idle_timeout: session.idle_timeout,
            keepalive: session.keepalive,
            write_timeout: session.write_timeout,
            nodelay: true,
            batch: None,
            deflate: Some(rill_ws::deflate::DeflateConfig::default()),
        }
    }
}

impl Config {
    /// The session's part of the settings.
    pub(crate) fn session(&self) -> rill_ws::SessionConfig {
        rill_ws::SessionConfig {
            limits: self.limits,
            idle_timeout: self.idle_timeout,
            keepalive: self.keepalive,
            close_timeout: self.close_timeout,
            write_timeout: self.write_timeout,
            batch: self.batch,
        }
    }

    /// The size of the buffer a read takes at first: `read_buffer`, at least one byte (a read into
    /// nothing would look like the end of the stream).
    pub(crate) fn read_capacity(&self) -> usize {
        self.read_buffer.max(1)
    }
}
