//! The stream envelope: many logical streams (e.g. several model answers) interleaved on one connection,
//! one WebSocket message per chunk, each chunk visible to the receiver the moment it lands.
//!
//! Every envelope is a binary message: a 9-byte header (kind, stream id, sequence number, big-endian) and
//! the payload. The format is specified in `docs/streams.md`. This module encodes and decodes envelopes,
//! tracks each stream's order on the receiving side ([`StreamTracker`]), and keeps a bounded replay window
//! on the sending side ([`ReplayWindow`]) so a reconnecting receiver can resume without loss or repeats.

use core::fmt;

/// Bytes before the payload: kind (1), stream id (4), sequence (4).
pub const ENVELOPE_HEADER_LEN: usize = 9;

/// What an envelope carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EnvelopeKind {
    /// A chunk of the stream; more follow.
    Chunk = 0x00,
    /// The stream's final chunk (the payload may be empty).
    Last = 0x01,
    /// The sender abandoned the stream; no more chunks follow.
    Cancel = 0x02,
    /// The stream failed; the payload is a UTF-8 explanation. No more chunks follow.
    Error = 0x03,
    /// Receiver to sender: resend the stream from `sequence` on (after a reconnect).
    Resume = 0x10,
    /// Sender to receiver: `sequence` fell out of the replay window; the stream cannot be resumed.
    Gone = 0x11,
}

impl EnvelopeKind {
    /// Decodes a kind byte.
    pub const fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0x00 => Some(EnvelopeKind::Chunk),
            0x01 => Some(EnvelopeKind::Last),
            0x02 => Some(EnvelopeKind::Cancel),
            0x03 => Some(EnvelopeKind::Error),
            0x10 => Some(EnvelopeKind::Resume),
            0x11 => Some(EnvelopeKind::Gone),
            _ => None,
        }
    }

    /// True for the kinds that end a stream: last, cancel, error.
    pub const fn ends_stream(self) -> bool {
        matches!(
            self,
            EnvelopeKind::Last | EnvelopeKind::Cancel | EnvelopeKind::Error
        )
    }
}

/// An envelope header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Envelope {
    /// What the envelope carries.
    pub kind: EnvelopeKind,
    /// The logical stream, chosen by the sender.
    pub stream: u32,
    /// Position in the stream: 0 for the first chunk, then +1 per chunk (for resume and gone: the sequence
    /// concerned).
    pub sequence: u32,
}

/// Why bytes are not an envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EnvelopeError {
    /// Shorter than the 9-byte header.
    Truncated,
    /// An unknown kind byte.
    UnknownKind(u8),
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::Truncated => f.write_str("envelope shorter than its 9-byte header"),
            EnvelopeError::UnknownKind(kind) => write!(f, "unknown envelope kind {kind:#04x}"),
        }
    }
}

impl core::error::Error for EnvelopeError {}

impl Envelope {
    /// The 9 header bytes; send them followed by the payload as one binary message.
    pub fn header(&self) -> [u8; ENVELOPE_HEADER_LEN] {
        let mut out = [0u8; ENVELOPE_HEADER_LEN];
        out[0] = self.kind as u8;
        out[1..5].copy_from_slice(&self.stream.to_be_bytes());
        out[5..9].copy_from_slice(&self.sequence.to_be_bytes());
        out
    }

    /// Splits a received binary message into its envelope and payload.
    pub fn decode(message: &[u8]) -> Result<(Envelope, &[u8]), EnvelopeError> {
        let (header, payload) = message
            .split_at_checked(ENVELOPE_HEADER_LEN)
            .ok_or(EnvelopeError::Truncated)?;
        let kind =
            EnvelopeKind::from_byte(header[0]).ok_or(EnvelopeError::UnknownKind(header[0]))?;
        let word = |at: usize| {
            u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        Ok((
            Envelope {
                kind,
                stream: word(1),
                sequence: word(5),
            },
            payload,
        ))
    }
}

/// What the receiver should do with an arriving chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Arrival {
    /// The next chunk in order: deliver it.
    Deliver,
    /// Already delivered (a replay overlapping what arrived before): drop it.
    Duplicate,
    /// Chunks `expected..sequence` are missing: ask the sender to resume from `expected`.
    Gap {
        /// The first missing sequence number.
        expected: u32,
    },
    /// The stream already ended: drop it.
    AfterEnd,
}

/// Order tracking for one stream on the receiving side: fixed size, no buffering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StreamTracker {
    next: u32,
    ended: bool,
}

impl StreamTracker {
    /// A tracker expecting sequence 0.
    pub const fn new() -> Self {
        StreamTracker {
            next: 0,
            ended: false,
        }
    }

    /// Classifies an arriving envelope; a delivered one advances the stream.
    pub fn arrive(&mut self, envelope: &Envelope) -> Arrival {
        if self.ended {
            return Arrival::AfterEnd;
        }
        match envelope.sequence {
            s if s == self.next => {
                self.next = self.next.wrapping_add(1);
                self.ended = envelope.kind.ends_stream();
                Arrival::Deliver
            }
            s if s < self.next => Arrival::Duplicate,
            _ => Arrival::Gap {
                expected: self.next,
            },
        }
    }

    /// The sequence to resume from after a reconnect.
    pub const fn next_sequence(&self) -> u32 {
        self.next
    }

    /// True once the last, cancel or error envelope was delivered.
    pub const fn is_ended(&self) -> bool {
        self.ended
    }
}

