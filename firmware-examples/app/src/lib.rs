//! Logic shared by every rill firmware example, independent of any board or HAL.
//!
//! The boards only bring up a network stack and run [`net::listen`] in a few tasks; everything a user sees (the
//! page, the routes, the token stream) and the connection handling live here, so the boards behave identically. The
//! WebSocket serving loop (on `rill-embassy`) will hook into [`http::serve`] at the [`Route::Echo`] and
//! [`Route::Tokens`] arms.
#![no_std]

#[cfg(all(feature = "defmt", feature = "log"))]
compile_error!("enable at most one logger: `defmt` (boards) or `log` (host)");

// Only the accept loop logs; the pure logic reports through return values.
#[cfg(feature = "net")]
#[macro_use]
mod logging;

pub mod http;
#[cfg(feature = "net")]
pub mod net;
mod route;
mod tokens;

pub use route::Route;
pub use tokens::{Token, Tokens, TOKEN_MAX};

/// The page served on `GET /`: it opens `ws://<host>/tokens` and `ws://<host>/echo` and shows what arrives.
///
/// Kept in flash as a plain byte slice, so serving it costs no RAM beyond the socket's transmit buffer.
pub static INDEX_HTML: &[u8] = include_bytes!("index.html");

/// The TCP port every example listens on.
pub const HTTP_PORT: u16 = 80;
