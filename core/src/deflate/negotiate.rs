//! The `Sec-WebSocket-Extensions` negotiation of permessage-deflate (RFC 7692 section 7.1), both roles.

use super::{DeflateConfig, DeflateParams};
use crate::handshake::EncodeError;

/// Why a server's `Sec-WebSocket-Extensions` answer fails the client's handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AgreementError {
    /// The answer is not a valid permessage-deflate agreement for the offer sent.
    Invalid,
}

/// Server: the agreement for the first acceptable permessage-deflate offer among the request's
/// `Sec-WebSocket-Extensions` values, or `None` to decline every offer.
pub fn negotiate(values: &[&str], config: &DeflateConfig) -> Option<DeflateParams> {
    let _ = (values, config);
    None
}

/// Client: the `Sec-WebSocket-Extensions` value offering `config`, written into `out`.
pub fn write_offer(config: &DeflateConfig, out: &mut [u8]) -> Result<usize, EncodeError> {
    let _ = (config, out);
    Ok(0)
}

/// Client: checks the server's `Sec-WebSocket-Extensions` values against the offer made from `config`.
pub fn parse_agreement(
    values: &[&str],
    config: &DeflateConfig,
) -> Result<Option<DeflateParams>, AgreementError> {
    let _ = (values, config);
    Ok(None)
}
