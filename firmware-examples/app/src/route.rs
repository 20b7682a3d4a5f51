/// What a request asks for, decided from its path alone (the query string is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Route {
    /// `/` or `/index.html`: the HTML page.
    Index,
    /// `/echo`: WebSocket echo endpoint.
    Echo,
    /// `/tokens`: WebSocket stream of simulated tokens.
    Tokens,
    /// Anything else.
    NotFound,
}

impl Route {
    /// Maps a request target such as `/tokens?x=1` to its route.
    pub fn from_path(target: &[u8]) -> Route {
        // The query part never selects a route; cutting it here keeps the match below exact.
        let path = match target.iter().position(|&b| b == b'?') {
            Some(q) => &target[..q],
            None => target,
        };
        match path {
            b"/" | b"/index.html" => Route::Index,
            b"/echo" => Route::Echo,
            b"/tokens" => Route::Tokens,
            _ => Route::NotFound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn maps_known_paths() {
        assert_eq!(Route::from_path(b"/"), Route::Index);
        assert_eq!(Route::from_path(b"/index.html"), Route::Index);
        assert_eq!(Route::from_path(b"/echo"), Route::Echo);
        assert_eq!(Route::from_path(b"/tokens"), Route::Tokens);
    }

    #[test]
    fn ignores_query_but_not_suffixes() {
        assert_eq!(Route::from_path(b"/tokens?rate=5"), Route::Tokens);
        assert_eq!(Route::from_path(b"/?"), Route::Index);
        assert_eq!(Route::from_path(b"/echo/"), Route::NotFound);
        assert_eq!(Route::from_path(b"/Echo"), Route::NotFound);
        assert_eq!(Route::from_path(b""), Route::NotFound);
        assert_eq!(Route::from_path(b"*"), Route::NotFound);
    }
}
