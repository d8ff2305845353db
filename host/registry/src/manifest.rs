//! One plugin's manifest: the `[[plugin]]` table of `hookbox.toml`.
//!
//! Every table rejects unknown keys, so a typo is an error that names the key instead of a
//! silently ignored setting. Capabilities are deny-by-default: a grant this version cannot
//! honour is refused when the config loads, not when a plugin first uses it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use hookbox_model::Rejection;
use hookbox_runtime::{CallLimits, HostPattern, HttpPolicy, ReusePolicy};
use serde::{Deserialize, Serialize};

use crate::breaker::BreakerPolicy;

/// A plugin as the operator configured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginManifest {
    /// Unique name, `[a-z0-9][a-z0-9-]{0,62}`.
    pub name: String,
    /// Path to the component (`.wasm`), relative to the config file.
    pub source: PathBuf,
    /// How to build the component (`hookbox serve --build`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildSpec>,
    /// The callback commands this plugin handles, e.g. `callbackBeforeSendSingleMsgCommand`.
    pub commands: Vec<String>,
    /// Order in a chain: lower runs first; ties run in config order.
    #[serde(default)]
    pub priority: i32,
    /// What the IM server hears when this plugin fails.
    #[serde(default)]
    pub on_error: OnError,
    /// The error code sent when `on_error = "reject"`.
    #[serde(default = "default_on_error_code")]
    pub on_error_code: i32,
    /// The message sent when `on_error = "reject"`.
    #[serde(default = "default_on_error_message")]
    pub on_error_message: String,
    /// Resource limits for each call.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// Capabilities granted to the plugin.
    #[serde(default)]
    pub grants: Grants,
    /// Whether each call gets a fresh instance or a warm one from a bounded pool.
    #[serde(default, skip_serializing_if = "InstanceMode::is_fresh")]
    pub instances: InstanceMode,
    /// How after-callbacks reach the plugin: through the durable queue after the answer
    /// (`queued`, the default), or inline before it (`sync`). Before-callbacks always run
    /// inline.
    #[serde(default, skip_serializing_if = "Delivery::is_queued")]
    pub delivery: Delivery,
    /// When repeated failures make hookbox stop calling the plugin for a while.
    #[serde(default)]
    pub breaker: BreakerSpec,
    /// Pool settings for `instances = "reuse"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse: Option<ReuseSpec>,
    /// A disabled plugin is loaded and validated but receives no callbacks.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_true() -> bool {
    true
}

fn default_on_error_code() -> i32 {
    5000
}

fn default_on_error_message() -> String {
    "the request could not be checked; try again later".to_owned()
}

/// A build step run before serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// Shell command, run with `sh -c`.
    pub command: String,
    /// Working directory, relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<PathBuf>,
}

/// The answer for a callback when a plugin fails (trap, timeout, limit, error, bad output).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Let the action through, as if the plugin had allowed it (fail open).
    #[default]
    Allow,
    /// Refuse the action with `on_error_code` (fail closed).
    Reject,
}

/// The `breaker` table: after `failures` failed calls in a row, the plugin is skipped (its
/// `on_error` answer stands in) for `cool_down_ms`, then one call probes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSpec {
    /// Consecutive failures that open the breaker; 0 = never.
    pub failures: u32,
    /// How long the plugin is skipped, in milliseconds.
    pub cool_down_ms: u64,
}

impl Default for BreakerSpec {
    fn default() -> Self {
        BreakerSpec {
            failures: 5,
            cool_down_ms: 5_000,
        }
    }
}

impl BreakerSpec {
    /// The breaker policy these settings mean.
    pub fn policy(&self) -> BreakerPolicy {
        BreakerPolicy {
            failures: self.failures,
            cool_down: Duration::from_millis(self.cool_down_ms),
        }
    }
}

