//! The stream envelope over a connection: many logical streams per connection, each chunk its own message,
//! with ordered delivery, bounded replay and resume after a reconnect (format: `docs/streams.md`).

use crate::{Error, Writer};
use rill_ws::streams::{Arrival, Envelope, EnvelopeKind, ReplayWindow, Resumption, StreamTracker};
use rill_ws::MessageKind;
use std::collections::HashMap;
use tokio::io::AsyncWrite;

/// The sending side: a replay window of fixed size per stream, kept across reconnections (hold it in the
/// session, not in the connection). Chunks go out with the writer's flush policy: at once by default.
pub struct StreamSender {
    window_bytes: usize,
    windows: HashMap<u32, ReplayWindow<Box<[u8]>>>,
}

impl StreamSender {
    /// A sender keeping up to `window_bytes` of recent envelopes per stream for replay.
    pub fn new(window_bytes: usize) -> Self {
        StreamSender {
            window_bytes,
            windows: HashMap::new(),
        }
    }

    /// Sends the next envelope of `stream` (opening the stream on first use) and records it for replay.
    pub async fn send<S: AsyncWrite>(
        &mut self,
        writer: &mut Writer<S>,
        stream: u32,
        kind: EnvelopeKind,
        payload: &[u8],
    ) -> Result<Envelope, Error> {
        let envelope = self.record(stream, kind, payload);
        writer
            .send_parts(MessageKind::Binary, &[&envelope.header(), payload])
            .await?;
        Ok(envelope)
    }

    /// Records the next envelope of `stream` without sending it (no connection right now); a resume sends it.
    pub fn record(&mut self, stream: u32, kind: EnvelopeKind, payload: &[u8]) -> Envelope {
        let window_bytes = self.window_bytes;
        let window = self
            .windows
            .entry(stream)
            .or_insert_with(|| ReplayWindow::new(vec![0u8; window_bytes].into()));
        window.record(kind, stream, payload)
    }

    /// Answers a resume request: resends `stream` from `sequence`, or sends [`EnvelopeKind::Gone`] when that
    /// part fell out of the window. Returns how many envelopes were resent.
    pub async fn resume<S: AsyncWrite>(
        &mut self,
        writer: &mut Writer<S>,
        stream: u32,
        sequence: u32,
    ) -> Result<usize, Error> {
        let gone = Envelope {
            kind: EnvelopeKind::Gone,
            stream,
            sequence,
        }
        .header();
        let resumption = self
            .windows
            .get(&stream)
            .map_or(Resumption::Gone(gone), |w| w.resume(stream, sequence));
        let Resumption::Replay(replay) = resumption else {
            writer.send_binary(&gone).await?;
            return Ok(0);
        };
        let mut resent = 0;
        for envelope in replay {
            writer.feed(MessageKind::Binary, envelope).await?;
            resent += 1;
        }
        writer.flush().await?;
        Ok(resent)
    }

    /// Forgets a finished stream and frees its window.
    pub fn remove(&mut self, stream: u32) {
        self.windows.remove(&stream);
    }
}

/// What the receiving side makes of one envelope message.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// The next chunk of a stream, in order (the kind says whether it is the last, a cancel or an error).
    Chunk {
        /// The envelope.
        envelope: Envelope,
        /// The chunk's bytes.
        payload: &'a [u8],
    },
    /// Chunks are missing: send the returned resume request (already encoded) to the sender.
    Gap {
        /// The encoded [`EnvelopeKind::Resume`] envelope to send.
        resume: [u8; rill_ws::streams::ENVELOPE_HEADER_LEN],
    },
    /// The sender cannot resume the stream from the requested sequence.
    Gone {
        /// The stream concerned.
        stream: u32,
    },
    /// A duplicate, or a chunk after the stream ended: nothing to do.
    Ignored,
    /// A chunk of a new stream while [`StreamReceiver::max_streams`] streams are tracked: refused, not
    /// tracked, so a peer inventing stream ids cannot grow the receiver's memory.
    Refused {
        /// The stream concerned.
        stream: u32,
    },
}

/// The receiving side: per-stream order tracking (fixed size per stream, no buffering), for at most
/// `max_streams` streams at once.
pub struct StreamReceiver {
    trackers: HashMap<u32, StreamTracker>,
    max_streams: usize,
}

impl Default for StreamReceiver {
    /// Tracks up to [`StreamReceiver::DEFAULT_MAX_STREAMS`] streams.
    fn default() -> Self {
        Self::with_max_streams(Self::DEFAULT_MAX_STREAMS)
    }
}

impl StreamReceiver {
    /// How many streams a receiver made by [`StreamReceiver::new`] tracks at most.
    pub const DEFAULT_MAX_STREAMS: usize = 1024;

    /// A receiver that has seen no stream yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A receiver that tracks at most `max_streams` streams; chunks of further new streams are refused.
    pub fn with_max_streams(max_streams: usize) -> Self {
        StreamReceiver {
            trackers: HashMap::new(),
            max_streams,
        }
    }

    /// The most streams tracked at once.
    pub fn max_streams(&self) -> usize {
        self.max_streams
    }

    /// Stops tracking `stream` (e.g. once the application has consumed its end), freeing its slot.
    pub fn forget(&mut self, stream: u32) {
        self.trackers.remove(&stream);
    }

    /// Classifies one received binary message.
    pub fn receive<'a>(
        &mut self,
        message: &'a [u8],
    ) -> Result<StreamEvent<'a>, rill_ws::streams::EnvelopeError> {
        let (envelope, payload) = Envelope::decode(message)?;
        if envelope.kind == EnvelopeKind::Gone {
            return Ok(StreamEvent::Gone {
                stream: envelope.stream,
            });
        }
        if !self.trackers.contains_key(&envelope.stream) && self.trackers.len() >= self.max_streams
        {
            return Ok(StreamEvent::Refused {
                stream: envelope.stream,
            });
        }
        let tracker = self.trackers.entry(envelope.stream).or_default();
        Ok(match tracker.arrive(&envelope) {
            Arrival::Deliver => StreamEvent::Chunk { envelope, payload },
            Arrival::Gap { expected } => StreamEvent::Gap {
                resume: Envelope {
                    kind: EnvelopeKind::Resume,
                    stream: envelope.stream,
                    sequence: expected,
                }
                .header(),
            },
            Arrival::Duplicate | Arrival::AfterEnd => StreamEvent::Ignored,
        })
    }

    /// Resume requests for every stream not yet ended: send them after reconnecting.
    pub fn resume_requests(
        &self,
    ) -> impl Iterator<Item = [u8; rill_ws::streams::ENVELOPE_HEADER_LEN]> + '_ {
        self.trackers
            .iter()
            .filter(|(_, tracker)| !tracker.is_ended())
            .map(|(&stream, tracker)| {
                Envelope {
                    kind: EnvelopeKind::Resume,
                    stream,
                    sequence: tracker.next_sequence(),
                }
                .header()
            })
    }
}
