//! Opening handshakes over one `embedded-io-async` stream, before it is split into halves.

use crate::{Config, Error, Timeout};
use embassy_time::with_timeout;
use embedded_io_async::{Read, Write};
use rill::handshake::client::{parse_response, ClientRequest};
use rill::handshake::server::{
    encode_accept, encode_http_response, encode_reject, parse_request, Accept, AcceptError, Request,
};
use rill::handshake::Parsed;

/// What the application answers to an HTTP request on the WebSocket port. `'d` is data the decision
/// borrows from the application (a static page, a configured subprotocol).
#[derive(Clone, Copy, Debug)]
pub enum Decision<'d> {
    /// Upgrade, optionally with one of the offered subprotocols and extra response headers.
    Accept {
        /// The subprotocol to use; must be one the client offered.
        protocol: Option<&'d str>,
        /// Extra response headers.
        headers: &'d [(&'d str, &'d str)],
    },
    /// Refuse with an HTTP status; `reason` becomes the plain-text body.
    Reject {
        /// The HTTP status.
        status: u16,
        /// Why, in one line.
        reason: &'d str,
    },
    /// Answer as plain HTTP (e.g. a page from flash on `GET /`) and end the connection.
    Respond {
        /// The HTTP status.
        status: u16,
        /// The body's media type.
        content_type: &'d str,
        /// The body.
        body: &'d [u8],
    },
}

impl Decision<'_> {
    /// Accept with no subprotocol and no extra headers.
    pub const fn accept() -> Self {
        Decision::Accept {
            protocol: None,
            headers: &[],
        }
    }
}

/// A finished handshake: `read_buf[start..end]` holds bytes that followed it (early frames), to hand to
/// [`crate::Reader::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Upgraded {
    /// Start of the bytes after the handshake.
    pub start: usize,
    /// End of the bytes after the handshake.
    pub end: usize,
}

/// Reads a request head into `read_buf` and answers it as `decide` says (an invalid upgrade gets the
/// matching HTTP error). The answer is encoded in `write_buf`, which must hold it (a page served with
/// [`Decision::Respond`] included).
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
            let read = stream
                .read(&mut read_buf[filled..])
                .await
                .map_err(Error::Io)?;
            if read == 0 {
                return Err(Error::AbnormalClosure);
            }
            filled += read;
            let (request, consumed) =
                match parse_request(&read_buf[..filled], config.max_head_len.min(read_buf.len())) {
                    Ok(Parsed::Partial) => continue,
                    Ok(Parsed::Complete { value, consumed }) => (value, consumed),
                    Err(error) => {
                        let len = error.encode_response(write_buf)?;
                        stream
                            .write_all(&write_buf[..len])
                            .await
                            .map_err(Error::Io)?;
                        stream.flush().await.map_err(Error::Io)?;
                        return Err(Error::Request(error));
                    }
                };
            let (len, outcome) = respond(&request, decide(&request), write_buf)?;
            stream
                .write_all(&write_buf[..len])
                .await
                .map_err(Error::Io)?;
            stream.flush().await.map_err(Error::Io)?;
            return outcome.map(|()| Upgraded {
                start: consumed,
                end: filled,
            });
        }
    };
    with_timeout(config.handshake_timeout, handshake)
        .await
        .map_err(|_| Error::Timeout(Timeout::Handshake))?
}

/// The length of the encoded answer, then whether the connection is upgraded.
type Answer<E> = (usize, Result<(), Error<E>>);

/// Encodes the answer to `decision` into `out`.
fn respond<E>(
    request: &Request<'_>,
    decision: Decision<'_>,
    out: &mut [u8],
) -> Result<Answer<E>, Error<E>> {
    match decision {
        Decision::Accept { protocol, headers } => {
            match encode_accept(request, &Accept { protocol, headers }, out) {
                Ok(len) => Ok((len, Ok(()))),
                Err(AcceptError::Request(error)) => {
                    Ok((error.encode_response(out)?, Err(Error::Request(error))))
                }
                Err(AcceptError::Encode(error)) => Err(Error::Encode(error)),
            }
        }
        Decision::Reject { status, reason } => Ok((
            encode_reject(status, reason, &[], out)?,
            Err(Error::Rejected(status)),
        )),
        Decision::Respond {
            status,
            content_type,
            body,
        } => Ok((
            encode_http_response(status, content_type, &[], body, out)?,
            Err(Error::Rejected(status)),
        )),
    }
}

/// Sends `request` and verifies the server's response, read into `read_buf`. The request is encoded in
/// `write_buf`. Returns where the bytes after the response lie, and the index in `request.protocols` of
/// the subprotocol the server chose.
pub async fn connect<S: Read + Write>(
    stream: &mut S,
    request: &ClientRequest<'_>,
    read_buf: &mut [u8],
    write_buf: &mut [u8],
    config: &Config,
) -> Result<(Upgraded, Option<usize>), Error<S::Error>> {
    let handshake = async {
        let len = request.encode(write_buf)?;
        stream
            .write_all(&write_buf[..len])
            .await
            .map_err(Error::Io)?;
        stream.flush().await.map_err(Error::Io)?;
        let mut filled = 0;
        loop {
            let read = stream
                .read(&mut read_buf[filled..])
                .await
                .map_err(Error::Io)?;
            if read == 0 {
                return Err(Error::AbnormalClosure);
            }
            filled += read;
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
                        },
                        chosen,
                    ));
                }
            }
        }
    };
    with_timeout(config.handshake_timeout, handshake)
        .await
        .map_err(|_| Error::Timeout(Timeout::Handshake))?
}
