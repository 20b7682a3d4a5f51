//! [`Reader`] and [`Writer`]: a TCP connection used from two threads. The session is shared behind a
//! mutex never held across blocking I/O; the write side sits in a second mutex held while writing.
//! The reader never waits for that one: when it is taken, the reader leaves its owed replies (pongs,
//! the close reply) to the holder, who checks for them after unlocking.

use crate::pump::{Core, Input, Link, Output, Stream};
use crate::{Chunks, Error, WebSocket};
use rill::{CloseCode, Message, MessageKind, Piece};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, PoisonError, TryLockError};

/// The write side: the stream's writing clone and the write buffer.
type Out = Mutex<(TcpStream, Output)>;

/// Writes out whatever the session owes, unless another thread holds the write side (it checks again
/// after unlocking, so nothing owed is left behind).
fn try_pump(core: &Core, out: &Out) -> Result<(), Error> {
    while core.lock().wants_transmit() {
        let mut guard = match out.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Ok(()),
        };
        let (stream, output) = &mut *guard;
        output.pump(core, stream)?;
    }
    Ok(())
}

impl WebSocket<TcpStream> {
    /// Splits the connection into a reader and a writer for two threads (the stream is cloned).
    pub fn split(self) -> Result<(Reader, Writer), Error> {
        let writing = self.stream.try_clone().map_err(Error::Io)?;
        let core = Arc::new(self.core);
        let out = Arc::new(Mutex::new((writing, self.output)));
        let (stream, input) = (self.stream, self.input);
        let reader = Reader {
            core: core.clone(),
            stream,
            input,
            out: out.clone(),
        };
        Ok((reader, Writer { core, out }))
    }
}

/// The receiving half from [`WebSocket::split`]; it also sends the replies the peer is owed.
pub struct Reader {
    core: Arc<Core>,
    stream: TcpStream,
    input: Input,
    out: Arc<Out>,
}

/// Binds `$link`, a [`Link`] for `$input` whose replies go out only if the write side is free.
macro_rules! link {
    ($self:ident, $input:ident, $link:ident) => {
        let Reader {
            core,
            stream,
            input: $input,
            out,
        } = $self;
        let tx = &mut |_: &mut dyn Stream| try_pump(core, out);
        let $link = &mut Link {
            core,
            io: stream,
            tx,
        };
    };
}

impl Reader {
    /// The next whole message; see [`WebSocket::recv`].
    pub fn recv(&mut self) -> Result<Message<'_>, Error> {
        link!(self, input, link);
        input.recv(link)
    }

    /// The next piece of a message; see [`WebSocket::recv_piece`].
    pub fn recv_piece(&mut self) -> Result<Option<Piece<'_>>, Error> {
        link!(self, input, link);
        input.recv_piece(link)
    }

    /// The peer's close frame, once it arrived: its code and reason.
    pub fn close_frame(&self) -> (Option<CloseCode>, String) {
        let session = self.core.lock();
        let (code, reason) = session.close_frame();
        (code, reason.to_owned())
    }
}

/// The sending half from [`WebSocket::split`].
pub struct Writer {
    core: Arc<Core>,
    out: Arc<Out>,
}

impl Writer {
    /// Runs `f` holding the write side, then sends what the reader left owed meanwhile.
    fn with(
        &mut self,
        f: impl FnOnce(&Core, &mut Output, &mut TcpStream) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut guard = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let (stream, output) = &mut *guard;
        let result = f(&self.core, output, stream);
        drop(guard);
        try_pump(&self.core, &self.out)?;
        result
    }

    /// Sends a whole message; see [`WebSocket::send`].
    pub fn send(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error> {
        self.with(|core, output, io| output.send(core, io, kind, payload, true))
    }

    /// Places a whole message without writing it out; see [`WebSocket::feed`].
    pub fn feed(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error> {
        self.with(|core, output, io| output.send(core, io, kind, payload, false))
    }

    /// Writes out and flushes everything fed so far.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.with(|core, output, io| output.flush(core, io))
    }

    /// Begins a message sent in chunks. The write side is free between chunks, so the reader's
    /// replies go out meanwhile.
    pub fn begin(&mut self, kind: MessageKind) -> Result<Chunks<'_>, Error> {
        let begun = self.core.lock().begin(kind);
        begun.map_err(|error| self.core.refused(error))?;
        Ok(Chunks::new(move |chunk, fin| {
            self.with(|core, output, io| output.chunk(core, io, chunk, fin, true))
        }))
    }

    /// Starts the close handshake with `code` and `reason`; the [`Reader`] then receives the peer's
    /// close frame and, once the peer ends the connection, [`Error::Closed`].
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let now = self.core.now();
        let closed = self.core.lock().close(code, reason, now);
        closed.map_err(|error| self.core.refused(error))?;
        self.with(|core, output, io| output.pump(core, io))
    }
}
