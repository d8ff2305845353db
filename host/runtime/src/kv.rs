//! The host side of `wasi:keyvalue` (store, atomics, batch): a plugin's buckets, each a
//! [`hookbox_kv::Bucket`] whose namespace and quotas the registry chose from the manifest.
//!
//! This module is *not* the storage (that is `hookbox-kv`) nor the policy of who gets which
//! bucket (the registry decides and hands over a [`KvAccess`]); it turns WIT calls into bucket
//! calls, each under its own timeout, and bucket errors into WIT errors the plugin can read.
//!
//! The decision a reader may question: every operation has its own timeout
//! (`KvAccess::op_timeout`), although the call as a whole has one too. Epoch interruption does
//! not fire while the host awaits the store, and the call's own timeout would surface as the
//! plugin timing out; a per-operation timeout lets the plugin see "the store is slow" as an
//! error it can handle (e.g. skip counting) and still answer in time.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hookbox_kv::{Bucket, KvError};
use wasmtime::component::Resource;

use crate::bindings::{kv_atomics, kv_batch, kv_store};
use crate::host::CallState;

/// How many keys one `list-keys` page holds.
const KEYS_PER_PAGE: usize = 256;

/// The buckets one plugin may open: its own, and the shared ones its manifest names.
#[derive(Debug, Clone)]
pub struct KvAccess {
    own: Bucket,
    shared: BTreeMap<String, Bucket>,
    op_timeout: Duration,
}

impl KvAccess {
    /// Access to `own` (opened as `""` or `"default"`) and to each named shared bucket, every
    /// store operation cut off after `op_timeout`.
    pub fn new(
        own: Bucket,
        shared: impl IntoIterator<Item = (String, Bucket)>,
        op_timeout: Duration,
    ) -> Self {
        KvAccess {
            own,
            shared: shared.into_iter().collect(),
            op_timeout,
        }
    }

    /// The plugin's own bucket.
    pub fn own(&self) -> &Bucket {
        &self.own
    }

    fn open(&self, identifier: &str) -> Result<Bucket, kv_store::Error> {
        match identifier {
            "" | "default" => Ok(self.own.clone()),
            name => self
                .shared
                .get(name)
                .cloned()
                .ok_or(kv_store::Error::AccessDenied),
        }
    }
}

/// A compare-and-swap handle: the key and the value it had when the handle was made.
#[allow(
    unreachable_pub,
    reason = "bindgen! re-exports it as the `cas` resource type"
)]
pub struct Cas {
    bucket: Bucket,
    key: String,
    expected: Option<Vec<u8>>,
}

type Answer<T> = wasmtime::Result<Result<T, kv_store::Error>>;

impl CallState {
    fn kv_access(&self) -> Result<&Arc<KvAccess>, kv_store::Error> {
        // Without a grant the component cannot link, so this only guards against a registry
        // that linked one without handing over access.
        self.kv.as_ref().ok_or(kv_store::Error::AccessDenied)
    }

    fn op_timeout(&self) -> Duration {
        self.kv.as_ref().map_or(Duration::ZERO, |kv| kv.op_timeout)
    }

    fn bucket(&self, handle: &Resource<Bucket>) -> wasmtime::Result<Bucket> {
        Ok(self.table.get(handle)?.clone())
    }

    /// One store operation under the per-operation timeout. (A method would hold `&self`
    /// across the await, and `CallState` is `Send` but not `Sync`.)
    fn run<T>(
        &self,
        op: impl Future<Output = Result<T, KvError>>,
    ) -> impl Future<Output = Result<T, kv_store::Error>> {
        within(self.op_timeout(), op)
    }

    async fn new_cas(
        &mut self,
        bucket: &Resource<Bucket>,
        key: String,
    ) -> Answer<(Cas, Option<Vec<u8>>)> {
        let bucket = self.bucket(bucket)?;
        let read = self.run(bucket.get(&key)).await;
        Ok(read.map(|value| {
            let cas = Cas {
                bucket,
                key,
                expected: value.clone(),
            };
            (cas, value)
        }))
    }
}

