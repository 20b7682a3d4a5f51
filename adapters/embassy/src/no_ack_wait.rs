//! A write half whose `flush` hands bytes to the network stack without waiting for the peer's ACK.

use embedded_io_async::{ErrorType, Write};

/// Wraps a stream's write half so that `flush` returns once the bytes are in the stack's transmit buffer.
///
/// embassy-net's `TcpSocket::flush` returns only when the peer has acknowledged every byte. rill-embassy
/// flushes after each `send_*` (so a ready message leaves at once), so with the plain socket each send
/// would also wait a round trip plus the peer's delayed ACK (up to 40 ms on Linux); a streaming echo over the
/// host TAP ran at about 50 KB/s that way and above 10 MB/s with this wrapper. The stack sends what is in its
/// buffer on its own (turn Nagle off with `set_nagle_enabled(false)`); `write` still waits for room in the
/// buffer, which is the backpressure, and a graceful close still waits for every byte to be acknowledged.
pub struct NoAckWait<W>(pub W);

impl<W: ErrorType> ErrorType for NoAckWait<W> {
    type Error = W::Error;
}

impl<W: Write> Write for NoAckWait<W> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
