//! `[kv]` and `[queue]`: where plugins' key-value buckets and the durable queue of
//! after-callbacks live, and the queue's limits and retry policy.
//!
//! Both default to an embedded redb file in `server.data_dir` (`kv.redb`, `queue.redb`), so a
//! hookbox needs no setup; `backend = "redis"` with a `url` shares them between replicas.
//! Opening them is [`crate::stores`]; this module only reads and checks the tables.
//!
//! The decision a reader may question: a Redis URL is kept in a type of its own whose `Debug`
//! and serialised forms drop the password. The URL may carry credentials
//! (`redis://user:password@host`), and the config is logged and shown in errors in several
//! places; making the redaction the type's behaviour means none of them can forget it.

use serde::{Deserialize, Serialize};

/// Where a store lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A redb file in `server.data_dir`, held by this process alone.
    #[default]
    Embedded,
    /// A Redis server at `url`, shared by every hookbox pointing at it.
    Redis,
}

/// A Redis URL, `redis://[user:password@]host:port[/db]`. Its `Debug` and serialised forms
/// show it without the password; [`RedisUrl::expose`] is for connecting only.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL as configured, password included: hand it to the Redis client, nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`, for logs.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return "<not a URL>".to_owned();
        };
        // The last `@` anywhere, not just before the first `/`: a password with an unescaped
        // `/` or `@` is still hidden whole (a path never holds an `@`).
        match rest.rsplit_once('@') {
            None => self.0.clone(),
            Some((userinfo, host_and_path)) => {
                let user = userinfo.split_once(':').map_or("", |(user, _)| user);
                if user.is_empty() {
                    format!("{scheme}://***@{host_and_path}")
                } else {
                    format!("{scheme}://{user}:***@{host_and_path}")
                }
            }
        }
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({})", self.redacted())
    }
}

impl Serialize for RedisUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

/// `[kv]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KvConfig {
    /// `embedded` (`data_dir/kv.redb`) or `redis`.
    pub backend: Backend,
    /// The Redis server, for `backend = "redis"` (required then, refused otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<RedisUrl>,
    /// How long one kv operation of a plugin may take before the plugin gets an error, in
    /// milliseconds.
    pub op_timeout_ms: u64,
}

impl Default for KvConfig {
    fn default() -> Self {
        KvConfig {
            backend: Backend::Embedded,
            url: None,
            op_timeout_ms: 500,
        }
    }
}

/// `[queue]`: the durable queue after-callbacks go through (`delivery = "queued"` plugins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    /// `embedded` (`data_dir/queue.redb`) or `redis` (Redis Streams, shared by replicas).
    pub backend: Backend,
    /// The Redis server, for `backend = "redis"` (required then, refused otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<RedisUrl>,
    /// Most events waiting in one plugin's queue (leased and retrying ones included); one
    /// more goes to that plugin's dead letters, and the IM server is still answered.
    pub max_items: u64,
    /// Deliveries of an event (the first included) before it goes to the dead letters.
    pub max_attempts: u32,
    /// Delay before the first retry, in milliseconds; it doubles with each failure.
    pub base_backoff_ms: u64,
    /// Longest delay between two deliveries of an event, in milliseconds.
    pub max_backoff_ms: u64,
    /// An event whose idempotency key was queued less than this many seconds ago is a
    /// duplicate and is not queued again; 0 turns deduplication off.
    pub dedupe_window_secs: u64,
    /// Calls of one plugin that deliver queued events at once (each on another
    /// conversation: one conversation's events are always delivered one at a time).
    pub concurrency: usize,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            backend: Backend::Embedded,
            url: None,
            max_items: 100_000,
            max_attempts: 8,
            base_backoff_ms: 200,
            max_backoff_ms: 60_000,
            dedupe_window_secs: 600,
            concurrency: 8,
        }
    }
}

/// Most calls of one plugin a queue consumer runs at once.
const MAX_CONCURRENCY: usize = 1024;

/// `backend` and `url` of the table `table` agree: a Redis backend has a `redis://` URL, an
/// embedded one none (a URL there is a mistake that would otherwise go unnoticed).
fn check_backend(table: &str, backend: Backend, url: Option<&RedisUrl>) -> Result<(), String> {
    match (backend, url) {
        (Backend::Embedded, None) => Ok(()),
        (Backend::Embedded, Some(_)) => Err(format!(
            "{table}.url only applies with {table}.backend = \"redis\""
        )),
        (Backend::Redis, None) => Err(format!(
            "{table}.backend = \"redis\" needs {table}.url (redis://host:port)"
        )),
        (Backend::Redis, Some(url)) if !url.expose().starts_with("redis://") => Err(format!(
            "{table}.url {} must start with redis://",
            url.redacted()
        )),
        (Backend::Redis, Some(_)) => Ok(()),
    }
}

