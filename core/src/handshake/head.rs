//! The HTTP/1.1 head scanner (RFC 7230 section 3): the request line or status line and the header block of
//! a handshake, checked byte by byte in one pass, nothing copied and no slot array.
//!
//! The grammar is RFC 7230's, as strict as httparse's defaults (the fuzz target `head_scanner` compares
//! the two on every input):
//!
//! - leading empty lines are skipped (section 3.5); a line ends with CRLF or a bare LF (section 3.5);
//! - request line: `method SP target SP HTTP/1.x`, the method a token, the target one or more visible
//!   ASCII or obs-text bytes that are UTF-8; status line: `HTTP/1.x SP 3DIGIT`, then `SP reason` or the
//!   line end, the reason HTAB, SP, VCHAR or obs-text;
//! - header line: a token, `:` right after it (no whitespace before the colon, section 3.2.4), optional
//!   SP/HTAB, a value of HTAB, SP, VCHAR and obs-text, trailing whitespace not part of the value; no
//!   obsolete line folding;
//! - more than [`MAX_HEADERS`] header lines is [`HeadError::TooManyHeaders`].
//!
//! A scan stops at the first byte the grammar refuses, so a malformed head is refused as early as it can
//! be, and answers [`Parsed::Partial`] only while every byte so far can still start a valid head.

use super::{Parsed, MAX_HEADERS};

/// Why bytes are not an HTTP/1.x head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HeadError {
    /// A byte the grammar does not allow where it stands.
    Malformed,
    /// More than [`MAX_HEADERS`] header lines.
    TooManyHeaders,
}

/// A request head: its request line and header lines.
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'b> {
    /// The method, a token (e.g. `GET`).
    pub method: &'b str,
    /// The request target as sent.
    pub target: &'b str,
    /// The minor HTTP version: 0 or 1.
    pub minor: u8,
    /// The header lines.
    pub headers: Headers<'b>,
}

/// A response head: its status line and header lines.
#[derive(Clone, Copy, Debug)]
pub struct ResponseHead<'b> {
    /// The minor HTTP version: 0 or 1.
    pub minor: u8,
    /// The status code, three digits.
    pub status: u16,
    /// The header lines.
    pub headers: Headers<'b>,
}

/// The header lines of a scanned head, in order: each is `(name, value)`, the value without the
/// whitespace around it.
#[derive(Clone, Copy, Debug)]
pub struct Headers<'b> {
    /// The header lines, each with its line end, and the empty line ending the block.
    rest: &'b [u8],
}

impl<'b> Iterator for Headers<'b> {
    type Item = (&'b str, &'b [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // The scanner checked every line, so each holds a colon and ends with LF; the empty line ends it.
        let end = self.rest.iter().position(|&b| b == b'\n')?;
        let (line, rest) = self.rest.split_at(end + 1);
        let colon = line.iter().position(|&b| b == b':')?;
        self.rest = rest;
        let name = core::str::from_utf8(&line[..colon]).ok()?;
        // A value holds no CR, LF or FF (the scanner refused them), so the ASCII trim takes exactly the
        // SP and HTAB around it and the line end.
        Some((name, line[colon + 1..].trim_ascii()))
    }
}

/// Scans a request head from the start of `buf`.
pub fn parse_request_head(buf: &[u8]) -> Result<Parsed<RequestHead<'_>>, HeadError> {
    finish(request_head(&mut Cursor { buf, pos: 0 }))
}

/// Scans a response head from the start of `buf`.
pub fn parse_response_head(buf: &[u8]) -> Result<Parsed<ResponseHead<'_>>, HeadError> {
    finish(response_head(&mut Cursor { buf, pos: 0 }))
}

/// Where a scan stopped short of a head.
enum Stop {
    /// The bytes ran out before the head ended.
    Partial,
    /// The head is not valid.
    Error(HeadError),
}

type Scan<T> = Result<T, Stop>;

const MALFORMED: Stop = Stop::Error(HeadError::Malformed);

fn finish<T>(scanned: Scan<(T, usize)>) -> Result<Parsed<T>, HeadError> {
    match scanned {
        Ok((value, consumed)) => Ok(Parsed::Complete { value, consumed }),
        Err(Stop::Partial) => Ok(Parsed::Partial),
        Err(Stop::Error(error)) => Err(error),
    }
}

struct Cursor<'b> {
    buf: &'b [u8],
    pos: usize,
}

