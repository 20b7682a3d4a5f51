//! permessage-deflate compression for rill with C zlib: [`ZlibDeflater`] implements
//! [`rill_ws::deflate::Deflate`] with the window the handshake agreed and the memory level the application
//! sets, which together decide what a connection's compressor costs (zlib's own formula:
//! `2^(window_bits + 2) + 2^(mem_level + 9)` bytes, plus about 6 KiB of state).
//!
//! The crate is the only place in rill with `unsafe` code: the calls into zlib's C API.

use libz_sys as z;
use rill_ws::deflate::{Deflate, DeflateConfig, DeflateError, Inflater};
use rill_ws::Session;
use std::ffi::{c_int, c_uint, c_void};

/// zlib's raw-DEFLATE compressor for one connection's sent messages.
pub struct ZlibDeflater {
    /// Boxed: zlib keeps a pointer back to the stream, so it must not move after initialisation.
    stream: Box<z::z_stream>,
}

// SAFETY: the stream and the state zlib allocated for it belong to this value alone; zlib keeps no
// thread-local or global state for a stream.
unsafe impl Send for ZlibDeflater {}

impl std::fmt::Debug for ZlibDeflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZlibDeflater").finish_non_exhaustive()
    }
}

impl ZlibDeflater {
    /// A compressor with compression `level` (0-9), an LZ77 window of 2^`window_bits` bytes (9..=15; zlib
    /// cannot make raw streams with 8, so a connection that agreed 8 sends uncompressed) and memory level
    /// `mem_level` (1..=9). `None` when zlib refuses the parameters or has no memory.
    pub fn new(level: u8, window_bits: u8, mem_level: u8) -> Option<Self> {
        if !(9..=15).contains(&window_bits) {
            return None;
        }
        let mut stream = Box::new(z::z_stream {
            next_in: std::ptr::null_mut(),
            avail_in: 0,
            total_in: 0,
            next_out: std::ptr::null_mut(),
            avail_out: 0,
            total_out: 0,
            msg: std::ptr::null_mut(),
            state: std::ptr::null_mut(),
            zalloc: alloc,
            zfree: free,
            opaque: std::ptr::null_mut(),
            data_type: 0,
            adler: 0,
            reserved: 0,
        });
        // SAFETY: `stream` is a fully initialised z_stream with working allocation functions; a negative
        // window asks for a raw stream (no zlib header), as RFC 7692 wants.
        let rc = unsafe {
            z::deflateInit2_(
                &mut *stream,
                c_int::from(level.min(9)),
                z::Z_DEFLATED,
                -c_int::from(window_bits),
                c_int::from(mem_level.clamp(1, 9)),
                z::Z_DEFAULT_STRATEGY,
                z::zlibVersion(),
                std::mem::size_of::<z::z_stream>() as c_int,
            )
        };
        (rc == z::Z_OK).then_some(ZlibDeflater { stream })
    }
}

impl ZlibDeflater {
    /// The compressor `session` needs for the permessage-deflate it agreed, with `config`'s level and
    /// memory level; `None` without an agreement, or when zlib cannot make the agreed window (8 bits:
    /// messages go uncompressed).
    pub fn agreed(session: &Session, config: &DeflateConfig) -> Option<Self> {
        let bits = session.deflate()?.send_window_bits(session.role());
        ZlibDeflater::new(config.level, bits, config.memory_level)
    }
}

/// A connection's compressor, made the first time a message leaves compressed ([`Session::compresses`]):
/// a connection that agreed permessage-deflate but only sends messages below the threshold never pays for
/// one (zlib's state is tens of KiB).
#[derive(Debug)]
pub struct LazyDeflater {
    config: DeflateConfig,
    /// The first compressed message asked for it (`deflater` is then what zlib could make).
    made: bool,
    deflater: Option<ZlibDeflater>,
}

impl LazyDeflater {
    /// No compressor yet; `config`'s level and memory level make it when it is needed.
    pub fn new(config: DeflateConfig) -> Self {
        LazyDeflater {
            config,
            made: false,
            deflater: None,
        }
    }

    /// Called before a message's first frame of `len` payload bytes (its last too when `fin`): makes the
    /// compressor if `session` compresses this message and none was made yet.
    pub fn prepare(&mut self, session: &Session, len: usize, fin: bool) {
        if !self.made && session.compresses(len, fin) {
            self.made = true;
            self.deflater = ZlibDeflater::agreed(session, &self.config);
        }
    }

    /// The compressor, once a message needed one.
    pub fn get(&mut self) -> Option<&mut ZlibDeflater> {
        self.deflater.as_mut()
    }
}

