//! rill-blocking: a blocking WebSocket (RFC 6455) client and server over any `std::io::Read + Write`
//! stream (a `TcpStream`, a TLS stream), for threads and scripts.
//!
//! The crate is a pump around one [`rill_ws::Session`], which holds all protocol state: replies, the close
//! handshake, limits and deadlines. With no async timers, deadlines go through the socket's own read and
//! write timeouts ([`Timeouts`]): before each blocking call the timeout is set to the session's next
//! deadline, and a timed-out call hands the instant to the session. Timers therefore only run while a
//! call on the connection is blocked in I/O (a keepalive ping waits for the next `recv`).
//!
//! ```no_run
//! let mut ws = rill_blocking::connect("ws://127.0.0.1:9001/")?;
//! ws.send_text("hello")?;
//! if let rill_blocking::Message::Text(reply) = ws.recv()? {
//!     println!("{reply}");
//! }
//! ws.close(rill_blocking::CloseCode::NORMAL, "bye")?;
//! # Ok::<(), rill_blocking::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod handshake;
mod proxy;
mod pump;
mod tcp;
mod websocket;
mod writer;

pub use handshake::{accept, accept_with, client_handshake, connect, connect_with};
pub use rill_net::proxy::{proxy_error, ProxyError};
pub use rill_net::{AcceptStats, Admission, Drain, DrainReport, GOING_AWAY_REASON};
pub use rill_ws::handshake::owned::{ClientOptions, Decision, Origin, Proxy};
pub use rill_ws::handshake::server::Request;
pub use rill_ws::{
    CloseCode, End, Limits, Message, MessageKind, Piece, ProtocolError, SessionConfig, Timeout,
};
pub use tcp::{Incoming, Listener};
pub use websocket::{Reader, WebSocket};
pub use writer::{Chunks, Writer};

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// What can end or refuse a connection: rill's error over `std::io::Error`.
pub type Error = rill_ws::Error<io::Error>;

/// Settings for one connection.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Limits, timeouts and the flush policy, applied by the session.
    pub session: SessionConfig,
    /// Bytes read from the stream at most per read: the largest piece `recv_piece` yields.
    pub read_buffer: usize,
    /// Every frame is placed whole in the write buffer; larger messages leave as several frames.
    pub write_buffer: usize,
    /// The largest message `recv` reassembles in memory (close code 1009 beyond it).
    pub max_message: usize,
    /// Largest handshake header block accepted (431 beyond it).
    pub max_head_len: usize,
    /// The whole opening handshake (and `connect`'s TCP connect) must finish within this time.
    pub handshake_timeout: Duration,
    /// Set `TCP_NODELAY` on sockets made by [`connect`]: a message must leave at once.
    pub nodelay: bool,
    /// permessage-deflate (RFC 7692): what a server accepts and what a client offers (it replaces
    /// [`ClientOptions`]' own); `None` neither offers nor accepts it. The default inflates with a full
    /// 32 KiB window and compresses with a 4 KiB one: memory per connection, only on connections that
    /// agree on it. A server's decision can decline it per request (`Decision::Accept { deflate: false, .. }`).
    pub deflate: Option<rill_ws::deflate::DeflateConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            session: SessionConfig::default(),
            read_buffer: 16 * 1024,
            write_buffer: 16 * 1024,
            max_message: 1 << 20,
            max_head_len: rill_ws::handshake::DEFAULT_MAX_HEAD_LEN,
            handshake_timeout: Duration::from_secs(10),
            nodelay: true,
            deflate: Some(rill_ws::deflate::DeflateConfig::default()),
        }
    }
}

/// The socket controls the pump needs beyond `Read + Write`. Every method defaults to doing nothing, so a
/// stream without them is one line, `impl Timeouts for MyStream {}`, or wrapped in [`Untimed`]; its
/// deadlines (idle, keepalive, close) then only act when a read or write returns. A TLS stream wraps
/// its TCP socket in a type of yours that forwards the timeouts to it.
pub trait Timeouts {
    /// Bounds the next reads (`None`: block); a read past it fails with `WouldBlock` or `TimedOut`.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }
    /// Bounds the next writes, like [`Timeouts::set_read_timeout`].
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }
    /// Ends our direction of the stream (TCP half-close) once the close handshake allows it.
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// True when reads honour [`Timeouts::set_read_timeout`]: a connection used whole then reads what
    /// its peer sent while a send meets a deadline (`docs/blocking.md`). False by default, since a read
    /// without a timeout would hold the send until the peer spoke.
    fn reads_time_out(&self) -> bool {
        false
    }
}

impl Timeouts for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
    fn reads_time_out(&self) -> bool {
        true
    }
}

/// Any blocking stream, without socket timeouts or half-close: see [`Timeouts`]. Suits a client, which
/// waits for the server to end TCP; a server over it relies on the client to end TCP after the close
/// handshake.
#[derive(Debug)]
pub struct Untimed<S>(pub S);

impl<S> Timeouts for Untimed<S> {}

impl<S: Read> Read for Untimed<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Write> Write for Untimed<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The README's examples, compiled and run as doctests so the published page cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
