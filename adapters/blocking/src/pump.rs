//! The pump shared by [`crate::WebSocket`] and the split halves: it reads, writes and keeps time for a
//! [`Session`] and holds no protocol state of its own.

use crate::{Error, Timeouts};
use rill_ws::deflate::Inflater;
use rill_ws::session::{Event, Instant, Session, Transmit, MIN_WRITE_BUFFER};
use rill_ws::{End, Message, MessageKind, Piece, ProtocolError, SendError, Timeout};
use rill_zlib::LazyDeflater;
use std::io::{self, ErrorKind, Read, Write};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// A stream the pump drives.
pub(crate) trait Stream: Read + Write + Timeouts {}
impl<S: Read + Write + Timeouts> Stream for S {}

/// The session and the clock its instants are measured on.
pub(crate) struct Core {
    session: Mutex<Session>,
    origin: std::time::Instant,
    /// The connection's place under a listener's limits and in a drain, held while it lives.
    pub(crate) ticket: std::sync::OnceLock<rill_net::Ticket>,
}

/// How often a connection in a drain wakes from a blocking read to see whether the drain has started: a
/// thread blocked in `read` cannot be woken otherwise without `poll` (and `unsafe`). It bounds how late
/// a blocking connection starts its close.
const DRAIN_POLL: Duration = Duration::from_millis(100);

impl Core {
    pub(crate) fn new(session: Session, origin: std::time::Instant) -> Self {
        let session = Mutex::new(session);
        let ticket = std::sync::OnceLock::new();
        Core {
            session,
            origin,
            ticket,
        }
    }

    /// The connection's membership of a drain.
    fn member(&self) -> Option<&rill_net::Member> {
        self.ticket.get().and_then(rill_net::Ticket::member)
    }

    /// True once the connection sent its 1001 for a drain: data that still arrives has no one to answer.
    fn has_gone_away(&self) -> bool {
        self.member().is_some_and(rill_net::Member::has_gone_away)
    }

    pub(crate) fn now(&self) -> Instant {
        Instant(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// The session, never held across blocking I/O. Every session call leaves it consistent, so a
    /// panic in another thread holding it is no reason to give up the connection.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The peer's close frame, once it arrived: its code and reason.
    pub(crate) fn close_frame(&self) -> (Option<rill_ws::CloseCode>, String) {
        let session = self.lock();
        let (code, reason) = session.close_frame();
        (code, reason.to_owned())
    }

    /// A refused send reports why the connection ended, when it has.
    pub(crate) fn refused(&self, error: SendError) -> Error {
        match self.lock().end() {
            Some(end) if error == SendError::Closed => end.into(),
            _ => error.into(),
        }
    }
}

/// What a receive needs besides its buffers: the session, the stream to read, and how to send what
/// the session owes (the reply to a ping or a close frame; with `Some(code)`, our own close frame first).
pub(crate) struct Link<'a> {
    pub core: &'a Core,
    pub io: &'a mut dyn Stream,
    pub tx: &'a mut SendOwed<'a>,
}

/// Sends what the session owes; with `Some(code)`, places our close frame first.
pub(crate) type SendOwed<'a> =
    dyn FnMut(&mut dyn Stream, Option<rill_ws::CloseCode>) -> Result<(), Error> + 'a;

/// The socket timeout that wakes us at `deadline` (at least 1 ms: a zero timeout is refused).
fn wait(deadline: Option<Instant>, now: Instant) -> Option<Duration> {
    deadline.map(|at| at.since(now).max(Duration::from_millis(1)))
}

/// How a failed call affects the session: a timeout hands it the time, a reset is the end of the
/// stream (common after the close handshake, when our last bytes cross the peer's close).
fn failed(session: &mut Session, error: io::Error, now: Instant) -> Result<(), Error> {
    match error.kind() {
        _ if is_timeout(&error) => session.handle_timeout(now),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => session.handle_eof(),
        ErrorKind::Interrupted => {}
        _ => {
            session.abort();
            return Err(Error::Io(error));
        }
    }
    Ok(())
}

/// True for the error of a call that ran into its socket timeout.
fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Hands the session what one read into the read buffer brought (an error as [`failed`] judges it).
fn record(session: &mut Session, read: io::Result<usize>, now: Instant) -> Result<(), Error> {
    match read {
        Ok(0) => session.handle_eof(),
        Ok(n) => session.handle_input(0..n, now),
        Err(error) => return failed(session, error, now),
    }
    Ok(())
}

/// The receiving side: the read buffer the session decodes in place, and `recv`'s reassembly buffer.
pub(crate) struct Input {
    buf: Vec<u8>,
    /// permessage-deflate's inflater, allocated at the first compressed message.
    inflater: Option<Box<Inflater<Box<[u8]>>>>,
    message: Vec<u8>,
    max_message: usize,
    /// An event decoded while `ping` waited for its pong; its bytes stay in `buf` until it is taken.
    stashed: Option<Event>,
}

impl Input {
    pub(crate) fn new(buf: Vec<u8>, max_message: usize) -> Self {
        let (message, stashed) = (Vec::new(), None);
        Input {
            buf,
            inflater: None,
            message,
            max_message,
            stashed,
        }
    }

