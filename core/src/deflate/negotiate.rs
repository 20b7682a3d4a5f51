//! The `Sec-WebSocket-Extensions` negotiation of permessage-deflate (RFC 7692 section 7.1), both roles.
//!
//! The header is a comma-separated list of extensions, each a name and `;`-separated parameters, a
//! parameter a name or `name=value` with a token or quoted-string value (RFC 6455 section 9.1, RFC 7692
//! section 5); a header may repeat, its values concatenating the list. Nothing here allocates: values are
//! split where they lie.
//!
//! - Server: [`negotiate`] agrees on the first acceptable offer (an offer with an unknown, repeated or
//!   invalid parameter is declined and the next one tried; other extensions are skipped), and
//!   [`DeflateParams::write_response`] writes the answer to it.
//! - Client: [`write_offer`] writes the one offer a [`DeflateConfig`] makes, and [`parse_agreement`] checks
//!   the server's answer against it.

use super::{DeflateConfig, DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
use crate::handshake::{EncodeError, Writer};
use core::fmt;

/// The extension's registered name.
const NAME: &str = "permessage-deflate";

/// Why a server's `Sec-WebSocket-Extensions` answer fails the client's handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AgreementError {
    /// The header is not a valid extension list (a name or parameter that is not a token, a broken quoted
    /// string, an empty parameter).
    Malformed,
    /// The server accepted an extension other than permessage-deflate, the only one offered.
    NotOffered,
    /// The server accepted more than one extension; only one offer was made.
    SeveralExtensions,
    /// An unknown or repeated parameter, or a parameter value that is invalid (window bits not a decimal
    /// 8..=15 without leading zeros, a value on a `*_no_context_takeover`).
    InvalidParameter,
    /// `server_max_window_bits` larger than offered, or missing although the offer limited it.
    ServerWindow,
    /// `client_max_window_bits` without a value, or larger than offered.
    ClientWindow,
    /// `server_no_context_takeover` was asked for but the answer lacks it.
    ServerContextTakeover,
}

impl AgreementError {
    /// A one-line explanation.
    pub const fn reason(self) -> &'static str {
        match self {
            AgreementError::Malformed => "malformed Sec-WebSocket-Extensions",
            AgreementError::NotOffered => "server accepted an extension that was not offered",
            AgreementError::SeveralExtensions => {
                "server accepted several extensions, one was offered"
            }
            AgreementError::InvalidParameter => {
                "unknown, repeated or invalid permessage-deflate parameter"
            }
            AgreementError::ServerWindow => {
                "server_max_window_bits above the offer, or missing although limited"
            }
            AgreementError::ClientWindow => {
                "client_max_window_bits without a value, or above the offer"
            }
            AgreementError::ServerContextTakeover => {
                "server_no_context_takeover was offered but not agreed"
            }
        }
    }
}

impl fmt::Display for AgreementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl core::error::Error for AgreementError {}

/// Server: the agreement for the first acceptable permessage-deflate offer among the request's
/// `Sec-WebSocket-Extensions` values (each occurrence of the header one value), or `None` to decline every
/// offer.
///
/// An offer is declined when it has an unknown or repeated parameter, an invalid value, or no
/// `client_max_window_bits` while `config.receive_window_bits` is below 15 (the client could not limit its
/// window to what we inflate with). Otherwise (RFC 7692 section 7.1):
/// - `server_no_context_takeover` is agreed when offered or when `config.send_no_context_takeover`;
/// - `client_no_context_takeover` is agreed when offered or when `config.receive_no_context_takeover`;
/// - `server_max_window_bits` is the smaller of the offered value (15 if none) and our send window
///   (`config.send_window_bits`, 15 when `None`: an endpoint that never compresses can promise any window);
/// - `client_max_window_bits` is the smaller of the offered value (15 if none or without a value) and
///   `config.receive_window_bits`.
///
/// Window bits in `config` outside 8..=15 are taken as the nearest bound.
pub fn negotiate(values: &[&str], config: &DeflateConfig) -> Option<DeflateParams> {
    offers(values).find_map(|offer| agree(&offer.ok()?, config))
}

/// The agreement a server with `config` makes on one valid offer, or `None` to decline it.
fn agree(offer: &Params, config: &DeflateConfig) -> Option<DeflateParams> {
    let receive = bounded(config.receive_window_bits);
    if receive < MAX_WINDOW_BITS && offer.client_max_window_bits.is_none() {
        return None;
    }
    let send = config.send_window_bits.map_or(MAX_WINDOW_BITS, bounded);
    Some(DeflateParams {
        server_no_context_takeover: offer.server_no_context_takeover
            || config.send_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover
            || config.receive_no_context_takeover,
        server_max_window_bits: offer
            .server_max_window_bits
            .unwrap_or(MAX_WINDOW_BITS)
            .min(send),
        client_max_window_bits: offer
            .client_max_window_bits
            .flatten()
            .unwrap_or(MAX_WINDOW_BITS)
            .min(receive),
    })
}

