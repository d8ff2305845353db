//! Key-value storage for plugins: one namespace per plugin, quotas, atomic counters and
//! compare-and-swap, on an embedded file or on a Redis shared by several hookbox replicas.
//!
//! A [`KvStore`] is a cheap-to-clone handle over one backend: [`KvStore::open_embedded`]
//! (a redb file in `data_dir`, zero setup) or [`KvStore::connect_redis`]. A [`Bucket`] is
//! that store seen through one namespace with its [`Quotas`]; it is all a plugin's calls
//! ever touch, and no key, prefix or cursor can reach outside it.
//!
//! This crate is *not* the `wasi:keyvalue` host implementation, nor the manifest grant that
//! decides which plugin gets which bucket, nor the admin API that shows keys to operators:
//! those wire a [`Bucket`] in. It knows nothing of wasm or plugins, only namespaces.
//!
//! The decision a reader may question: both backends keep their own count of each
//! namespace's keys next to the values (a redb table, a Redis sorted set), updated in the
//! same transaction or script as the value. The key-count quota is checked on every new key,
//! so it must cost one lookup, not a scan, and it must be exact under concurrent writers,
//! which a count kept anywhere else could not be. See `docs/adr/007-kv-store.md`.
//!
//! # Layout
//! - [`store`]: [`KvStore`], [`Bucket`] and [`Page`]: validation, quotas and pagination,
//!   written once for both backends.
//! - [`quotas`]: [`Quotas`], the per-bucket limits, and the checks against them.
//! - [`error`]: [`KvError`], one variant per answer a plugin can be given.
//! - `counter`: the decimal encoding of counters.
//! - `backend`: the redb and Redis implementations of the primitive operations.
//! - `testing` (feature `test-support`): a throwaway `redis-server` for tests.

#![deny(missing_docs)]

mod backend;
mod counter;
pub mod error;
pub mod quotas;
pub mod store;
#[cfg(feature = "test-support")]
pub mod testing;

pub use error::KvError;
pub use quotas::Quotas;
pub use store::{Bucket, KvStore, Page};
