//! Logic shared by every rill firmware example, independent of any board or HAL.
//!
//! The boards only bring up a network stack and run [`net::listen`] in a few tasks; everything a user sees (the
//! page, the routes, the echo and the token streams) and the connection handling live here, so the boards behave
//! identically. Every connection starts with `rill_embassy::accept`: [`http::decide`] routes the request (the page
//! from flash, a WebSocket upgrade, or an HTTP error), then [`ws::serve`] runs the WebSocket endpoint.
#![no_std]

#[cfg(all(feature = "defmt", feature = "log"))]
compile_error!("enable at most one logger: `defmt` (boards) or `log` (host)");

// Only the accept loop and the demo client log; the pure logic reports through return values.
#[cfg(feature = "net")]
#[macro_use]
mod logging;

#[cfg(feature = "net")]
pub mod client;
pub mod http;
#[cfg(feature = "net")]
pub mod net;
/// README's board listener ("On a microcontroller"), compiled here so that it cannot rot; the test
/// `readme_shows_this_listener` checks that README.md shows exactly this file.
#[cfg(feature = "net")]
pub mod readme;
mod route;
#[cfg(feature = "tls")]
pub mod tls;
mod tokens;
#[cfg(feature = "net")]
pub mod ws;

pub use route::Route;
pub use tokens::{
    token_envelope, Token, Tokens, ENVELOPE_MAX, STREAMS, TOKENS_PER_STREAM, TOKEN_MAX,
};

/// The page served on `GET /`: it opens `ws://<host>/tokens` and `ws://<host>/echo` and shows what arrives.
///
/// Kept in flash as a plain byte slice. `rill_embassy::accept` encodes a `Decision::Respond` answer (head and
/// body) in the connection's write buffer, so the page must fit it: see [`net::WRITE_BUF`] and the check there.
pub static INDEX_HTML: &[u8] = include_bytes!("index.html");

/// The TCP port every example listens on.
pub const HTTP_PORT: u16 = 80;

#[cfg(all(test, feature = "net"))]
mod tests {
    extern crate std;
    use std::borrow::ToOwned;
    use std::string::String;

    #[test]
    fn readme_shows_this_listener() {
        let readme = include_str!("../../../README.md");
        assert!(
            readme.contains(include_str!("readme.rs")),
            "README.md's board listener differs from firmware-examples/app/src/readme.rs"
        );
    }

    /// The closure from `|request: &Request<'_>|` to `end` in `source`, without whitespace or a trailing
    /// comma.
    fn routes(source: &str, end: &str) -> String {
        let start = source
            .find("|request: &Request<'_>|")
            .expect("a route closure");
        let len = source[start..].find(end).expect("the closure's end");
        let squeezed: String = source[start..start + len]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        squeezed.trim_end_matches(',').to_owned()
    }

    /// The size probe measures README's listener: its routes are the listener's, character for character
    /// (whitespace aside).
    #[test]
    fn the_size_probe_measures_these_routes() {
        let listener = routes(include_str!("readme.rs"), ";\n    loop");
        let probe = routes(include_str!("../../size-probe/src/lib.rs"), "\n    )\n");
        assert!(
            listener.starts_with("|request:&Request<'_>|matchrequest.path(){"),
            "{listener}"
        );
        assert_eq!(
            probe, listener,
            "firmware-examples/size-probe/src/lib.rs's routes differ from README's board listener"
        );
    }
}
