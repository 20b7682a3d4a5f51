//! rill: a strict, streaming, `no_std` and no-alloc WebSocket (RFC 6455) core.
//!
//! The crate is sans-IO: it never touches a socket or a clock. Adapters (`rill-tokio`, `rill-embassy`) feed it
//! bytes and write what it produces.
//!
//! - [`handshake`]: the opening HTTP/1.1 upgrade, server side (parse, validate, accept or reject) and client
//!   side (encode the request, verify the response).
//! - [`frame`]: frame headers and masking.
//! - [`connection`]: the state machine after the handshake: [`connection::Receiver`] streams message pieces
//!   out of any split of the input, [`connection::Sender`] frames whole and chunked messages.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod buffered;
pub mod close;
pub mod connection;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod streams;
pub mod utf8;

pub use close::CloseCode;
pub use connection::{
    Connection, Data, Event, Limits, MessageKind, Received, Receiver, Role, Sender,
};
pub use error::{Error, ProtocolError, SendError, Timeout};
