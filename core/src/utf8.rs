//! Incremental UTF-8 validation across frame and read boundaries.
//!
//! A text message arrives in pieces that may split a code point. The validator carries at most three bytes of
//! an unfinished code point and fails on the first byte that cannot start or continue a valid sequence, so a
//! bad message is rejected as soon as its first wrong byte arrives, not when the message ends.

#[cfg(not(feature = "simdutf8"))]
use core::str::from_utf8;
#[cfg(feature = "simdutf8")]
use simdutf8::compat::from_utf8;

/// `bytes` as text, if they are UTF-8, checked with the validator this build uses (SIMD with the
/// `simdutf8` feature). Adapters use it to hand out a message the receiver already validated as `&str`.
pub fn as_str(bytes: &[u8]) -> Option<&str> {
    from_utf8(bytes).ok()
}

/// Validates a text message fed in arbitrary pieces.
#[derive(Clone, Copy, Debug, Default)]
pub struct Utf8Validator {
    carry: [u8; 4],
    carry_len: u8,
}

/// The byte sequence is not UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// A validator at the start of a message.
    pub const fn new() -> Self {
        Utf8Validator {
            carry: [0; 4],
            carry_len: 0,
        }
    }

    /// Validates the next piece. An unfinished code point at its end is carried into the next call.
    pub fn feed(&mut self, piece: &[u8]) -> Result<(), InvalidUtf8> {
        let mut rest = piece;
        if self.carry_len > 0 {
            let have = usize::from(self.carry_len);
            let take = rest
                .len()
                .min(sequence_len(self.carry[0]).saturating_sub(have));
            let (head, tail) = rest.split_at(take);
            self.carry[have..have + take].copy_from_slice(head);
            self.carry_len += take as u8;
            rest = tail;
            match from_utf8(&self.carry[..usize::from(self.carry_len)]) {
                Ok(_) => self.carry_len = 0,
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(InvalidUtf8),
            }
        }
        match from_utf8(rest) {
            Ok(_) => Ok(()),
            // `error_len() == None` means the input ended inside a sequence that is valid so far.
            Err(e) if e.error_len().is_none() => {
                let tail = &rest[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Ends the message: fails if it stopped inside a code point. Resets the validator either way.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.carry_len == 0;
        self.carry_len = 0;
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}

/// The length of the sequence a (valid) lead byte starts.
const fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_split(bytes: &[u8], at: usize) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        let (a, b) = bytes.split_at(at);
        v.feed(a)?;
        v.feed(b)?;
        v.finish()
    }

    #[test]
    fn accepts_valid_text_split_anywhere() {
        let text = "κόσμε a€𝄞 end".as_bytes();
        for at in 0..=text.len() {
            assert_eq!(feed_split(text, at), Ok(()), "split at {at}");
        }
        let mut v = Utf8Validator::new();
        for byte in text {
            v.feed(core::slice::from_ref(byte)).unwrap();
        }
        v.finish().unwrap();
    }

    #[test]
    fn fails_on_first_invalid_byte_before_message_end() {
        // 0xF4 0x90 starts a code point above U+10FFFF: invalid at the second byte.
        let mut v = Utf8Validator::new();
        v.feed(&[b'a', 0xF4]).unwrap();
        assert_eq!(v.feed(&[0x90]), Err(InvalidUtf8));
        // A surrogate half (0xED 0xA0) is invalid as soon as the second byte is seen.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[0xED, 0xA0]), Err(InvalidUtf8));
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[0xFF]), Err(InvalidUtf8));
    }

    #[test]
    fn unfinished_code_point_at_message_end_is_invalid() {
        let mut v = Utf8Validator::new();
        v.feed(&[0xE2, 0x82]).unwrap();
        assert_eq!(v.finish(), Err(InvalidUtf8));
        v.feed(b"ok").unwrap();
        assert_eq!(v.finish(), Ok(()));
    }
}
