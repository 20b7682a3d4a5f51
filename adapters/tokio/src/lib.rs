//! rill-tokio: the [rill](rill_ws) WebSocket core driven over tokio.
//!
//! ```no_run
//! # async fn server() -> std::io::Result<()> {
//! use rill_tokio::{Config, Listener, Message};
//! // Accepted sockets get TCP_NODELAY; the loop survives EMFILE and resets (see `Listener`, `Drain`).
//! let listener = Listener::bind("127.0.0.1:9001").await?;
//! while let Some(incoming) = listener.next().await? {
//!     tokio::spawn(async move {
//!         let mut ws = incoming.accept(Config::default()).await?;
//!         while let Message::Text(text) = ws.recv().await? {
//!             let reply = text.to_uppercase();
//!             ws.send_text(&reply).await?; // written and flushed when this returns
//!         }
//!         Ok::<_, rill_tokio::Error>(())
//!     });
//! }
//! # Ok(()) }
//! ```
//!
//! Every connection has a fixed read buffer and a fixed write buffer; there is no unbounded queue. A slow
//! peer slows the sender (`send` waits for the socket), replies to pings and closes go out from the reading
//! half even while the writing half is between the chunks of a long message.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod drain;
mod error;
#[cfg(feature = "hyper")]
pub mod h2;
mod handshake;
mod pool;
mod proxy;
mod reader;
pub mod reconnect;
mod shared;
#[cfg(feature = "futures")]
mod stream;
mod streams;
mod tcp;
pub mod tls;
#[cfg(feature = "hyper")]
pub mod upgrade;
mod websocket;
mod writer;

pub use config::{Batch, Config};
pub use drain::shutdown;
pub use error::{Error, Timeout};
pub use handshake::{
    accept, accept_with, accept_with_async, client_handshake, client_handshake_with_response,
    connect, connect_with, connect_with_response, HandshakeResponse, OwnedRequestInfo,
};
#[cfg(feature = "rustls")]
pub use handshake::{connect_tls, connect_tls_with_response};
pub use reader::Reader;
pub use rill_net::proxy::{proxy_error, ProxyError};
pub use rill_net::{AcceptStats, Admission, Drain, DrainReport, GOING_AWAY_REASON};
pub use rill_ws::handshake::owned::{ClientOptions, Decision, Origin, Proxy};
pub use rill_ws::handshake::server::Request;
pub use rill_ws::streams::{Envelope, EnvelopeKind};
pub use rill_ws::{CloseCode, Message, MessageKind, Piece};
#[cfg(feature = "futures")]
pub use stream::OwnedMessage;
pub use streams::{StreamEvent, StreamReceiver, StreamSender};
pub use tcp::{connect_tcp, Incoming, Listener};
pub use tls::MaybeTlsStream;
#[cfg(feature = "rustls")]
pub use tls::{accept_tls, accept_tls_with, TlsError};
#[cfg(feature = "axum")]
pub use upgrade::WebSocketUpgrade;
pub use websocket::WebSocket;
pub use writer::{Chunks, TextChunks, Writer};

/// The README's examples, compiled and run as doctests so the published page cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
