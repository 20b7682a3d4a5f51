//! A complete WebSocket echo server on rill-embassy over an abstract byte stream, for measuring the flash
//! rill costs in an embassy firmware.
//!
//! The one exported function, [`rill_serve`], does what a small device serving a browser does:
//! `rill_embassy::accept` reads the upgrade request, validates it fully (every rule of RFC 6455 section
//! 4.2.1) and answers 101 or the error status; then a [`Reader`] and a [`Writer`] echo every message back,
//! piece by piece as it streams in (so a message of any size passes through the fixed buffers), while the
//! session answers pings, runs the close handshake and keeps its deadlines. The byte stream and the clock
//! are three C functions the platform provides (a socket, a UART, a test harness); the future is driven by
//! `embassy_futures::block_on`, the smallest executor.
#![no_std]

use core::task::Waker;
use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
#[cfg(not(feature = "client"))]
use rill_embassy::{accept, Decision, Request};
#[cfg(feature = "client")]
use rill_embassy::{connect, ClientRequest};
use rill_embassy::{Config, Error};

extern "C" {
    /// Reads up to `len` bytes into `buf`; returns the count, 0 at end of stream, negative on error.
    fn rill_read(buf: *mut u8, len: usize) -> isize;
    /// Writes up to `len` bytes from `buf`; returns the count written, negative on error.
    fn rill_write(buf: *const u8, len: usize) -> isize;
    /// Microseconds since any origin.
    fn rill_now() -> u64;
    /// 64 random bits from the board's hardware RNG (a client's handshake key and masking keys' seed).
    #[cfg(feature = "client")]
    fn rill_random() -> u64;
}

/// Input and output buffer size: a browser's upgrade request fits, and so does the largest control frame.
const BUF_LEN: usize = 1024;

/// The connection's settings as README's board listener writes them, the defaults as a `const`: a reference
/// to it points into flash, where a `&Config::default()` would keep a 144-byte copy in the connection's
/// future while the handshake runs.
const CONFIG: Config = Config::DEFAULT;

/// Why [`rill_serve`] returned.
#[repr(i32)]
enum Outcome {
    /// The close handshake finished.
    Closed = 0,
    /// The request was not a valid upgrade; the error response was sent.
    Rejected = 1,
    /// The peer broke the protocol; the close frame with its code was sent.
    ProtocolError = 2,
    /// The stream ended or failed, or a deadline passed.
    Io = 3,
}

/// Echoes every message, piece by piece, until the close handshake, with the reader and writer that the
/// one-call `accept` or `connect` handed back. A macro, not a function, so that each entry point keeps its
/// halves in its own future and the server's image holds no client code (a shared function would take the
/// role at run time).
macro_rules! echo {
    ($halves:expr) => {{
        let (mut reader, mut writer) = $halves;
        let echoed = async {
            while let Some(piece) = reader.recv_piece().await? {
                writer.feed_piece(&piece).await?;
                if !reader.has_buffered_input() {
                    writer.flush().await?;
                }
            }
            Ok::<(), Error<ErrorKind>>(())
        };
        match echoed.await {
            Ok(()) | Err(Error::Closed) => Outcome::Closed,
            Err(Error::Protocol(_)) => Outcome::ProtocolError,
            Err(_) => Outcome::Io,
        }
    }};
}

/// Serves one connection on the stream behind `rill_read` and `rill_write`: handshake, then echo until the
/// close handshake. Returns 0 after a clean close, 1 after rejecting the request, 2 after a protocol error,
/// 3 when the stream ends or fails.
#[cfg(not(feature = "client"))]
#[no_mangle]
pub extern "C" fn rill_serve() -> i32 {
    let mut read_buf = [0u8; BUF_LEN];
    let mut write_buf = [0u8; BUF_LEN];
    embassy_futures::block_on(serve(&mut read_buf, &mut write_buf)) as i32
}

