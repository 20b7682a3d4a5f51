//! Read buffers shared by the connections of one thread. A reader holds its buffer only while the bytes in
//! it are in use: when a read finds the socket dry, the buffer goes back to its thread's free list, and the
//! next read that finds bytes takes the buffer returned last, still in the cache. Many connections then
//! touch a few buffers instead of one each, and an idle connection holds none.

use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// At most this many buffers wait on one thread's free list.
const MAX_BUFFERS: usize = 16;

/// At most this many bytes of capacity wait on one thread's free list (and at most this many in the buffer
/// returned last, beside it).
const MAX_BYTES: usize = 1 << 20;

/// The free buffers of one thread, the one returned last at the end.
struct FreeList {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

thread_local! {
    /// The buffer returned last: a connection that reads, echoes and finds its socket dry takes back the
    /// buffer it just gave, without the list's bookkeeping.
    static LAST: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    static FREE: RefCell<FreeList> = const {
        RefCell::new(FreeList {
            buffers: Vec::new(),
            bytes: 0,
        })
    };
}

/// A buffer of exactly `capacity` initialised bytes: the one of that size returned last, else a new one.
#[inline]
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    let last = LAST.try_with(|last| last.take()).unwrap_or_default();
    if last.len() == capacity {
        return last;
    }
    if last.capacity() > 0 {
        shelve(last);
    }
    let found = FREE.try_with(|free| {
        let mut free = free.borrow_mut();
        let buf = match free.buffers.last() {
            Some(last) if last.capacity() == capacity => free.buffers.pop(),
            _ => {
                let at = free
                    .buffers
                    .iter()
                    .rposition(|b| b.capacity() == capacity)?;
                Some(free.buffers.swap_remove(at))
            }
        };
        free.bytes -= capacity;
        buf
    });
    found.ok().flatten().unwrap_or_else(|| vec![0; capacity])
}

/// Returns `buf` to this thread: it becomes the buffer returned last, the one it replaces goes to the
/// free list. (Always inlined: called from two places it was not, for about 20 instructions per read.)
#[inline(always)]
pub(crate) fn give(buf: Vec<u8>) {
    if buf.capacity() > MAX_BYTES {
        return;
    }
    match LAST.try_with(|last| last.replace(buf)) {
        Ok(previous) if previous.capacity() > 0 => shelve(previous),
        _ => {}
    }
}

/// Puts `buf` on this thread's free list; the oldest buffers are dropped to stay within the bounds.
fn shelve(mut buf: Vec<u8>) {
    let capacity = buf.capacity();
    if capacity == 0 || capacity > MAX_BYTES {
        return;
    }
    // Initialised to its capacity (once per buffer, not per read): a read fills it in place.
    buf.resize(capacity, 0);
    let _ = FREE.try_with(|free| {
        let mut free = free.borrow_mut();
        while free.buffers.len() >= MAX_BUFFERS || free.bytes + capacity > MAX_BYTES {
            let oldest = free.buffers.remove(0);
            free.bytes -= oldest.capacity();
        }
        free.bytes += capacity;
        free.buffers.push(buf);
    });
}

/// One read from `io` into `buf`: into `within` when given (the rest of a frame behind a message gathered
/// in the buffer: the reader keeps the buffer while it waits), else into its first `capacity` bytes. A
/// reader that holds no buffer takes one from the thread's free list first, of twice `capacity` bytes so
/// that a frame that begins within a read has room behind it for its rest; a read that finds the socket
/// dry gives it back, so the reader holds it only while it holds bytes.
pub(crate) fn poll_read<S: AsyncRead + ?Sized>(
    mut io: Pin<&mut S>,
    buf: &mut Vec<u8>,
    capacity: usize,
    within: Option<Range<usize>>,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<usize>> {
    if let Some(range) = within {
        let mut read = ReadBuf::new(&mut buf[range]);
        return (io.as_mut().poll_read(cx, &mut read)).map_ok(|()| read.filled().len());
    }
    if buf.len() < 2 * capacity {
        if buf.capacity() > 0 {
            give(std::mem::take(buf));
        }
        *buf = take(2 * capacity);
    }
    let mut read = ReadBuf::new(&mut buf[..capacity]);
    let result = io
        .as_mut()
        .poll_read(cx, &mut read)
        .map_ok(|()| read.filled().len());
    if result.is_pending() {
        give(std::mem::take(buf));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What this thread holds: (buffers on the free list, their bytes, the capacity of the buffer
    /// returned last).
    fn held() -> (usize, usize, usize) {
        let last = LAST.with(|last| {
            let buf = last.take();
            let capacity = buf.capacity();
            last.set(buf);
            capacity
        });
        FREE.with(|free| {
            let free = free.borrow();
            (free.buffers.len(), free.bytes, last)
        })
    }

    #[test]
    fn a_read_that_finds_the_socket_dry_and_the_next_read_use_the_same_buffer() {
        let buf = take(4096);
        assert_eq!((buf.len(), buf.capacity()), (4096, 4096), "initialised");
        let at = buf.as_ptr();
        give(buf);
        assert_eq!(held(), (0, 0, 4096));
        let again = take(4096);
        assert_eq!(again.as_ptr(), at);
        assert_eq!(held(), (0, 0, 0));
    }

    #[test]
    fn a_read_takes_the_buffer_of_its_size_returned_last() {
        let first = Vec::<u8>::with_capacity(8192);
        let second = Vec::<u8>::with_capacity(8192);
        let other = Vec::<u8>::with_capacity(16384);
        let second_at = second.as_ptr();
        give(first);
        give(second);
        give(other);
        assert_eq!(held(), (2, 2 * 8192, 16384));
        let taken = take(8192);
        assert_eq!(
            taken.as_ptr(),
            second_at,
            "the buffer of that size returned last, still in the cache"
        );
        assert_eq!((taken.len(), taken.capacity()), (8192, 8192));
        assert_eq!(held(), (2, 8192 + 16384, 0));
        // No buffer of that size is free: a new one.
        assert_eq!(take(4096).capacity(), 4096);
        assert_eq!(held(), (2, 8192 + 16384, 0));
    }

    #[test]
    fn the_free_list_stays_within_its_bounds() {
        for _ in 0..2 * MAX_BUFFERS {
            give(Vec::with_capacity(1024));
        }
        assert_eq!(held(), (MAX_BUFFERS, MAX_BUFFERS * 1024, 1024));
        // Large buffers push the oldest out to stay within the bytes.
        for _ in 0..4 {
            give(Vec::with_capacity(MAX_BYTES / 2));
        }
        let (buffers, bytes, last) = held();
        assert!(bytes <= MAX_BYTES, "{bytes} bytes held");
        assert_eq!((buffers, last), (2, MAX_BYTES / 2));
        // A buffer larger than the whole list is dropped, not kept.
        give(Vec::with_capacity(MAX_BYTES + 1));
        assert_eq!(held(), (2, MAX_BYTES, MAX_BYTES / 2));
    }
}
