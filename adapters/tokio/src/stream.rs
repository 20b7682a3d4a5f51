//! `futures` adapters for code written against tokio-tungstenite: the reader as a `Stream` of owned
//! messages, the writer as a `Sink`. They allocate one buffer per message; the native API does not.

use crate::{CloseCode, Error, Message, Reader, Writer};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};

/// A message that owns its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedMessage {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A close frame (received), or a close to send.
    Close(Option<CloseCode>, String),
}

impl From<Message<'_>> for OwnedMessage {
    fn from(message: Message<'_>) -> Self {
        match message {
            Message::Text(text) => OwnedMessage::Text(text.to_owned()),
            Message::Binary(bytes) => OwnedMessage::Binary(bytes.to_vec()),
            Message::Close(code, reason) => OwnedMessage::Close(code, reason.to_owned()),
        }
    }
}

impl<S: AsyncRead + AsyncWrite> Reader<S> {
    /// The messages as a `Stream`; it ends after the close frame or the first error.
    pub fn into_stream(self) -> impl Stream<Item = Result<OwnedMessage, Error>> {
        futures_util::stream::unfold(Some(self), |reader| async move {
            let mut reader = reader?;
            match reader.recv().await.map(OwnedMessage::from) {
                Ok(message @ OwnedMessage::Close(..)) => Some((Ok(message), None)),
                Ok(message) => Some((Ok(message), Some(reader))),
                Err(Error::Closed) => None,
                Err(error) => Some((Err(error), None)),
            }
        })
    }
}

impl<S: AsyncWrite> Writer<S> {
    /// A `Sink` of messages; each is written and flushed as by [`Writer::send`].
    pub fn into_sink(self) -> impl Sink<OwnedMessage, Error = Error> {
        futures_util::sink::unfold(self, |mut writer, message: OwnedMessage| async move {
            match message {
                OwnedMessage::Text(text) => writer.send_text(&text).await?,
                OwnedMessage::Binary(bytes) => writer.send_binary(&bytes).await?,
                OwnedMessage::Close(code, reason) => {
                    writer
                        .send_close(code.unwrap_or(CloseCode::NORMAL), &reason)
                        .await?
                }
            }
            Ok(writer)
        })
    }
}
