//! Unbuffered sends: a server's message that would not fit the write buffer leaves from where the caller
//! holds it. Only its header is placed in the write buffer; the caller writes the payload right after the
//! pending bytes (one vectored write) and reports every write with [`Session::wrote`], as for buffered
//! output. Nothing else is placed until the payload is out, so frames never interleave; a caller that has
//! to let go of the payload early hands the unwritten rest to [`Session::absorb_unbuffered`].

use super::transmit::frame_len;
use super::{Instant, Phase, Session};
use crate::codec::{MessageKind, Role};
use crate::error::SendError;
use crate::frame::MAX_HEADER_LEN;

impl Session {
    /// True when a whole message of `len` bytes sent now leaves as the caller's bytes, unchanged: a
    /// server's frames are not masked, and this message would not be compressed. Such a message may go
    /// with [`Session::send_unbuffered`].
    pub fn sends_unbuffered(&self, len: usize) -> bool {
        self.role == Role::Server
            && u32::try_from(len).is_ok()
            && !self.sender.in_message()
            && (self.deflate.is_none() || len < self.compress_threshold)
    }

    /// Sends a whole message of `kind` whose `len` payload bytes stay with the caller: places its header in
    /// `buf` after the pending bytes (and the control frames owed before it). From then on every
    /// [`Transmit::Write`](super::Transmit::Write) means its range of `buf` followed by the payload's last
    /// `unbuffered` bytes; write both (a vectored write) until the payload is out. `Ok(false)`, placing
    /// nothing, while the header does not fit after the pending bytes: make room with
    /// [`Session::poll_transmit`] and call again. [`SendError::BufferTooSmall`] when the message must be
    /// placed in the buffer instead ([`Session::sends_unbuffered`] is false): use [`Session::send_chunk`].
    pub fn send_unbuffered(
        &mut self,
        buf: &mut [u8],
        kind: MessageKind,
        len: usize,
        now: Instant,
    ) -> Result<bool, SendError> {
        self.check_send()?;
        if !self.sends_unbuffered(len) {
            return Err(SendError::BufferTooSmall {
                needed: frame_len(len),
            });
        }
        self.place_control(buf, now);
        let (end, _) = self.output;
        if self.free(buf) < MAX_HEADER_LEN {
            if end == 0 {
                return Err(SendError::BufferTooSmall {
                    needed: MAX_HEADER_LEN,
                });
            }
            self.need_room = true;
            return Ok(false);
        }
        let head = self.sender.message(kind, len as u64)?;
        let header = head.as_bytes();
        buf[end..end + header.len()].copy_from_slice(header);
        self.placed(end + header.len(), now);
        self.unbuffered = len as u32;
        // The caller holds the payload only until it returns: it is written without waiting for a flush.
        self.need_room = true;
        Ok(true)
    }

    /// Copies the unwritten rest of an unbuffered `payload` (its last `unbuffered` bytes, as the latest
    /// [`Transmit::Write`](super::Transmit::Write) said) into `buf` after the pending bytes, for a caller
    /// that cannot keep the payload until it is written (its send was cancelled): the frame still leaves
    /// whole, with the next transmit. Nothing is copied once the payload is all written, and on a finished
    /// connection the rest is dropped instead. [`SendError::BufferTooSmall`] when `buf` is shorter than
    /// `needed`; nothing is taken then.
    pub fn absorb_unbuffered(&mut self, buf: &mut [u8], payload: &[u8]) -> Result<(), SendError> {
        if self.phase == Phase::Done {
            // Nothing more is written on a finished connection: the rest is dropped, not copied.
            self.unbuffered = 0;
            return Ok(());
        }
        let (end, _) = self.output;
        let rest = &payload[payload.len() - (self.unbuffered as usize).min(payload.len())..];
        let needed = end + rest.len();
        let Some(slot) = buf.get_mut(end..needed) else {
            return Err(SendError::BufferTooSmall { needed });
        };
        slot.copy_from_slice(rest);
        self.output.0 = needed;
        self.unbuffered = 0;
        Ok(())
    }
}