/// How a plugin's calls get their instance (see `hookbox_runtime::pool` and ADR 009).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceMode {
    /// A brand-new instance for every call: nothing survives between calls.
    #[default]
    Fresh,
    /// Warm instances called again and again, each retired after `reuse.max_calls` calls,
    /// after any failed call, and past `reuse.retire_memory_mb`. State can leak between
    /// calls of this plugin within those bounds, never to another plugin.
    Reuse,
}

impl InstanceMode {
    fn is_fresh(&self) -> bool {
        *self == InstanceMode::Fresh
    }
}

/// How a plugin gets its after-callbacks (see `docs/adr/010-durable-after-callbacks.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// The event is stored in the durable queue, the IM server is answered at once, and a
    /// consumer delivers the event afterwards: in order per conversation, retried with
    /// backoff, dead-lettered after the last attempt.
    #[default]
    Queued,
    /// The plugin runs before the answer, as for a before-callback; a failure is logged and
    /// the event is not retried.
    Sync,
}

impl Delivery {
    fn is_queued(&self) -> bool {
        *self == Delivery::Queued
    }
}

/// The `reuse` table: how many warm instances, and when each is retired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReuseSpec {
    /// Idle instances kept between calls (a burst beyond this builds extra instances, which
    /// are dropped after their call).
    pub pool_size: usize,
    /// Calls an instance serves before it is retired.
    pub max_calls: u32,
    /// An instance whose linear memory has grown past this many MiB is retired; absent =
    /// three quarters of `limits.memory_mb`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retire_memory_mb: Option<u64>,
}

impl Default for ReuseSpec {
    fn default() -> Self {
        let policy = ReusePolicy::default();
        ReuseSpec {
            pool_size: policy.pool_size,
            max_calls: policy.max_calls,
            retire_memory_mb: None,
        }
    }
}

/// Per-call limits as written in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSpec {
    /// Wall-clock time per call, in milliseconds.
    pub timeout_ms: u64,
    /// Linear memory cap, in MiB.
    pub memory_mb: u64,
    /// Instruction budget per call (wasmtime fuel); absent = unmetered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Largest verdict (modify JSON, reject text) a call may return, in KiB.
    pub max_output_kb: u64,
    /// Log output per call, in KiB.
    pub max_log_kb: u64,
    /// Calls of this plugin that may run at once; one more fails at once with the plugin's
    /// `on_error` answer instead of waiting.
    pub max_concurrency: u32,
}

impl Default for LimitsSpec {
    fn default() -> Self {
        let call = CallLimits::default();
        LimitsSpec {
            timeout_ms: u64::try_from(call.timeout.as_millis()).unwrap_or(u64::MAX),
            memory_mb: (call.memory_bytes >> 20) as u64,
            fuel: call.fuel,
            max_output_kb: (call.max_output_bytes >> 10) as u64,
            max_log_kb: (call.max_log_bytes >> 10) as u64,
            max_concurrency: 64,
        }
    }
}

impl LimitsSpec {
    /// The runtime limits these settings mean.
    pub fn call_limits(&self) -> CallLimits {
        let bytes = |n: u64, shift: u32| {
            usize::try_from(n.saturating_mul(1 << shift)).unwrap_or(usize::MAX)
        };
        CallLimits {
            timeout: Duration::from_millis(self.timeout_ms),
            memory_bytes: bytes(self.memory_mb, 20),
            fuel: self.fuel,
            max_output_bytes: bytes(self.max_output_kb, 10),
            max_log_bytes: bytes(self.max_log_kb, 10),
        }
    }
}

