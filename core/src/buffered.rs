//! Buffer bookkeeping that every adapter needs, kept here once so the tokio and embassy adapters only
//! move bytes: [`Inbound`] decodes from a read buffer and says when to read, [`FrameCopy`] fills a write
//! buffer with a frame and says when to write.

use crate::close::CloseCode;
use crate::connection::{FrameHead, MessageKind, PayloadMasker, Receiver, Role};
use crate::error::ProtocolError;
use crate::{Event, Limits};

/// What [`Inbound::step`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Everything buffered is decoded: read into the whole buffer, then call [`Inbound::filled`].
    NeedInput,
    /// A piece of a message at `buf[start..end]`, unmasked in place.
    Data {
        /// Offset of the piece in the buffer.
        start: usize,
        /// End of the piece in the buffer.
        end: usize,
        /// Text or binary.
        kind: MessageKind,
        /// The piece starts a message.
        first: bool,
        /// The piece ends the message.
        last: bool,
    },
    /// A ping arrived; its pong is queued in the receiver (move it to the writer).
    Ping,
    /// A pong arrived; its payload is [`Receiver::control_payload`].
    Pong,
    /// The peer's close frame arrived ([`Inbound::close_frame`]); its reply is queued in the receiver. No
    /// more steps follow.
    Close,
}

/// The reading side over a caller's buffer: which bytes are waiting, the receiver, and the peer's close.
#[derive(Clone, Debug)]
pub struct Inbound {
    /// The protocol state; replies owed to the peer wait in it ([`Receiver::take_reply`]).
    pub receiver: Receiver,
    start: usize,
    end: usize,
    close_code: Option<CloseCode>,
    close_reason: [u8; 123],
    close_len: u8,
}

impl Inbound {
    /// A reading side whose buffer holds undecoded bytes at `start..end` (e.g. frames that arrived with the
    /// handshake).
    pub const fn new(role: Role, limits: Limits, start: usize, end: usize) -> Self {
        Inbound {
            receiver: Receiver::new(role, limits),
            start,
            end,
            close_code: None,
            close_reason: [0; 123],
            close_len: 0,
        }
    }

    /// Records that `read` bytes were read into `buf[..read]` after [`Step::NeedInput`].
    pub fn filled(&mut self, read: usize) {
        (self.start, self.end) = (0, read);
    }

    /// True when read bytes are still waiting to be decoded.
    pub fn has_buffered_input(&self) -> bool {
        self.start < self.end
    }

    /// Decodes the next step from `buf`, the same buffer every time.
    pub fn step(&mut self, buf: &mut [u8]) -> Result<Step, ProtocolError> {
        loop {
            let Some(input) = buf
                .get_mut(self.start..self.end)
                .filter(|input| !input.is_empty())
            else {
                return Ok(Step::NeedInput);
            };
            let base = input.as_ptr() as usize - self.start;
            let received = self.receiver.receive(input)?;
            let step = match received.event {
                None => None,
                Some(Event::Data(data)) => {
                    let start = data.payload.as_ptr() as usize - base;
                    let end = start + data.payload.len();
                    Some(Step::Data {
                        start,
                        end,
                        kind: data.kind,
                        first: data.first,
                        last: data.last,
                    })
                }
                Some(Event::Ping(_)) => Some(Step::Ping),
                Some(Event::Pong(_)) => Some(Step::Pong),
                Some(Event::Close { code, reason }) => {
                    self.close_code = code;
                    self.close_len = reason.len() as u8;
                    self.close_reason[..reason.len()].copy_from_slice(reason.as_bytes());
                    Some(Step::Close)
                }
            };
            self.start += received.consumed;
            if let Some(step) = step {
                return Ok(step);
            }
        }
    }

    /// The peer's close frame, after [`Step::Close`].
    pub fn close_frame(&self) -> (Option<CloseCode>, &str) {
        let reason =
            core::str::from_utf8(&self.close_reason[..usize::from(self.close_len)]).unwrap_or("");
        (self.close_code, reason)
    }
}