impl DeflateParams {
    /// Server: writes the `Sec-WebSocket-Extensions` value answering the client's offers (`offers`, the
    /// request's header values, as given to [`negotiate`]) with these parameters into `out`; returns the
    /// bytes written.
    ///
    /// The answer is `permessage-deflate` with the agreed context-takeover parameters,
    /// `server_max_window_bits` when below 15 or when the offer had it (RFC 7692 section 7.1.2.1 makes it
    /// the sign the limit was accepted), and `client_max_window_bits` when below 15 or when the offer gave
    /// it a value (never when the offer lacked it). Fails with [`EncodeError::DeflateNotOffered`] when no
    /// offer allows these parameters (they did not come from [`negotiate`] on these offers).
    pub fn write_response(&self, offers: &[&str], out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(out);
        put_response(&mut w, offers, self)?;
        Ok(w.finish())
    }
}

/// Writes the answer to the first of `offers` that allows `params`; see [`DeflateParams::write_response`].
fn put_response(
    w: &mut Writer<'_>,
    offers: &[&str],
    params: &DeflateParams,
) -> Result<(), EncodeError> {
    let offer = self::offers(offers)
        .filter_map(Result::ok)
        .find(|offer| allows(offer, params))
        .ok_or(EncodeError::DeflateNotOffered)?;
    w.put(NAME.as_bytes())?;
    if params.server_no_context_takeover {
        w.put(b"; server_no_context_takeover")?;
    }
    if params.client_no_context_takeover {
        w.put(b"; client_no_context_takeover")?;
    }
    if params.server_max_window_bits < MAX_WINDOW_BITS || offer.server_max_window_bits.is_some() {
        w.put(b"; server_max_window_bits=")?;
        w.put_decimal(params.server_max_window_bits.into())?;
    }
    if params.client_max_window_bits < MAX_WINDOW_BITS
        || matches!(offer.client_max_window_bits, Some(Some(_)))
    {
        w.put(b"; client_max_window_bits=")?;
        w.put_decimal(params.client_max_window_bits.into())?;
    }
    Ok(())
}

/// True when a server may answer `offer` with `params`.
fn allows(offer: &Params, params: &DeflateParams) -> bool {
    let window = MIN_WINDOW_BITS..=MAX_WINDOW_BITS;
    window.contains(&params.server_max_window_bits)
        && window.contains(&params.client_max_window_bits)
        && (params.server_no_context_takeover || !offer.server_no_context_takeover)
        && offer
            .server_max_window_bits
            .is_none_or(|n| params.server_max_window_bits <= n)
        && match offer.client_max_window_bits {
            None => params.client_max_window_bits == MAX_WINDOW_BITS,
            Some(limit) => params.client_max_window_bits <= limit.unwrap_or(MAX_WINDOW_BITS),
        }
}

/// Client: the `Sec-WebSocket-Extensions` value offering `config`, written into `out`; returns the bytes
/// written.
///
/// One offer: `permessage-deflate; client_max_window_bits` (with `=N` when `config.send_window_bits` is
/// below 15; without a value, "any window the server likes", when it is 15 or `None`), then
/// `server_max_window_bits=N` when `config.receive_window_bits` is below 15, `client_no_context_takeover`
/// when `config.send_no_context_takeover`, `server_no_context_takeover` when
/// `config.receive_no_context_takeover`.
pub fn write_offer(config: &DeflateConfig, out: &mut [u8]) -> Result<usize, EncodeError> {
    let mut w = Writer::new(out);
    put_offer(&mut w, config)?;
    Ok(w.finish())
}

/// Writes the offer; see [`write_offer`].
fn put_offer(w: &mut Writer<'_>, config: &DeflateConfig) -> Result<(), EncodeError> {
    w.put(NAME.as_bytes())?;
    // Always without a value ("limit me as you like"), as browsers and Python websockets offer it: a
    // client can compress with any window below the one agreed, and some servers (Autobahn's) answer a
    // larger value than a client offered.
    w.put(b"; client_max_window_bits")?;
    let receive = bounded(config.receive_window_bits);
    if receive < MAX_WINDOW_BITS {
        w.put(b"; server_max_window_bits=")?;
        w.put_decimal(receive.into())?;
    }
    if config.send_no_context_takeover {
        w.put(b"; client_no_context_takeover")?;
    }
    if config.receive_no_context_takeover {
        w.put(b"; server_no_context_takeover")?;
    }
    Ok(())
}

