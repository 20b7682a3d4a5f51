//! The WebSocket endpoints, on `rill-embassy`: [`Endpoint::Echo`] streams every message back piece by piece,
//! [`Endpoint::Tokens`] streams simulated tokens in rill's stream envelope and answers `Resume` envelopes.
//!
//! Both are generic over the stream halves, so they run on any board's socket and in host tests alike.

use core::cell::Cell;

use embassy_futures::join::join;
use embassy_futures::select::{select, Either};
use embassy_sync::blocking_mutex::raw::{NoopRawMutex, RawMutex};
use embassy_sync::signal::Signal;
use embassy_time::{Duration, Timer};
use embedded_io_async::{ErrorType, Read, Write};
use rill_embassy::{CloseCode, Config, Error, Flush, MessageKind, Reader, Writer};
use rill_ws::streams::{Envelope, EnvelopeKind, ENVELOPE_HEADER_LEN};

use crate::{token_envelope, ENVELOPE_MAX, STREAMS, TOKENS_PER_STREAM};

/// Settings of every WebSocket connection.
///
/// The limits are policy only: [`Endpoint::Echo`] streams each message through the read buffer piece by piece, so nothing is
/// buffered whatever the size (Autobahn's section 9 sends 16 MiB messages). A silent peer gets a ping after 30 s
/// and is dropped after 75 s, so a vanished browser cannot pin a listener; one that stops reading is dropped
/// after 20 s without progress.
pub const CONFIG: Config = Config {
    limits: rill_ws::Limits {
        max_frame_len: 16 << 20,
        max_message_len: 64 << 20,
    },
    max_head_len: crate::net::READ_BUF,
    handshake_timeout: core::time::Duration::from_secs(10),
    close_timeout: core::time::Duration::from_secs(3),
    idle_timeout: Some(core::time::Duration::from_secs(75)),
    keepalive: Some(core::time::Duration::from_secs(30)),
    // A peer that keeps acknowledging but stops reading (a zero window) never trips the socket's own timeout.
    write_timeout: Some(core::time::Duration::from_secs(20)),
    // Every send leaves at once: tokens are paced, and the echo flushes when it runs out of input.
    batch: None,
    deflate: DEFLATE,
    // A flush hands the bytes to embassy-net without waiting for the peer's ACK.
    flush: Flush::NoAckWait,
};

/// The board client's settings: [`CONFIG`] without permessage-deflate (it lends no inflater; the server
/// side shows the inflate path).
pub const CLIENT_CONFIG: Config = Config {
    deflate: None,
    ..CONFIG
};

/// The window compressed messages are inflated in (feature `deflate`): 4 KiB, agreed with the client as
/// `client_max_window_bits=12`. A client that cannot limit its window (no `client_max_window_bits` in its
/// offer) gets no compression.
pub const INFLATE_WINDOW_BITS: u8 = 12;

/// permessage-deflate, inflate only, with the `deflate` feature; off without it.
const DEFLATE: Option<rill_ws::deflate::DeflateConfig> = if cfg!(feature = "deflate") {
    Some(rill_ws::deflate::DeflateConfig {
        receive_window_bits: INFLATE_WINDOW_BITS,
        send_window_bits: None,
        receive_no_context_takeover: false,
        send_no_context_takeover: false,
        compress_threshold: 0,
        level: 0,
        memory_level: 1,
    })
} else {
    None
};

/// Time between two tokens: slow enough to watch on the page.
pub const TOKEN_INTERVAL: Duration = Duration::from_millis(40);

/// How long [`Endpoint::Tokens`] waits for the peer's reply to its close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// What a WebSocket connection does after the upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Endpoint {
    /// `/echo`: every message streamed back piece by piece.
    Echo,
    /// `/tokens`: simulated tokens in the stream envelope.
    Tokens,
}

