//! The routing snapshot and what is in it: each plugin's live version, where that version
//! came from, the versions kept for rollback, and the plugin's call counters.
//!
//! A snapshot is immutable. [`Registry`](crate::Registry) builds a new one for every change
//! and publishes it with one atomic pointer swap; a request takes the snapshot once and
//! finishes on it, so a request that started on version 1 ends on version 1 whatever goes
//! live meanwhile.
//!
//! This module is *not* where versions are compiled, validated or persisted: that is
//! [`crate::registry`] and [`crate::store`].
//!
//! The decision a reader may question: the rollback history and the management state are
//! copied into every [`PluginEntry`], not kept in one place beside the routes. Entries are
//! rebuilt on every change anyway, and this way `GET /plugins` reads a snapshot like any
//! request does, without waiting behind a compile that holds the registry's write lock.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hookbox_runtime::{CallLimits, Capabilities, InstancePool, LoadedPlugin};
use serde::{Deserialize, Serialize};

use crate::breaker::Breaker;
use crate::manifest::PluginManifest;

/// Where a version's bytes came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// The plugin's `source` file (at startup, on a config reload, or after the file changed).
    File {
        /// The file, as resolved against the config file's directory.
        path: PathBuf,
    },
    /// Uploaded through the admin API (`PUT` or `POST /plugins`).
    Upload,
}

/// One version of a plugin: its identity and history, not its code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Lower-case hex sha256 of the component bytes: the version's identity.
    pub sha256: String,
    /// Where the bytes came from.
    pub origin: Origin,
    /// When this version went live, in milliseconds since the Unix epoch.
    pub loaded_at_ms: u64,
    /// Size of the component, in bytes.
    pub size_bytes: u64,
}

/// Who decides a plugin's manifest and code now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagedBy {
    /// Its `[[plugin]]` table in the config file, untouched by the admin API.
    Config,
    /// The admin API changed or added it; the change is persisted in `data_dir` and lasts
    /// until the plugin's table in the config file is edited.
    Admin,
}

/// Call counters of one plugin, shared by all its versions (a swap does not reset them).
#[derive(Debug, Default)]
pub struct PluginStats {
    calls: AtomicU64,
    failures: AtomicU64,
    in_flight: AtomicU64,
}

impl PluginStats {
    /// Count a call that is starting, if fewer than `max_in_flight` are running; the guard
    /// ends it (also when the request is dropped). `None` = the plugin is at its concurrency
    /// limit (counted as a call and a failure: its `on_error` answer stands in).
    pub fn begin(self: &Arc<Self>, max_in_flight: u32) -> Option<CallGuard> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let admitted = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < u64::from(max_in_flight)).then_some(n + 1)
            })
            .is_ok();
        if !admitted {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(CallGuard {
            stats: self.clone(),
        })
    }

    /// Calls started so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Calls that failed (and were answered with the plugin's `on_error`).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Calls running right now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Acquire)
    }
}

/// One running call of a plugin; dropping it ends the call.
#[derive(Debug)]
pub struct CallGuard {
    stats: Arc<PluginStats>,
}

impl CallGuard {
    /// Note that the call failed.
    pub fn failed(&self) {
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.stats.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A live plugin version with everything a call needs.
#[derive(Debug)]
pub struct PluginEntry {
    /// The manifest it runs under.
    pub manifest: PluginManifest,
    /// The compiled, pre-instantiated component.
    pub plugin: LoadedPlugin,
    /// Lower-case hex sha256 of the component bytes: the version's identity.
    pub sha256: String,
    /// The live version: where it came from and when it went live.
    pub version: VersionInfo,
    /// A tag that changes with every change the admin API can make to this plugin (code,
    /// manifest, rollback): what `If-Match` compares against.
    pub revision: String,
    /// Earlier versions kept for rollback, most recent first.
    pub previous: Vec<VersionInfo>,
    /// Whether the config file or the admin API decides this plugin now.
    pub managed_by: ManagedBy,
    /// What the plugin may reach: config values (with secrets), kv buckets.
    pub capabilities: Capabilities,
    /// The limits each call runs under.
    pub limits: CallLimits,
    /// Call counters, shared across versions.
    pub stats: Arc<PluginStats>,
    /// The version's circuit breaker, carried across snapshots while the version and its
    /// breaker settings stay.
    pub breaker: Arc<Breaker>,
    /// Calls of this plugin that may run at once (`limits.max_concurrency`).
    pub max_concurrency: u32,
    /// Warm instances when the plugin runs in reuse mode; `None` for fresh instances.
    /// Shared by the snapshots that follow as long as version, config and limits stay.
    pub pool: Option<Arc<InstancePool>>,
}

/// An immutable routing table: which plugins run, in which order, for each command.
#[derive(Debug, Default)]
pub struct Snapshot {
    plugins: Vec<Arc<PluginEntry>>,
    /// Looked up on every callback, with keys from the operator's config (a sender's lookup
    /// adds nothing): foldhash instead of SipHash.
    routes: foldhash::HashMap<String, Arc<[Arc<PluginEntry>]>>,
}

impl Snapshot {
    /// Build the routes of `plugins` (in registry order): each command's chain is sorted by
    /// priority, ties keeping registry order; disabled plugins get no routes.
    pub fn new(plugins: Vec<Arc<PluginEntry>>) -> Self {
        let mut routes: HashMap<String, Vec<Arc<PluginEntry>>> = HashMap::new();
        for entry in plugins.iter().filter(|e| e.manifest.enabled) {
            let unique: HashSet<&String> = entry.manifest.commands.iter().collect();
            for command in unique {
                routes
                    .entry(command.clone())
                    .or_default()
                    .push(entry.clone());
            }
        }
        let routes = routes
            .into_iter()
            .map(|(command, mut chain)| {
                chain.sort_by_key(|e| e.manifest.priority); // stable: ties keep config order
                (command, Arc::from(chain))
            })
            .collect();
        Snapshot { plugins, routes }
    }

    /// The plugins subscribed to `command`, in the order they run.
    pub fn chain(&self, command: &str) -> &[Arc<PluginEntry>] {
        self.routes.get(command).map_or(&[], |chain| chain)
    }

    /// Every loaded plugin: config order, then plugins added through the admin API.
    pub fn plugins(&self) -> &[Arc<PluginEntry>] {
        &self.plugins
    }

    /// The plugin called `name`, if it is loaded.
    pub fn plugin(&self, name: &str) -> Option<&Arc<PluginEntry>> {
        self.plugins.iter().find(|e| e.manifest.name == name)
    }
}