impl<'b> Cursor<'b> {
    fn peek(&self) -> Scan<u8> {
        self.buf.get(self.pos).copied().ok_or(Stop::Partial)
    }

    fn next(&mut self) -> Scan<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    /// The next byte, which must be `want`.
    fn expect(&mut self, want: u8) -> Scan<()> {
        if self.next()? == want {
            Ok(())
        } else {
            Err(MALFORMED)
        }
    }

    /// The line end after `first`, a byte already taken: CRLF or LF.
    fn line_end(&mut self, first: u8) -> Scan<()> {
        match first {
            b'\r' => self.expect(b'\n'),
            b'\n' => Ok(()),
            _ => Err(MALFORMED),
        }
    }

    /// Bytes up to the next SP (taken, not returned): at least one, each passing `allowed`.
    fn until_space(&mut self, allowed: fn(u8) -> bool) -> Scan<&'b str> {
        let start = self.pos;
        loop {
            match self.next()? {
                b' ' if self.pos - 1 > start => break,
                b if allowed(b) => {}
                _ => return Err(MALFORMED),
            }
        }
        core::str::from_utf8(&self.buf[start..self.pos - 1]).map_err(|_| MALFORMED)
    }

    /// `HTTP/1.0` or `HTTP/1.1`: the minor version.
    fn version(&mut self) -> Scan<u8> {
        for &want in b"HTTP/1." {
            self.expect(want)?;
        }
        match self.next()? {
            digit @ (b'0' | b'1') => Ok(digit - b'0'),
            _ => Err(MALFORMED),
        }
    }

    /// Empty lines before the start line (RFC 7230 section 3.5).
    fn skip_empty_lines(&mut self) -> Scan<()> {
        loop {
            match self.peek()? {
                b @ (b'\r' | b'\n') => {
                    self.pos += 1;
                    self.line_end(b)?;
                }
                _ => return Ok(()),
            }
        }
    }

    /// The header lines and the empty line after them.
    fn headers(&mut self) -> Scan<Headers<'b>> {
        let start = self.pos;
        let mut count = 0;
        loop {
            let mut b = self.next()?;
            if b == b'\r' || b == b'\n' {
                self.line_end(b)?;
                let rest = &self.buf[start..self.pos];
                return Ok(Headers { rest });
            }
            // The name: one token byte or more, then the colon.
            loop {
                if !is_token(b) {
                    return Err(MALFORMED);
                }
                b = self.next()?;
                if b == b':' {
                    break;
                }
            }
            // The value up to the line end.
            loop {
                b = self.next()?;
                if b == b'\r' || b == b'\n' {
                    self.line_end(b)?;
                    break;
                }
                if !is_text(b) {
                    return Err(MALFORMED);
                }
            }
            count += 1;
            if count > MAX_HEADERS {
                return Err(Stop::Error(HeadError::TooManyHeaders));
            }
        }
    }
}

fn request_head<'b>(c: &mut Cursor<'b>) -> Scan<(RequestHead<'b>, usize)> {
    c.skip_empty_lines()?;
    let method = c.until_space(is_token)?;
    let target = c.until_space(|b| b > b' ' && b != 0x7F)?;
    let minor = c.version()?;
    let b = c.next()?;
    c.line_end(b)?;
    let headers = c.headers()?;
    let head = RequestHead {
        method,
        target,
        minor,
        headers,
    };
    Ok((head, c.pos))
}

fn response_head<'b>(c: &mut Cursor<'b>) -> Scan<(ResponseHead<'b>, usize)> {
    c.skip_empty_lines()?;
    let minor = c.version()?;
    c.expect(b' ')?;
    let mut status = 0;
    for _ in 0..3 {
        match c.next()? {
            digit @ b'0'..=b'9' => status = status * 10 + u16::from(digit - b'0'),
            _ => return Err(MALFORMED),
        }
    }
    let mut b = c.next()?;
    if b == b' ' {
        // The reason phrase, which nothing reads.
        loop {
            b = c.next()?;
            if b == b'\r' || b == b'\n' {
                break;
            }
            if !is_text(b) {
                return Err(MALFORMED);
            }
        }
    }
    c.line_end(b)?;
    let headers = c.headers()?;
    let head = ResponseHead {
        minor,
        status,
        headers,
    };
    Ok((head, c.pos))
}

