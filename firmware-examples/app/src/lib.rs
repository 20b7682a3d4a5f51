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
