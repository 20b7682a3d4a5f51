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
//! let upgraded = rill_embassy::accept(&mut socket, &mut read_buf, &mut write_buf, &config, |_| Decision::accept()).await?;
//! let (rx, tx) = socket.split();
//! let shared = Shared::<NoopRawMutex, _>::new(tx, &mut write_buf, Role::Server, [0; 32], config);
//! let mut reader = Reader::new(rx, &mut read_buf, upgraded, &mut [], &shared);
//! let mut writer = Writer::new(&shared);
//! while let Ok(Some(piece)) = reader.recv_piece().await {
//!     writer.feed_piece(&piece).await?;   // echo a message of any size, piece by piece
//!     if !reader.has_buffered_input() { writer.flush().await?; }
//! }
//! // embedded-io has no half-close: after the reader returns (the close handshake, an error), close the
//! // socket; its FIN ends the connection.
//! ```
//!
//! The halves share a [`Shared`] (the session and the write side) that the caller owns; pick the mutex kind
//! with `M` (`NoopRawMutex` when both halves run on one executor).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod handshake;
mod no_ack_wait;
mod reader;
mod shared;
mod writer;

pub use config::{Batch, Config};
pub use handshake::{accept, connect, Decision, Upgraded};
pub use no_ack_wait::NoAckWait;
pub use reader::Reader;
pub use rill_ws::handshake::client::ClientRequest;
pub use rill_ws::handshake::server::Request;
pub use rill_ws::{CloseCode, Error, Message, MessageKind, Piece, Role, Timeout};
pub use shared::Shared;
pub use writer::{Chunks, Writer};
