//! rill-embassy: the [rill](rill_ws) WebSocket core over `embedded-io-async` streams, for embassy-net and any other
//! stack. No allocation: every buffer is borrowed from the caller; time is `embassy-time`.
//!
//! After the handshake ([`accept`] or [`connect`]) a connection is one [`rill_ws::Session`], which owns all
//! of its protocol state (replies, the close handshake and lingering, idle, keepalive, write-stall and close
//! deadlines). This crate only pumps it: the [`Reader`] reads when the session needs input, and whoever
//! holds the write side writes what the session asks for.
//!
//! ```ignore
//! // After `socket.accept(80).await`, with buffers the firmware owns:
//! let (rx, tx) = socket.split();
//! let mut shared = None; // the state both halves share, in this task's memory
//! let (mut reader, mut writer) =
//!     rill_embassy::accept(rx, tx, &mut read_buf, &mut write_buf, &mut shared, &config, |_| Decision::accept()).await?;
//! while let Ok(Some(piece)) = reader.recv_piece().await {
//!     writer.feed_piece(&piece).await?;   // echo a message of any size, piece by piece
//!     if !reader.has_buffered_input() { writer.flush().await?; }
//! }
//! // embedded-io has no half-close: after the reader returns (the close handshake, an error), close the
//! // socket; its FIN ends the connection.
//! ```
//!
//! The halves share a [`Shared`] (the session and the write side) that the caller owns. [`accept`] and
//! [`connect`] keep it in the [`Slot`] the caller lends, for halves on one executor; the pieces they are made of
//! ([`handshake::accept`], [`Shared::new`], [`Reader::new`], [`Writer::new`]) serve other cases: a mutex
//! kind `M` for halves on different executors, a stream that is not split, the subprotocol a client got.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
pub mod handshake;
mod open;
mod reader;
mod shared;
mod writer;

pub use config::{Batch, Config, Flush};
pub use handshake::{Decision, Upgraded};
pub use open::{accept, connect, Halves, Slot};
pub use reader::Reader;
pub use rill_ws::handshake::client::ClientRequest;
pub use rill_ws::handshake::server::Request;
pub use rill_ws::{CloseCode, Error, Limits, Message, MessageKind, Piece, Role, Timeout};
pub use shared::Shared;
pub use writer::{Chunks, Writer};
