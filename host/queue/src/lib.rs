//! The durable delivery queue for after-callbacks: the ingress stores an event once for
//! every subscribed plugin and answers the IM server; consumers then deliver it to each
//! plugin in order per conversation, with retries, dead letters and no loss.
//!
//! A [`Queue`] is a cheap-to-clone handle over one backend: [`Queue::open_embedded`] (a
//! redb file in `data_dir`, zero setup, one process) or [`Queue::connect_redis`] (Redis
//! Streams with a consumer group per plugin, for several replicas). The flow:
//! [`Queue::enqueue`] (one synced write, duplicates dropped, a full queue spilling into
//! dead letters) → [`Queue::lease`] (the oldest ready item of each conversation) →
//! [`Queue::ack`] or [`Queue::fail`] (backoff with jitter, then dead letters) →
//! [`Queue::dead_letters`], [`Queue::replay_dead_letters`], [`Queue::delete_dead_letters`]
//! for operators, [`Queue::stats`] for metrics, [`Queue::wait`] so consumers do not poll.
//!
//! This crate is *not* the ingress that decides an event is an after-callback, nor the
//! consumer tasks that call plugins, nor the admin routes: those hold a [`Queue`]. It
//! knows nothing of plugins, wasm or IM dialects, only names, keys and opaque payloads.
//!
//! The decision a reader may question: delivery is at least once, never exactly once. An
//! item whose plugin call finished but whose ack did not reach the store (a crash, an
//! expired lease) is delivered again. Every item carries its idempotency key so a plugin
//! can make its effect exact; a queue that promised more would need the plugin's side
//! effects inside its own transaction. See `docs/adr/010-durable-after-callbacks.md`.
//!
//! # Layout
//! - [`queue`]: [`Queue`]: checks, the clock, the retry decision and wake-ups, written
//!   once for both backends.
//! - [`config`]: [`QueueConfig`], the limits and retry policy, and the backoff.
//! - [`item`]: the data in and out: [`NewItem`], [`Item`], [`Leased`], outcomes, dead
//!   letters, [`QueueStats`].
//! - [`clock`]: [`Clock`], [`SystemClock`], [`ManualClock`] for tests.
//! - [`error`]: [`QueueError`], one variant per caller decision.
//! - `backend`: the redb and Redis implementations.

#![deny(missing_docs)]

mod backend;
pub mod clock;
pub mod config;
pub mod error;
pub mod item;
pub mod queue;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::QueueConfig;
pub use error::QueueError;
pub use item::{
    DeadLetter, DeadLetterPage, DeadReason, EnqueueOutcome, FailOutcome, Item, ItemId, Leased,
    NewItem, QueueStats, Selection,
};
pub use queue::Queue;