async fn within<T>(
    timeout: Duration,
    op: impl Future<Output = Result<T, KvError>>,
) -> Result<T, kv_store::Error> {
    match tokio::time::timeout(timeout, op).await {
        Ok(result) => result.map_err(store_error),
        Err(_elapsed) => Err(kv_store::Error::Other(format!(
            "the key-value store did not answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

fn store_error(error: KvError) -> kv_store::Error {
    kv_store::Error::Other(error.to_string())
}

impl kv_store::Host for CallState {
    async fn open(&mut self, identifier: String) -> Answer<Resource<Bucket>> {
        let bucket = match self.kv_access().and_then(|kv| kv.open(&identifier)) {
            Ok(bucket) => bucket,
            Err(error) => return Ok(Err(error)),
        };
        Ok(Ok(self.table.push(bucket)?))
    }
}

impl kv_store::HostBucket for CallState {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<Option<Vec<u8>>> {
        let bucket = self.bucket(&bucket)?;
        Ok(self.run(bucket.get(&key)).await)
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Answer<()> {
        let bucket = self.bucket(&bucket)?;
        Ok(self.run(bucket.set(&key, &value)).await)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<()> {
        let bucket = self.bucket(&bucket)?;
        Ok(self.run(bucket.delete(&key)).await)
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<bool> {
        let bucket = self.bucket(&bucket)?;
        Ok(self.run(bucket.exists(&key)).await)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> Answer<kv_store::KeyResponse> {
        let bucket = self.bucket(&bucket)?;
        let page = self
            .run(bucket.list_keys(None, cursor.as_deref(), KEYS_PER_PAGE))
            .await;
        Ok(page.map(|page| kv_store::KeyResponse {
            keys: page.keys,
            cursor: page.next_cursor,
        }))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl kv_atomics::Host for CallState {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> Answer<i64> {
        let bucket = self.bucket(&bucket)?;
        Ok(self.run(bucket.increment(&key, delta)).await)
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), kv_atomics::CasError>> {
        let Cas {
            bucket,
            key,
            expected,
        } = self.table.delete(cas)?;
        let swapped = self
            .run(bucket.compare_and_swap(&key, expected.as_deref(), &value))
            .await;
        match swapped {
            Ok(true) => Ok(Ok(())),
            Err(error) => Ok(Err(kv_atomics::CasError::StoreError(error))),
            Ok(false) => {
                let current = match self.run(bucket.get(&key)).await {
                    Ok(current) => current,
                    Err(error) => return Ok(Err(kv_atomics::CasError::StoreError(error))),
                };
                let retry = self.table.push(Cas {
                    bucket,
                    key,
                    expected: current.clone(),
                })?;
                Ok(Err(kv_atomics::CasError::CasFailed((retry, current))))
            }
        }
    }
}

impl kv_atomics::HostCas for CallState {
    async fn new(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<Resource<Cas>> {
        match self.new_cas(&bucket, key).await? {
            Ok((cas, _)) => Ok(Ok(self.table.push(cas)?)),
            Err(error) => Ok(Err(error)),
        }
    }

    async fn new_with_read(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Answer<(Resource<Cas>, Option<Vec<u8>>)> {
        match self.new_cas(&bucket, key).await? {
            Ok((cas, value)) => Ok(Ok((self.table.push(cas)?, value))),
            Err(error) => Ok(Err(error)),
        }
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl kv_batch::Host for CallState {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Answer<Vec<Option<(String, Vec<u8>)>>> {
        let bucket = self.bucket(&bucket)?;
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            match self.run(bucket.get(&key)).await {
                Ok(value) => values.push(value.map(|v| (key, v))),
                Err(error) => return Ok(Err(error)),
            }
        }
        Ok(Ok(values))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Answer<()> {
        let bucket = self.bucket(&bucket)?;
        for (key, value) in key_values {
            if let Err(error) = self.run(bucket.set(&key, &value)).await {
                return Ok(Err(error));
            }
        }
        Ok(Ok(()))
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Answer<()> {
        let bucket = self.bucket(&bucket)?;
        for key in keys {
            if let Err(error) = self.run(bucket.delete(&key)).await {
                return Ok(Err(error));
            }
        }
        Ok(Ok(()))
    }
}