/// Client: checks the server's `Sec-WebSocket-Extensions` values against the offer [`write_offer`] made
/// from `config`: `Ok(None)` when the server declined (no extension), the agreement otherwise.
///
/// The answer must be exactly one extension, permessage-deflate, with known, unrepeated, valid parameters;
/// `server_max_window_bits` at most what we offered (and present when we offered a limit below 15);
/// `client_max_window_bits` with a value (any: we offered none); `server_no_context_takeover` present
/// when we asked for it.
///
/// The agreement says what each side does: `client_max_window_bits` is also capped by our own send window
/// (a server that leaves it out allows 15, but we compress with the window configured), and
/// `client_no_context_takeover` is set when `config.send_no_context_takeover` even if the server left it
/// out (we reset anyway).
pub fn parse_agreement(
    values: &[&str],
    config: &DeflateConfig,
) -> Result<Option<DeflateParams>, AgreementError> {
    let mut list = elements(values);
    let Some(first) = list.next() else {
        return Ok(None);
    };
    if list.next().is_some() {
        return Err(AgreementError::SeveralExtensions);
    }
    let (name, params) = split_element(first).ok_or(AgreementError::Malformed)?;
    if !name.eq_ignore_ascii_case(NAME) {
        return Err(AgreementError::NotOffered);
    }
    let params = parse_params(params)?;
    let offered_server = bounded(config.receive_window_bits);
    let offered_client = config.send_window_bits.map_or(MAX_WINDOW_BITS, bounded);
    let server_max_window_bits = match params.server_max_window_bits {
        Some(bits) if bits <= offered_server => bits,
        None if offered_server == MAX_WINDOW_BITS => MAX_WINDOW_BITS,
        _ => return Err(AgreementError::ServerWindow),
    };
    let client_max_window_bits = match params.client_max_window_bits {
        None => MAX_WINDOW_BITS,
        Some(Some(bits)) => bits,
        // An answer must give the window a value.
        Some(None) => return Err(AgreementError::ClientWindow),
    };
    if config.receive_no_context_takeover && !params.server_no_context_takeover {
        return Err(AgreementError::ServerContextTakeover);
    }
    Ok(Some(DeflateParams {
        server_no_context_takeover: params.server_no_context_takeover,
        client_no_context_takeover: params.client_no_context_takeover
            || config.send_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits: client_max_window_bits.min(offered_client),
    }))
}

/// Window bits held to 8..=15.
fn bounded(bits: u8) -> u8 {
    bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
}

/// The parameters of one permessage-deflate offer or answer, as sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: the parameter without a value.
    client_max_window_bits: Option<Option<u8>>,
}

/// The permessage-deflate offers among `values`, in order, each parsed or why it is invalid; other
/// extensions (and elements whose name is not a token) are skipped.
fn offers<'a>(values: &'a [&'a str]) -> impl Iterator<Item = Result<Params, AgreementError>> + 'a {
    elements(values).filter_map(|element| {
        let (name, params) = split_element(element)?;
        name.eq_ignore_ascii_case(NAME)
            .then(|| parse_params(params))
    })
}

/// The non-empty elements of the comma-separated lists in `values`, trimmed, in order (commas inside
/// quoted strings do not split).
fn elements<'a>(values: &'a [&'a str]) -> impl Iterator<Item = &'a str> + 'a {
    values
        .iter()
        .flat_map(|value| Split::new(value, b','))
        .map(trim)
        .filter(|element| !element.is_empty())
}

/// An element's name (a token) and the text of its parameters after the first `;` (empty when none).
fn split_element(element: &str) -> Option<(&str, Option<&str>)> {
    let (name, params) = match element.split_once(';') {
        Some((name, params)) => (trim(name), Some(params)),
        None => (element, None),
    };
    is_token(name.as_bytes()).then_some((name, params))
}

/// Parses permessage-deflate's parameters (the text after the name's `;`, if any).
fn parse_params(text: Option<&str>) -> Result<Params, AgreementError> {
    let mut params = Params::default();
    let Some(text) = text else {
        return Ok(params);
    };
    for param in Split::new(text, b';') {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (trim(name), Some(trim(value))),
            None => (trim(param), None),
        };
        if !is_token(name.as_bytes()) || value.is_some_and(|v| !is_value(v.as_bytes())) {
            return Err(AgreementError::Malformed);
        }
        let invalid = AgreementError::InvalidParameter;
        let flag = |slot: &mut bool| {
            if *slot || value.is_some() {
                return Err(invalid);
            }
            *slot = true;
            Ok(())
        };
        let name = name.as_bytes();
        if name.eq_ignore_ascii_case(b"server_no_context_takeover") {
            flag(&mut params.server_no_context_takeover)?;
        } else if name.eq_ignore_ascii_case(b"client_no_context_takeover") {
            flag(&mut params.client_no_context_takeover)?;
        } else if name.eq_ignore_ascii_case(b"server_max_window_bits") {
            if params.server_max_window_bits.is_some() {
                return Err(invalid);
            }
            let bits = value.and_then(window_bits).ok_or(invalid)?;
            params.server_max_window_bits = Some(bits);
        } else if name.eq_ignore_ascii_case(b"client_max_window_bits") {
            if params.client_max_window_bits.is_some() {
                return Err(invalid);
            }
            let bits = match value {
                None => None,
                Some(value) => Some(window_bits(value).ok_or(invalid)?),
            };
            params.client_max_window_bits = Some(bits);
        } else {
            return Err(invalid);
        }
    }
    Ok(params)
}

