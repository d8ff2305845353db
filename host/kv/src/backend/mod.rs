//! The two backends behind one set of primitive operations.
//!
//! Callers ([`crate::store`]) have already checked the namespace, the key and the value
//! sizes; a backend does what only it can do atomically: the write, and the key-count quota
//! that depends on what is stored.
//!
//! An enum and not a trait object: there are exactly two backends, and async functions in
//! traits are not object-safe without boxing every call.

mod embedded;
mod redis;

pub(crate) use embedded::Embedded;
pub(crate) use redis::Redis;

use crate::{KvError, Quotas};

#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Embedded(Embedded),
    Redis(Redis),
}

impl Backend {
    pub(crate) async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match self {
            Self::Embedded(store) => store.get(ns, key).await,
            Self::Redis(store) => store.get(ns, key).await,
        }
    }

    pub(crate) async fn exists(&self, ns: &str, key: &str) -> Result<bool, KvError> {
        match self {
            Self::Embedded(store) => store.exists(ns, key).await,
            Self::Redis(store) => store.exists(ns, key).await,
        }
    }

    pub(crate) async fn set(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
        quotas: Quotas,
    ) -> Result<(), KvError> {
        match self {
            Self::Embedded(store) => store.set(ns, key, value, quotas).await,
            Self::Redis(store) => store.set(ns, key, value, quotas).await,
        }
    }

    pub(crate) async fn delete(&self, ns: &str, key: &str) -> Result<(), KvError> {
        match self {
            Self::Embedded(store) => store.delete(ns, key).await,
            Self::Redis(store) => store.delete(ns, key).await,
        }
    }

    /// Up to `limit` keys of `ns` that start with `prefix`, in order, strictly after
    /// `after` if given (`after` is never before `prefix`).
    pub(crate) async fn list(
        &self,
        ns: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, KvError> {
        match self {
            Self::Embedded(store) => store.list(ns, prefix, after, limit).await,
            Self::Redis(store) => store.list(ns, prefix, after, limit).await,
        }
    }

    pub(crate) async fn increment(
        &self,
        ns: &str,
        key: &str,
        delta: i64,
        quotas: Quotas,
    ) -> Result<i64, KvError> {
        match self {
            Self::Embedded(store) => store.increment(ns, key, delta, quotas).await,
            Self::Redis(store) => store.increment(ns, key, delta, quotas).await,
        }
    }

    pub(crate) async fn compare_and_swap(
        &self,
        ns: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        quotas: Quotas,
    ) -> Result<bool, KvError> {
        match self {
            Self::Embedded(store) => store.compare_and_swap(ns, key, expected, new, quotas).await,
            Self::Redis(store) => store.compare_and_swap(ns, key, expected, new, quotas).await,
        }
    }

    pub(crate) async fn key_count(&self, ns: &str) -> Result<u64, KvError> {
        match self {
            Self::Embedded(store) => store.key_count(ns).await,
            Self::Redis(store) => store.key_count(ns).await,
        }
    }
}
