//! Connection settings. Buffers are not here: the caller lends them.

use embassy_time::Duration;

/// Limits and timeouts for one connection.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Limits on what the peer may send (close code 1009 beyond them).
    pub limits: rill::Limits,
    /// Largest handshake header block accepted (431 beyond it); at most the read buffer's size.
    pub max_head_len: usize,
    /// The opening handshake must finish within this time.
    pub handshake_timeout: Duration,
    /// How long to wait for the peer's close frame and for the end of the TCP connection.
    pub close_timeout: Duration,
    /// Fail the connection when the peer sends nothing for this long.
    pub idle_timeout: Option<Duration>,
    /// Send a ping after this much silence from the peer.
    pub keepalive: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: rill::Limits::default(),
            max_head_len: 1024,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            idle_timeout: None,
            keepalive: None,
        }
    }
}
