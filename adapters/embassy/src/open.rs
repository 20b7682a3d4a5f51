//! One call from a socket's halves to a working connection: [`accept`] and [`connect`] run the handshake
//! and hand back the [`Reader`] and the [`Writer`], their shared state kept where the caller says.

use crate::handshake::{self, Decision};
use crate::{ClientRequest, Config, Error, Reader, Request, Role, Shared, Upgraded, Writer};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embedded_io_async::{ErrorType, Read, Write};

/// Where [`accept`] and [`connect`] keep the state a connection's reader and writer share (the
/// [`Shared`] session and write side): the caller declares `let mut shared = None;` next to its buffers
/// and lends it, so the state lives in the caller's memory. Both halves run on one executor
/// (`NoopRawMutex`); for halves on different executors, build the pieces yourself:
/// [`handshake::accept`], [`Shared::new`] with another mutex kind, [`Reader::new`], [`Writer::new`].
pub type Slot<'b, W> = Option<Shared<'b, NoopRawMutex, W>>;

/// A connection's reading and writing halves, as [`accept`] and [`connect`] hand them back. The reader
/// reassembles nothing until [`Reader::reassembling`] lends it a message buffer ([`Reader::recv_piece`]
/// needs none), and inflates nothing until `Reader::inflating` lends it an inflater (feature `deflate`).
pub type Halves<'s, 'b, R, W> = (
    Reader<'s, 'b, NoopRawMutex, R, W>,
    Writer<'s, 'b, NoopRawMutex, W>,
);

/// Answers the request read from `rx` as `decide` says ([`handshake::accept`]: an invalid upgrade gets
/// its HTTP error and [`Error::Request`], a rejection or a page [`Error::Rejected`]), then hands back the
/// server's reader and writer over the stream's halves `rx` and `tx`, their shared state kept in `shared`.
///
/// `read_buf` holds the request and then the frames read; `write_buf` the response and then the frames
/// placed: make it [`rill_ws::frame::MAX_HEADER_LEN`] bytes larger than `read_buf` for an echo (see
/// [`Shared`]). A flush hands the bytes to the network stack without waiting for the peer's ACK unless
/// [`Config::flush`] says otherwise.
pub async fn accept<'s, 'b, 'd, R, W, F>(
    mut rx: R,
    mut tx: W,
    read_buf: &'b mut [u8],
    write_buf: &'b mut [u8],
    shared: &'s mut Slot<'b, W>,
    config: &Config,
    decide: F,
) -> Result<Halves<'s, 'b, R, W>, Error<W::Error>>
where
    R: Read + ErrorType<Error = W::Error>,
    W: Write,
    F: FnOnce(&Request<'_>) -> Decision<'d>,
{
    let stream = &mut Duplex(&mut rx, &mut tx);
    let upgraded = handshake::accept(stream, read_buf, write_buf, config, decide).await?;
    let shared = &*shared.insert(Shared::new(tx, write_buf, Role::Server, [0; 32], *config));
    Ok(halves(rx, read_buf, shared, upgraded))
}

/// Sends `request` on `tx` and verifies the server's response read from `rx` ([`handshake::connect`],
/// which also tells which subprotocol the server chose), then hands back the client's reader and writer,
/// masking with keys from `mask_seed`: 32 fresh bytes from the board's hardware RNG for every connection
/// (see [`Shared::new`]). The buffers and `shared` are as for [`accept`].
#[allow(clippy::too_many_arguments)]
pub async fn connect<'s, 'b, R, W>(
    mut rx: R,
    mut tx: W,
    request: &ClientRequest<'_>,
    read_buf: &'b mut [u8],
    write_buf: &'b mut [u8],
    shared: &'s mut Slot<'b, W>,
    config: &Config,
    mask_seed: [u8; 32],
) -> Result<Halves<'s, 'b, R, W>, Error<W::Error>>
where
    R: Read + ErrorType<Error = W::Error>,
    W: Write,
{
    let stream = &mut Duplex(&mut rx, &mut tx);
    let (upgraded, _) = handshake::connect(stream, request, read_buf, write_buf, config).await?;
    let shared = &*shared.insert(Shared::new(tx, write_buf, Role::Client, mask_seed, *config));
    Ok(halves(rx, read_buf, shared, upgraded))
}

fn halves<'s, 'b, R, W>(
    rx: R,
    read_buf: &'s mut [u8],
    shared: &'s Shared<'b, NoopRawMutex, W>,
    upgraded: Upgraded,
) -> Halves<'s, 'b, R, W>
where
    R: Read + ErrorType<Error = W::Error>,
    W: Write,
{
    (
        Reader::new(rx, read_buf, upgraded, &mut [], shared),
        Writer::new(shared),
    )
}

/// A stream's two halves as one stream, for the handshake.
struct Duplex<'a, R, W>(&'a mut R, &'a mut W);

impl<R, W: ErrorType> ErrorType for Duplex<'_, R, W> {
    type Error = W::Error;
}

impl<R: Read + ErrorType<Error = W::Error>, W: Write> Read for Duplex<'_, R, W> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, W::Error> {
        self.0.read(buf).await
    }
}

impl<R: ErrorType<Error = W::Error>, W: Write> Write for Duplex<'_, R, W> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, W::Error> {
        self.1.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), W::Error> {
        self.1.flush().await
    }
}
