//! The Redis backend: state shared by any number of hookbox replicas.
//!
//! Layout, for namespace `ns` and key `k`:
//! - `hookbox:kv:{ns}:k`: the value, a plain string (counters as decimal ASCII, so an
//!   operator can `GET` them and `INCRBY` works on them);
//! - `hookbox:kv:{ns}`: the namespace's index, a sorted set of its keys, all scored 0, so
//!   `ZRANGEBYLEX` lists them in byte order (pagination and prefixes) and `ZCARD` counts
//!   them (the key-count quota).
//!
//! Namespaces cannot contain braces ([`crate::KvStore::bucket`] refuses them), so the first
//! `}` ends the namespace and everything after `}:` is the key, whatever bytes it holds:
//! no two (namespace, key) pairs share a Redis key. The braces are also a Redis Cluster
//! hash tag: a namespace's values and index live on one node, as a script needs.
//!
//! Every mutation is one Lua script (sent by `EVALSHA`, loaded on first use), so the value,
//! the index and the quota check change together, atomically for every replica. Reads are
//! single commands.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script, Value};

use crate::{KvError, Quotas, counter};

const PREFIX: &str = "hookbox:kv:";

static SET: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("redis/set.lua")));
static DELETE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("redis/delete.lua")));
static INCREMENT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("redis/increment.lua")));
static COMPARE_AND_SWAP: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("redis/compare_and_swap.lua")));

/// The scripts' refusals: negative integer replies.
const REFUSED_TOO_MANY_KEYS: i64 = -1;
const REFUSED_NOT_AN_INTEGER: i64 = -2;
const REFUSED_OVERFLOW: i64 = -3;

#[derive(Clone)]
pub(crate) struct Redis {
    connection: ConnectionManager,
    /// `host:port` only: the URL may carry a password, and this ends up in errors and logs.
    addr: Arc<str>,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis").field("addr", &self.addr).finish()
    }
}

/// Retries a lost connection briefly: a plugin call's deadline is far shorter than a
/// useful backoff, and the next call tries again anyway. This also makes a wrong address or
/// password at startup an error within a second, not after redis-rs's default of ~6 s.
fn connection_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(250))
}

fn value_key(ns: &str, key: &str) -> String {
    format!("{PREFIX}{{{ns}}}:{key}")
}

fn index_key(ns: &str) -> String {
    format!("{PREFIX}{{{ns}}}")
}

impl Redis {
    pub(crate) async fn connect(url: &str) -> Result<Self, KvError> {
        // redis-rs's URL errors are fixed phrases; they never repeat the URL.
        let client = redis::Client::open(url)
            .map_err(|e| KvError::Backend(format!("invalid Redis URL: {e}")))?;
        let addr: Arc<str> = client.get_connection_info().addr().to_string().into();
        let connection = ConnectionManager::new_with_config(client, connection_config())
            .await
            .map_err(|e| KvError::Backend(format!("cannot connect to Redis at {addr}: {e}")))?;
        Ok(Self { connection, addr })
    }

    pub(crate) async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.query(redis::cmd("GET").arg(value_key(ns, key))).await
    }

    pub(crate) async fn exists(&self, ns: &str, key: &str) -> Result<bool, KvError> {
        self.query(redis::cmd("EXISTS").arg(value_key(ns, key)))
            .await
    }

    pub(crate) async fn key_count(&self, ns: &str) -> Result<u64, KvError> {
        self.query(redis::cmd("ZCARD").arg(index_key(ns))).await
    }

    pub(crate) async fn list(
        &self,
        ns: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, KvError> {
        let lex_bound = |mark: u8, text: &str| [&[mark], text.as_bytes()].concat();
        let min = match after {
            Some(after) => lex_bound(b'(', after),
            None => lex_bound(b'[', prefix),
        };
        // Keys are UTF-8, which never contains 0xFF: every key starting with `prefix` sorts
        // before `prefix` + 0xFF, and every other key after `prefix` sorts after it.
        let max = if prefix.is_empty() {
            b"+".to_vec()
        } else {
            [lex_bound(b'(', prefix), vec![0xFF]].concat()
        };
        self.query(
            redis::cmd("ZRANGEBYLEX")
                .arg(index_key(ns))
                .arg(min)
                .arg(max)
                .arg("LIMIT")
                .arg(0)
                .arg(limit),
        )
        .await
    }

    pub(crate) async fn set(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
        quotas: Quotas,
    ) -> Result<(), KvError> {
        let reply: i64 = self
            .run(
                SET.key(value_key(ns, key))
                    .key(index_key(ns))
                    .arg(key)
                    .arg(value)
                    .arg(quotas.max_keys),
            )
            .await?;
        match reply {
            0 => Ok(()),
            code => Err(self.refusal(code, quotas)),
        }
    }

    pub(crate) async fn delete(&self, ns: &str, key: &str) -> Result<(), KvError> {
        let _: i64 = self
            .run(DELETE.key(value_key(ns, key)).key(index_key(ns)).arg(key))
            .await?;
        Ok(())
    }

    pub(crate) async fn increment(
        &self,
        ns: &str,
        key: &str,
        delta: i64,
        quotas: Quotas,
    ) -> Result<i64, KvError> {
        let reply: Value = self
            .run(
                INCREMENT
                    .key(value_key(ns, key))
                    .key(index_key(ns))
                    .arg(key)
                    .arg(delta)
                    .arg(quotas.max_keys),
            )
            .await?;
        match reply {
            Value::BulkString(counter) => counter::parse(&counter),
            Value::Int(code) => Err(self.refusal(code, quotas)),
            other => Err(self.unexpected(&other)),
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
        let reply: i64 = self
            .run(
                COMPARE_AND_SWAP
                    .key(value_key(ns, key))
                    .key(index_key(ns))
                    .arg(key)
                    .arg(if expected.is_some() { "1" } else { "0" })
                    .arg(expected.unwrap_or_default())
                    .arg(new)
                    .arg(quotas.max_keys),
            )
            .await?;
        match reply {
            1 => Ok(true),
            0 => Ok(false),
            code => Err(self.refusal(code, quotas)),
        }
    }

    async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, KvError> {
        command
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|e| self.failed(&e))
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &redis::ScriptInvocation<'_>,
    ) -> Result<T, KvError> {
        script
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| self.failed(&e))
    }

    fn refusal(&self, code: i64, quotas: Quotas) -> KvError {
        match code {
            REFUSED_TOO_MANY_KEYS => quotas.too_many_keys(),
            REFUSED_NOT_AN_INTEGER => KvError::NotAnInteger,
            REFUSED_OVERFLOW => KvError::Overflow,
            other => self.unexpected(&Value::Int(other)),
        }
    }

    fn failed(&self, e: &RedisError) -> KvError {
        KvError::Backend(format!("Redis at {}: {e}", self.addr))
    }

    fn unexpected(&self, reply: &Value) -> KvError {
        KvError::Backend(format!(
            "Redis at {}: unexpected script reply {reply:?}",
            self.addr
        ))
    }
}