/// A window-bits value (a token or a quoted string, checked by [`is_value`]): a decimal 8..=15 without
/// leading zeros.
fn window_bits(value: &str) -> Option<u8> {
    let mut digits = [0u8; 2];
    let mut count = 0;
    for byte in Unquoted::new(value.as_bytes()) {
        if !byte.is_ascii_digit() || count == digits.len() {
            return None;
        }
        digits[count] = byte - b'0';
        count += 1;
    }
    let bits = match (count, digits) {
        (1, [d, _]) => d,
        (2, [1, d]) => 10 + d,
        _ => return None,
    };
    (MIN_WINDOW_BITS..=MAX_WINDOW_BITS)
        .contains(&bits)
        .then_some(bits)
}

/// The bytes of a value with the quotes and escapes of a quoted string removed.
struct Unquoted<'a> {
    bytes: &'a [u8],
    quoted: bool,
}

impl<'a> Unquoted<'a> {
    fn new(value: &'a [u8]) -> Self {
        match value {
            [b'"', inner @ .., b'"'] => Unquoted {
                bytes: inner,
                quoted: true,
            },
            _ => Unquoted {
                bytes: value,
                quoted: false,
            },
        }
    }
}

impl Iterator for Unquoted<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        if self.quoted && first == b'\\' {
            let (&escaped, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            return Some(escaped);
        }
        Some(first)
    }
}

/// A parameter value: a token, or a quoted string whose unescaped content is a token (RFC 6455 section 9.1).
fn is_value(value: &[u8]) -> bool {
    if is_token(value) {
        return true;
    }
    let [b'"', inner @ .., b'"'] = value else {
        return false;
    };
    // Every `"` inside must be escaped, and a final `\` would escape the closing quote.
    let mut escaped = false;
    for &byte in inner {
        match byte {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return false,
            _ => {}
        }
    }
    !escaped && Unquoted::new(value).all(is_token_byte) && Unquoted::new(value).next().is_some()
}

/// RFC 9110 `token`: one or more `tchar`.
fn is_token(text: &[u8]) -> bool {
    !text.is_empty() && text.iter().copied().all(is_token_byte)
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Trims HTTP's optional whitespace (SP and HTAB; a parsed header value holds no other ASCII space).
fn trim(text: &str) -> &str {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t');
    let bytes = text.as_bytes();
    let start = bytes
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    // Both ends are next to ASCII bytes, so they are character boundaries.
    &text[start..end]
}

/// Splits a header value at every `separator` outside quoted strings (a quoted string left open runs to the
/// end, where it makes its element malformed).
struct Split<'a> {
    rest: Option<&'a str>,
    separator: u8,
}

