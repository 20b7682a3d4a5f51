//! rill-embassy: the [rill] WebSocket core over `embedded-io-async` streams, for embassy-net and any other
//! stack. No allocation: every buffer is borrowed from the caller; timeouts use `embassy-time`.
//!
//! ```ignore
//! // After `socket.accept(80).await`, with buffers the firmware owns:
//! let upgraded = rill_embassy::accept(&mut socket, &mut read_buf, &config, |_| Decision::accept()).await?;
//! let (rx, tx) = socket.split();
//! let shared = Shared::<NoopRawMutex, _>::new(tx, &mut write_buf, Role::Server, 0, config);
//! let mut reader = Reader::new(rx, &mut read_buf, upgraded, &mut [], &shared);
//! let mut writer = Writer::new(&shared);
//! while let Ok(Piece::Data(piece)) = reader.recv_piece().await {
//!     writer.feed_piece(&piece).await?;   // echo a message of any size, piece by piece
//!     if !reader.has_buffered_input() { writer.flush().await?; }
//! }
//! ```
//!
//! The halves share a [`Shared`] (a write lock, the outbox of pong and close replies, the ping clock) that
//! the caller owns; pick the mutex kind with `M` (`NoopRawMutex` when both halves run on one executor).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod error;
mod handshake;
mod no_ack_wait;
mod reader;
mod writer;

pub use config::Config;
pub use error::{Error, Timeout};
pub use handshake::{accept, connect, Decision, Upgraded};
pub use no_ack_wait::NoAckWait;
pub use reader::{Message, Piece, Reader};
pub use rill::handshake::client::ClientRequest;
pub use rill::handshake::server::Request;
pub use rill::{CloseCode, Data, MessageKind, Role};
pub use writer::{Chunks, Shared, Writer};
