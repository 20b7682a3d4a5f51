//! Header values as the handshake sees them: repeated headers, comma-separated token lists, lookups.

use super::head::Headers;

/// Up to four occurrences of one header (e.g. `Sec-WebSocket-Protocol` sent twice).
pub(crate) type Values<'b> = heapless::Vec<&'b str, 4>;

/// The comma-separated tokens of a header across all its occurrences, trimmed, empty items skipped.
#[derive(Clone, Debug)]
pub struct Tokens<'b> {
    values: Values<'b>,
    index: usize,
    rest: &'b str,
}

impl<'b> Tokens<'b> {
    pub(crate) fn new(values: &Values<'b>) -> Self {
        Tokens {
            values: values.clone(),
            index: 0,
            rest: "",
        }
    }
}

impl<'b> Iterator for Tokens<'b> {
    type Item = &'b str;

    fn next(&mut self) -> Option<&'b str> {
        loop {
            if self.rest.is_empty() {
                self.rest = self.values.get(self.index)?;
                self.index += 1;
            }
            let (item, rest) = self.rest.split_once(',').unwrap_or((self.rest, ""));
            self.rest = rest;
            // HTTP whitespace is SP and HTAB, and a parsed header value holds no other ASCII space, so the ASCII
            // trim is exact (and, unlike a char-pattern or Unicode trim, costs no lookup tables in flash).
            let item = item.trim_ascii();
            if !item.is_empty() {
                return Some(item);
            }
        }
    }
}

/// True when any occurrence lists `token` (ASCII case-insensitive).
pub(crate) fn has_token(values: &Values<'_>, token: &str) -> bool {
    Tokens::new(values).any(|item| item.eq_ignore_ascii_case(token))
}

/// Records `value` as one more occurrence; `false` if the header repeats more than [`Values`] holds.
pub(crate) fn push_value<'b>(values: &mut Values<'b>, value: &'b [u8]) -> Result<(), ()> {
    let value = core::str::from_utf8(value).map_err(|_| ())?;
    values.push(value).map_err(|_| ())
}

/// The first value of header `name` among `headers`.
pub(crate) fn find_header<'b>(headers: &Headers<'b>, name: &str) -> Option<&'b str> {
    let (_, value) = { *headers }.find(|(header, _)| header.eq_ignore_ascii_case(name))?;
    core::str::from_utf8(value).ok()
}
