//! Benchmark harness for rill (issue 6).
//!
//! The binaries in `src/bin` are thin: every echo server is `server::main(name, serve)` with a library-specific
//! `serve` function, and every client uses [`client::connect`], so all servers are started, configured and measured
//! the same way. See `docs/benchmarks.md` for the commands and what each number means.

pub mod alloc_count;
pub mod args;
pub mod client;
pub mod histogram;
pub mod proc_stat;
pub mod runtime;
pub mod server;
pub mod sink_echo;
pub mod tokens;

/// Error type used across the harness: any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
