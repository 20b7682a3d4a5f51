//! Decompression of received messages: the [`Inflate`] backend trait the session drives, and [`Inflater`]
//! (feature `deflate`), miniz_oxide's core inflater over a window the caller lends, with no allocation.

/// The four bytes RFC 7692 removes from the end of every compressed message, appended again on receive.
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What one [`Inflate::inflate`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inflated {
    /// Input bytes used.
    pub consumed: usize,
    /// Where the output lies in [`Inflate::window`] (possibly empty).
    pub start: usize,
    /// End of the output in [`Inflate::window`].
    pub end: usize,
    /// The message is complete: its last input and [`TAIL`] are consumed and all output is given.
    pub finished: bool,
}

/// The peer's compressed data is not valid DEFLATE (close code 1007).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InflateError;

/// A decompressor for one connection's received messages. Output lands in a window the inflater owns or
/// borrows, and stays valid until the next call.
pub trait Inflate {
    /// Inflates from `input` (the compressed bytes of one frame, or what is left of them) at most `limit`
    /// bytes of output. `last`: this input ends the message, so [`TAIL`] follows it. Call again with the
    /// rest of the input until it is consumed (and, when `last`, until `finished`).
    fn inflate(&mut self, input: &[u8], last: bool, limit: usize)
        -> Result<Inflated, InflateError>;
    /// The window the output ranges of [`Inflated`] point into.
    fn window(&self) -> &[u8];
    /// Forgets the compression context: the peer resets after every message.
    fn reset(&mut self);
}

#[cfg(feature = "deflate")]
pub use self::miniz::Inflater;

#[cfg(feature = "deflate")]
mod miniz {
    use super::{Inflate, InflateError, Inflated, TAIL};
    use miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_HAS_MORE_INPUT;
    use miniz_oxide::inflate::core::{decompress_with_limit, DecompressorOxide};
    use miniz_oxide::inflate::TINFLStatus;

    /// miniz_oxide's inflater over a caller-lent ring window of 2^bits bytes (no allocation). The window
    /// must be at least as large as the window the peer compresses with (the agreed
    /// `*_max_window_bits`); output is handed out in contiguous pieces of it.
    pub struct Inflater<W> {
        state: DecompressorOxide,
        window: W,
        /// Where the next output goes in the window.
        pos: usize,
        /// How many bytes of [`TAIL`] this message has consumed.
        tail: u8,
        /// The peer ended its DEFLATE stream (a block with BFINAL set): a new one starts with the next
        /// message.
        ended: bool,
    }

    impl<W: AsRef<[u8]> + AsMut<[u8]>> Inflater<W> {
        /// An inflater over `window`, whose length must be a power of two (otherwise only its largest
        /// power-of-two prefix is used).
        pub fn new(window: W) -> Self {
            Inflater {
                state: DecompressorOxide::new(),
                window,
                pos: 0,
                tail: 0,
                ended: false,
            }
        }

        /// The largest window, in bits (at most 15), this inflater can follow: what to agree as the peer's
        /// `*_max_window_bits`.
        pub fn window_bits(&self) -> u8 {
            let len = self.window.as_ref().len().min(1 << 15);
            len.checked_ilog2().map_or(0, |bits| bits as u8)
        }
    }

    impl<W> core::fmt::Debug for Inflater<W> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("Inflater")
                .field("pos", &self.pos)
                .field("tail", &self.tail)
                .field("ended", &self.ended)
                .finish_non_exhaustive()
        }
    }

    /// The largest power of two that fits in `len` bytes (the ring miniz_oxide wraps around).
    fn ring_len(len: usize) -> usize {
        len.checked_ilog2().map_or(0, |bits| 1 << bits)
    }

    impl<W: AsRef<[u8]> + AsMut<[u8]>> Inflater<W> {
        /// One decompression call writing at `pos` in the ring, at most `limit` bytes.
        fn run(
            &mut self,
            feed: &[u8],
            pos: usize,
            limit: usize,
        ) -> Result<(TINFLStatus, usize, usize), InflateError> {
            if self.ended {
                // After a final block the rest of the message carries nothing.
                return Ok((TINFLStatus::Done, feed.len(), 0));
            }
            let ring = ring_len(self.window.as_ref().len());
            let out = decompress_with_limit(
                &mut self.state,
                feed,
                &mut self.window.as_mut()[..ring],
                pos,
                limit,
                TINFL_FLAG_HAS_MORE_INPUT,
            );
            match out.0 {
                TINFLStatus::Done => self.ended = true,
                TINFLStatus::NeedsMoreInput | TINFLStatus::HasMoreOutput => {}
                _ => return Err(InflateError),
            }
            Ok(out)
        }
    }

    impl<W: AsRef<[u8]> + AsMut<[u8]>> Inflate for Inflater<W> {
        fn inflate(
            &mut self,
            input: &[u8],
            last: bool,
            limit: usize,
        ) -> Result<Inflated, InflateError> {
            let start = self.pos;
            let (mut status, consumed, mut written) = self.run(input, start, limit)?;
            // The message's input is used up: the tail goes in with the same call, so its last output
            // comes with the piece that ends it.
            let used_up = consumed == input.len();
            if last && used_up && status != TINFLStatus::HasMoreOutput && written < limit {
                let tail = &TAIL[usize::from(self.tail)..];
                let (tail_status, fed, more) = self.run(tail, start + written, limit - written)?;
                self.tail += fed as u8;
                (status, written) = (tail_status, written + more);
            }
            if consumed == 0 && written == 0 && !input.is_empty() {
                // No progress with input left: the data cannot be decoded.
                return Err(InflateError);
            }
            self.pos = (start + written) & ring_len(self.window.as_ref().len()).saturating_sub(1);
            let drained = status != TINFLStatus::HasMoreOutput && written < limit;
            let finished = last && used_up && usize::from(self.tail) == TAIL.len() && drained;
            if finished {
                self.tail = 0;
                if self.ended {
                    self.ended = false;
                    self.state.init();
                }
            }
            Ok(Inflated {
                consumed,
                start,
                end: start + written,
                finished,
            })
        }

        fn window(&self) -> &[u8] {
            self.window.as_ref()
        }

        fn reset(&mut self) {
            self.state.init();
            self.tail = 0;
            self.ended = false;
        }
    }
}
