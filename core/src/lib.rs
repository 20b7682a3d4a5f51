//! rill: a strict, streaming, `no_std` and no-alloc WebSocket (RFC 6455) core.
//!
//! The crate is sans-IO: it never touches a socket or a clock. Adapters (`rill-tokio`, `rill-embassy`,
//! `rill-blocking`) feed it bytes and instants and write what it produces.
//!
//! - [`handshake`]: the opening HTTP/1.1 upgrade, server side (parse, validate, accept or reject) and client
//!   side (encode the request, verify the response).
//! - [`proxy`]: tunnels through an HTTP `CONNECT` or SOCKS5 proxy.
//! - [`frame`]: frame headers and masking.
//! - [`session`]: the whole life of a connection after the handshake ([`Session`]): receiving, sending,
//!   replies, the close handshake, timers and the flush policy. Adapters only pump it.
//! - `codec` (public with feature `codec`, for tests and fuzzing): the layers the session is built from:
//!   `codec::Receiver` streams message pieces out of any split of the input, `codec::Sender` frames whole
//!   and chunked messages. Applications drive a [`Session`] instead.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod close;
// The frame codec under the session: its types are what tests and fuzz targets drive directly, so they are
// public only with feature `codec`; without it the items only those use are unused.
#[cfg(feature = "codec")]
pub mod codec;
#[cfg(not(feature = "codec"))]
#[allow(dead_code, unused_imports)]
mod codec;
pub mod deflate;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod proxy;
pub mod session;
pub mod streams;
pub mod utf8;

pub use close::CloseCode;
pub use codec::{Limits, Message, MessageKind, Piece, Role};
#[cfg(feature = "codec")]
pub use codec::{Receiver, Sender};
pub use error::{Error, ProtocolError, SendError, Timeout};
pub use session::{Batch, End, Event, Instant, PieceAt, Session, SessionConfig, Transmit};