    /// The next event other than `NeedInput`, reading as needed; `None` once `until` has passed.
    fn next(
        &mut self,
        link: &mut Link<'_>,
        until: Option<Instant>,
    ) -> Result<Option<Event>, Error> {
        if let Some(event) = self.stashed.take() {
            if matches!(event, Event::Piece(_)) {
                // Reading resumes (see `keep`).
                let now = link.core.now();
                link.core.lock().hold_input(false, now);
            }
            return Ok(Some(event));
        }
        loop {
            let now = link.core.now();
            let mut session = link.core.lock();
            let event = self.decode(&mut session);
            let (owed, deadline) = (session.wants_transmit(), session.poll_timeout());
            drop(session);
            if owed {
                (link.tx)(link.io, None)?;
            }
            let member = link.core.member();
            if event == Event::Close {
                member.inspect(|member| member.closed_cleanly());
            }
            if event != Event::NeedInput {
                return Ok(Some(event));
            } else if until.is_some_and(|until| until <= now) {
                return Ok(None);
            }
            if let Some(member) = member.filter(|member| member.must_go_away()) {
                // Refused when the connection ended or closed already: the next event says how it ends.
                let sent = (link.tx)(link.io, Some(rill_ws::CloseCode::GOING_AWAY));
                member.gone_away();
                match sent {
                    Err(Error::Io(error)) => return Err(Error::Io(error)),
                    _ => continue,
                }
            }
            let poll = member
                .filter(|member| !member.has_gone_away())
                .map(|_| now.after(DRAIN_POLL));
            let deadline = deadline.into_iter().chain(until).chain(poll).min();
            if deadline.is_some_and(|at| at <= now) {
                link.core.lock().handle_timeout(now);
                continue;
            }
            link.io
                .set_read_timeout(wait(deadline, now))
                .map_err(Error::Io)?;
            let read = link.io.read(&mut self.buf);
            record(&mut link.core.lock(), read, link.core.now())?;
        }
    }

    /// The next event the read buffer holds, `NeedInput` when none.
    fn decode(&mut self, session: &mut Session) -> Event {
        loop {
            match session.poll_event(&mut self.buf, self.inflater.as_deref_mut()) {
                // The first compressed message: only now is the inflater worth its memory.
                Event::NeedInflater => self.inflater = rill_zlib::agreed_inflater(session),
                event => return event,
            }
        }
    }

    /// What a connection used whole runs when a send meets a deadline (a write waited until it, or it
    /// passed while writes went through), before the session judges it: reads what the peer sent
    /// meanwhile (one read of at most 1 ms) and decodes it, so its pongs count as heard and its pings get
    /// their pongs (owed: the pump that called this writes them), up to the first data piece or close
    /// frame, which is kept for the next receive. Nothing is read while the read buffer holds undecoded
    /// input or a kept event, once a drain wants our close frame sent (the next receive sends it), or
    /// from a stream whose reads do not time out ([`Timeouts::reads_time_out`]).
    pub(crate) fn hear(&mut self, core: &Core, io: &mut dyn Stream) -> Result<(), Error> {
        let draining = core.member().is_some_and(rill_net::Member::must_go_away);
        if self.stashed.is_some() || draining || !io.reads_time_out() {
            return Ok(());
        }
        let mut session = core.lock();
        if !session.has_buffered_input() {
            drop(session);
            io.set_read_timeout(Some(Duration::from_millis(1)))
                .map_err(Error::Io)?;
            let read = io.read(&mut self.buf);
            if read.as_ref().is_err_and(is_timeout) {
                return Ok(()); // the peer sent nothing
            }
            session = core.lock();
            record(&mut session, read, core.now())?;
        }
        loop {
            match self.decode(&mut session) {
                Event::NeedInput | Event::End(_) => return Ok(()),
                event @ (Event::Piece(_) | Event::Close) => {
                    self.keep(event, &mut session);
                    return Ok(());
                }
                Event::Ping | Event::Pong(_) | Event::NeedInflater => {}
            }
        }
    }

