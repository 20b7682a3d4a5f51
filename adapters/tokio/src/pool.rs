//! Read buffers shared by the connections of one thread. A reader holds its buffer only while the bytes in
//! it are in use: when a read finds the socket dry, the buffer goes back to its thread's free list, and the
//! next read that finds bytes takes the buffer returned last, still in the cache. Many connections then
//! touch a few buffers instead of one each, and an idle connection holds none.

use std::cell::RefCell;

/// At most this many buffers wait on one thread's free list.
const MAX_BUFFERS: usize = 16;

/// At most this many bytes of capacity wait on one thread's free list.
const MAX_BYTES: usize = 1 << 20;

/// The free buffers of one thread, the one returned last at the end.
struct FreeList {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

thread_local! {
    static FREE: RefCell<FreeList> = const {
        RefCell::new(FreeList {
            buffers: Vec::new(),
            bytes: 0,
        })
    };
}

/// An empty buffer of exactly `capacity` bytes: the one of that size returned last, else a new one.
#[inline]
pub(crate) fn take(capacity: usize) -> Vec<u8> {
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
    found
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(capacity))
}

/// Returns `buf` to this thread's free list; the oldest buffers are dropped to stay within the bounds.
#[inline]
pub(crate) fn give(mut buf: Vec<u8>) {
    let capacity = buf.capacity();
    if capacity == 0 || capacity > MAX_BYTES {
        return;
    }
    buf.clear();
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
