//! The adapter's error type: the core's [`rill::Error`] over `std::io::Error`.

/// Everything that can go wrong on a connection: I/O, protocol faults (with the close code sent),
/// handshake failures, timeouts, the end of the connection.
pub type Error = rill::Error<std::io::Error>;

pub use rill::Timeout;
