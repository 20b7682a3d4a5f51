//! A complete WebSocket echo server over an abstract byte stream, for measuring rill's flash footprint.
//!
//! The one exported function, [`rill_serve`], does what a small device serving a browser does: read the
//! upgrade request, validate it fully (every rule of RFC 6455 section 4.2.1), answer 101 or the error status,
//! then echo every message back while answering pings and the close handshake. Messages are echoed as they
//! stream in, piece by piece, as a chunked message, so a message of any size passes through the fixed
//! buffers. The byte stream is two C functions the platform provides (a socket, a UART, a test harness).
#![no_std]

use rill::handshake::server::{encode_accept, parse_request, Accept, AcceptError, RequestError};
use rill::handshake::Parsed;
use rill::{Connection, Event, Limits, Role};

extern "C" {
    /// Reads up to `len` bytes into `buf`; returns the count, 0 at end of stream, negative on error.
    fn rill_read(buf: *mut u8, len: usize) -> isize;
    /// Writes up to `len` bytes from `buf`; returns the count written, negative on error.
    fn rill_write(buf: *const u8, len: usize) -> isize;
}

/// Input and output buffer size: a browser's upgrade request fits, and so does the largest control frame.
const BUF_LEN: usize = 1024;

/// Why [`rill_serve`] returned.
#[repr(i32)]
enum Outcome {
    /// The peer closed the WebSocket and our close reply went out.
    Closed = 0,
    /// The request was not a valid upgrade; the error response was sent.
    Rejected = 1,
    /// The peer broke the protocol; the close frame with its code was sent.
    ProtocolError = 2,
    /// The stream ended or failed.
    Io = 3,
}

/// Serves one connection on the stream behind `rill_read` and `rill_write`: handshake, then echo until the
/// close handshake. Returns 0 after a clean close, 1 after rejecting the request, 2 after a protocol error,
/// 3 when the stream ends or fails.
#[no_mangle]
pub extern "C" fn rill_serve() -> i32 {
    let mut input = [0u8; BUF_LEN];
    let mut output = [0u8; BUF_LEN];
    (match serve(&mut input, &mut output) {
        Ok(outcome) | Err(outcome) => outcome,
    }) as i32
}

fn serve(input: &mut [u8; BUF_LEN], output: &mut [u8; BUF_LEN]) -> Result<Outcome, Outcome> {
    let mut filled = 0;
    let head_len = loop {
        filled += read(&mut input[filled..])?;
        let request = match parse_request(&input[..filled], BUF_LEN) {
            Ok(Parsed::Partial) => continue,
            Ok(Parsed::Complete { value, consumed }) => {
                match encode_accept(&value, &Accept::default(), output) {
                    Ok(len) => {
                        write_all(&output[..len])?;
                        break consumed;
                    }
                    Err(AcceptError::Request(error)) => error,
                    // Our own 101 always fits the output buffer.
                    Err(AcceptError::Encode(_)) => return Err(Outcome::Io),
                }
            }
            Err(error) => error,
        };
        return reject(request, output);
    };
    // Frames the client sent right behind its request are already in the buffer: decoding starts at them.
    // `input[start..filled]` is what the receiver has not consumed yet; nothing is ever moved, because the
    // receiver only asks for more bytes once it has taken all it was given (a split header waits inside it).
    let mut start = head_len;
    let mut conn = Connection::new(Role::Server, Limits::default(), 0);
    loop {
        let (consumed, outcome) = match conn.receiver.receive(&mut input[start..filled]) {
            Ok(received) => {
                let consumed = received.consumed;
                match received.event {
                    Some(Event::Data(piece)) => {
                        if piece.first {
                            conn.sender.begin(piece.kind).map_err(|_| Outcome::Io)?;
                        }
                        let head = conn
                            .sender
                            .chunk(piece.payload.len() as u64, piece.last)
                            .map_err(|_| Outcome::Io)?;
                        // A server's frames are unmasked: the payload goes out straight from the input.
                        write_all(head.as_bytes())?;
                        write_all(piece.payload)?;
                        (consumed, None)
                    }
                    Some(Event::Close { .. }) => (consumed, Some(Outcome::Closed)),
                    Some(Event::Ping(_) | Event::Pong(_)) => (consumed, None),
                    None => {
                        // Nothing new is owed to the peer: replies are queued only with an event or an error.
                        start += consumed;
                        if start == filled {
                            start = 0;
                            filled = 0;
                        }
                        // Were bytes left over in a full buffer, this read gets no room and fails as Io.
                        filled += read(&mut input[filled..])?;
                        continue;
                    }
                }
            }
            Err(_) => (0, Some(Outcome::ProtocolError)),
        };
        // Pongs, and the close frame answering the peer's or reporting a fault.
        let len = conn.poll_transmit(output);
        write_all(&output[..len])?;
        if let Some(outcome) = outcome {
            return Ok(outcome);
        }
        start += consumed;
    }
}

fn reject(error: RequestError, output: &mut [u8]) -> Result<Outcome, Outcome> {
    // Every reject response is a few hundred bytes at most.
    let len = error.encode_response(output).map_err(|_| Outcome::Io)?;
    write_all(&output[..len])?;
    Ok(Outcome::Rejected)
}

fn read(buf: &mut [u8]) -> Result<usize, Outcome> {
    // SAFETY: the platform reads at most `buf.len()` bytes into the buffer it is given.
    let n = unsafe { rill_read(buf.as_mut_ptr(), buf.len()) };
    match usize::try_from(n) {
        Ok(n) if n > 0 && n <= buf.len() => Ok(n),
        _ => Err(Outcome::Io),
    }
}

fn write_all(mut bytes: &[u8]) -> Result<(), Outcome> {
    while !bytes.is_empty() {
        // SAFETY: the platform reads at most `bytes.len()` bytes from the buffer it is given.
        let n = unsafe { rill_write(bytes.as_ptr(), bytes.len()) };
        match usize::try_from(n) {
            Ok(n) if n > 0 && n <= bytes.len() => bytes = &bytes[n..],
            _ => return Err(Outcome::Io),
        }
    }
    Ok(())
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // Nothing to report to; a real firmware resets here. Ignoring the info lets LTO drop the formatting
    // machinery a panic message would need, so the measurement shows rill's code, not a logger's.
    loop {}
}