/// Capabilities granted to a plugin. Everything is denied unless listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Values the plugin reads through `wasi:config/store`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Config keys whose values come from environment variables: key → variable name. The
    /// plugin reads them like `config`; their values never appear in `GET /plugins` or logs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// Key-value storage through `wasi:keyvalue`: `kv = true` for a bucket of its own with
    /// the default quotas, or a table (`KvGrant`). Absent or `false` = none.
    #[serde(
        default,
        deserialize_with = "deserialize_kv_grant",
        skip_serializing_if = "Option::is_none"
    )]
    pub kv: Option<KvGrant>,
    /// Where the plugin may send HTTP requests through `wasi:http/outgoing-handler`:
    /// `[scheme://]host[:port]` patterns (`api.example.com` = HTTPS on 443 only,
    /// `http://archive.internal:8080`, `*.example.com`). Empty = no outbound HTTP.
    #[serde(default)]
    pub outbound_hosts: Vec<String>,
    /// Let outbound requests reach private, loopback, link-local and cloud-metadata
    /// addresses (10/8, 127/8, 169.254/16, fc00::/7, …). Off: only public addresses.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_private: bool,
    /// Largest response body an outbound request may return, in KiB (default 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_kb: Option<u64>,
    /// Outbound requests of this plugin in flight at once, across its calls (default 16);
    /// one more fails at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_requests: Option<u32>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl Grants {
    /// The outbound HTTP policy these grants mean; `None` without `outbound_hosts`.
    ///
    /// # Errors
    ///
    /// An `outbound_hosts` entry is not a pattern (what [`PluginManifest::validate`] reports).
    pub fn http_policy(&self) -> Result<Option<HttpPolicy>, hookbox_runtime::PatternError> {
        if self.outbound_hosts.is_empty() {
            return Ok(None);
        }
        let hosts = self
            .outbound_hosts
            .iter()
            .map(|pattern| HostPattern::parse(pattern))
            .collect::<Result<Vec<_>, _>>()?;
        let defaults = HttpPolicy::default();
        Ok(Some(HttpPolicy {
            hosts,
            allow_private: self.allow_private,
            max_response_bytes: self
                .max_response_kb
                .map_or(defaults.max_response_bytes, |kb| kb.saturating_mul(1024)),
            max_concurrent_requests: self
                .max_concurrent_requests
                .map_or(defaults.max_concurrent_requests, |n| n as usize),
        }))
    }
}

/// The `grants.kv` table: the plugin's own bucket's quotas, and the shared buckets it may open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KvGrant {
    /// Shared buckets this plugin may open by name (every plugin naming a bucket sees the
    /// same keys); its own bucket needs no name.
    pub buckets: Vec<String>,
    /// Keys per bucket.
    pub max_keys: u64,
    /// Largest value, in KiB.
    pub max_value_kb: u64,
    /// Longest key, in bytes.
    pub max_key_bytes: usize,
}

impl Default for KvGrant {
    fn default() -> Self {
        let quotas = hookbox_kv::Quotas::default();
        KvGrant {
            buckets: Vec::new(),
            max_keys: quotas.max_keys,
            max_value_kb: (quotas.max_value_bytes >> 10) as u64,
            max_key_bytes: quotas.max_key_bytes,
        }
    }
}

impl KvGrant {
    /// The quotas of every bucket this grant opens.
    pub fn quotas(&self) -> hookbox_kv::Quotas {
        hookbox_kv::Quotas {
            max_key_bytes: self.max_key_bytes,
            max_value_bytes: usize::try_from(self.max_value_kb.saturating_mul(1024))
                .unwrap_or(usize::MAX),
            max_keys: self.max_keys,
        }
    }
}

/// `kv = true`, `kv = false` or `kv = { ... }`.
fn deserialize_kv_grant<'de, D>(deserializer: D) -> Result<Option<KvGrant>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Switch(bool),
        Table(KvGrant),
    }
    match Form::deserialize(deserializer) {
        Ok(Form::Switch(on)) => Ok(on.then(KvGrant::default)),
        Ok(Form::Table(grant)) => Ok(Some(grant)),
        Err(_) => Err(serde::de::Error::custom(
            "grants.kv must be true, false or a table with keys buckets, max_keys, max_value_kb, max_key_bytes",
        )),
    }
}

