//! Which plugins exist, which callbacks they handle, and what a chain of them decides.
//!
//! The registry reads plugin manifests, compiles every plugin off the request path, and
//! publishes an immutable [`Snapshot`] (command → plugins in priority order) behind an
//! atomic pointer. A request takes the snapshot once and finishes on it, so a later swap
//! never changes a request that is already running.
//!
//! This crate is *not* a dialect and not a server: it never parses an IM server's payload
//! nor renders its envelope. The one thing it needs from a dialect, "may a modify set these
//! fields?", comes in as a closure.
//!
//! The decision a reader may question: routes are keyed by command name alone, not by
//! (dialect, command). OpenIM's commands are `callback…` and Tencent's are `Area.Callback…`,
//! so the names never collide, and a plugin can subscribe to both servers' commands in one
//! list.
//!
//! # Layout
//! - [`manifest`] — one plugin's configuration (`[[plugin]]` in `hookbox.toml`).
//! - [`snapshot`] — the routing snapshot, versions, where they came from, call counters.
//! - [`registry`] — [`Registry`]: loading, swapping, rolling back and removing plugins.
//! - [`store`] — `data_dir`: persisted admin changes, version blobs, the compiled cache.
//! - [`chain`] — running the plugins subscribed to one command and combining their verdicts.
//! - [`breaker`] — the per-plugin circuit breaker that skips a plugin failing again and again.

#![deny(missing_docs)]

pub mod breaker;
pub mod chain;
pub mod manifest;
pub mod registry;
pub mod snapshot;
pub mod store;

pub use breaker::{Breaker, BreakerPolicy, BreakerState};
pub use chain::{ChainReport, StepReport, StepResult, run_chain};
pub use manifest::{
    BreakerSpec, BuildSpec, Delivery, Grants, InstanceMode, KvGrant, LimitsSpec, OnError,
    PluginManifest, ReuseSpec,
};
pub use registry::{
    Applied, Registry, RegistryError, RegistryOptions, SecretSource, plugin_namespace,
};
pub use snapshot::{ManagedBy, Origin, PluginEntry, PluginStats, Snapshot, VersionInfo};
pub use store::{Store, StoreError};