/// What the writer must do before [`FrameCopy::fill`] can go on.
#[derive(Debug, PartialEq, Eq)]
pub enum Fill<'p> {
    /// The frame is in the buffer.
    Done,
    /// The buffer is full: write out all of it, empty it, and call again.
    Flush,
    /// Write out the buffer, then this payload slice straight from where it is (it is unmasked and at
    /// least a buffer long, so copying it through the buffer would only add system calls; a vectored write
    /// sends both at once), empty the buffer, and call again. Control frames never take this path, so
    /// replies are always whole in the buffer before any byte of them is written.
    Direct(&'p [u8]),
}

/// Copies one frame (header and a payload given in parts) into a write buffer, masking as it goes, in as
/// many rounds as the buffer needs. Write buffers must hold at least a frame header (14 bytes).
#[derive(Debug)]
pub struct FrameCopy<'p> {
    head: FrameHead,
    header_done: bool,
    parts: &'p [&'p [u8]],
    part: usize,
    offset: usize,
    masker: PayloadMasker,
}

impl<'p> FrameCopy<'p> {
    /// Starts copying the frame `head` whose payload is the concatenation of `parts`.
    pub fn new(head: FrameHead, parts: &'p [&'p [u8]]) -> Self {
        FrameCopy {
            masker: head.payload_masker(),
            head,
            header_done: false,
            parts,
            part: 0,
            offset: 0,
        }
    }

    /// Copies what fits into `buf[*len..]` and advances `*len`.
    pub fn fill(&mut self, buf: &mut [u8], len: &mut usize) -> Fill<'p> {
        if !self.header_done {
            let header = self.head.as_bytes();
            let whole = header.len() + self.parts.iter().map(|p| p.len()).sum::<usize>();
            // A masked frame that does not fit starts in an empty buffer (it is copied through it anyway).
            if self.head.is_masked() && *len > 0 && *len + whole > buf.len() {
                return Fill::Flush;
            }
            let Some(slot) = buf.get_mut(*len..*len + header.len()) else {
                return Fill::Flush;
            };
            slot.copy_from_slice(header);
            *len += header.len();
            self.header_done = true;
        }
        loop {
            let Some(part) = self.parts.get(self.part).copied() else {
                return Fill::Done;
            };
            let rest = &part[self.offset.min(part.len())..];
            if rest.is_empty() {
                (self.part, self.offset) = (self.part + 1, 0);
                continue;
            }
            if !self.head.is_masked() && rest.len() >= buf.len() {
                self.offset = part.len();
                return Fill::Direct(rest);
            }
            let space = buf.len() - *len;
            if space == 0 {
                return Fill::Flush;
            }
            let take = space.min(rest.len());
            let slot = &mut buf[*len..*len + take];
            slot.copy_from_slice(&rest[..take]);
            self.masker.apply(slot);
            *len += take;
            self.offset += take;
        }
    }
}

/// Why a reader waiting for input must wake up although nothing arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake<I> {
    /// Send a keepalive ping at this instant.
    Keepalive(I),
    /// Fail with the idle timeout at this instant.
    Idle(I),
}

impl<I: Copy> Wake<I> {
    /// The instant to wake up at.
    pub fn at(&self) -> I {
        match *self {
            Wake::Keepalive(at) | Wake::Idle(at) => at,
        }
    }
}

/// The next wake-up for a reader that last heard from the peer at `last_heard` and last pinged at
/// `last_ping`: the earlier of the idle deadline and the keepalive deadline. Generic over the adapter's
/// clock (`std` or `embassy-time` instants); the core itself never reads a clock.
pub fn next_wake<I, D>(
    last_heard: I,
    last_ping: I,
    idle: Option<D>,
    keepalive: Option<D>,
) -> Option<Wake<I>>
where
    I: Copy + Ord + core::ops::Add<D, Output = I>,
{
    let idle = idle.map(|timeout| Wake::Idle(last_heard + timeout));
    let ping = keepalive.map(|interval| Wake::Keepalive(last_heard.max(last_ping) + interval));
    match (idle, ping) {
        (Some(idle), Some(ping)) => Some(if ping.at() < idle.at() { ping } else { idle }),
        (idle, ping) => idle.or(ping),
    }
}

