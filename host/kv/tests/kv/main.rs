//! The key-value store's tests, one binary.
//!
//! - `conformance`: one suite, written once against [`KvStore`], run on both backends; a
//!   macro gives every case one test per backend.
//! - `embedded`: what only the redb file does (durability across reopen, one process).
//! - `redis`: what only Redis does (replicas sharing it, the layout operators read, no
//!   password in errors).
//!
//! Redis tests start their own `redis-server` (`hookbox_kv::testing`); without one
//! installed they fail under CI and print `SKIPPED` elsewhere.

mod conformance;
mod embedded;
mod harness;
mod redis;
