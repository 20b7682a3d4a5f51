//! A deterministic stand-in for a model streaming tokens, so every board shows the same live stream without a model,
//! and the stream envelope (rill's `streams` module) each token travels in.

use rill_ws::streams::{Envelope, EnvelopeKind, ENVELOPE_HEADER_LEN};

/// Longest token text in bytes: a 5-digit sequence number, a space and a word of at most 14 bytes.
pub const TOKEN_MAX: usize = 20;

// At most 14 bytes each so that every token fits TOKEN_MAX; checked by a test.
const WORDS: [&str; 16] = [
    "websocket",
    "frame",
    "mask",
    "opcode",
    "handshake",
    "firmware",
    "embassy",
    "payload",
    "continuation",
    "ping",
    "pong",
    "close",
    "utf-8",
    "streaming",
    "no_std",
    "backpressure",
];

/// One token's text, held inline (no allocation), at most [`TOKEN_MAX`] bytes of ASCII.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Token {
    buf: [u8; TOKEN_MAX],
    len: u8,
}

impl Token {
    /// The token's text as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// The token's text.
    pub fn as_str(&self) -> &str {
        // Built only from ASCII digits, a space and ASCII words, so this cannot fail.
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl core::fmt::Debug for Token {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Token {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str())
    }
}

/// Endless, deterministic token stream: `"00000 frame"`, `"00001 ping"`, … (sequence wraps at 100000).
///
/// The same seed gives the same stream on every board and in host tests, which keeps the demos comparable.
#[derive(Clone)]
pub struct Tokens {
    seq: u32,
    state: u32,
}

impl Tokens {
    /// The stream for `seed`, starting at sequence 0 (each `/tokens` stream uses its id as the seed).
    pub const fn new(seed: u32) -> Self {
        // xorshift32 is stuck at zero, so a zero seed is replaced rather than rejected.
        let state = if seed == 0 { 0x9E37_79B9 } else { seed };
        Tokens { seq: 0, state }
    }
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens::new(1)
    }
}

impl Iterator for Tokens {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        // xorshift32: tiny, no multiplication-heavy code on Cortex-M0+, good enough to vary the words.
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        let word = WORDS[(x >> 28) as usize].as_bytes();

        let mut buf = [0u8; TOKEN_MAX];
        let mut n = self.seq;
        // Five digits, most significant first, without core::fmt (which costs several KiB of flash).
        for slot in buf[..5].iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        buf[5] = b' ';
        buf[6..6 + word.len()].copy_from_slice(word);
        self.seq = (self.seq + 1) % 100_000;
        Some(Token {
            buf,
            len: (6 + word.len()) as u8,
        })
    }
}

/// Streams sent on each `/tokens` connection, interleaved (ids 1 to `STREAMS`), like several answers at once.
pub const STREAMS: u32 = 3;
/// Tokens per stream: sequences 0 to `TOKENS_PER_STREAM - 1`, the last one sent as [`EnvelopeKind::Last`].
pub const TOKENS_PER_STREAM: u32 = 20;
/// Largest token message: the 9-byte envelope header and a token.
pub const ENVELOPE_MAX: usize = ENVELOPE_HEADER_LEN + TOKEN_MAX;

/// Token `sequence` of stream `stream`: the `sequence`-th item of `Tokens::new(stream)`, so any token can be
/// regenerated (which is how a `Resume` is answered without keeping sent tokens in RAM).
pub fn stream_token(stream: u32, sequence: u32) -> Option<Token> {
    Tokens::new(stream).nth(sequence as usize)
}

/// Encodes token `sequence` of `stream` as one envelope message (header, then the token's text) into `out`;
/// returns its length, or `None` past the end of the stream. The final token is `Last`, the others `Chunk`.
pub fn token_envelope(stream: u32, sequence: u32, out: &mut [u8; ENVELOPE_MAX]) -> Option<usize> {
    if sequence >= TOKENS_PER_STREAM {
        return None;
    }
    let token = stream_token(stream, sequence)?;
    let kind = if sequence + 1 == TOKENS_PER_STREAM {
        EnvelopeKind::Last
    } else {
        EnvelopeKind::Chunk
    };
    let envelope = Envelope {
        kind,
        stream,
        sequence,
    };
    let text = token.as_bytes();
    out[..ENVELOPE_HEADER_LEN].copy_from_slice(&envelope.header());
    out[ENVELOPE_HEADER_LEN..ENVELOPE_HEADER_LEN + text.len()].copy_from_slice(text);
    Some(ENVELOPE_HEADER_LEN + text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_decode_in_order() {
        let mut out = [0u8; ENVELOPE_MAX];
        for sequence in 0..TOKENS_PER_STREAM {
            let n = token_envelope(2, sequence, &mut out).unwrap();
            let (envelope, payload) = Envelope::decode(&out[..n]).unwrap();
            assert_eq!((envelope.stream, envelope.sequence), (2, sequence));
            assert_eq!(
                envelope.kind.ends_stream(),
                sequence + 1 == TOKENS_PER_STREAM
            );
            assert_eq!(payload, stream_token(2, sequence).unwrap().as_bytes());
            assert_eq!(&payload[..5], &out[9..14]);
        }
        assert_eq!(token_envelope(2, TOKENS_PER_STREAM, &mut out), None);
    }

    #[test]
    fn every_word_fits() {
        for w in WORDS {
            assert!(6 + w.len() <= TOKEN_MAX, "{w}");
        }
    }

    #[test]
    fn deterministic_and_numbered() {
        let a: [Token; 3] = {
            let mut t = Tokens::new(7);
            [t.next().unwrap(), t.next().unwrap(), t.next().unwrap()]
        };
        let mut b = Tokens::new(7);
        for (i, tok) in a.iter().enumerate() {
            assert_eq!(Some(*tok), b.next());
            let s = tok.as_str();
            assert_eq!(s.as_bytes()[..5], [b'0', b'0', b'0', b'0', b'0' + i as u8]);
            assert!(WORDS.contains(&&s[6..]));
        }
    }

    #[test]
    fn zero_seed_still_varies_and_sequence_wraps() {
        let mut t = Tokens::new(0);
        let first = t.next().unwrap();
        let words_differ =
            (0..50).any(|_| t.next().unwrap().as_bytes()[6..] != first.as_bytes()[6..]);
        assert!(words_differ);
        let mut t = Tokens::new(3);
        let last = t.nth(99_999).unwrap();
        assert!(last.as_str().starts_with("99999 "));
        assert!(t.next().unwrap().as_str().starts_with("00000 "));
    }
}