impl KvConfig {
    pub(super) fn check(&self) -> Result<(), String> {
        check_backend("kv", self.backend, self.url.as_ref())?;
        if self.op_timeout_ms == 0 || self.op_timeout_ms > 60_000 {
            return Err("kv.op_timeout_ms must be between 1 and 60000".to_owned());
        }
        Ok(())
    }
}

impl QueueSettings {
    pub(super) fn check(&self) -> Result<(), String> {
        check_backend("queue", self.backend, self.url.as_ref())?;
        for (key, value) in [
            ("queue.max_items", self.max_items),
            ("queue.max_attempts", u64::from(self.max_attempts)),
            ("queue.base_backoff_ms", self.base_backoff_ms),
        ] {
            if value == 0 {
                return Err(format!("{key} must be positive"));
            }
        }
        if self.base_backoff_ms > self.max_backoff_ms {
            return Err(format!(
                "queue.base_backoff_ms ({}) must not exceed queue.max_backoff_ms ({})",
                self.base_backoff_ms, self.max_backoff_ms
            ));
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(format!(
                "queue.concurrency must be between 1 and {MAX_CONCURRENCY}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::Config;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("hookbox.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn both_tables_default_to_embedded_files() {
        let config = parse("").unwrap();
        assert_eq!(config.kv, KvConfig::default());
        assert_eq!(config.kv.op_timeout_ms, 500);
        let queue = &config.queue;
        assert_eq!(queue.backend, Backend::Embedded);
        assert_eq!(
            (queue.max_items, queue.max_attempts, queue.concurrency),
            (100_000, 8, 8)
        );
        assert_eq!((queue.base_backoff_ms, queue.max_backoff_ms), (200, 60_000));
        assert_eq!(queue.dedupe_window_secs, 600);
    }

    #[test]
    fn redis_needs_a_url_and_the_password_never_shows() {
        let text = "[kv]\nbackend = \"redis\"\nurl = \"redis://app:hunter2@10.0.0.5:6379/2\"\nop_timeout_ms = 250\n[queue]\nbackend = \"redis\"\nurl = \"redis://:hunter2@10.0.0.5:6379/\"\nmax_attempts = 3\n";
        let config = parse(text).unwrap();
        assert_eq!(config.kv.backend, Backend::Redis);
        let kv_url = config.kv.url.as_ref().unwrap();
        assert_eq!(kv_url.expose(), "redis://app:hunter2@10.0.0.5:6379/2");
        assert_eq!(kv_url.redacted(), "redis://app:***@10.0.0.5:6379/2");
        let queue_url = config.queue.url.as_ref().unwrap();
        assert_eq!(queue_url.redacted(), "redis://***@10.0.0.5:6379/");
        for shown in [
            format!("{config:?}"),
            serde_json::to_string(&config).unwrap(),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("10.0.0.5:6379"), "{shown}");
        }
        let plain = RedisUrl("redis://127.0.0.1:6379/".to_owned());
        assert_eq!(plain.redacted(), "redis://127.0.0.1:6379/");
        // A password with a `/` or an `@` in it is hidden whole.
        let odd = RedisUrl("redis://u:p@ss/w@h:1/0".to_owned());
        assert_eq!(odd.redacted(), "redis://u:***@h:1/0");
        // `redis://token@host` puts the password where a user name would be: hidden too.
        let token = RedisUrl("redis://hunter2@h:1".to_owned());
        assert_eq!(token.redacted(), "redis://***@h:1");
    }

    #[test]
    fn mistakes_are_refused_naming_the_key() {
        for (text, key) in [
            ("[kv]\nbackend = \"redis\"\n", "kv.url"),
            ("[kv]\nurl = \"redis://h:1/\"\n", "kv.url"),
            (
                "[kv]\nbackend = \"redis\"\nurl = \"http://x:secret@h/\"\n",
                "kv.url",
            ),
            ("[kv]\nop_timeout_ms = 0\n", "kv.op_timeout_ms"),
            ("[kv]\nbackend = \"memcached\"\n", "backend"),
            ("[kv]\nurls = \"x\"\n", "urls"),
            ("[queue]\nbackend = \"redis\"\n", "queue.url"),
            ("[queue]\nmax_items = 0\n", "queue.max_items"),
            ("[queue]\nmax_attempts = 0\n", "queue.max_attempts"),
            ("[queue]\nbase_backoff_ms = 0\n", "queue.base_backoff_ms"),
            (
                "[queue]\nbase_backoff_ms = 5000\nmax_backoff_ms = 1000\n",
                "queue.base_backoff_ms",
            ),
            ("[queue]\nconcurrency = 0\n", "queue.concurrency"),
            ("[queue]\nlease_timeout_ms = 1\n", "lease_timeout_ms"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(key), "{text}: {err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }
}