/// RFC 7230 `tchar`.
pub(crate) fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A byte of a header value or a reason phrase: HTAB, SP, VCHAR or obs-text.
fn is_text(b: u8) -> bool {
    b == b'\t' || (b >= b' ' && b != 0x7F)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(buf: &[u8]) -> Result<Parsed<RequestHead<'_>>, HeadError> {
        parse_request_head(buf)
    }

    fn complete(buf: &[u8]) -> (RequestHead<'_>, usize) {
        match request(buf) {
            Ok(Parsed::Complete { value, consumed }) => (value, consumed),
            other => panic!("not a complete head: {other:?}"),
        }
    }

    #[test]
    fn scans_a_request_with_its_headers_in_order() {
        let buf = b"\r\nGET /chat?x=1 HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nUpgrade:\t websocket \t\r\n\r\nframes";
        let (head, consumed) = complete(buf);
        assert_eq!(consumed, buf.len() - b"frames".len());
        assert_eq!(
            (head.method, head.target, head.minor),
            ("GET", "/chat?x=1", 1)
        );
        let headers: heapless::Vec<_, 4> = head.headers.collect();
        assert_eq!(
            &headers[..],
            &[
                ("Host", &b"a"[..]),
                ("X-Empty", b""),
                ("Upgrade", b"websocket")
            ]
        );
    }

    #[test]
    fn bare_lf_ends_lines() {
        let (head, consumed) = complete(b"GET / HTTP/1.0\nHost: a\n\n");
        assert_eq!((head.minor, consumed), (0, 24));
        assert_eq!(head.headers.count(), 1);
    }

    #[test]
    fn every_prefix_of_a_valid_head_is_partial() {
        let buf = b"\nGET / HTTP/1.1\r\nHost: a\r\nA: b c\r\n\r\n";
        for end in 0..buf.len() {
            let scanned = request(&buf[..end]);
            assert!(matches!(scanned, Ok(Parsed::Partial)), "prefix {end}");
        }
        assert_eq!(complete(buf).1, buf.len());
    }

    #[test]
    fn refuses_what_rfc_7230_does_not_allow() {
        for bad in [
            &b" GET / HTTP/1.1\r\n\r\n"[..],
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.2\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.1 \r\n\r\n",
            b"GET / HTTP/1.1\r\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET /\x7F HTTP/1.1\r\n\r\n",
            b"GET /\xFF HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            b"GET / HTTP/1.1\r\n: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
        ] {
            assert_eq!(request(bad).unwrap_err(), HeadError::Malformed, "{bad:?}");
        }
    }

    #[test]
    fn counts_header_lines() {
        let mut buf = heapless::Vec::<u8, 512>::new();
        buf.extend_from_slice(b"GET / HTTP/1.1\r\n").unwrap();
        for _ in 0..MAX_HEADERS {
            buf.extend_from_slice(b"A: b\r\n").unwrap();
        }
        let at_limit = buf.len();
        buf.extend_from_slice(b"\r\n").unwrap();
        assert_eq!(complete(&buf).0.headers.count(), MAX_HEADERS);
        buf.truncate(at_limit);
        buf.extend_from_slice(b"A: b\r\n").unwrap();
        assert_eq!(request(&buf).unwrap_err(), HeadError::TooManyHeaders);
    }

    #[test]
    fn scans_status_lines() {
        let status = |buf: &'static [u8]| match parse_response_head(buf) {
            Ok(Parsed::Complete { value, .. }) => Ok((value.minor, value.status)),
            Ok(Parsed::Partial) => Err(None),
            Err(error) => Err(Some(error)),
        };
        assert_eq!(
            status(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
            Ok((1, 101))
        );
        assert_eq!(status(b"HTTP/1.0 404\r\n\r\n"), Ok((0, 404)));
        assert_eq!(
            status(b"HTTP/1.1 200 \xC3\x28 ok\t\r\nA: b\r\n\r\n"),
            Ok((1, 200))
        );
        assert_eq!(status(b"HTTP/1.1 101 Switching"), Err(None));
        let malformed = Err(Some(HeadError::Malformed));
        assert_eq!(status(b"HTTP/1.1 10 x\r\n\r\n"), malformed);
        assert_eq!(status(b"HTTP/1.1  101 x\r\n\r\n"), malformed);
        assert_eq!(status(b"HTTP/1.1 101x\r\n\r\n"), malformed);
        assert_eq!(status(b"HTTP/1.1 101 a\x01\r\n\r\n"), malformed);
    }
}
