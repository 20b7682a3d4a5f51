//! The receiving side: turns bytes, split anywhere, into message pieces and control events.
//!
//! Payload is never buffered: each call unmasks the bytes available in place and hands them back borrowed
//! from the input, with flags for the first and last piece of the message, so a message of any size streams
//! through a buffer of any size. Only a frame header split across reads (at most 14 bytes) and a control
//! payload (at most 125 bytes) are kept, in fixed storage.

use super::{Limits, MessageKind, Outbox, Role};
use crate::close::CloseCode;
use crate::error::ProtocolError;
use crate::frame::{apply_mask, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::utf8::Utf8Validator;

/// The RSV1 bit in [`FrameHeader::rsv`]: permessage-deflate's compressed-message mark.
const RSV1: u8 = 0b100;

/// A piece of a text or binary message, borrowed from the input and already unmasked.
#[derive(Debug, PartialEq, Eq)]
pub struct Piece<'i> {
    /// Whether the message is text (every piece so far is a valid UTF-8 prefix) or binary.
    pub kind: MessageKind,
    /// The bytes of this piece; may be empty only when the piece is the first or the last.
    pub payload: &'i [u8],
    /// This piece starts a message.
    pub first: bool,
    /// This piece ends the message.
    pub last: bool,
}

/// What the receiver produced from the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'s, 'i> {
    /// A piece of a data message.
    Data(Piece<'i>),
    /// A piece of a compressed message's DEFLATE data (permessage-deflate): not yet inflated, so not
    /// validated as text either.
    Compressed(Piece<'i>),
    /// A ping; the matching pong is already queued for the writer.
    Ping(&'s [u8]),
    /// A pong.
    Pong(&'s [u8]),
    /// The peer's close frame (validated); a close reply is queued unless one was already sent. Input after
    /// it is ignored.
    Close {
        /// The status code, absent when the close frame was empty.
        code: Option<CloseCode>,
        /// The UTF-8 reason, possibly empty.
        reason: &'s str,
    },
}

/// The result of one [`Receiver::receive`] call.
#[derive(Debug, PartialEq, Eq)]
pub struct Received<'s, 'i> {
    /// Input bytes used. When `event` is `None` this is the whole input (a partial header or control
    /// payload is kept inside the receiver), so the caller can reuse its buffer from the start; otherwise
    /// pass the rest again.
    pub consumed: usize,
    /// What those bytes completed, if anything.
    pub event: Option<Decoded<'s, 'i>>,
}

#[derive(Clone, Copy, Debug)]
struct FrameProgress {
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    remaining: u64,
    mask_offset: u8,
}

#[derive(Clone, Copy, Debug)]
enum State {
    Header,
    Payload(FrameProgress),
    Closed,
    Failed(ProtocolError),
}

#[derive(Clone, Copy, Debug)]
struct MessageProgress {
    kind: MessageKind,
    /// The first frame had RSV1 set (permessage-deflate).
    compressed: bool,
    len: u64,
    first_delivered: bool,
}

/// What one step of decoding found, as ranges, so the borrow of the input is taken once at the end.
enum Step {
    NeedMore,
    Data {
        start: usize,
        end: usize,
        kind: MessageKind,
        first: bool,
        last: bool,
        compressed: bool,
    },
    Control(OpCode),
}

/// The receiving half of a connection's state.
#[derive(Clone, Debug)]
pub struct Receiver {
    role: Role,
    limits: Limits,
    state: State,
    /// A frame header that arrived split across reads (while `header_len > 0`), or a control frame's
    /// payload (while it arrives, until the next header; the peer's close frame for good): never both at
    /// once, so they share the bytes.
    scratch: [u8; MAX_CONTROL_PAYLOAD],
    header_len: u8,
    control_len: u8,
    message: Option<MessageProgress>,
    utf8: Utf8Validator,
    replies: Outbox,
    /// permessage-deflate was agreed: RSV1 marks a compressed message.
    deflate: bool,
}

impl Receiver {
    /// A receiver for an endpoint of `role` (which decides whether frames must be masked).
    pub const fn new(role: Role, limits: Limits) -> Self {
        Receiver {
            role,
            limits,
            state: State::Header,
            scratch: [0; MAX_CONTROL_PAYLOAD],
            header_len: 0,
            control_len: 0,
            message: None,
            utf8: Utf8Validator::new(),
            replies: Outbox::new(),
            deflate: false,
        }
    }

    /// Accepts RSV1 on the first frame of a data message as permessage-deflate's mark of a compressed
    /// message (when the handshake agreed it).
    pub fn set_deflate(&mut self, on: bool) {
        self.deflate = on;
    }

    /// Decodes from `input` until it yields one event or needs more bytes. Data payload is unmasked in place
    /// in `input` and returned borrowed from it.
    ///
    /// On a protocol fault the connection is failed: the error is returned (now and on every later call) and
    /// a close frame with its code is queued in [`Receiver::replies`].
    pub fn receive<'s, 'i>(
        &'s mut self,
        input: &'i mut [u8],
    ) -> Result<Received<'s, 'i>, ProtocolError> {
        let mut consumed = 0;
        let step = loop {
            let rest = &mut input[consumed..];
            let (used, step) = match self.state {
                State::Failed(error) => return Err(error),
                State::Closed => (rest.len(), Some(Step::NeedMore)),
                State::Header => match self.read_header(rest) {
                    Ok(HeaderRead::Partial) => (rest.len(), Some(Step::NeedMore)),
                    Ok(HeaderRead::Complete(header, used)) => match self.start_frame(&header) {
                        Ok(()) => (used, None),
                        Err(error) => return Err(self.fail(error)),
                    },
                    Err(error) => return Err(self.fail(error)),
                },
                State::Payload(frame) if frame.opcode.is_control() => {
                    let used = self.absorb_control(frame, rest);
                    match self.state {
                        State::Payload(_) => (used, Some(Step::NeedMore)),
                        _ => (used, Some(Step::Control(frame.opcode))),
                    }
                }
                State::Payload(frame) => match self.data_step(frame, rest) {
                    Ok(Some(Step::Data {
                        end,
                        kind,
                        first,
                        last,
                        compressed,
                        ..
                    })) => (
                        end,
                        Some(Step::Data {
                            start: consumed,
                            end: consumed + end,
                            kind,
                            first,
                            last,
                            compressed,
                        }),
                    ),
                    Ok(step) => (0, step),
                    Err(error) => return Err(self.fail(error)),
                },
            };
            consumed += used;
            if let Some(step) = step {
                break step;
            }
        };
        let event = match step {
            Step::NeedMore => None,
            Step::Data {
                start,
                end,
                kind,
                first,
                last,
                compressed,
            } => {
                let piece = Piece {
                    kind,
                    payload: &input[start..end],
                    first,
                    last,
                };
                Some(if compressed {
                    Decoded::Compressed(piece)
                } else {
                    Decoded::Data(piece)
                })
            }
            Step::Control(opcode) => match self.finish_control(opcode) {
                Ok(()) => Some(self.control_event(opcode)),
                Err(error) => return Err(self.fail(error)),
            },
        };
        Ok(Received { consumed, event })
    }

    /// The payload bytes still to come of the uncompressed data frame in progress (its header decoded):
    /// input of exactly that length holds nothing but the frame's payload.
    pub fn payload_left(&self) -> Option<u64> {
        match self.state {
            State::Payload(frame) if !frame.opcode.is_control() => {
                let compressed = self.message.is_some_and(|message| message.compressed);
                (!compressed && frame.remaining > 0).then_some(frame.remaining)
            }
            _ => None,
        }
    }

    /// The limits on what the peer may send.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The control frames owed to the peer: the pong to its latest ping, and the close reply.
    pub fn replies(&self) -> &Outbox {
        &self.replies
    }

    /// Records that the next owed frame (the pong, else the close reply) was sent.
    pub fn reply_sent(&mut self) {
        self.replies.take();
    }

    /// The payload of the control frame just received (until the next header arrives).
    fn control_payload(&self) -> &[u8] {
        &self.scratch[..usize::from(self.control_len)]
    }

    /// True when a reply is owed to the peer (cheaper than looking at [`Receiver::replies`]).
    pub fn owes_reply(&self) -> bool {
        !self.replies.is_empty()
    }

    /// True once the peer's close frame arrived or the connection failed: no more events will come.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed | State::Failed(_))
    }

    /// The peer's close frame, once [`Decoded::Close`] was returned: its code and reason.
    pub fn close_frame(&self) -> (Option<CloseCode>, &str) {
        parse_close(self.control_payload()).unwrap_or((None, ""))
    }

    /// Fails the connection with `error`: every later call returns it, and a close frame with its code is
    /// queued for the peer.
    pub fn fail(&mut self, error: ProtocolError) -> ProtocolError {
        if !self.is_closed() {
            self.state = State::Failed(error);
            self.replies.push_close(Some(error.close_code()));
        }
        error
    }

    /// Reads a header from `input`, continuing one that an earlier call left unfinished.
    fn read_header(&mut self, input: &[u8]) -> Result<HeaderRead, ProtocolError> {
        let have = usize::from(self.header_len);
        if have == 0 {
            if let Some((header, used)) = FrameHeader::parse(input)? {
                return Ok(HeaderRead::Complete(header, used));
            }
        }
        let take = input.len().min(MAX_HEADER_LEN - have);
        self.control_len = 0;
        self.scratch[have..have + take].copy_from_slice(&input[..take]);
        match FrameHeader::parse(&self.scratch[..have + take])? {
            // `have` bytes alone were not a header, so the header ends inside this input.
            Some((header, len)) => {
                self.header_len = 0;
                Ok(HeaderRead::Complete(header, len - have))
            }
            None => {
                self.header_len = (have + take) as u8;
                Ok(HeaderRead::Partial)
            }
        }
    }

    fn start_frame(&mut self, header: &FrameHeader) -> Result<(), ProtocolError> {
        // RSV1 marks a compressed message: on its first frame only, never on a control frame.
        let compressible = self.deflate && matches!(header.opcode, OpCode::Text | OpCode::Binary);
        header.check(self.role, if compressible { RSV1 } else { 0 })?;
        if header.opcode.is_control() {
            self.control_len = 0;
        } else {
            if header.payload_len > self.limits.max_frame_len {
                return Err(ProtocolError::FrameTooLarge {
                    limit: self.limits.max_frame_len,
                });
            }
            let mut message = match (header.opcode, self.message) {
                (OpCode::Continuation, Some(message)) => message,
                (OpCode::Continuation, None) => return Err(ProtocolError::OrphanContinuation),
                (_, Some(_)) => return Err(ProtocolError::MessageInterrupted),
                (opcode, None) => {
                    self.utf8 = Utf8Validator::new();
                    let kind = if opcode == OpCode::Text {
                        MessageKind::Text
                    } else {
                        MessageKind::Binary
                    };
                    MessageProgress {
                        kind,
                        compressed: header.rsv & RSV1 != 0,
                        len: 0,
                        first_delivered: false,
                    }
                }
            };
            message.len = message.len.saturating_add(header.payload_len);
            // A compressed message's limit applies to its inflated size (checked by the session).
            if message.len > self.limits.max_message_len && !message.compressed {
                return Err(ProtocolError::MessageTooLarge {
                    limit: self.limits.max_message_len,
                });
            }
            self.message = Some(message);
        }
        self.state = State::Payload(FrameProgress {
            opcode: header.opcode,
            fin: header.fin,
            mask: header.mask,
            remaining: header.payload_len,
            mask_offset: 0,
        });
        Ok(())
    }

    /// Unmasks and validates the data bytes available in `input`. Returns `Ok(None)` after an empty,
    /// non-final frame (nothing to report; decoding goes on).
    fn data_step(
        &mut self,
        frame: FrameProgress,
        input: &mut [u8],
    ) -> Result<Option<Step>, ProtocolError> {
        let mut message = self.message.ok_or(ProtocolError::OrphanContinuation)?;
        let len = input
            .len()
            .min(usize::try_from(frame.remaining).unwrap_or(usize::MAX));
        let piece = &mut input[..len];
        if let Some(key) = frame.mask {
            apply_mask(piece, key, usize::from(frame.mask_offset));
        }
        let remaining = frame.remaining - len as u64;
        let last = remaining == 0 && frame.fin;
        if message.kind == MessageKind::Text && !message.compressed {
            self.utf8
                .feed(piece)
                .map_err(|_| ProtocolError::InvalidUtf8)?;
            if last {
                self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        self.state = if remaining == 0 {
            State::Header
        } else {
            let mask_offset = ((usize::from(frame.mask_offset) + len) % 4) as u8;
            State::Payload(FrameProgress {
                remaining,
                mask_offset,
                ..frame
            })
        };
        if len == 0 && !last {
            return Ok(if remaining == 0 {
                None
            } else {
                Some(Step::NeedMore)
            });
        }
        let first = !message.first_delivered;
        message.first_delivered = true;
        self.message = if last { None } else { Some(message) };
        Ok(Some(Step::Data {
            start: 0,
            end: len,
            kind: message.kind,
            first,
            last,
            compressed: message.compressed,
        }))
    }

    /// Copies and unmasks the control payload bytes available in `input`; returns how many it used.
    fn absorb_control(&mut self, frame: FrameProgress, input: &[u8]) -> usize {
        let have = usize::from(self.control_len);
        let len = input.len().min(frame.remaining as usize);
        let piece = &mut self.scratch[have..have + len];
        piece.copy_from_slice(&input[..len]);
        if let Some(key) = frame.mask {
            apply_mask(piece, key, have);
        }
        self.control_len += len as u8;
        let remaining = frame.remaining - len as u64;
        self.state = if remaining == 0 {
            State::Header
        } else {
            State::Payload(FrameProgress { remaining, ..frame })
        };
        len
    }

    /// Acts on a complete control frame: queues the pong, or validates a close frame and queues its reply.
    fn finish_control(&mut self, opcode: OpCode) -> Result<(), ProtocolError> {
        let payload = self.control_payload();
        match opcode {
            OpCode::Ping => {
                if let Ok(pong) = super::ControlFrame::pong(payload) {
                    self.replies.push_pong(pong);
                }
            }
            OpCode::Close => {
                let (code, _) = parse_close(payload)?;
                self.replies.push_close(code);
                self.state = State::Closed;
                self.message = None;
            }
            _ => {}
        }
        Ok(())
    }

    fn control_event(&self, opcode: OpCode) -> Decoded<'_, 'static> {
        let payload = self.control_payload();
        match opcode {
            OpCode::Ping => Decoded::Ping(payload),
            OpCode::Pong => Decoded::Pong(payload),
            _ => {
                let (code, reason) = parse_close(payload).unwrap_or((None, ""));
                Decoded::Close { code, reason }
            }
        }
    }
}

enum HeaderRead {
    Partial,
    Complete(FrameHeader, usize),
}

/// Splits and validates a close payload: empty, or a sendable code followed by a UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<(Option<CloseCode>, &str), ProtocolError> {
    match payload {
        [] => Ok((None, "")),
        [_] => Err(ProtocolError::InvalidClosePayload),
        [high, low, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*high, *low]));
            if !code.is_sendable() {
                return Err(ProtocolError::InvalidCloseCode(code.0));
            }
            let reason = core::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok((Some(code), reason))
        }
    }
}
