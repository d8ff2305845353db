//! hookbox's HTTP side: the webhook endpoints IM servers call, the config file, and the one
//! error type an HTTP client ever sees.
//!
//! This crate is *not* where verdicts are made or envelopes written: it hands the request to
//! a dialect, the parsed callback to the registry's chain, and the chain's verdict back to the
//! dialect. It never touches a wasmtime type.
//!
//! The decision a reader may question: a failing plugin is never an HTTP error. Once a
//! callback has parsed, the IM server always gets HTTP 200 with a valid envelope (the
//! plugins' verdict or their `on_error` answer), because OpenIM blocks the user's action on
//! anything it cannot parse. HTTP errors are only for requests that are not callbacks.
//!
//! # Layout
//! - [`config`] — `hookbox.toml`.
//! - [`app`] — the webhook router and its state.
//! - [`listener`] — [`serve`]: a bound listener and a shutdown future; header timeout,
//!   header caps and the connection cap.
//! - [`webhooks`] — the webhook endpoint's dispatch: admission, then the callback paths
//!   straight to their handlers and the rest through the router; counts refusals.
//! - `admission` — the global and per-source caps on requests in flight.
//! - `ingress` — the per-dialect webhook handlers: media type, body cap, request deadline.
//! - [`delivery`] — [`Delivery`]: after-callbacks into the durable queue at the ingress, and
//!   the consumers that deliver them to plugins afterwards.
//! - [`stores`] — opening the kv store and the queue that `[kv]` and `[queue]` name.
//! - [`metrics`] — every exported metric, recorded from chain reports and the queue.
//! - [`error`] — [`ApiError`], the only error that becomes an HTTP response.
//! - [`admin`] — the admin API on its own listener: swap, add, patch, roll back, delete;
//!   plugins' keys and dead letters.

#![deny(missing_docs)]

pub mod admin;
mod admission;
pub mod app;
pub mod config;
pub mod delivery;
pub mod error;
mod ingress;
pub mod listener;
pub mod metrics;
mod replay;
pub mod stores;
pub mod webhooks;

pub use admin::Admin;
pub use app::{App, Counters};
pub use config::{Config, ConfigError};
pub use delivery::Delivery;
pub use error::ApiError;
pub use listener::{ConnectionLimits, Dispatch, Endpoint, serve};
