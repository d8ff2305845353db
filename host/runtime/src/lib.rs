//! The sandbox: hookbox's one wasmtime [`Engine`](wasmtime::Engine), plugins compiled once and
//! pre-instantiated, and a fresh store and instance for every call.
//!
//! This crate is *not* the router: it runs one plugin on one event under one set of limits
//! and says what happened, as a [`model::Verdict`](hookbox_model::Verdict) or a typed
//! [`InvokeError`]. It knows nothing about HTTP, IM servers, or where plugin bytes come
//! from, and no wasmtime type appears in its public API.
//!
//! The decision a reader may question: by default every call gets a brand-new instance, even
//! though reusing one is a few µs cheaper. Fresh instances make "no state survives between
//! calls" a property of the host rather than a promise of the plugin, which is what a
//! multi-tenant webhook host needs; the pooling allocator with resident memory keeps the
//! price at a few microseconds (see `shared/research/hop-floor.md`). Plugins whose language
//! runtime makes instantiation cost milliseconds (JavaScript, Python, Go) can opt into
//! [`pool`]'s bounded reuse instead.
//!
//! # Layout
//! - [`engine`] — the engine, its pooling allocator and the epoch ticker thread.
//! - [`plugin`] — compiling and validating a component ([`Runtime::load`]).
//! - [`cache`] — compiled artifacts on disk, keyed by sha256 and engine ([`Runtime::load_cached`]).
//! - [`invoke`] — one call under limits in a fresh instance ([`Runtime::invoke`]).
//! - [`pool`] — warm instances for plugins in reuse mode ([`Runtime::invoke_reusing`]).
//! - `host` — the host side of the imports a plugin may use (logging, config, stdio capture).
//! - `kv` — the host side of `wasi:keyvalue`, over the buckets the registry grants ([`KvAccess`]).
//! - `http` — `wasi:http/outgoing-handler` behind hookbox's own sender: allowlist, address
//!   checks, caps ([`HttpAccess`]).
//! - `bindings` — the only `bindgen!` over `wit/`.

#![deny(missing_docs)]

mod bindings;
pub mod cache;
pub mod engine;
mod host;
mod http;
pub mod invoke;
mod kv;
pub mod plugin;
pub mod pool;

pub use cache::{ArtifactCache, CacheUse, CachedLoad};
pub use engine::{Runtime, RuntimeConfig, RuntimeError};
pub use http::{HostPattern, HttpAccess, HttpPolicy, PatternError};
pub use invoke::{CallLimits, Capabilities, ConfigValues, InvokeError, Outcome};
pub use kv::KvAccess;
pub use plugin::{LoadError, LoadedPlugin};
pub use pool::{InstancePool, PoolStats, ReusePolicy};