/// Connects as a client on the stream behind `rill_read` and `rill_write` (the handshake for `/echo`),
/// then echoes what the server sends until the close handshake. Returns what [`rill_serve`] returns (1:
/// the server refused the upgrade).
#[cfg(feature = "client")]
#[no_mangle]
pub extern "C" fn rill_client() -> i32 {
    let mut read_buf = [0u8; BUF_LEN];
    let mut write_buf = [0u8; BUF_LEN];
    embassy_futures::block_on(client(&mut read_buf, &mut write_buf)) as i32
}

#[cfg(feature = "client")]
async fn client(read_buf: &mut [u8], write_buf: &mut [u8]) -> Outcome {
    // SAFETY: a plain function of the platform without arguments.
    let seed = unsafe { rill_random() };
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..].copy_from_slice(&seed.rotate_left(32).to_le_bytes());
    let request = ClientRequest {
        host: "device",
        path: "/echo",
        key,
        protocols: &[],
        origin: None,
        headers: &[],
        deflate: None,
    };
    // The masking keys' seed: 32 bytes apart from the handshake key, which goes out in the clear.
    let mut mask_seed = [0u8; 32];
    for word in mask_seed.chunks_exact_mut(8) {
        // SAFETY: as above.
        word.copy_from_slice(&unsafe { rill_random() }.to_le_bytes());
    }
    // Both halves are the same platform stream; one task drives them, so no locking is needed.
    let mut shared = None;
    let halves = match connect(
        Stream,
        Stream,
        &request,
        read_buf,
        write_buf,
        &mut shared,
        &CONFIG,
        mask_seed,
    )
    .await
    {
        Ok(halves) => halves,
        Err(Error::Response(_)) => return Outcome::Rejected,
        Err(_) => return Outcome::Io,
    };
    echo!(halves)
}

#[cfg(not(feature = "client"))]
async fn serve(read_buf: &mut [u8], write_buf: &mut [u8]) -> Outcome {
    // Both halves are the same platform stream; one task drives them, so no locking is needed.
    let mut shared = None;
    let halves = match accept(
        Stream,
        Stream,
        read_buf,
        write_buf,
        &mut shared,
        &CONFIG,
        // README's board listener's routes: a WebSocket, a page, a refusal.
        |request: &Request<'_>| match request.path() {
            "/echo" => Decision::accept(),
            "/" => Decision::Respond {
                status: 200,
                content_type: "text/html",
                body: b"hi",
            },
            _ => Decision::Reject {
                status: 404,
                reason: "not found",
            },
        },
    )
    .await
    {
        Ok(halves) => halves,
        Err(Error::Request(_) | Error::Rejected(_)) => return Outcome::Rejected,
        Err(_) => return Outcome::Io,
    };
    if cfg!(feature = "handshake-only") {
        // What the handshake alone costs (scripts/size-probe.sh's third line): the echo is left out.
        core::hint::black_box(&halves);
        return Outcome::Closed;
    }
    echo!(halves)
}

/// The platform's byte stream, both halves.
struct Stream;

impl ErrorType for Stream {
    type Error = ErrorKind;
}

impl Read for Stream {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        // SAFETY: the platform reads at most `buf.len()` bytes into the buffer it is given.
        let n = unsafe { rill_read(buf.as_mut_ptr(), buf.len()) };
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= buf.len())
            .ok_or(ErrorKind::Other)
    }
}

impl Write for Stream {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        // SAFETY: the platform reads at most `buf.len()` bytes from the buffer it is given.
        let n = unsafe { rill_write(buf.as_ptr(), buf.len()) };
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= buf.len())
            .ok_or(ErrorKind::Other)
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        // The platform's writes are not buffered here.
        Ok(())
    }
}

/// The platform's clock as embassy-time's driver. `block_on` polls without waiting for wakers, so no
/// timer queue is needed.
struct Clock;

impl embassy_time_driver::Driver for Clock {
    fn now(&self) -> u64 {
        // SAFETY: a plain function of the platform without arguments.
        unsafe { rill_now() }
    }

    fn schedule_wake(&self, _at: u64, _waker: &Waker) {}
}

embassy_time_driver::time_driver_impl!(static CLOCK: Clock = Clock);

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // Nothing to report to; a real firmware resets here. Ignoring the info lets LTO drop the formatting
    // machinery a panic message would need, so the measurement shows rill's code, not a logger's.
    loop {}
}
