//! Allocations per echoed message (feature `count-alloc`).
//!
//! With the feature on, a counting global allocator is installed and the echo servers call [`note_echo`] once per
//! echoed message. On `SIGUSR1` the server prints the counts since the previous report (and resets them), so a
//! runner can send one `SIGUSR1` after warm-up and one after the measured load; on `SIGTERM`/`SIGINT` it prints a
//! last report and exits. A report is one line on stderr:
//!
//! `alloc-report: msgs=N allocs=A bytes=B allocs_per_msg=X bytes_per_msg=Y`
//!
//! Without the feature both functions compile to nothing, so the timed benchmarks run on the plain system
//! allocator with no counting overhead.

#[cfg(feature = "count-alloc")]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    static ALLOCS: AtomicU64 = AtomicU64::new(0);
    static BYTES: AtomicU64 = AtomicU64::new(0);
    static MSGS: AtomicU64 = AtomicU64::new(0);

    /// The system allocator, counting every allocation (reallocations count as one allocation of the new size).
    struct Counting;

    // SAFETY: every method forwards to `System` unchanged; the counters have no effect on memory.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            // SAFETY: same contract as our caller's.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            // SAFETY: same contract as our caller's.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note(new_size);
            // SAFETY: same contract as our caller's.
            unsafe { System.realloc(ptr, layout, new_size) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as our caller's.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    fn note(size: usize) {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(size as u64, Relaxed);
    }

    pub fn note_echo() {
        MSGS.fetch_add(1, Relaxed);
    }

    /// Prints the counts since the last report and resets them.
    fn report() {
        let msgs = MSGS.swap(0, Relaxed);
        let allocs = ALLOCS.swap(0, Relaxed);
        let bytes = BYTES.swap(0, Relaxed);
        let per = |n: u64| {
            if msgs == 0 {
                0.0
            } else {
                n as f64 / msgs as f64
            }
        };
        eprintln!(
            "alloc-report: msgs={msgs} allocs={allocs} bytes={bytes} allocs_per_msg={:.3} bytes_per_msg={:.1}",
            per(allocs),
            per(bytes)
        );
    }

    pub fn start_reporter() {
        use tokio::signal::unix::{signal, SignalKind};
        let mut usr1 = signal(SignalKind::user_defined1()).expect("install SIGUSR1 handler");
        let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
        tokio::spawn(async move {
            while usr1.recv().await.is_some() {
                report();
            }
        });
        tokio::spawn(async move {
            let stop = futures_util::future::select(Box::pin(term.recv()), Box::pin(int.recv()));
            stop.await;
            report();
            std::process::exit(0);
        });
    }
}

/// Counts one echoed message (no-op without `count-alloc`).
#[inline(always)]
pub fn note_echo() {
    #[cfg(feature = "count-alloc")]
    counting::note_echo();
}

/// Installs the report-on-signal handlers (no-op without `count-alloc`). Call from inside the runtime.
pub fn start_reporter() {
    #[cfg(feature = "count-alloc")]
    counting::start_reporter();
}
