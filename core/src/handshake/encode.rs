//! Writing HTTP heads into a caller's buffer, refusing header names or values that would break the message.

use core::fmt;

/// Why a handshake message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncodeError {
    /// The output buffer is too small for the message.
    BufferTooSmall,
    /// A header name that is not an HTTP token, or a value containing CR, LF or NUL.
    InvalidHeader,
    /// The server chose a subprotocol the client did not offer.
    ProtocolNotOffered,
    /// The server's permessage-deflate parameters answer none of the client's offers (they did not come
    /// from [`crate::deflate::negotiate`] on this request).
    DeflateNotOffered,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodeError::BufferTooSmall => "output buffer too small for the handshake message",
            EncodeError::InvalidHeader => {
                "header name is not a token or value contains CR, LF or NUL"
            }
            EncodeError::ProtocolNotOffered => "chosen subprotocol was not offered by the client",
            EncodeError::DeflateNotOffered => {
                "permessage-deflate parameters answer none of the client's offers"
            }
        })
    }
}

impl core::error::Error for EncodeError {}

/// Appends to a fixed buffer.
pub(crate) struct Writer<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(out: &'a mut [u8]) -> Self {
        Writer { out, len: 0 }
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.len + bytes.len();
        self.out
            .get_mut(self.len..end)
            .ok_or(EncodeError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Lets `write` fill the rest of the buffer; it returns how many bytes it wrote.
    pub(crate) fn put_with(
        &mut self,
        write: impl FnOnce(&mut [u8]) -> Result<usize, EncodeError>,
    ) -> Result<(), EncodeError> {
        let written = write(&mut self.out[self.len..])?;
        self.len += written;
        Ok(())
    }

    pub(crate) fn put_decimal(&mut self, mut value: usize) -> Result<(), EncodeError> {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.put(&digits[start..])
    }

    /// Writes `name: value\r\n` after checking both.
    pub(crate) fn put_header(&mut self, name: &str, value: &[u8]) -> Result<(), EncodeError> {
        let name_ok = !name.is_empty() && name.bytes().all(is_token_byte);
        if !name_ok || value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(EncodeError::InvalidHeader);
        }
        self.put(name.as_bytes())?;
        self.put(b": ")?;
        self.put(value)?;
        self.put(b"\r\n")
    }

    pub(crate) fn put_headers(&mut self, headers: &[(&str, &str)]) -> Result<(), EncodeError> {
        headers
            .iter()
            .try_for_each(|(name, value)| self.put_header(name, value.as_bytes()))
    }

    pub(crate) fn finish(self) -> usize {
        self.len
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
