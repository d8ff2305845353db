//! [`QueueError`]: why a queue operation was refused or failed.
//!
//! The variants are the caller's branches. [`QueueError::LeaseLost`] is normal operation
//! (a consumer was slower than the lease timeout, and another took the item over): log it
//! and move on. [`QueueError::Backend`] is the storage failing (a full disk, Redis
//! unreachable): for an enqueue it means the event is *not* stored, so the IM server must
//! not be told it was. Its message is for logs; it names a file or `host:port`, never a
//! Redis URL or password.

/// Why a queue operation was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// A plugin name that cannot name a queue: empty, over 128 bytes, or with a byte other
    /// than ASCII letters, digits and `-_.`.
    #[error("invalid plugin name {name:?}: {reason}")]
    InvalidPlugin {
        /// The name that was refused.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An item that cannot be queued (an empty idempotency key), or an enqueue for no
    /// plugin at all.
    #[error("invalid item: {0}")]
    InvalidItem(&'static str),
    /// A [`QueueConfig`](crate::QueueConfig) that cannot work (zero attempts, a base backoff
    /// over the maximum, …).
    #[error("invalid queue configuration: {0}")]
    InvalidConfig(&'static str),
    /// The lease behind an ack or a fail is no longer this consumer's: it outlived
    /// [`QueueConfig::lease_timeout`](crate::QueueConfig::lease_timeout) and the item was
    /// handed out again (or settled by its new holder). Nothing was changed; the item's
    /// current holder decides its fate.
    #[error("the lease on item {id} of plugin {plugin:?} was lost (it expired)")]
    LeaseLost {
        /// The plugin whose queue holds the item.
        plugin: String,
        /// The item.
        id: crate::ItemId,
    },
    /// The storage itself failed; for an enqueue, nothing was stored. For logs.
    #[error("queue store: {0}")]
    Backend(String),
}
