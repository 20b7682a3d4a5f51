//! The pump shared by [`crate::WebSocket`] and the split halves: it reads, writes and keeps time for a
//! [`Session`] and holds no protocol state of its own.

use crate::{Error, Timeouts};
use rill::session::{Event, Instant, Session, Transmit};
use rill::{End, Message, MessageKind, Piece, ProtocolError, SendError, Timeout};
use std::io::{self, ErrorKind, Read, Write};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The session and the clock its instants are measured on.
pub(crate) struct Core {
    session: Mutex<Session>,
    origin: std::time::Instant,
}

impl Core {
    pub(crate) fn new(session: Session, origin: std::time::Instant) -> Self {
        Core {
            session: Mutex::new(session),
            origin,
        }
    }

    pub(crate) fn now(&self) -> Instant {
        Instant(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// The session; never held across blocking I/O. A panic elsewhere cannot leave it half-updated in a
    /// way that matters more than the panic itself, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a receive needs besides its buffers: the session, the stream to read, and how to transmit what
/// the session owes (the reply to a ping or close frame).
pub(crate) struct Link<'a, S> {
    pub core: &'a Core,
    pub io: &'a mut S,
    pub tx: &'a mut dyn FnMut(&mut S) -> Result<(), Error>,
}

/// The socket timeout that wakes us at `deadline` (at least 1 ms: a zero timeout is refused).
fn wait(deadline: Option<Instant>, now: Instant) -> Option<Duration> {
    deadline.map(|at| at.since(now).max(Duration::from_millis(1)))
}

/// A timed-out or interrupted call: hand the time to the session and try again.
fn retry(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

/// A refused send reports why the connection ended, when it has.
pub(crate) fn refused(session: &Session, error: SendError) -> Error {
    match session.end() {
        Some(end) if error == SendError::Closed => end.into(),
        _ => error.into(),
    }
}

/// The receiving side: the read buffer the session decodes in place, and `recv`'s reassembly buffer.
pub(crate) struct Input {
    buf: Vec<u8>,
    message: Vec<u8>,
    max_message: usize,
    /// An event decoded while `ping` waited for its pong; its bytes stay in `buf` until it is taken.
    stashed: Option<Event>,
}

impl Input {
    pub(crate) fn new(buf: Vec<u8>, max_message: usize) -> Self {
        Input {
            buf,
            message: Vec::new(),
            max_message,
            stashed: None,
        }
    }

    /// The next event other than `NeedInput`, reading as needed; `None` once `until` has passed.
    fn next<S: Read + Timeouts>(
        &mut self,
        link: &mut Link<'_, S>,
        until: Option<Instant>,
    ) -> Result<Option<Event>, Error> {
        if let Some(event) = self.stashed.take() {
            return Ok(Some(event));
        }
        loop {
            let now = link.core.now();
            let mut session = link.core.lock();
            let event = session.poll_event(&mut self.buf, now);
            let (owed, deadline) = (session.wants_transmit(), session.poll_timeout());
            drop(session);
            if owed {
                (link.tx)(link.io)?;
            }
            if event != Event::NeedInput {
                return Ok(Some(event));
            }
            if until.is_some_and(|until| until <= now) {
                return Ok(None);
            }
            let deadline = deadline.into_iter().chain(until).min();
            if deadline.is_some_and(|at| at <= now) {
                link.core.lock().handle_timeout(now);
                continue;
            }
            link.io
                .set_read_timeout(wait(deadline, now))
                .map_err(Error::Io)?;
            let read = link.io.read(&mut self.buf);
            let (now, mut session) = (link.core.now(), link.core.lock());
            match read {
                Ok(0) => session.handle_eof(),
                Ok(n) => session.handle_input(n, now),
                Err(error) if retry(&error) => session.handle_timeout(now),
                Err(error) => {
                    session.abort();
                    return Err(Error::Io(error));
                }
            }
        }
    }

    /// The next whole message, reassembled up to `max_message`; see [`crate::WebSocket::recv`].
    pub(crate) fn recv<S: Read + Timeouts>(
        &mut self,
        link: &mut Link<'_, S>,
    ) -> Result<Message<'_>, Error> {
        self.message.clear();
        loop {
            let at = match self.next(link, None)? {
                Some(Event::Piece(at)) => at,
                Some(Event::Close) => {
                    let session = link.core.lock();
                    let (code, reason) = session.close_frame();
                    self.message.extend_from_slice(reason.as_bytes());
                    drop(session);
                    let reason = std::str::from_utf8(&self.message).unwrap_or_default();
                    return Ok(Message::Close(code, reason));
                }
                Some(Event::End(end)) => return Err(end.into()),
                _ => continue,
            };
            if self.message.len().saturating_add(at.end - at.start) > self.max_message {
                let limit = self.max_message as u64;
                link.core
                    .lock()
                    .fail(ProtocolError::MessageTooLarge { limit }, link.core.now());
                continue;
            }
            // A message that arrived in one piece is lent from the read buffer without a copy.
            if at.last && self.message.is_empty() {
                return Ok(Message::new(at.kind, &self.buf[at.start..at.end]));
            }
            self.message.extend_from_slice(&self.buf[at.start..at.end]);
            if at.last {
                return Ok(Message::new(at.kind, &self.message));
            }
        }
    }

    /// The next piece of a message; `None` when the peer's close frame arrived.
    pub(crate) fn recv_piece<S: Read + Timeouts>(
        &mut self,
        link: &mut Link<'_, S>,
    ) -> Result<Option<Piece<'_>>, Error> {
        loop {
            match self.next(link, None)? {
                Some(Event::Piece(at)) => return Ok(Some(at.of(&self.buf))),
                Some(Event::Close) => return Ok(None),
                Some(Event::End(end)) => return Err(end.into()),
                _ => continue,
            }
        }
    }

    /// Sends a ping and reads until its pong; an event that arrives first is kept for the next receive.
    pub(crate) fn ping<S: Read + Timeouts>(
        &mut self,
        link: &mut Link<'_, S>,
        timeout: Duration,
    ) -> Result<Option<Duration>, Error> {
        let now = link.core.now();
        let id = link
            .core
            .lock()
            .ping(now)
            .ok_or(Error::Send(SendError::Closed))?;
        (link.tx)(link.io)?;
        loop {
            match self.next(link, Some(now.after(timeout)))? {
                None => return Err(Error::Timeout(Timeout::Ping)),
                Some(Event::Pong(got)) if got == id => return Ok(link.core.lock().rtt(id)),
                Some(Event::Pong(_) | Event::NeedInput) => continue,
                Some(Event::End(end)) => return Err(end.into()),
                Some(event) => {
                    self.stashed = Some(event);
                    return Ok(None);
                }
            }
        }
    }

    /// Reads and discards until the connection is over: `Ok` when the close handshake finished.
    pub(crate) fn finish<S: Read + Timeouts>(
        &mut self,
        link: &mut Link<'_, S>,
    ) -> Result<(), Error> {
        loop {
            match self.next(link, None)? {
                Some(Event::End(End::Closed)) => return Ok(()),
                Some(Event::End(end)) => return Err(end.into()),
                _ => continue,
            }
        }
    }
}

/// The transmitting side: the write buffer the session places whole frames in.
pub(crate) struct Output {
    buf: Vec<u8>,
}

impl Output {
    pub(crate) fn new(len: usize) -> Self {
        Output {
            buf: vec![0; len.max(rill::session::MIN_WRITE_BUFFER)],
        }
    }