/// The most recent envelopes of one stream, kept in caller-provided storage (a `&mut [u8]`, an array, or a
/// boxed slice) so a receiver that reconnects can resume. When full, the oldest envelopes are dropped;
/// resuming from a dropped sequence is "gone".
#[derive(Debug)]
pub struct ReplayWindow<T> {
    storage: T,
    start: usize,
    end: usize,
    /// Sequence of the oldest envelope kept.
    first: u32,
    /// Sequence the next recorded envelope gets.
    next: u32,
}

/// Per-entry overhead in a [`ReplayWindow`]: a 4-byte length before the envelope bytes.
const ENTRY_PREFIX: usize = 4;

impl<T: AsRef<[u8]> + AsMut<[u8]>> ReplayWindow<T> {
    /// An empty window over `storage`; its size bounds the memory for replays.
    pub fn new(storage: T) -> Self {
        ReplayWindow {
            storage,
            start: 0,
            end: 0,
            first: 0,
            next: 0,
        }
    }

    /// Records the next envelope of the stream (header and payload); returns the sequence it was given.
    /// An envelope larger than the whole window is not kept (resuming before it is then "gone").
    pub fn record(&mut self, kind: EnvelopeKind, stream: u32, payload: &[u8]) -> Envelope {
        let envelope = Envelope {
            kind,
            stream,
            sequence: self.next,
        };
        self.next = self.next.wrapping_add(1);
        let entry_len = ENTRY_PREFIX + ENVELOPE_HEADER_LEN + payload.len();
        let capacity = self.storage.as_ref().len();
        if entry_len > capacity {
            self.start = 0;
            self.end = 0;
            self.first = self.next;
            return envelope;
        }
        while capacity - (self.end - self.start) < entry_len {
            self.drop_oldest();
        }
        if capacity - self.end < entry_len {
            self.storage.as_mut().copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let entry = &mut self.storage.as_mut()[self.end..self.end + entry_len];
        entry[..ENTRY_PREFIX].copy_from_slice(&((entry_len - ENTRY_PREFIX) as u32).to_be_bytes());
        entry[ENTRY_PREFIX..ENTRY_PREFIX + ENVELOPE_HEADER_LEN].copy_from_slice(&envelope.header());
        entry[ENTRY_PREFIX + ENVELOPE_HEADER_LEN..].copy_from_slice(payload);
        self.end += entry_len;
        envelope
    }

    fn drop_oldest(&mut self) {
        let len = entry_len(self.storage.as_ref(), self.start);
        self.start += ENTRY_PREFIX + len;
        self.first = self.first.wrapping_add(1);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// The kept envelopes (header and payload, ready to send) from `sequence` on, oldest first; `None` if
    /// `sequence` fell out of the window or was never sent (answer with [`EnvelopeKind::Gone`]).
    pub fn replay_from(&self, sequence: u32) -> Option<Replay<'_>> {
        if sequence < self.first || sequence > self.next {
            return None;
        }
        let mut at = self.start;
        for _ in self.first..sequence {
            at += ENTRY_PREFIX + entry_len(self.storage.as_ref(), at);
        }
        Some(Replay {
            storage: self.storage.as_ref(),
            at,
            end: self.end,
        })
    }

    /// What to send for a receiver's resume request on `stream` (this window's stream) from `sequence`:
    /// the kept envelopes, or a [`EnvelopeKind::Gone`] envelope when they are no longer kept.
    pub fn resume(&self, stream: u32, sequence: u32) -> Resumption<'_> {
        match self.replay_from(sequence) {
            Some(replay) => Resumption::Replay(replay),
            None => Resumption::Gone(
                Envelope {
                    kind: EnvelopeKind::Gone,
                    stream,
                    sequence,
                }
                .header(),
            ),
        }
    }

    /// The sequence the next recorded envelope gets.
    pub const fn next_sequence(&self) -> u32 {
        self.next
    }

    /// The oldest sequence that can still be replayed.
    pub const fn oldest_sequence(&self) -> u32 {
        self.first
    }
}

/// The answer to a resume request: see [`ReplayWindow::resume`].
#[derive(Debug)]
pub enum Resumption<'w> {
    /// Send each of these envelope messages, in order.
    Replay(Replay<'w>),
    /// Send this one envelope (kind gone): the stream cannot be resumed from the requested sequence.
    Gone([u8; ENVELOPE_HEADER_LEN]),
}

/// Iterator over envelopes kept in a [`ReplayWindow`]; each item is a complete envelope message.
#[derive(Debug)]
pub struct Replay<'w> {
    storage: &'w [u8],
    at: usize,
    end: usize,
}

impl<'w> Iterator for Replay<'w> {
    type Item = &'w [u8];

    fn next(&mut self) -> Option<&'w [u8]> {
        if self.at >= self.end {
            return None;
        }
        let len = entry_len(self.storage, self.at);
        let start = self.at + ENTRY_PREFIX;
        self.at = start + len;
        self.storage.get(start..start + len)
    }
}

/// The length of the envelope stored at `at` (read from its 4-byte prefix). Entries are written only by
/// [`ReplayWindow::record`], so the prefix is always in bounds.
fn entry_len(storage: &[u8], at: usize) -> usize {
    let mut prefix = [0u8; ENTRY_PREFIX];
    if let Some(bytes) = storage.get(at..at + ENTRY_PREFIX) {
        prefix.copy_from_slice(bytes);
    }
    u32::from_be_bytes(prefix) as usize
}