    /// Keeps `event` for the next receive. A data piece lies in the read buffer, so nothing more is read
    /// until the owner takes it: the session does not count the peer's silence meanwhile.
    fn keep(&mut self, event: Event, session: &mut Session) {
        if matches!(event, Event::Piece(_)) {
            session.hold_input(true, Instant::UNKNOWN);
        }
        self.stashed = Some(event);
    }

    /// The next whole message, reassembled up to `max_message`; see [`crate::WebSocket::recv`].
    pub(crate) fn recv(&mut self, link: &mut Link<'_>) -> Result<Message<'_>, Error> {
        self.message.clear();
        loop {
            let at = match self.next(link, None)? {
                Some(Event::Piece(_)) if link.core.has_gone_away() => continue,
                Some(Event::Piece(at)) => at,
                Some(Event::Close) => {
                    let session = link.core.lock();
                    let (code, reason) = session.close_frame();
                    self.message.extend_from_slice(reason.as_bytes());
                    let reason = std::str::from_utf8(&self.message).unwrap_or_default();
                    return Ok(Message::Close(code, reason));
                }
                Some(Event::End(end)) => return Err(end.into()),
                _ => continue,
            };
            if self.message.len().saturating_add(at.end - at.start) > self.max_message {
                let limit = self.max_message as u64;
                let error = ProtocolError::MessageTooLarge { limit };
                link.core.lock().fail(error, link.core.now());
            } else if at.last && self.message.is_empty() {
                // A message that arrived in one piece is lent from the buffer it lies in, not copied.
                let piece = at.of_with(&self.buf, self.inflater.as_deref());
                return Ok(Message::new(at.kind, piece.payload));
            } else {
                let piece = at.of_with(&self.buf, self.inflater.as_deref());
                self.message.extend_from_slice(piece.payload);
                if at.last {
                    return Ok(Message::new(at.kind, &self.message));
                }
            }
        }
    }

    /// The next piece of a message; `None` when the peer's close frame arrived.
    pub(crate) fn recv_piece(&mut self, link: &mut Link<'_>) -> Result<Option<Piece<'_>>, Error> {
        loop {
            match self.next(link, None)? {
                Some(Event::Piece(_)) if link.core.has_gone_away() => continue,
                Some(Event::Piece(at)) => {
                    return Ok(Some(at.of_with(&self.buf, self.inflater.as_deref())))
                }
                Some(Event::Close) => return Ok(None),
                Some(Event::End(end)) => return Err(end.into()),
                _ => continue,
            }
        }
    }

    /// Sends a ping and reads until its pong; an event that arrives first is kept for the next receive.
    pub(crate) fn ping(
        &mut self,
        link: &mut Link<'_>,
        timeout: Duration,
    ) -> Result<Option<Duration>, Error> {
        let now = link.core.now();
        let id = link.core.lock().ping(now);
        let id = id.ok_or_else(|| link.core.refused(SendError::Closed))?;
        (link.tx)(link.io, None)?;
        loop {
            match self.next(link, Some(now.after(timeout)))? {
                None => return Err(Error::Timeout(Timeout::Ping)),
                Some(Event::Pong(got)) if got == id => return Ok(link.core.lock().rtt(id)),
                Some(Event::End(end)) => return Err(end.into()),
                Some(event @ (Event::Piece(_) | Event::Close)) => {
                    self.keep(event, &mut link.core.lock());
                    return Ok(None);
                }
                _ => continue,
            }
        }
    }

    /// Reads and discards until the connection is over: `Ok` when the close handshake finished.
    pub(crate) fn finish(&mut self, link: &mut Link<'_>) -> Result<(), Error> {
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
    /// permessage-deflate's compressor, made at the first message that leaves compressed.
    deflater: LazyDeflater,
}

impl Output {
    pub(crate) fn new(len: usize, deflater: LazyDeflater) -> Self {
        let buf = vec![0; len.max(MIN_WRITE_BUFFER)];
        Output { buf, deflater }
    }

    /// Does what the session asks until it is idle; the session is locked only between blocking calls.
    /// Deadlines act when a write or flush waited until one, and when one passed while writes went
    /// through; with `input` (a connection used whole), what the peer sent meanwhile is read first
    /// ([`Input::hear`]), so the session judges the deadline knowing it.
    pub(crate) fn pump(
        &mut self,
        core: &Core,
        io: &mut dyn Stream,
        mut input: Option<&mut Input>,
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
                Transmit::Write { start, end, .. } => io
                    .set_write_timeout(wait(deadline, now))
                    .and_then(|()| io.write(&self.buf[start..end]).map(Some)),
                // A TLS stream's flush writes: bounded like a write.
                Transmit::Flush => io
                    .set_write_timeout(wait(deadline, now))
                    .and_then(|()| io.flush())
                    .map(|()| None),
                Transmit::Shutdown => {
                    // The peer may have reset the connection already: nothing is left to tell it.
                    let _ = io.shutdown_write();
                    continue;
                }
                Transmit::Idle => return Ok(()),
            };
            let timed_out = result.as_ref().is_err_and(is_timeout);
            // A deadline that passed while a slow peer kept taking our bytes is acted on too: a keepalive
            // ping is due then as much as when a write waits.
            let mut now = core.now();
            let due = timed_out || deadline.is_some_and(|at| at <= now);
            if let Some(input) = input.as_deref_mut().filter(|_| due) {
                input.hear(core, io)?;
                now = core.now();
            }
            let mut session = core.lock();
            match result {
                Ok(Some(0)) => {
                    session.abort();
                    return Err(Error::Io(ErrorKind::WriteZero.into()));
                }
                Ok(Some(n)) => session.wrote(n, now),
                Ok(None) => {}
                Err(error) => failed(&mut session, error, now)?,
            }
            if due && !timed_out {
                session.handle_timeout(now);
            }
        }
    }

    /// Places the next frames of the message begun, writing out whenever room is needed; `flush`
    /// ends with a flush as the policy says.
    pub(crate) fn chunk(
        &mut self,
        core: &Core,
        io: &mut dyn Stream,
        mut input: Option<&mut Input>,
        payload: &[u8],
        fin: bool,
        flush: bool,
    ) -> Result<(), Error> {
        let mut done = 0;
        // An empty non-final chunk would be an empty frame on the wire for nothing.
        while fin || done < payload.len() {
            let mut session = core.lock();
            if done == 0 {
                self.deflater.prepare(&session, payload.len(), fin);
            }
            let (buf, deflater) = (&mut self.buf, self.deflater.get());
            let placed = session.send_chunk(buf, &[payload], done, fin, core.now(), deflater);
            let more = session.in_message() && fin;
            drop(session);
            done = placed.map_err(|error| core.refused(error))?;
            if done == payload.len() && !more {
                break;
            }
            self.pump(core, io, input.as_deref_mut())?;
        }
        if flush {
            core.lock().flush_by_policy();
            self.pump(core, io, input)?;
        }
        // The pump ends quietly when the session ends (a deadline passed while writing): the bytes
        // may not have left, so say why.
        let end = core.lock().end();
        end.map_or(Ok(()), |end| Err(end.into()))
    }

    /// Places our close frame after what is pending (writing that out while it needs room) and writes it
    /// out. A refusal is `Error::Send` as the session gave it.
    pub(crate) fn close(
        &mut self,
        core: &Core,
        io: &mut dyn Stream,
        mut input: Option<&mut Input>,
        code: rill_ws::CloseCode,
        reason: &str,
    ) -> Result<(), Error> {
        while !core.lock().close(code, reason, &mut self.buf, core.now())? {
            self.pump(core, io, input.as_deref_mut())?;
        }
        self.pump(core, io, input)
    }

    /// Places a whole message; see [`Output::chunk`].
    pub(crate) fn send(
        &mut self,
        core: &Core,
        io: &mut dyn Stream,
        input: Option<&mut Input>,
        kind: MessageKind,
        payload: &[u8],
        flush: bool,
    ) -> Result<(), Error> {
        let begun = core.lock().begin(kind);
        begun.map_err(|error| core.refused(error))?;
        self.chunk(core, io, input, payload, true, flush)
    }

    /// Writes out and flushes everything placed.
    pub(crate) fn flush(
        &mut self,
        core: &Core,
        io: &mut dyn Stream,
        input: Option<&mut Input>,
    ) -> Result<(), Error> {
        core.lock().flush();
        self.pump(core, io, input)
    }
}
