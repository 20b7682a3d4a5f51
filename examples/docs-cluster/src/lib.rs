//! docs-cluster: a collaborative-document server on single-threaded rill-tokio instances behind nginx,
//! with a Redis stream per document as the shared log. See `docs/cluster.md` for the design.
//!
//! The library holds what the instance binary (`docs-instance`) and the load/test client (`docs-load`)
//! share: the document model and its version rules ([`doc`]), the wire format ([`wire`]) and the Redis
//! log ([`store`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod doc;
pub mod store;
pub mod wire;
