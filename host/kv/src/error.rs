//! [`KvError`]: why a key-value operation was refused or failed.
//!
//! Every variant but [`KvError::Backend`] is the plugin's doing and may be told to it as is.
//! `Backend` is the host's trouble (a full disk, Redis unreachable); its message is for the
//! host's logs. It never carries a Redis URL or password, but it may name a file or an
//! address, so a host tells the plugin only that the store failed.

/// Why a key-value operation was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// The key is longer than [`Quotas::max_key_bytes`](crate::Quotas::max_key_bytes).
    #[error("key is {size} bytes, over the limit of {limit}")]
    KeyTooLarge {
        /// Length of the key in bytes.
        size: usize,
        /// The bucket's limit.
        limit: usize,
    },
    /// The value is longer than [`Quotas::max_value_bytes`](crate::Quotas::max_value_bytes).
    #[error("value is {size} bytes, over the limit of {limit}")]
    ValueTooLarge {
        /// Length of the value in bytes.
        size: usize,
        /// The bucket's limit.
        limit: usize,
    },
    /// The operation would create a key in a bucket that already holds
    /// [`Quotas::max_keys`](crate::Quotas::max_keys) keys.
    #[error("the bucket already holds its limit of {limit} keys")]
    TooManyKeys {
        /// The bucket's limit.
        limit: u64,
    },
    /// An increment found a value that is not a counter: the canonical decimal form of a
    /// 64-bit signed integer (`-?[1-9][0-9]*` or `0`, as Redis `INCRBY` reads it).
    #[error("the value is not a decimal 64-bit integer")]
    NotAnInteger,
    /// An increment would go past `i64::MIN..=i64::MAX`; the value is left as it was.
    #[error("the increment would overflow a 64-bit integer")]
    Overflow,
    /// The key can never be stored (it is empty).
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// The namespace name given to [`KvStore::bucket`](crate::KvStore::bucket) is not one.
    #[error("invalid bucket namespace {name:?}: {reason}")]
    InvalidNamespace {
        /// The name that was refused.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The storage itself failed. The message is for logs, not for plugins.
    #[error("key-value store: {0}")]
    Backend(String),
}