impl<'a> Split<'a> {
    fn new(text: &'a str, separator: u8) -> Self {
        Split {
            rest: Some(text),
            separator,
        }
    }
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, byte) in text.bytes().enumerate() {
            match byte {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                _ if byte == self.separator && !quoted => {
                    // The separator is ASCII, so both sides are whole UTF-8.
                    self.rest = Some(&text[i + 1..]);
                    return Some(&text[..i]);
                }
                _ => {}
            }
        }
        self.rest = None;
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Full windows, context takeover, compressing with 15: accepts every valid offer as it is.
    fn open() -> DeflateConfig {
        DeflateConfig {
            receive_window_bits: 15,
            send_window_bits: Some(15),
            receive_no_context_takeover: false,
            send_no_context_takeover: false,
            ..DeflateConfig::default()
        }
    }

    fn params(snct: bool, cnct: bool, smwb: u8, cmwb: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: smwb,
            client_max_window_bits: cmwb,
        }
    }

    fn offer(config: &DeflateConfig) -> heapless::String<256> {
        let mut out = [0u8; 256];
        let len = write_offer(config, &mut out).unwrap();
        heapless::String::try_from(core::str::from_utf8(&out[..len]).unwrap()).unwrap()
    }

    fn response(values: &[&str], params: &DeflateParams) -> heapless::String<256> {
        let mut out = [0u8; 256];
        let len = params.write_response(values, &mut out).unwrap();
        heapless::String::try_from(core::str::from_utf8(&out[..len]).unwrap()).unwrap()
    }

    /// What a server with `config` answers to `values`: the params and the response value.
    fn answer(values: &[&str], config: &DeflateConfig) -> Option<heapless::String<256>> {
        negotiate(values, config).map(|p| response(values, &p))
    }

    #[test]
    fn plain_offer_is_accepted_as_is() {
        assert_eq!(
            negotiate(&["permessage-deflate"], &open()),
            Some(DeflateParams::default())
        );
        assert_eq!(
            answer(&["permessage-deflate"], &open()).as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(negotiate(&[], &open()), None);
        assert_eq!(negotiate(&[""], &open()), None);
        assert_eq!(negotiate(&["x-webkit-deflate-frame"], &open()), None);
    }

    #[test]
    fn browser_offer_gets_the_default_server_answer() {
        // Chrome's and Firefox's offer; the default config compresses with a 4 KiB window.
        let chrome = ["permessage-deflate; client_max_window_bits"];
        let config = DeflateConfig::default();
        assert_eq!(
            negotiate(&chrome, &config),
            Some(params(false, false, 12, 15))
        );
        assert_eq!(
            answer(&chrome, &config).as_deref(),
            Some("permessage-deflate; server_max_window_bits=12")
        );
    }

    #[test]
    fn server_no_context_takeover_offered_or_configured_is_agreed() {
        let offered = ["permessage-deflate; server_no_context_takeover"];
        assert_eq!(
            negotiate(&offered, &open()),
            Some(params(true, false, 15, 15))
        );
        let config = DeflateConfig {
            send_no_context_takeover: true,
            ..open()
        };
        assert_eq!(
            negotiate(&["permessage-deflate"], &config),
            Some(params(true, false, 15, 15))
        );
        assert_eq!(
            answer(&["permessage-deflate"], &config).as_deref(),
            Some("permessage-deflate; server_no_context_takeover")
        );
    }

    #[test]
    fn client_no_context_takeover_offered_or_configured_is_agreed() {
        let offered = ["permessage-deflate; client_no_context_takeover"];
        assert_eq!(
            negotiate(&offered, &open()),
            Some(params(false, true, 15, 15))
        );
        let config = DeflateConfig {
            receive_no_context_takeover: true,
            ..open()
        };
        assert_eq!(
            answer(&["permessage-deflate"], &config).as_deref(),
            Some("permessage-deflate; client_no_context_takeover")
        );
    }

    #[test]
    fn server_window_is_the_smaller_of_offer_and_send_window() {
        let config = DeflateConfig {
            send_window_bits: Some(12),
            ..open()
        };
        let ask = |bits: &str| {
            let value = ["permessage-deflate; server_max_window_bits=", bits].concat();
            negotiate(&[&value], &config).map(|p| p.server_max_window_bits)
        };
        assert_eq!(ask("10"), Some(10));
        assert_eq!(ask("8"), Some(8));
        assert_eq!(ask("12"), Some(12));
        assert_eq!(ask("15"), Some(12));
        // An offered limit is answered even when it is 15: the answer's parameter says it was accepted.
        assert_eq!(
            answer(&["permessage-deflate; server_max_window_bits=15"], &open()).as_deref(),
            Some("permessage-deflate; server_max_window_bits=15")
        );
    }

    #[test]
    fn send_window_below_15_is_announced_unasked() {
        let config = DeflateConfig {
            send_window_bits: Some(9),
            ..open()
        };
        assert_eq!(
            answer(&["permessage-deflate"], &config).as_deref(),
            Some("permessage-deflate; server_max_window_bits=9")
        );
    }

    #[test]
    fn inflate_only_server_agrees_the_window_asked_for() {
        let config = DeflateConfig {
            send_window_bits: None,
            ..open()
        };
        assert_eq!(
            negotiate(&["permessage-deflate; server_max_window_bits=9"], &config),
            Some(params(false, false, 9, 15))
        );
        assert_eq!(
            answer(&["permessage-deflate"], &config).as_deref(),
            Some("permessage-deflate")
        );
    }

    #[test]
    fn small_receive_window_needs_client_max_window_bits() {
        let config = DeflateConfig {
            receive_window_bits: 10,
            ..open()
        };
        // Without the parameter the client could not limit its window: declined.
        assert_eq!(negotiate(&["permessage-deflate"], &config), None);
        // Parameterless: the server chooses.
        let bare = ["permessage-deflate; client_max_window_bits"];
        assert_eq!(
            negotiate(&bare, &config),
            Some(params(false, false, 15, 10))
        );
        assert_eq!(
            answer(&bare, &config).as_deref(),
            Some("permessage-deflate; client_max_window_bits=10")
        );
        // Valued: the smaller of the two.
        let nine = ["permessage-deflate; client_max_window_bits=9"];
        assert_eq!(negotiate(&nine, &config), Some(params(false, false, 15, 9)));
        let twelve = ["permessage-deflate; client_max_window_bits=12"];
        assert_eq!(
            negotiate(&twelve, &config),
            Some(params(false, false, 15, 10))
        );
    }

    #[test]
    fn client_max_window_bits_is_answered_only_when_useful() {
        // Parameterless and a full receive window: nothing to say.
        let bare = ["permessage-deflate; client_max_window_bits"];
        assert_eq!(
            answer(&bare, &open()).as_deref(),
            Some("permessage-deflate")
        );
        // A value is echoed (the client knows its limit was seen), never the parameter unasked.
        let valued = ["permessage-deflate; client_max_window_bits=15"];
        assert_eq!(
            answer(&valued, &open()).as_deref(),
            Some("permessage-deflate; client_max_window_bits=15")
        );
        let eleven = ["permessage-deflate; client_max_window_bits=11"];
        assert_eq!(
            answer(&eleven, &open()).as_deref(),
            Some("permessage-deflate; client_max_window_bits=11")
        );
    }

    #[test]
    fn all_parameters_together() {
        let value = [
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                      server_max_window_bits=10; client_max_window_bits=9",
        ];
        assert_eq!(negotiate(&value, &open()), Some(params(true, true, 10, 9)));
        assert_eq!(
            answer(&value, &open()).as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10; client_max_window_bits=9"
            )
        );
    }

    #[test]
    fn quoted_values_are_unquoted() {
        let value =
            ["permessage-deflate; server_max_window_bits=\"10\"; client_max_window_bits=\"9\""];
        assert_eq!(
            negotiate(&value, &open()),
            Some(params(false, false, 10, 9))
        );
        let escaped = ["permessage-deflate; server_max_window_bits=\"1\\0\""];
        assert_eq!(
            negotiate(&escaped, &open()),
            Some(params(false, false, 10, 15))
        );
        for bad in [
            "permessage-deflate; server_max_window_bits=\"\"",
            "permessage-deflate; server_max_window_bits=\"10",
            "permessage-deflate; server_max_window_bits=\"010\"",
            "permessage-deflate; server_max_window_bits=\"1 0\"",
            "permessage-deflate; server_max_window_bits=\"10\\\"",
            "permessage-deflate; server_no_context_takeover=\"x\"",
        ] {
            assert_eq!(negotiate(&[bad], &open()), None, "{bad}");
        }
    }

    #[test]
    fn window_bits_must_be_8_to_15_without_leading_zeros() {
        for bits in ["8", "9", "10", "15"] {
            let value = ["permessage-deflate; server_max_window_bits=", bits].concat();
            assert!(negotiate(&[&value], &open()).is_some(), "{bits}");
        }
        for bits in [
            "7", "16", "0", "08", "010", "015", "", "1", "100", "+9", "9.0", "a", "-8",
        ] {
            for name in ["server_max_window_bits", "client_max_window_bits"] {
                let value = ["permessage-deflate; ", name, "=", bits].concat();
                assert_eq!(negotiate(&[&value], &open()), None, "{value}");
            }
        }
    }

    #[test]
    fn parameter_rules_decline_the_offer() {
        for bad in [
            // server_max_window_bits needs a value.
            "permessage-deflate; server_max_window_bits",
            // No value on the context-takeover flags.
            "permessage-deflate; client_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover=",
            // Duplicates.
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            "permessage-deflate; client_max_window_bits; client_max_window_bits",
            "permessage-deflate; client_max_window_bits=9; client_max_window_bits",
            // Unknown.
            "permessage-deflate; x-unknown",
            "permessage-deflate; mem_level=8",
            // Syntax.
            "permessage-deflate;",
            "permessage-deflate; ; server_no_context_takeover",
            "permessage-deflate; =9",
            "permessage-deflate; server max window bits=9",
        ] {
            assert_eq!(negotiate(&[bad], &open()), None, "{bad}");
        }
    }

    #[test]
    fn an_invalid_offer_falls_back_to_the_next() {
        let values = [
            "permessage-deflate; server_max_window_bits=16, permessage-deflate; \
                       client_max_window_bits=10",
        ];
        assert_eq!(
            negotiate(&values, &open()),
            Some(params(false, false, 15, 10))
        );
        // The answer is to the offer accepted.
        assert_eq!(
            answer(&values, &open()).as_deref(),
            Some("permessage-deflate; client_max_window_bits=10")
        );
        // A declined (not invalid) first offer falls back too.
        let config = DeflateConfig {
            receive_window_bits: 11,
            ..open()
        };
        let values = [
            "permessage-deflate; server_no_context_takeover, permessage-deflate; \
                       client_max_window_bits",
        ];
        assert_eq!(
            negotiate(&values, &config),
            Some(params(false, false, 15, 11))
        );
    }

    #[test]
    fn the_first_acceptable_offer_wins() {
        let values = ["permessage-deflate; server_max_window_bits=10, permessage-deflate"];
        assert_eq!(
            negotiate(&values, &open()),
            Some(params(false, false, 10, 15))
        );
        let values = ["permessage-deflate, permessage-deflate; server_max_window_bits=10"];
        assert_eq!(
            negotiate(&values, &open()),
            Some(params(false, false, 15, 15))
        );
    }

    #[test]
    fn whitespace_case_and_other_extensions() {
        let values = [
            "  x-webkit-deflate-frame ; no_context_takeover , foo; bar=\"a,b;c\"  ,",
            "\tPermessage-Deflate\t;\tserver_max_window_bits = 10 ;client_no_context_takeover\t",
        ];
        assert_eq!(
            negotiate(&values, &open()),
            Some(params(false, true, 10, 15))
        );
        // A malformed other extension does not hide ours.
        let values = ["\"bad name\", permessage-deflate"];
        assert_eq!(negotiate(&values, &open()), Some(DeflateParams::default()));
        let values = ["foo; bar=\"unterminated, permessage-deflate"];
        assert_eq!(negotiate(&values, &open()), None);
    }

    #[test]
    fn offers_spread_over_several_header_lines() {
        let values = [
            "foo",
            "permessage-deflate; server_max_window_bits=7",
            "",
            "permessage-deflate; client_max_window_bits=12",
        ];
        assert_eq!(
            negotiate(&values, &open()),
            Some(params(false, false, 15, 12))
        );
    }

    #[test]
    fn response_for_params_no_offer_allows_is_refused() {
        let mut out = [0u8; 128];
        let refused =
            |values: &[&str], p: DeflateParams, out: &mut [u8]| p.write_response(values, out);
        assert_eq!(
            refused(&[], DeflateParams::default(), &mut out),
            Err(EncodeError::DeflateNotOffered)
        );
        // A client window below 15 needs the parameter in the offer.
        assert_eq!(
            refused(
                &["permessage-deflate"],
                params(false, false, 15, 10),
                &mut out
            ),
            Err(EncodeError::DeflateNotOffered)
        );
        // Above the offered limits, or leaving out a context takeover asked for.
        let values = ["permessage-deflate; server_max_window_bits=10"];
        assert_eq!(
            refused(&values, params(false, false, 11, 15), &mut out),
            Err(EncodeError::DeflateNotOffered)
        );
        let values = ["permessage-deflate; server_no_context_takeover"];
        assert_eq!(
            refused(&values, DeflateParams::default(), &mut out),
            Err(EncodeError::DeflateNotOffered)
        );
        assert_eq!(
            refused(
                &["permessage-deflate"],
                params(false, false, 7, 15),
                &mut out
            ),
            Err(EncodeError::DeflateNotOffered)
        );
        assert_eq!(
            refused(
                &["permessage-deflate"],
                DeflateParams::default(),
                &mut out[..10]
            ),
            Err(EncodeError::BufferTooSmall)
        );
    }

    #[test]
    fn offers_say_what_the_config_asks() {
        assert_eq!(
            offer(&open()).as_str(),
            "permessage-deflate; client_max_window_bits"
        );
        // A smaller send window is not announced: the client may always compress with less.
        assert_eq!(
            offer(&DeflateConfig::default()).as_str(),
            "permessage-deflate; client_max_window_bits"
        );
        let inflate_only = DeflateConfig {
            send_window_bits: None,
            ..open()
        };
        assert_eq!(
            offer(&inflate_only).as_str(),
            "permessage-deflate; client_max_window_bits"
        );
        let all = DeflateConfig {
            receive_window_bits: 9,
            send_window_bits: Some(10),
            receive_no_context_takeover: true,
            send_no_context_takeover: true,
            ..open()
        };
        assert_eq!(
            offer(&all).as_str(),
            "permessage-deflate; client_max_window_bits; server_max_window_bits=9; \
             client_no_context_takeover; server_no_context_takeover"
        );
        let mut small = [0u8; 20];
        assert_eq!(
            write_offer(&all, &mut small),
            Err(EncodeError::BufferTooSmall)
        );
    }

    #[test]
    fn client_accepts_what_it_offered() {
        assert_eq!(parse_agreement(&[], &open()), Ok(None));
        assert_eq!(parse_agreement(&["", " , "], &open()), Ok(None));
        assert_eq!(
            parse_agreement(&["permessage-deflate"], &open()),
            Ok(Some(DeflateParams::default()))
        );
        assert_eq!(
            parse_agreement(
                &[
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                   server_max_window_bits=\"9\"; client_max_window_bits=11"
                ],
                &open()
            ),
            Ok(Some(params(true, true, 9, 11)))
        );
    }

    #[test]
    fn client_refuses_other_or_several_extensions() {
        let err = |values: &[&str]| parse_agreement(values, &open()).unwrap_err();
        assert_eq!(err(&["x-webkit-deflate-frame"]), AgreementError::NotOffered);
        assert_eq!(
            err(&["permessage-deflate, permessage-deflate"]),
            AgreementError::SeveralExtensions
        );
        assert_eq!(
            err(&["permessage-deflate", "foo"]),
            AgreementError::SeveralExtensions
        );
        assert_eq!(err(&["\"permessage-deflate\""]), AgreementError::Malformed);
        assert_eq!(err(&["permessage-deflate;"]), AgreementError::Malformed);
        assert_eq!(
            err(&["permessage-deflate; server_max_window_bits=1 0"]),
            AgreementError::Malformed
        );
        assert_eq!(
            err(&["permessage-deflate; x=1"]),
            AgreementError::InvalidParameter
        );
        assert_eq!(
            err(&["permessage-deflate; server_no_context_takeover; server_no_context_takeover"]),
            AgreementError::InvalidParameter
        );
        assert_eq!(
            err(&["permessage-deflate; server_max_window_bits=016"]),
            AgreementError::InvalidParameter
        );
        assert_eq!(
            err(&["permessage-deflate; server_max_window_bits"]),
            AgreementError::InvalidParameter
        );
    }

    #[test]
    fn client_checks_the_windows_against_its_offer() {
        let config = DeflateConfig {
            receive_window_bits: 10,
            send_window_bits: Some(11),
            ..open()
        };
        let check = |value: &str| parse_agreement(&[value], &config);
        // Our limit on the server's window must be answered, at or below it.
        assert_eq!(
            check("permessage-deflate; server_max_window_bits=10"),
            Ok(Some(params(false, false, 10, 11)))
        );
        assert_eq!(
            check("permessage-deflate; server_max_window_bits=8; client_max_window_bits=9"),
            Ok(Some(params(false, false, 8, 9)))
        );
        assert_eq!(
            check("permessage-deflate; server_max_window_bits=11"),
            Err(AgreementError::ServerWindow)
        );
        assert_eq!(
            check("permessage-deflate"),
            Err(AgreementError::ServerWindow)
        );
        // The client window: valued; a value above our own window is accepted and we use ours (Autobahn's
        // server answers 15 to a client that offered less).
        assert_eq!(
            check("permessage-deflate; server_max_window_bits=10; client_max_window_bits=12"),
            Ok(Some(params(false, false, 10, 11)))
        );
        assert_eq!(
            check("permessage-deflate; server_max_window_bits=10; client_max_window_bits"),
            Err(AgreementError::ClientWindow)
        );
        // Without a limit from us any valid server window goes.
        assert_eq!(
            parse_agreement(&["permessage-deflate; server_max_window_bits=8"], &open()),
            Ok(Some(params(false, false, 8, 15)))
        );
    }

    #[test]
    fn client_context_takeover_rules() {
        let asks = DeflateConfig {
            receive_no_context_takeover: true,
            ..open()
        };
        assert_eq!(
            parse_agreement(&["permessage-deflate"], &asks),
            Err(AgreementError::ServerContextTakeover)
        );
        assert_eq!(
            parse_agreement(&["permessage-deflate; server_no_context_takeover"], &asks),
            Ok(Some(params(true, false, 15, 15)))
        );
        // We reset when we said we would, whether the server repeated it or not.
        let resets = DeflateConfig {
            send_no_context_takeover: true,
            ..open()
        };
        assert_eq!(
            parse_agreement(&["permessage-deflate"], &resets),
            Ok(Some(params(false, true, 15, 15)))
        );
    }

    /// Every combination of client and server configuration: the client's offer, the server's agreement,
    /// its answer and the client's reading of it agree.
    #[test]
    fn round_trips_agree() {
        let windows = [8u8, 9, 12, 15];
        let sends = [None, Some(8), Some(10), Some(15)];
        let mut all: heapless::Vec<DeflateConfig, 64> = heapless::Vec::new();
        for receive in windows {
            for send in sends {
                for (r, s) in [(false, false), (true, false), (false, true), (true, true)] {
                    let config = DeflateConfig {
                        receive_window_bits: receive,
                        send_window_bits: send,
                        receive_no_context_takeover: r,
                        send_no_context_takeover: s,
                        ..open()
                    };
                    all.push(config).unwrap();
                }
            }
        }
        let configs = || all.iter().copied();
        let mut checked = 0;
        for client in configs() {
            let offered = offer(&client);
            for server in configs() {
                let Some(agreed) = negotiate(&[&offered], &server) else {
                    // Only a small server receive window declines our offer, which always has
                    // client_max_window_bits.
                    panic!("{offered:?} declined by {server:?}");
                };
                let answered = response(&[&offered], &agreed);
                // The client compresses with its own window when that is smaller than the one agreed
                // (the offer does not tell the server).
                let send = client.send_window_bits.map_or(MAX_WINDOW_BITS, bounded);
                let expected = DeflateParams {
                    client_max_window_bits: agreed.client_max_window_bits.min(send),
                    ..agreed
                };
                assert_eq!(
                    parse_agreement(&[&answered], &client),
                    Ok(Some(expected)),
                    "{offered} -> {answered}"
                );
                // Each side gets the windows and resets its configuration asks for, or less.
                assert!(agreed.server_max_window_bits <= client.receive_window_bits);
                assert!(agreed.client_max_window_bits <= server.receive_window_bits);
                if let Some(send) = server.send_window_bits {
                    assert!(agreed.server_max_window_bits <= send);
                }
                assert!(agreed.client_no_context_takeover >= client.send_no_context_takeover);
                assert!(agreed.client_no_context_takeover >= server.receive_no_context_takeover);
                assert!(agreed.server_no_context_takeover >= client.receive_no_context_takeover);
                assert!(agreed.server_no_context_takeover >= server.send_no_context_takeover);
                checked += 1;
            }
        }
        assert_eq!(checked, 64 * 64);
    }
}
