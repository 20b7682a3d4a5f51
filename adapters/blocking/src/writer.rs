//! [`Writer`]: the sending side, shared by [`crate::WebSocket`] and the split halves. Its stream and
//! write buffer sit in a mutex held while writing; the session's mutex is never held across I/O.

use crate::pump::{Core, Input, Output};
use crate::{Error, Timeouts};
use rill_ws::{CloseCode, MessageKind};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

/// The write side: the stream and the write buffer.
pub(crate) type Out<S> = Mutex<(S, Output)>;

/// The sending half of a connection, from [`crate::WebSocket::split`]; a [`crate::WebSocket`] sends
/// through one too.
pub struct Writer<S = TcpStream> {
    pub(crate) core: Arc<Core>,
    pub(crate) out: Arc<Out<S>>,
    /// The receiving side, while one thread owns the whole connection ([`crate::WebSocket`]): a write
    /// that waits until a deadline reads what the peer sent meanwhile ([`Input::hear`]). `None` once
    /// split: the reader's thread hears the peer.
    pub(crate) input: Option<Input>,
}

impl<S: Read + Write + Timeouts> Writer<S> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, (S, Output)> {
        self.out.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes out what the session owes, unless another thread holds the write side: the reader
    /// never waits for it, and the holder calls this again after unlocking, so nothing owed is left.
    pub(crate) fn try_pump(&self) -> Result<(), Error> {
        while self.core.lock().wants_transmit() {
            let mut guard = match self.out.try_lock() {
                Ok(guard) => guard,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return Ok(()),
            };
            let (stream, output) = &mut *guard;
            output.pump(&self.core, stream, None)?;
        }
        Ok(())
    }

    /// Runs `f` holding the write side (and the receiving side, when this thread owns the whole
    /// connection), then sends what the reader left owed meanwhile.
    fn with<F>(&mut self, f: F) -> Result<(), Error>
    where
        F: FnOnce(&Core, &mut Output, &mut S, Option<&mut Input>) -> Result<(), Error>,
    {
        let mut guard = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let (stream, output) = &mut *guard;
        let result = f(&self.core, output, stream, self.input.as_mut());
        drop(guard);
        self.try_pump()?;
        result
    }

    /// Sends a whole message and writes it out (under a batch policy, once the batch is due).
    pub fn send(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error> {
        self.with(|core, output, io, input| output.send(core, io, input, kind, payload, true))
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send(MessageKind::Text, text.as_bytes())
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.send(MessageKind::Binary, bytes)
    }

    /// Places a whole message in the write buffer; it is written once the buffer fills or at the next
    /// [`Writer::flush`].
    pub fn feed(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error> {
        self.with(|core, output, io, input| output.send(core, io, input, kind, payload, false))
    }

    /// Writes out and flushes everything fed so far.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.with(|core, output, io, input| output.flush(core, io, input))
    }

    /// Begins a message sent in chunks, for a payload produced as it goes. The write side is free
    /// between chunks, so replies to the peer go out meanwhile.
    pub fn begin(&mut self, kind: MessageKind) -> Result<Chunks<'_>, Error> {
        let begun = self.core.lock().begin(kind);
        begun.map_err(|error| self.core.refused(error))?;
        let send = move |chunk: &[u8], fin| {
            self.with(|core, output, io, input| output.chunk(core, io, input, chunk, fin, true))
        };
        Ok(Chunks {
            send: Box::new(send),
        })
    }

    /// Starts the close handshake with `code` and `reason` (at most 123 bytes) and writes the close
    /// frame; the reader then receives the peer's close frame and, once the peer ends the connection,
    /// [`Error::Closed`]. ([`crate::WebSocket::close`] also waits for both.)
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let closed =
            self.with(|core, output, io, input| output.close(core, io, input, code, reason));
        closed.map_err(|error| match error {
            Error::Send(error) => self.core.refused(error),
            other => other,
        })
    }
}

/// A message being sent in chunks, from [`Writer::begin`]; each chunk leaves as a frame. Dropped
/// without [`Chunks::finish`], it leaves the message open and later sends are refused.
pub struct Chunks<'a> {
    send: Box<SendChunk<'a>>,
}

/// Places a chunk (the last one when the flag is set) and writes it out.
type SendChunk<'a> = dyn FnMut(&[u8], bool) -> Result<(), Error> + 'a;

impl Chunks<'_> {
    /// Sends the next chunk of the message and writes it out.
    pub fn send(&mut self, chunk: &[u8]) -> Result<(), Error> {
        (self.send)(chunk, false)
    }

    /// Sends the last chunk (may be empty), ending the message.
    pub fn finish(mut self, last: &[u8]) -> Result<(), Error> {
        (self.send)(last, true)
    }
}
