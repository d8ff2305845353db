//! The queue's tests, one binary.
//!
//! - `conformance`: one suite, written once against [`Queue`](hookbox_queue::Queue), run on
//!   both backends; a macro gives every case one test per backend.
//! - `embedded`: what only the redb file does (durability across a reopen and a SIGKILL,
//!   one process, group commit).
//! - `redis`: what only Redis does (replicas sharing a queue, a crashed replica's leases
//!   claimed by another, no password in errors).
//!
//! Redis tests start their own `redis-server` (`hookbox_kv::testing`); without one
//! installed they fail under CI and print `SKIPPED` elsewhere.

mod conformance;
mod embedded;
mod harness;
mod redis;