/// The inflater `session` needs for the permessage-deflate it agreed (`None` without one): a window of
/// 2^bits bytes, at least 2^9 (zlib-based peers compress with 9 bits when 8 were agreed).
pub fn agreed_inflater(session: &Session) -> Option<Box<Inflater<Box<[u8]>>>> {
    let bits = session
        .deflate()?
        .receive_window_bits(session.role())
        .max(9);
    Some(Box::new(Inflater::new(
        vec![0; 1 << bits].into_boxed_slice(),
    )))
}

impl Deflate for ZlibDeflater {
    fn deflate(
        &mut self,
        input: &[u8],
        output: &mut [u8],
        flush: bool,
    ) -> Result<usize, DeflateError> {
        let out_len = output.len().min(c_uint::MAX as usize);
        let in_len = c_uint::try_from(input.len()).map_err(|_| DeflateError)?;
        let stream = &mut *self.stream;
        // zlib reads `next_in` only; its C signature is not const.
        stream.next_in = input.as_ptr().cast_mut();
        stream.avail_in = in_len;
        stream.next_out = output.as_mut_ptr();
        stream.avail_out = out_len as c_uint;
        let mode = if flush {
            z::Z_SYNC_FLUSH
        } else {
            z::Z_NO_FLUSH
        };
        // SAFETY: the stream was initialised by deflateInit2_ and has not moved (boxed); next_in/next_out
        // point into live slices of the lengths given, used only during this call.
        let rc = unsafe { z::deflate(stream, mode) };
        let written = out_len - stream.avail_out as usize;
        let unread = stream.avail_in;
        stream.next_in = std::ptr::null_mut();
        stream.next_out = std::ptr::null_mut();
        stream.avail_in = 0;
        stream.avail_out = 0;
        // Z_BUF_ERROR: nothing to do (a flush with nothing new since the last one).
        let ok = rc == z::Z_OK || rc == z::Z_BUF_ERROR;
        let complete = unread == 0 && (!flush || written < out_len);
        if ok && complete {
            Ok(written)
        } else {
            Err(DeflateError)
        }
    }

    fn reset(&mut self) {
        // SAFETY: an initialised stream; deflateReset keeps its allocations.
        unsafe { z::deflateReset(&mut *self.stream) };
    }
}

impl Drop for ZlibDeflater {
    fn drop(&mut self) {
        // SAFETY: an initialised stream, ended once.
        unsafe { z::deflateEnd(&mut *self.stream) };
    }
}

/// zlib's allocation hook: zeroed memory from the C allocator.
extern "C" fn alloc(_: *mut c_void, items: c_uint, size: c_uint) -> *mut c_void {
    // SAFETY: calloc has no preconditions; zlib checks for null.
    unsafe { libc::calloc(items as usize, size as usize) }
}

/// zlib's release hook, matching [`alloc`].
extern "C" fn free(_: *mut c_void, address: *mut c_void) {
    // SAFETY: `address` came from `alloc` (calloc) and zlib frees it once.
    unsafe { libc::free(address) }
}

#[cfg(test)]
mod tests {
    use super::ZlibDeflater;
    use rill_ws::deflate::{bound, Deflate, Inflate, Inflater, TAIL};

    /// Compresses `messages` as a session does (sync flush, tail removed) and inflates them back.
    fn round_trip(deflater: &mut ZlibDeflater, messages: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut inflater = Inflater::new(vec![0u8; 1 << 15]);
        let mut out = Vec::new();
        for message in messages {
            let mut buf = vec![0u8; bound(message.len())];
            let n = deflater.deflate(message, &mut buf, true).unwrap();
            // Nothing new since the last flush gives nothing: the session then sends one empty
            // stored block's header byte.
            let compressed: &[u8] = if n == 0 { &[0] } else { &buf[..n - 4] };
            assert!(n == 0 || buf[..n].ends_with(&TAIL));
            let mut inflated = Vec::new();
            let mut input = compressed;
            loop {
                let step = inflater.inflate(input, true, usize::MAX).unwrap();
                input = &input[step.consumed..];
                inflated.extend_from_slice(&inflater.window()[step.start..step.end]);
                if step.finished {
                    break;
                }
            }
            out.push(inflated);
        }
        out
    }

    #[test]
    fn messages_round_trip_with_context_takeover() {
        let mut deflater = ZlibDeflater::new(6, 12, 5).unwrap();
        let text = b"the quick brown fox jumps over the lazy dog; ".repeat(200);
        let messages: Vec<&[u8]> = vec![b"hello", b"hello", &text, b"", &text[..7]];
        assert_eq!(
            round_trip(&mut deflater, &messages),
            messages.iter().map(|m| m.to_vec()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn raw_streams_cannot_use_an_eight_bit_window() {
        assert!(ZlibDeflater::new(6, 8, 5).is_none());
        assert!(ZlibDeflater::new(6, 9, 1).is_some());
    }
}
