//! Opening handshakes over one `embedded-io-async` stream, before it is split into halves.

use crate::shared::after;
use crate::{Config, Error, Timeout};
use embassy_time::with_deadline;
use embedded_io_async::{Read, Write};
use rill_ws::deflate::DeflateParams;
use rill_ws::handshake::client::{parse_response, ClientRequest};
pub use rill_ws::handshake::server::Decision;
use rill_ws::handshake::server::{answer, parse_request, Answer, Answered, Request};
use rill_ws::handshake::EncodeError;
use rill_ws::handshake::Parsed;

/// A finished handshake: `read_buf[start..end]` holds bytes that followed it (early frames), to hand to
/// [`crate::Reader::new`], and the permessage-deflate agreement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Upgraded {
    /// Start of the bytes after the handshake.
    pub start: usize,
    /// End of the bytes after the handshake.
    pub end: usize,
    /// The permessage-deflate agreement, or `None` when not negotiated (see [`Config::deflate`]).
    pub deflate: Option<DeflateParams>,
}

/// Reads a request head into `read_buf` and answers it as `decide` says (an invalid upgrade gets the
/// matching HTTP error). The response head is encoded in `write_buf`; the body of a page served with
/// [`Decision::Respond`] is written straight from its slice, so it may be larger than the buffer.
///
/// permessage-deflate: a decision to accept that carries an agreement (`deflate: Some`, from
/// [`Request::deflate`]) answers with it; one without (as [`Decision::accept`] makes) agrees on what
/// [`Config::deflate`] accepts of the client's offers, if anything. The agreement is in
/// [`Upgraded::deflate`].
pub async fn accept<'d, S, F>(
    stream: &mut S,
    read_buf: &mut [u8],
    write_buf: &mut [u8],
    config: &Config,
    decide: F,
) -> Result<Upgraded, Error<S::Error>>
where
    S: Read + Write,
    F: FnOnce(&Request<'_>) -> Decision<'d>,
{
    let handshake = async {
        let mut filled = 0;
        loop {
            filled += read_more(stream, &mut read_buf[filled..]).await?;
            // The request is parsed, decided on and answered in `write_buf` here, with no await: it
            // borrows the read buffer and, kept across the writes, would take some 400 bytes of every
            // connection's future.
            let limit = config.max_head_len.min(read_buf.len());
            let (head_len, body, outcome) = match parse_request(&read_buf[..filled], limit) {
                Ok(Parsed::Partial) => continue,
                Ok(Parsed::Complete { value, consumed }) => {
                    let answered = decide_and_answer(&value, write_buf, config, decide)?;
                    let (answer, deflate) = answered;
                    let outcome = match answer.outcome {
                        Answered::Upgraded => Ok(Upgraded {
                            start: consumed,
                            end: filled,
                            deflate,
                        }),
                        Answered::Refused(error) => Err(Error::Request(error)),
                        Answered::Rejected(status) => Err(Error::Rejected(status)),
                    };
                    (answer.head_len, answer.body, outcome)
                }
                Err(error) => {
                    let len = error.encode_response(write_buf)?;
                    (len, &[][..], Err(Error::Request(error)))
                }
            };
            stream
                .write_all(&write_buf[..head_len])
                .await
                .map_err(Error::Io)?;
            // A page body goes out from where it lies (flash), so it never has to fit the write buffer.
            stream.write_all(body).await.map_err(Error::Io)?;
            stream.flush().await.map_err(Error::Io)?;
            return outcome;
        }
    };
    with_deadline(after(config.handshake_timeout), handshake)
        .await
        .map_err(|_| Error::Timeout(Timeout::Handshake))?
}

/// Sends `request` and verifies the server's response, read into `read_buf`. The request is encoded in
/// `write_buf`. Returns where the bytes after the response lie with the permessage-deflate agreement, and
/// the index in `request.protocols` of the subprotocol the server chose.
///
/// The permessage-deflate offer is [`Config::deflate`]'s (inflate only); it replaces `request.deflate`.
pub async fn connect<S: Read + Write>(
    stream: &mut S,
    request: &ClientRequest<'_>,
    read_buf: &mut [u8],
    write_buf: &mut [u8],
    config: &Config,
) -> Result<(Upgraded, Option<usize>), Error<S::Error>> {
    let request = &ClientRequest {
        deflate: config.deflate(),
        ..*request
    };
    let handshake = async {
        let len = request.encode(write_buf)?;
        stream
            .write_all(&write_buf[..len])
            .await
            .map_err(Error::Io)?;
        stream.flush().await.map_err(Error::Io)?;
        let mut filled = 0;
        loop {
            filled += read_more(stream, &mut read_buf[filled..]).await?;
            let limit = config.max_head_len.min(read_buf.len());
            match parse_response(&read_buf[..filled], request, limit).map_err(Error::Response)? {
                Parsed::Partial => continue,
                Parsed::Complete { value, consumed } => {
                    let chosen = value
                        .protocol()
                        .and_then(|p| request.protocols.iter().position(|o| *o == p));
                    return Ok((
                        Upgraded {
                            start: consumed,
                            end: filled,
                            deflate: value.deflate(),
                        },
                        chosen,
                    ));
                }
            }
        }
    };
    with_deadline(after(config.handshake_timeout), handshake)
        .await
        .map_err(|_| Error::Timeout(Timeout::Handshake))?
}

/// What `decide` says to `request`, encoded in `write_buf`, with the permessage-deflate agreement of an
/// accepted request.
fn decide_and_answer<'d, F>(
    request: &Request<'_>,
    write_buf: &mut [u8],
    config: &Config,
    decide: F,
) -> Result<(Answer<'d>, Option<DeflateParams>), EncodeError>
where
    F: FnOnce(&Request<'_>) -> Decision<'d>,
{
    let mut decision = decide(request);
    let mut agreed = None;
    if let Decision::Accept { deflate, .. } = &mut decision {
        if cfg!(not(feature = "deflate")) {
            // Without the feature there is no inflater to lend: nothing is agreed (and the negotiation
            // code stays out of the firmware).
            *deflate = None;
        } else if deflate.is_none() {
            *deflate = config.deflate().and_then(|c| request.deflate(&c));
        }
        agreed = *deflate;
    }
    Ok((answer(request, &decision, write_buf)?, agreed))
}

/// Reads the next bytes of a handshake; the peer leaving mid-handshake is an abnormal closure.
async fn read_more<S: Read>(stream: &mut S, buf: &mut [u8]) -> Result<usize, Error<S::Error>> {
    match stream.read(buf).await.map_err(Error::Io)? {
        0 => Err(Error::AbnormalClosure),
        read => Ok(read),
    }
}
