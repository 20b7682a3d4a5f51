//! rill: a strict, streaming, `no_std` and no-alloc WebSocket (RFC 6455) core.
#![no_std]
#![forbid(unsafe_code)]