/// Serves one endpoint, chosen at run time, with one read loop for both, so the reader's code is instantiated (and
/// inlined into the listener task) once rather than once per endpoint, which saves flash.
///
/// - [`Endpoint::Echo`] echoes every message as it arrives: each piece read is written as the matching frame of the
///   same message, flushed whenever no more input is buffered, so a message of any size passes through the small
///   buffers.
/// - [`Endpoint::Tokens`] streams [`STREAMS`] interleaved streams of [`TOKENS_PER_STREAM`] tokens, one binary envelope
///   message each, sent and flushed one by one every `interval`, then closes with 1000. While sending it reads: a
///   `Resume` envelope restarts that stream at its sequence (tokens are regenerated, so no replay memory is needed);
///   a sequence past the stream's end is answered with `Gone`; the peer's close frame stops the stream.
///
/// Returns after the close handshake (the close reply is sent by the reader).
pub async fn serve<M, R, W>(
    endpoint: Endpoint,
    reader: &mut Reader<'_, '_, M, R, W>,
    writer: Writer<'_, '_, M, W>,
    interval: Duration,
) -> Result<(), Error<W::Error>>
where
    M: RawMutex,
    W: Write,
    R: Read + ErrorType<Error = W::Error>,
{
    // Requests from the reading side to the sending side; both run in this one future, so no locking is needed.
    let resume: [Cell<Option<u32>>; STREAMS as usize] = Default::default();
    let stop = Signal::<NoopRawMutex, ()>::new();
    let give_up = Signal::<NoopRawMutex, ()>::new();

    let receive = async {
        let read = async {
            let mut writer = writer;
            let mut head = [0u8; ENVELOPE_HEADER_LEN];
            let mut len = 0;
            let mut binary = false;
            loop {
                match reader.recv_piece().await {
                    Ok(Some(piece)) if endpoint == Endpoint::Echo => {
                        writer.feed_piece(&piece).await?
                    }
                    Ok(Some(piece)) => {
                        if piece.first {
                            len = 0;
                            binary = piece.kind == MessageKind::Binary;
                        }
                        // Only the envelope header matters here; it may arrive split over pieces.
                        let take = piece.payload.len().min(head.len() - len);
                        head[len..len + take].copy_from_slice(&piece.payload[..take]);
                        len += take;
                        if piece.last && binary {
                            if let Ok((envelope, _)) = Envelope::decode(&head[..len]) {
                                let slot = envelope.stream.wrapping_sub(1) as usize;
                                if envelope.kind == EnvelopeKind::Resume && slot < resume.len() {
                                    resume[slot].set(Some(envelope.sequence));
                                }
                            }
                        }
                    }
                    // The peer's close frame (answered by the reader), or the end after ours.
                    Ok(None) | Err(Error::Closed) => return Ok(()),
                    Err(error) => return Err(error),
                }
                if endpoint == Endpoint::Echo && !reader.has_buffered_input() {
                    writer.flush().await?;
                }
            }
        };
        // After our close frame the reader sends nothing more, so giving up on the reply cancels nothing half-done.
        let result = match select(read, give_up.wait()).await {
            Either::First(result) => result,
            Either::Second(()) => Ok(()),
        };
        stop.signal(());
        result
    };

    let send = async {
        if endpoint == Endpoint::Echo {
            return Ok(());
        }
        let result = send_tokens(writer, interval, &resume, &stop).await;
        // Stop reading when sending failed, or when the peer did not answer our close frame in time.
        if !matches!(result, Ok(false)) {
            give_up.signal(());
        }
        result.map(drop)
    };

    match join(receive, send).await {
        (Err(error), _) | (Ok(()), Err(error)) => Err(error),
        (Ok(()), Ok(())) => Ok(()),
    }
}

/// The sending side of [`Endpoint::Tokens`]. Returns `false` when the reading side asked it to stop (the peer closed) or the
/// peer answered our close frame, `true` when the answer did not come within `CLOSE_WAIT`.
async fn send_tokens<M: RawMutex, W: Write>(
    mut writer: Writer<'_, '_, M, W>,
    interval: Duration,
    resume: &[Cell<Option<u32>>; STREAMS as usize],
    stop: &Signal<NoopRawMutex, ()>,
) -> Result<bool, Error<W::Error>> {
    let mut next = [0u32; STREAMS as usize];
    let mut turn = 0;
    let mut message = [0u8; ENVELOPE_MAX];
    loop {
        for (slot, request) in resume.iter().enumerate() {
            if let Some(sequence) = request.take() {
                if sequence <= TOKENS_PER_STREAM {
                    next[slot] = sequence;
                } else {
                    let gone = Envelope {
                        kind: EnvelopeKind::Gone,
                        stream: slot as u32 + 1,
                        sequence,
                    };
                    writer.send_binary(&gone.header()).await?;
                }
            }
        }
        // Round robin over the streams that still have tokens.
        let Some(slot) = (0..next.len())
            .map(|k| (turn + k) % next.len())
            .find(|&s| next[s] < TOKENS_PER_STREAM)
        else {
            break;
        };
        turn = slot + 1;
        if let Some(len) = token_envelope(slot as u32 + 1, next[slot], &mut message) {
            writer.send_binary(&message[..len]).await?;
        }
        next[slot] += 1;
        if let Either::Second(()) = select(Timer::after(interval), stop.wait()).await {
            return Ok(false);
        }
    }
    writer.send_close(CloseCode::NORMAL, "done").await?;
    Ok(matches!(
        select(Timer::after(CLOSE_WAIT), stop.wait()).await,
        Either::First(())
    ))
}
