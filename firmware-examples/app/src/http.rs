//! The per-connection HTTP/1.1 exchange, generic over `embedded_io_async` so it runs on any board's TCP socket.
//!
//! One request per connection (`Connection: close`): the board closes the socket after [`serve`] returns, which
//! keeps each listener task's state to one request head buffer.

use embedded_io_async::{Read, Write};

use crate::{Route, INDEX_HTML};

/// Why a connection ended without a response.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error<E> {
    /// The socket failed.
    Io(E),
    /// The peer closed before sending a complete request head.
    Closed,
}

impl<E> From<E> for Error<E> {
    fn from(e: E) -> Self {
        Error::Io(e)
    }
}

/// Reads one request head into `buf` and answers it; returns the route that was asked for.
///
/// A head that does not fit `buf` is answered with 431, a malformed one with 400, anything but GET with 405.
/// `/echo` and `/tokens` answer with the page too until the WebSocket upgrade (on `rill-embassy`) takes these arms.
pub async fn serve<S: Read + Write>(io: &mut S, buf: &mut [u8]) -> Result<Route, Error<S::Error>> {
    let head = match read_head(io, buf).await? {
        Some(len) => &buf[..len],
        None => {
            respond(
                io,
                b"431 Request Header Fields Too Large",
                b"text/plain",
                b"",
            )
            .await?;
            return Ok(Route::NotFound);
        }
    };
    let Some((method, target)) = request_line(head) else {
        respond(io, b"400 Bad Request", b"text/plain", b"").await?;
        return Ok(Route::NotFound);
    };
    let route = Route::from_path(target);
    if method != b"GET" {
        respond(io, b"405 Method Not Allowed", b"text/plain", b"").await?;
        return Ok(route);
    }
    match route {
        Route::Index | Route::Echo | Route::Tokens => {
            respond(io, b"200 OK", b"text/html; charset=utf-8", INDEX_HTML).await?
        }
        Route::NotFound => respond(io, b"404 Not Found", b"text/plain", b"not found\n").await?,
    }
    Ok(route)
}

/// Reads until the blank line ending the head; returns its length, or `None` if `buf` filled up first.
///
/// Bytes after the head stay in `buf` past the returned length: a WebSocket client may send its first frame right
/// behind the handshake, and the upgrade path will need them.
async fn read_head<S: Read>(io: &mut S, buf: &mut [u8]) -> Result<Option<usize>, Error<S::Error>> {
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            return Ok(None);
        }
        let n = io.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(Error::Closed);
        }
        // Only the new bytes plus the 3 before them can complete a terminator.
        let from = filled.saturating_sub(3);
        filled += n;
        if let Some(end) = buf[from..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some(from + end + 4));
        }
    }
}

/// Splits `METHOD SP target SP HTTP/1.x` out of a request head.
fn request_line(head: &[u8]) -> Option<(&[u8], &[u8])> {
    let line_end = head.windows(2).position(|w| w == b"\r\n")?;
    let mut parts = head[..line_end].split(|&b| b == b' ');
    let method = parts.next().filter(|m| !m.is_empty())?;
    let target = parts.next().filter(|t| t.starts_with(b"/"))?;
    let version = parts.next()?;
    (version.starts_with(b"HTTP/1.") && parts.next().is_none()).then_some((method, target))
}

async fn respond<S: Write>(
    io: &mut S,
    status: &[u8],
    content_type: &[u8],
    body: &[u8],
) -> Result<(), S::Error> {
    // Written piecewise straight into the socket: no header buffer, and the body goes from flash to the socket.
    for part in [
        b"HTTP/1.1 ".as_slice(),
        status,
        b"\r\nContent-Type: ",
        content_type,
        b"\r\nContent-Length: ",
    ] {
        io.write_all(part).await?;
    }
    let mut digits = [0u8; 20];
    io.write_all(decimal(body.len(), &mut digits)).await?;
    io.write_all(b"\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n")
        .await?;
    io.write_all(body).await?;
    io.flush().await
}

fn decimal(mut n: usize, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            return &out[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use embassy_futures::block_on;
    use embedded_io_async::ErrorType;

    /// A connection whose peer sends `input` in `chunk`-sized reads and records everything written back.
    struct Fake<'a> {
        input: &'a [u8],
        chunk: usize,
        output: Vec<u8>,
    }

    impl ErrorType for Fake<'_> {
        type Error = core::convert::Infallible;
    }

    impl Read for Fake<'_> {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            let n = self.input.len().min(buf.len()).min(self.chunk);
            buf[..n].copy_from_slice(&self.input[..n]);
            self.input = &self.input[n..];
            Ok(n)
        }
    }

    impl Write for Fake<'_> {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }

        async fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    fn exchange(
        input: &[u8],
        chunk: usize,
        buf_len: usize,
    ) -> (Result<Route, Error<core::convert::Infallible>>, Vec<u8>) {
        let mut fake = Fake {
            input,
            chunk,
            output: Vec::new(),
        };
        let mut buf = std::vec![0u8; buf_len];
        let r = block_on(serve(&mut fake, &mut buf));
        (r, fake.output)
    }

    fn status_line(out: &[u8]) -> &[u8] {
        &out[..out.windows(2).position(|w| w == b"\r\n").unwrap()]
    }

    #[test]
    fn serves_page_with_exact_length_even_byte_by_byte() {
        for chunk in [1, 7, 1024] {
            let (r, out) = exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", chunk, 512);
            assert_eq!(r, Ok(Route::Index));
            assert_eq!(status_line(&out), b"HTTP/1.1 200 OK");
            let len = std::format!("Content-Length: {}\r\n", INDEX_HTML.len());
            assert!(out.windows(len.len()).any(|w| w == len.as_bytes()));
            assert!(out.ends_with(INDEX_HTML));
        }
    }

    #[test]
    fn status_codes() {
        let cases: [(&[u8], &[u8], Route); 4] = [
            (
                b"GET /nope HTTP/1.1\r\n\r\n",
                b"HTTP/1.1 404 Not Found",
                Route::NotFound,
            ),
            (
                b"POST /echo HTTP/1.1\r\n\r\n",
                b"HTTP/1.1 405 Method Not Allowed",
                Route::Echo,
            ),
            (
                b"GET /tokens?a=1 HTTP/1.0\r\n\r\n",
                b"HTTP/1.1 200 OK",
                Route::Tokens,
            ),
            (
                b"GET nope HTTP/1.1\r\n\r\n",
                b"HTTP/1.1 400 Bad Request",
                Route::NotFound,
            ),
        ];
        for (input, status, route) in cases {
            let (r, out) = exchange(input, 5, 512);
            assert_eq!(r, Ok(route));
            assert_eq!(status_line(&out), status);
        }
    }

    #[test]
    fn oversized_head_and_early_close() {
        let (r, out) = exchange(
            b"GET / HTTP/1.1\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
            4,
            32,
        );
        assert_eq!(r, Ok(Route::NotFound));
        assert_eq!(
            status_line(&out),
            b"HTTP/1.1 431 Request Header Fields Too Large"
        );
        let (r, out) = exchange(b"GET / HTTP/1.1\r\n", 4, 512);
        assert_eq!(r, Err(Error::Closed));
        assert!(out.is_empty());
    }

    #[test]
    fn decimal_formats() {
        let mut d = [0u8; 20];
        assert_eq!(decimal(0, &mut d), b"0");
        assert_eq!(decimal(1234, &mut d), b"1234");
        assert_eq!(decimal(4_294_967_295, &mut d), b"4294967295");
    }
}
