//! The adapter's error type: the core's [`rill_ws::Error`] over `std::io::Error`.

/// Everything that can go wrong on a connection: I/O, protocol faults (with the close code sent),
/// handshake failures, timeouts, the end of the connection.
pub type Error = rill_ws::Error<std::io::Error>;

pub use rill_ws::Timeout;
