//! The adapter's error type is the core's [`rill::Error`], generic over the stream's I/O error.

pub use rill::{Error, Timeout};