    /// Does what the session asks until it is idle; the session is locked only between blocking calls.
    pub(crate) fn pump<S: Write + Timeouts>(
        &mut self,
        core: &Core,
        io: &mut S,
    ) -> Result<(), Error> {
        loop {
            let now = core.now();
            let mut session = core.lock();
            let (step, deadline) = (
                session.poll_transmit(&mut self.buf, now),
                session.poll_timeout(),
            );
            drop(session);
            let result = match step {
                Transmit::Write { start, end } => io
                    .set_write_timeout(wait(deadline, now))
                    .and_then(|()| io.write(&self.buf[start..end])),
                Transmit::Flush => io.flush().map(|()| 1),
                Transmit::Shutdown => {
                    // The peer may already have reset the connection: nothing is left to tell it.
                    let _ = io.shutdown_write();
                    Ok(1)
                }
                Transmit::Idle => return Ok(()),
            };
            let (now, mut session) = (core.now(), core.lock());
            match result {
                Ok(0) => {
                    session.abort();
                    return Err(Error::Io(ErrorKind::WriteZero.into()));
                }
                Ok(n) if matches!(step, Transmit::Write { .. }) => session.wrote(n, now),
                Ok(_) => {}
                Err(error) if retry(&error) => session.handle_timeout(now),
                Err(error) => {
                    session.abort();
                    return Err(Error::Io(error));
                }
            }
        }
    }

    /// Places `payload` as the next frames of the message begun, writing out whenever room is needed.
    pub(crate) fn chunk<S: Write + Timeouts>(
        &mut self,
        core: &Core,
        io: &mut S,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        let mut done = 0;
        // An empty non-final chunk would be an empty frame on the wire for nothing.
        while fin || done < payload.len() {
            let mut session = core.lock();
            done = match session.send_chunk(&mut self.buf, &[payload], done, fin, core.now()) {
                Ok(placed) => placed,
                Err(error) => return Err(refused(&session, error)),
            };
            if done == payload.len() && !(fin && session.in_message()) {
                break;
            }
            drop(session);
            self.pump(core, io)?;
        }
        Ok(())
    }

    /// Places a whole message, writing out only when the buffer needs room.
    pub(crate) fn feed<S: Write + Timeouts>(
        &mut self,
        core: &Core,
        io: &mut S,
        kind: MessageKind,
        payload: &[u8],
    ) -> Result<(), Error> {
        let begun = core.lock().begin(kind);
        begun.map_err(|error| refused(&core.lock(), error))?;
        self.chunk(core, io, payload, true)
    }

    /// Ends a send: writes out now, or when the batch policy says so (`all`: now, whatever the policy).
    pub(crate) fn flush<S: Write + Timeouts>(
        &mut self,
        core: &Core,
        io: &mut S,
        all: bool,
    ) -> Result<(), Error> {
        match all {
            true => core.lock().flush(),
            false => core.lock().flush_by_policy(),
        }
        self.pump(core, io)
    }
}