/// Why a manifest is not acceptable, beyond what the TOML schema checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The name does not match `[a-z0-9][a-z0-9-]{0,62}`.
    #[error(
        "plugin name {0:?} is invalid: use 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
    )]
    InvalidName(String),
    /// The plugin subscribes to no command.
    #[error("plugin {0:?} lists no commands")]
    NoCommands(String),
    /// A limit is zero or out of range.
    #[error("plugin {name:?}: limits.{key} {problem}")]
    BadLimit {
        /// The plugin.
        name: String,
        /// The limit's key.
        key: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A setting of the `reuse` table is out of range, or the table is there without
    /// `instances = "reuse"`.
    #[error("plugin {name:?}: {problem}")]
    BadReuse {
        /// The plugin.
        name: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// `breaker.cool_down_ms` is out of range.
    #[error("plugin {0:?}: breaker.cool_down_ms must be between 1 and 3600000")]
    BadBreaker(String),
    /// A grant is malformed.
    #[error("plugin {name:?}: {problem}")]
    BadGrant {
        /// The plugin.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// A grant this version of hookbox cannot honour.
    #[error("plugin {name:?}: grants.{grant} is not available in this version of hookbox")]
    UnsupportedGrant {
        /// The plugin.
        name: String,
        /// The grant.
        grant: &'static str,
    },
}

/// Whether `name` is a valid plugin name.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let ok_char = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && ok_char(&bytes[0])
        && bytes.iter().all(|c| ok_char(c) || *c == b'-')
}

impl PluginManifest {
    /// Check what the schema cannot: name syntax, non-empty commands, sane limits, grants.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let name = || self.name.clone();
        if !is_valid_name(&self.name) {
            return Err(ManifestError::InvalidName(name()));
        }
        if self.commands.is_empty() {
            return Err(ManifestError::NoCommands(name()));
        }
        let limits = &self.limits;
        let bad = |key, problem| {
            Err(ManifestError::BadLimit {
                name: name(),
                key,
                problem,
            })
        };
        if limits.timeout_ms == 0 || limits.timeout_ms > 60_000 {
            return bad("timeout_ms", "must be between 1 and 60000");
        }
        if limits.memory_mb == 0 || limits.memory_mb > 4096 {
            return bad("memory_mb", "must be between 1 and 4096");
        }
        if limits.fuel == Some(0) {
            return bad("fuel", "must be positive (leave it out for no budget)");
        }
        if limits.max_output_kb == 0 {
            return bad("max_output_kb", "must be positive");
        }
        if limits.max_concurrency == 0 {
            return bad("max_concurrency", "must be positive");
        }
        if self.breaker.cool_down_ms == 0 || self.breaker.cool_down_ms > 3_600_000 {
            return Err(ManifestError::BadBreaker(name()));
        }
        self.validate_reuse()?;
        if let Some(kv) = &self.grants.kv {
            if kv.max_keys == 0 || kv.max_value_kb == 0 || kv.max_key_bytes == 0 {
                return Err(ManifestError::BadGrant {
                    name: name(),
                    problem: "grants.kv quotas must be positive".into(),
                });
            }
            if let Some(bucket) = kv.buckets.iter().find(|b| !is_valid_name(b)) {
                return Err(ManifestError::BadGrant {
                    name: name(),
                    problem: format!(
                        "grants.kv.buckets: {bucket:?} is not a valid bucket name (like plugin names: a-z, 0-9, '-')"
                    ),
                });
            }
        }
        if let Some(key) = self
            .grants
            .secrets
            .keys()
            .find(|k| self.grants.config.contains_key(*k))
        {
            return Err(ManifestError::BadGrant {
                name: name(),
                problem: format!("{key:?} is both in grants.config and in grants.secrets"),
            });
        }
        self.validate_http()?;
        Ok(())
    }

    fn validate_http(&self) -> Result<(), ManifestError> {
        let grants = &self.grants;
        let bad = |problem: String| {
            Err(ManifestError::BadGrant {
                name: self.name.clone(),
                problem,
            })
        };
        if grants.outbound_hosts.is_empty() {
            let set = [
                ("allow_private", grants.allow_private),
                ("max_response_kb", grants.max_response_kb.is_some()),
                (
                    "max_concurrent_requests",
                    grants.max_concurrent_requests.is_some(),
                ),
            ];
            if let Some((key, _)) = set.iter().find(|(_, set)| *set) {
                return bad(format!(
                    "grants.{key} only applies with grants.outbound_hosts"
                ));
            }
            return Ok(());
        }
        if let Err(e) = grants.http_policy() {
            return bad(format!("grants.outbound_hosts: {e}"));
        }
        if grants.max_response_kb == Some(0) {
            return bad("grants.max_response_kb must be positive".into());
        }
        if grants.max_concurrent_requests == Some(0) {
            return bad("grants.max_concurrent_requests must be positive".into());
        }
        Ok(())
    }

    fn validate_reuse(&self) -> Result<(), ManifestError> {
        let bad = |problem| {
            Err(ManifestError::BadReuse {
                name: self.name.clone(),
                problem,
            })
        };
        let Some(reuse) = &self.reuse else {
            return Ok(());
        };
        if self.instances == InstanceMode::Fresh {
            return bad("the reuse table only applies with instances = \"reuse\"");
        }
        if reuse.pool_size == 0 || reuse.pool_size > 64 {
            return bad("reuse.pool_size must be between 1 and 64");
        }
        if reuse.max_calls == 0 {
            return bad("reuse.max_calls must be positive");
        }
        if let Some(mb) = reuse.retire_memory_mb
            && (mb == 0 || mb > self.limits.memory_mb)
        {
            return bad("reuse.retire_memory_mb must be between 1 and limits.memory_mb");
        }
        Ok(())
    }

    /// The pool policy for `instances = "reuse"`; `None` for fresh instances.
    pub fn reuse_policy(&self) -> Option<ReusePolicy> {
        if self.instances == InstanceMode::Fresh {
            return None;
        }
        let spec = self.reuse.clone().unwrap_or_default();
        let retire_mb = spec
            .retire_memory_mb
            .unwrap_or(self.limits.memory_mb.saturating_mul(3) / 4);
        Some(ReusePolicy {
            pool_size: spec.pool_size,
            max_calls: spec.max_calls,
            retire_memory_bytes: usize::try_from(retire_mb.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
        })
    }

    /// The verdict that stands in for this plugin when it fails.
    pub fn failure_verdict(&self) -> Option<Rejection> {
        match self.on_error {
            OnError::Allow => None,
            OnError::Reject => Some(Rejection {
                code: self.on_error_code,
                message: self.on_error_message.clone(),
                detail: format!("plugin {} failed", self.name),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PluginManifest, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_are_fail_open_with_default_limits() {
        let m = parse("name = \"a\"\nsource = \"a.wasm\"\ncommands = [\"c\"]\n").unwrap();
        assert_eq!(m.on_error, OnError::Allow);
        assert_eq!(m.limits, LimitsSpec::default());
        assert_eq!(m.limits.call_limits(), CallLimits::default());
        assert!(m.enabled);
        assert_eq!(m.failure_verdict(), None);
        m.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let err = parse("name = \"a\"\nsource = \"a.wasm\"\ncommands = [\"c\"]\ntimeout = 5\n")
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `timeout`"), "{err}");
        let err = parse(
            "name = \"a\"\nsource = \"a.wasm\"\ncommands = [\"c\"]\nlimits = { timeout = 5 }\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `timeout`"), "{err}");
    }

    #[test]
    fn reuse_mode_has_bounded_defaults_and_checked_settings() {
        let base = "name = \"a\"\nsource = \"a.wasm\"\ncommands = [\"c\"]\n";
        assert_eq!(parse(base).unwrap().reuse_policy(), None);
        let m = parse(&format!(
            "{base}instances = \"reuse\"\nlimits = {{ memory_mb = 64 }}\n"
        ))
        .unwrap();
        m.validate().unwrap();
        assert_eq!(
            m.reuse_policy(),
            Some(ReusePolicy {
                pool_size: 4,
                max_calls: 1000,
                retire_memory_bytes: 48 << 20,
            })
        );
        let m = parse(&format!(
            "{base}instances = \"reuse\"\nreuse = {{ pool_size = 2, max_calls = 3, retire_memory_mb = 5 }}\n"
        ))
        .unwrap();
        assert_eq!(
            m.reuse_policy(),
            Some(ReusePolicy {
                pool_size: 2,
                max_calls: 3,
                retire_memory_bytes: 5 << 20,
            })
        );
        for (settings, problem) in [
            ("reuse = { max_calls = 3 }", "only applies"),
            (
                "instances = \"reuse\"\nreuse = { pool_size = 0 }",
                "pool_size",
            ),
            (
                "instances = \"reuse\"\nreuse = { max_calls = 0 }",
                "max_calls",
            ),
            (
                "instances = \"reuse\"\nreuse = { retire_memory_mb = 33 }",
                "retire_memory_mb",
            ),
        ] {
            let err = parse(&format!("{base}{settings}\n"))
                .unwrap()
                .validate()
                .unwrap_err();
            assert!(err.to_string().contains(problem), "{settings}: {err}");
        }
        let err = parse(&format!("{base}instances = \"warm\"\n")).unwrap_err();
        assert!(err.to_string().contains("unknown variant `warm`"), "{err}");
    }

    #[test]
    fn kv_grant_is_a_switch_or_a_table() {
        let base = "name = \"a\"\nsource = \"a.wasm\"\ncommands = [\"c\"]\n";
        let kv = |grants: &str| {
            let m = parse(&format!("{base}grants = {grants}\n"))?;
            Ok::<_, toml::de::Error>(m.grants.kv)
        };
        assert_eq!(kv("{}").unwrap(), None);
        assert_eq!(kv("{ kv = false }").unwrap(), None);
        assert_eq!(kv("{ kv = true }").unwrap(), Some(KvGrant::default()));
        let table = kv("{ kv = { buckets = [\"team\"], max_keys = 5 } }")
            .unwrap()
            .unwrap();
        assert_eq!(
            (table.buckets, table.max_keys),
            (vec!["team".to_owned()], 5)
        );
        let err = kv("{ kv = { bucket = \"x\" } }").unwrap_err();
        assert!(err.to_string().contains("grants.kv must be"), "{err}");

        let m = parse(&format!(
            "{base}grants = {{ kv = {{ buckets = [\"Bad Name\"] }} }}\n"
        ))
        .unwrap();
        assert!(matches!(m.validate(), Err(ManifestError::BadGrant { .. })));
        let m = parse(&format!(
            "{base}grants = {{ config = {{ k = \"v\" }}, secrets = {{ k = \"ENV\" }} }}\n"
        ))
        .unwrap();
        assert!(m.validate().unwrap_err().to_string().contains("both"));
    }

    #[test]
    fn reject_policy_carries_its_code() {
        let m = parse(
            "name = \"a\"\nsource = \"a.wasm\"\ncommands = [\"c\"]\non_error = \"reject\"\non_error_code = 5100\n",
        )
        .unwrap();
        assert_eq!(m.failure_verdict().map(|r| r.code), Some(5100));
    }

    #[test]
    fn validation_names_the_problem() {
        let mut m = parse("name = \"a\"\nsource = \"a.wasm\"\ncommands = [\"c\"]\n").unwrap();
        for bad in ["", "A", "-a", "a/b", "../x", &"a".repeat(64)] {
            m.name = bad.to_owned();
            assert_eq!(
                m.validate(),
                Err(ManifestError::InvalidName(bad.to_owned()))
            );
        }
        m.name = "a".into();
        m.limits.timeout_ms = 0;
        assert!(matches!(
            m.validate(),
            Err(ManifestError::BadLimit {
                key: "timeout_ms",
                ..
            })
        ));
        m.limits.timeout_ms = 100;
        m.commands.clear();
        assert_eq!(m.validate(), Err(ManifestError::NoCommands("a".into())));
    }

    #[test]
    fn outbound_http_grants_parse_and_are_checked() {
        let base = "name = \"a\"\nsource = \"a.wasm\"\ncommands = [\"c\"]\n";
        let m = parse(base).unwrap();
        assert_eq!(m.grants.http_policy(), Ok(None));

        let m = parse(&format!(
            "{base}grants = {{ outbound_hosts = [\"api.example.com\", \"http://*.internal.example:8080\"] }}\n"
        ))
        .unwrap();
        m.validate().unwrap();
        let policy = m.grants.http_policy().unwrap().unwrap();
        assert_eq!(
            policy
                .hosts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "https://api.example.com:443",
                "http://*.internal.example:8080"
            ]
        );
        assert!(!policy.allow_private);
        assert_eq!(policy.max_response_bytes, 1 << 20);
        assert_eq!(policy.max_concurrent_requests, 16);
        // Defaults are not written back: GET /plugins and stored fingerprints stay as they were.
        let shown = serde_json::to_value(&m.grants).unwrap();
        assert_eq!(
            shown.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["config", "outbound_hosts"]
        );

        let m = parse(&format!(
            "{base}grants = {{ outbound_hosts = [\"http://localhost:9000\"], allow_private = true, max_response_kb = 4, max_concurrent_requests = 2 }}\n"
        ))
        .unwrap();
        m.validate().unwrap();
        let policy = m.grants.http_policy().unwrap().unwrap();
        assert!(policy.allow_private);
        assert_eq!(
            (policy.max_response_bytes, policy.max_concurrent_requests),
            (4096, 2)
        );

        for (grants, problem) in [
            ("outbound_hosts = [\"ftp://x.example\"]", "scheme"),
            ("outbound_hosts = [\"https://x.example/path\"]", "no path"),
            ("outbound_hosts = [\"*\"]", "wildcard"),
            (
                "allow_private = true",
                "only applies with grants.outbound_hosts",
            ),
            (
                "max_response_kb = 5",
                "only applies with grants.outbound_hosts",
            ),
            (
                "outbound_hosts = [\"x.example\"], max_response_kb = 0",
                "max_response_kb must be positive",
            ),
            (
                "outbound_hosts = [\"x.example\"], max_concurrent_requests = 0",
                "max_concurrent_requests must be positive",
            ),
        ] {
            let err = parse(&format!("{base}grants = {{ {grants} }}\n"))
                .unwrap()
                .validate()
                .unwrap_err();
            assert!(
                matches!(err, ManifestError::BadGrant { .. }),
                "{grants}: {err}"
            );
            assert!(err.to_string().contains(problem), "{grants}: {err}");
        }
        let err = parse(&format!("{base}grants = {{ allow_privat = true }}\n")).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `allow_privat`"),
            "{err}"
        );
    }

    #[test]
    fn delivery_defaults_to_queued_and_is_left_out_when_default() {
        let base = "name = \"a\"\nsource = \"a.wasm\"\ncommands = [\"c\"]\n";
        let m = parse(base).unwrap();
        assert_eq!(m.delivery, Delivery::Queued);
        // Left out when queued, so tables written before the key existed keep their
        // fingerprint (and the admin API's overrides of them stay valid).
        assert!(!serde_json::to_string(&m).unwrap().contains("delivery"));
        let m = parse(&format!("{base}delivery = \"sync\"\n")).unwrap();
        assert_eq!(m.delivery, Delivery::Sync);
        assert!(
            serde_json::to_string(&m)
                .unwrap()
                .contains(r#""delivery":"sync""#)
        );
        let err = parse(&format!("{base}delivery = \"later\"\n")).unwrap_err();
        assert!(err.to_string().contains("queued"), "{err}");
    }
}