#[cfg(test)]
mod tests {
    use super::{next_wake, Fill, FrameCopy, Inbound, Step, Wake};
    use crate::connection::ControlFrame;
    use crate::{Limits, MessageKind, Role, Sender};

    /// Runs a copy to the end, collecting what would reach the wire and how.
    fn drain(
        mut copy: FrameCopy<'_>,
        buf: &mut [u8],
        len: &mut usize,
        wire: &mut [u8; 4096],
        at: &mut usize,
    ) -> usize {
        let mut direct = 0;
        loop {
            match copy.fill(buf, len) {
                Fill::Done => return direct,
                Fill::Flush => {
                    wire[*at..*at + *len].copy_from_slice(&buf[..*len]);
                    (*at, *len) = (*at + *len, 0);
                }
                Fill::Direct(payload) => {
                    wire[*at..*at + *len].copy_from_slice(&buf[..*len]);
                    *at += *len;
                    wire[*at..*at + payload.len()].copy_from_slice(payload);
                    (*at, *len) = (*at + payload.len(), 0);
                    direct += 1;
                }
            }
        }
    }

    #[test]
    fn large_unmasked_payloads_go_direct_and_control_frames_never_do() {
        let mut sender = Sender::server();
        let mut buf = [0u8; 64];
        let (mut len, mut wire, mut at) = (0, [0u8; 4096], 0);
        let big = [7u8; 300];
        let head = sender.message(MessageKind::Binary, 300).unwrap();
        assert_eq!(
            drain(
                FrameCopy::new(head, &[&big]),
                &mut buf,
                &mut len,
                &mut wire,
                &mut at
            ),
            1
        );
        // A pong that does not fit the space left is still copied whole into the buffer.
        len = 60;
        let pong = ControlFrame::pong(&[1; 50]).unwrap();
        let head = sender.control(&pong).unwrap();
        assert_eq!(
            drain(
                FrameCopy::new(head, &[pong.payload()]),
                &mut buf,
                &mut len,
                &mut wire,
                &mut at
            ),
            0
        );
        assert_eq!(
            at + len,
            300 + 4 + 60 + 52,
            "every pong byte went through the buffer, none direct"
        );
    }

    #[test]
    fn masked_frames_are_copied_through_the_buffer_and_decode_back() {
        let mut sender = Sender::client(3);
        let mut buf = [0u8; 32];
        let (mut len, mut wire, mut at) = (0, [0u8; 4096], 0);
        let payload: [u8; 200] = core::array::from_fn(|i| i as u8);
        let head = sender.message(MessageKind::Binary, 200).unwrap();
        assert_eq!(
            drain(
                FrameCopy::new(head, &[&payload[..90], &payload[90..]]),
                &mut buf,
                &mut len,
                &mut wire,
                &mut at
            ),
            0
        );
        wire[at..at + len].copy_from_slice(&buf[..len]);
        at += len;
        let mut inbound = Inbound::new(Role::Server, Limits::default(), 0, at);
        let mut got = [0u8; 200];
        let mut filled = 0;
        while let Ok(Step::Data {
            start, end, last, ..
        }) = inbound.step(&mut wire)
        {
            got[filled..filled + end - start].copy_from_slice(&wire[start..end]);
            filled += end - start;
            if last {
                break;
            }
        }
        assert_eq!(got, payload);
    }

    #[test]
    fn the_earlier_of_idle_and_keepalive_wakes_the_reader() {
        assert_eq!(next_wake::<u32, u32>(100, 0, None, None), None);
        assert_eq!(
            next_wake(100u32, 0, Some(30u32), None),
            Some(Wake::Idle(130))
        );
        assert_eq!(
            next_wake(100u32, 0, Some(30u32), Some(10u32)),
            Some(Wake::Keepalive(110))
        );
        // A ping sent after the last data moves the next ping, not the idle deadline.
        assert_eq!(
            next_wake(100u32, 125, Some(30u32), Some(10u32)),
            Some(Wake::Idle(130))
        );
    }
}
