//! The registry: the plugins serving now, and every way to change them while traffic flows.
//!
//! Readers (requests) only ever do one atomic load of the current [`Snapshot`]. Writers
//! (startup, a config reload, a changed `source` file, the admin API) are serialised by one
//! async mutex that no request touches; each change compiles and validates what it needs on
//! the blocking pool, under a time limit, writes `data_dir`, and only then publishes a new
//! snapshot. A change that fails at any step publishes nothing: the old versions keep serving.
//!
//! Two sources decide what runs. The config file's `[[plugin]]` tables are the base. Admin-API
//! changes are *overrides* of single plugins, persisted in `data_dir` ([`crate::store`]) and
//! restored on restart. An override lasts until the plugin's table in the config file is
//! edited, added or removed; then the file wins again. An uploaded or rolled-back version
//! *pins* the plugin's code: its `source` file is no longer watched until the table changes.
//!
//! This module is *not* the file watcher or the HTTP API: the binary watches files and calls
//! [`Registry::load_all`] / [`Registry::reload_source`]; the server maps the admin routes onto
//! [`Registry::replace_code`], [`Registry::add`], [`Registry::patch`], [`Registry::rollback`]
//! and [`Registry::remove`].
//!
//! The decision a reader may question: the write lock is held across compilation, so a slow
//! compile delays other admin changes (never a request). Serialising writers makes every
//! change a clean read-modify-publish of the whole state with no lost updates; compiles are
//! bounded by `compile_timeout`, so the wait is too.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use hookbox_kv::KvStore;
use hookbox_runtime::{
    CachedLoad, Capabilities, HttpAccess, InstancePool, KvAccess, LoadError, LoadedPlugin, Runtime,
};
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, Semaphore};

use crate::breaker::Breaker;
use crate::manifest::{ManifestError, PluginManifest};
use crate::snapshot::{ManagedBy, Origin, PluginEntry, PluginStats, Snapshot, VersionInfo};
use crate::store::{Override, State, Store, StoreError};

/// How a registry keeps and checks versions.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// `data_dir`: persistence of admin changes, blobs for rollback, the compiled cache.
    /// `None` keeps everything in memory (and compiles every time).
    pub store: Option<Store>,
    /// Longest a version may take to compile (including waiting for the compile slot);
    /// past it the version is refused.
    pub compile_timeout: Duration,
    /// Earlier versions kept per plugin for rollback.
    pub keep_previous: usize,
    /// Where plugins granted `grants.kv` keep their keys; `None` refuses such plugins.
    pub kv: Option<KvStore>,
    /// How long one key-value operation may take before the plugin gets an error.
    pub kv_op_timeout: Duration,
    /// Where `grants.secrets` values come from (the environment, or a test's table).
    pub secrets: SecretSource,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            store: None,
            compile_timeout: Duration::from_secs(60),
            keep_previous: 3,
            kv: None,
            kv_op_timeout: Duration::from_millis(500),
            secrets: SecretSource::environment(),
        }
    }
}

/// Looks up a secret's value by environment variable name.
#[derive(Clone)]
pub struct SecretSource(Arc<SecretLookup>);

/// What a [`SecretSource`] calls: variable name in, value out.
type SecretLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

impl SecretSource {
    /// The process environment.
    pub fn environment() -> Self {
        SecretSource(Arc::new(|name| std::env::var(name).ok()))
    }

    /// Any lookup (tests use a table).
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        SecretSource(Arc::new(lookup))
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretSource(..)")
    }
}

/// Why a change to the registry was refused. Nothing was changed when one is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Two plugins have the same name.
    #[error("two plugins are named {0:?}")]
    DuplicateName(String),
    /// The component file could not be read.
    #[error("plugin {name:?}: cannot read {path}: {source}")]
    Read {
        /// The plugin.
        name: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The component was refused (not a component, does not compile, wrong world, imports).
    #[error("plugin {name:?} ({from}): {source}")]
    Load {
        /// The plugin.
        name: String,
        /// Where the bytes came from: a path, or `upload`.
        from: String,
        /// Why.
        source: LoadError,
    },
    /// Compiling took longer than `compile_timeout`.
    #[error("plugin {name:?}: compiling took longer than {limit:?}")]
    CompileTimeout {
        /// The plugin.
        name: String,
        /// The limit.
        limit: Duration,
    },
    /// The compile task died (it panicked or the runtime shut down).
    #[error("plugin {0:?}: the compile task did not finish")]
    CompileTask(String),
    /// No plugin has this name.
    #[error("no plugin is named {0:?}")]
    NotFound(String),
    /// A plugin with this name exists already.
    #[error("a plugin named {0:?} exists already")]
    Exists(String),
    /// A change conditioned on a revision (`If-Match`) found the plugin at another one:
    /// someone changed it since the caller last read it.
    #[error(
        "plugin {name:?} is at revision {current}, not {expected}: it changed since it was read; read it again and retry"
    )]
    RevisionConflict {
        /// The plugin.
        name: String,
        /// The revision the caller expected.
        expected: String,
        /// The plugin's revision now.
        current: String,
    },
    /// Rollback asked of a plugin with no earlier version kept.
    #[error("plugin {0:?} has no earlier version to roll back to")]
    NoPreviousVersion(String),
    /// The PATCH body is not a change hookbox can make.
    #[error("{0}")]
    BadPatch(String),
    /// `data_dir` could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The component imports a capability its manifest does not grant.
    #[error("plugin {name:?}: the component imports {import}, which needs {grant} in its manifest")]
    NotGranted {
        /// The plugin.
        name: String,
        /// The import, e.g. `wasi:keyvalue/store@0.2.0-draft2`.
        import: String,
        /// The grant it needs, e.g. `grants.kv`.
        grant: &'static str,
    },
    /// A capability is granted but this hookbox cannot provide it (e.g. no kv store).
    #[error("plugin {name:?}: {problem}")]
    Unavailable {
        /// The plugin.
        name: String,
        /// What is missing. Never a secret's value.
        problem: String,
    },
    /// A kept version's bytes are gone (no `data_dir`, or its blob was removed).
    #[error("plugin {name:?}: the bytes of version {sha256} are no longer available")]
    VersionGone {
        /// The plugin.
        name: String,
        /// The version.
        sha256: String,
    },
}

/// What a change through the admin API left live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The version live now.
    pub version: VersionInfo,
    /// `false` when the bytes were those of the live version already (nothing changed).
    pub changed: bool,
    /// The plugin's revision after the change ([`PluginEntry::revision`]), taken under the
    /// writer lock, so it is the revision of exactly this change's result.
    ///
    /// [`PluginEntry::revision`]: crate::PluginEntry::revision
    pub revision: String,
}

/// A live version: its identity and its code.
#[derive(Clone)]
struct Live {
    info: VersionInfo,
    plugin: LoadedPlugin,
}

/// A version kept for rollback; its code is `None` when it was restored from `data_dir`
/// and has not been loaded since (rollback then loads it from its blob).
#[derive(Clone)]
struct Kept {
    info: VersionInfo,
    plugin: Option<LoadedPlugin>,
}

#[derive(Clone)]
struct Slot {
    manifest: PluginManifest,
    active: Live,
    history: VecDeque<Kept>,
    stats: Arc<PluginStats>,
}

impl Slot {
    /// Make `live` the active version; the old one becomes the most recent kept version.
    fn set_active(&mut self, live: Live, keep: usize) {
        let old = std::mem::replace(&mut self.active, live);
        self.history.push_front(Kept {
            info: old.info,
            plugin: Some(old.plugin),
        });
        self.tidy_history(keep);
    }

    /// No duplicates, not the active version, at most `keep` entries.
    fn tidy_history(&mut self, keep: usize) {
        let mut seen = HashSet::from([self.active.info.sha256.clone()]);
        self.history.retain(|k| seen.insert(k.info.sha256.clone()));
        self.history.truncate(keep);
    }

    /// A tag for everything an admin change can alter: the manifest, the live version (its
    /// `loaded_at_ms` included, so a rollback to the same bytes is a new revision) and the
    /// kept versions. Derived from the state rather than counted, so it needs no storage of
    /// its own and survives restarts for plugins whose state does.
    fn revision(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(table_fingerprint(&self.manifest));
        hash.update(serde_json::to_vec(&self.active.info).unwrap_or_default());
        for kept in &self.history {
            hash.update(kept.info.sha256.as_bytes());
        }
        hex::encode(&hash.finalize()[..16])
    }

    /// [`RegistryError::RevisionConflict`] unless `expected` is absent or this revision.
    fn check_revision(&self, expected: Option<&str>) -> Result<(), RegistryError> {
        let Some(expected) = expected else {
            return Ok(());
        };
        let current = self.revision();
        if current == expected {
            Ok(())
        } else {
            Err(RegistryError::RevisionConflict {
                name: self.manifest.name.clone(),
                expected: expected.to_owned(),
                current,
            })
        }
    }

    /// Compiled code for version `sha256`, if this slot still has it in memory.
    fn code(&self, sha256: &str) -> Option<LoadedPlugin> {
        if self.active.info.sha256 == sha256 {
            return Some(self.active.plugin.clone());
        }
        self.history
            .iter()
            .find(|k| k.info.sha256 == sha256)
            .and_then(|k| k.plugin.clone())
    }
}

/// Everything writers change; requests never see it, only the snapshots built from it.
#[derive(Clone, Default)]
struct Control {
    base_dir: PathBuf,
    config: Vec<PluginManifest>,
    slots: Vec<Slot>,
    overrides: Vec<Override>,
}

impl Control {
    fn index(&self, name: &str) -> Result<usize, RegistryError> {
        self.slots
            .iter()
            .position(|s| s.manifest.name == name)
            .ok_or_else(|| RegistryError::NotFound(name.to_owned()))
    }

    fn config_table(&self, name: &str) -> Option<String> {
        self.config
            .iter()
            .find(|m| m.name == name)
            .map(table_fingerprint)
    }

    fn pinned(&self, name: &str) -> bool {
        self.overrides.iter().any(|o| o.name == name && o.pinned)
    }

    /// Record that the admin API now manages the live plugin `name` (pinning its code when
    /// `pin`). The record's manifest and versions are filled in by [`Control::sync_overrides`].
    fn manage(&mut self, name: &str, pin: bool) {
        let config_table = self.config_table(name);
        match self.overrides.iter_mut().find(|o| o.name == name) {
            Some(o) => {
                o.pinned |= pin;
                o.manifest = o.manifest.take().or_else(|| Some(placeholder(name)));
            }
            None => self.overrides.push(Override {
                name: name.to_owned(),
                config_table,
                manifest: Some(placeholder(name)),
                pinned: pin,
                active: None,
                history: Vec::new(),
            }),
        }
    }

    /// Copy each managed plugin's manifest and versions into its override record.
    fn sync_overrides(&mut self) {
        for o in &mut self.overrides {
            if o.manifest.is_none() {
                continue;
            }
            if let Some(slot) = self.slots.iter().find(|s| s.manifest.name == o.name) {
                o.manifest = Some(slot.manifest.clone());
                o.active = Some(slot.active.info.clone());
                o.history = slot.history.iter().map(|k| k.info.clone()).collect();
            }
        }
    }

    fn managed_by(&self, name: &str) -> ManagedBy {
        if self
            .overrides
            .iter()
            .any(|o| o.name == name && o.manifest.is_some())
        {
            ManagedBy::Admin
        } else {
            ManagedBy::Config
        }
    }
}

/// A stand-in replaced by the slot's manifest in `sync_overrides`.
fn placeholder(name: &str) -> PluginManifest {
    PluginManifest {
        name: name.to_owned(),
        source: PathBuf::new(),
        build: None,
        commands: Vec::new(),
        priority: 0,
        on_error: Default::default(),
        on_error_code: 0,
        on_error_message: String::new(),
        limits: Default::default(),
        grants: Default::default(),
        instances: Default::default(),
        delivery: Default::default(),
        breaker: Default::default(),
        reuse: None,
        enabled: false,
    }
}

/// The plugins currently serving, behind an atomic pointer, and the one writer lock.
pub struct Registry {
    runtime: Arc<Runtime>,
    current: ArcSwap<Snapshot>,
    control: Mutex<Control>,
    store: Option<Store>,
    compile_timeout: Duration,
    compile_slot: Arc<Semaphore>,
    keep_previous: usize,
    kv: Option<KvStore>,
    kv_op_timeout: Duration,
    secrets: SecretSource,
    swaps: AtomicU64,
    load_failures: AtomicU64,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("plugins", &self.current.load().plugins().len())
            .field("store", &self.store.as_ref().map(Store::dir))
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// An empty registry on `runtime` that keeps everything in memory.
    pub fn new(runtime: Arc<Runtime>) -> Self {
        Self::build(runtime, RegistryOptions::default(), State::default())
    }

    /// An empty registry on `runtime`; with a store, the admin changes persisted there are
    /// read now and applied by the first [`Registry::load_all`].
    pub fn open(runtime: Arc<Runtime>, options: RegistryOptions) -> Result<Self, RegistryError> {
        let state = match &options.store {
            Some(store) => store.load_state()?,
            None => State::default(),
        };
        Ok(Self::build(runtime, options, state))
    }

    fn build(runtime: Arc<Runtime>, options: RegistryOptions, state: State) -> Self {
        Registry {
            runtime,
            current: ArcSwap::from_pointee(Snapshot::default()),
            control: Mutex::new(Control {
                overrides: state.overrides,
                ..Control::default()
            }),
            store: options.store,
            compile_timeout: options.compile_timeout,
            compile_slot: Arc::new(Semaphore::new(1)),
            keep_previous: options.keep_previous.max(1),
            kv: options.kv,
            kv_op_timeout: options.kv_op_timeout,
            secrets: options.secrets,
            swaps: AtomicU64::new(0),
            load_failures: AtomicU64::new(0),
        }
    }

    /// How many routing snapshots have been published (loads, swaps, rollbacks, removals).
    pub fn swap_count(&self) -> u64 {
        self.swaps.load(Ordering::Relaxed)
    }

    /// How many plugin versions were refused at load (compile, link, world, timeout).
    pub fn load_failure_count(&self) -> u64 {
        self.load_failures.load(Ordering::Relaxed)
    }

    /// The runtime plugins run on.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// `data_dir`, when there is one.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// The snapshot to serve one request from: take it once, use it to the end.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Apply the config file's plugins (sources relative to `base_dir`), with the admin
    /// API's overrides on top, and publish them; or change nothing if any plugin fails.
    /// Used at startup and on every config reload: unchanged plugins are not recompiled.
    pub async fn load_all(
        &self,
        manifests: &[PluginManifest],
        base_dir: &Path,
    ) -> Result<(), RegistryError> {
        let mut seen = HashSet::new();
        for manifest in manifests {
            manifest.validate()?;
            if !seen.insert(manifest.name.as_str()) {
                return Err(RegistryError::DuplicateName(manifest.name.clone()));
            }
        }
        let mut control = self.control.lock().await;
        let mut overrides = control.overrides.clone();
        overrides.retain(|o| {
            let table = manifests
                .iter()
                .find(|m| m.name == o.name)
                .map(table_fingerprint);
            let keep = table == o.config_table;
            if !keep {
                tracing::info!(
                    plugin = %o.name,
                    "the plugin's [[plugin]] table changed in the config file; it replaces the admin API's changes"
                );
            }
            keep
        });
        let mut wanted: Vec<(PluginManifest, Option<Override>)> = Vec::new();
        for manifest in manifests {
            match overrides.iter().find(|o| o.name == manifest.name) {
                Some(o) => {
                    if let Some(m) = &o.manifest {
                        wanted.push((m.clone(), Some(o.clone())));
                    }
                }
                None => wanted.push((manifest.clone(), None)),
            }
        }
        for o in overrides.iter().filter(|o| o.config_table.is_none()) {
            if let Some(m) = &o.manifest {
                wanted.push((m.clone(), Some(o.clone())));
            }
        }

        let mut slots = Vec::with_capacity(wanted.len());
        for (manifest, o) in wanted {
            let old = control
                .slots
                .iter()
                .find(|s| s.manifest.name == manifest.name);
            let pinned = o
                .as_ref()
                .filter(|o| o.pinned)
                .and_then(|o| o.active.clone());
            let live = match pinned {
                Some(info) => {
                    let plugin = self.code_for(&manifest.name, old, &info).await?;
                    Live { info, plugin }
                }
                None => self.load_file(&manifest, base_dir, old).await?,
            };
            let slot = match old {
                Some(old) => {
                    let mut slot = old.clone();
                    slot.manifest = manifest;
                    if slot.active.info.sha256 != live.info.sha256 {
                        slot.set_active(live, self.keep_previous);
                    } else {
                        slot.active = live;
                    }
                    slot
                }
                None => {
                    let history = o
                        .map(|o| o.history)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|info| Kept { info, plugin: None })
                        .collect();
                    let mut slot = Slot {
                        manifest,
                        active: live,
                        history,
                        stats: Arc::default(),
                    };
                    slot.tidy_history(self.keep_previous);
                    slot
                }
            };
            slots.push(slot);
        }
        let next = Control {
            base_dir: base_dir.to_owned(),
            config: manifests.to_vec(),
            slots,
            overrides,
        };
        self.commit(&mut control, next)
    }

    /// The `source` file at `path` changed: reload every plugin whose code comes from it
    /// (not pinned by an upload or rollback). All of them change, or none (a broken build
    /// leaves the old versions serving). Returns the plugins that got a new version.
    pub async fn reload_source(
        &self,
        path: &Path,
    ) -> Result<Vec<(String, VersionInfo)>, RegistryError> {
        let target = absolute(path);
        let mut control = self.control.lock().await;
        let indices: Vec<usize> = (0..control.slots.len())
            .filter(|&i| {
                let m = &control.slots[i].manifest;
                !control.pinned(&m.name) && absolute(&control.base_dir.join(&m.source)) == target
            })
            .collect();
        let mut next = control.clone();
        let mut changed = Vec::new();
        for i in indices {
            let slot = &control.slots[i];
            let live = self
                .load_file(&slot.manifest, &control.base_dir, Some(slot))
                .await?;
            if live.info.sha256 != slot.active.info.sha256 {
                changed.push((slot.manifest.name.clone(), live.info.clone()));
                next.slots[i].set_active(live, self.keep_previous);
            }
        }
        if !changed.is_empty() {
            self.commit(&mut control, next)?;
        }
        Ok(changed)
    }

    /// The `source` files that live plugins' code comes from (absolute paths): what a file
    /// watcher should watch.
    pub async fn source_files(&self) -> Vec<PathBuf> {
        let control = self.control.lock().await;
        let mut files: Vec<PathBuf> = control
            .slots
            .iter()
            .filter(|s| !control.pinned(&s.manifest.name))
            .map(|s| absolute(&control.base_dir.join(&s.manifest.source)))
            .collect();
        files.sort();
        files.dedup();
        files
    }

    /// Replace the code of plugin `name` with `bytes`, keeping its manifest. Returns once
    /// the new version is live (or was live already).
    ///
    /// `if_revision`, here and in the other changes: when given, the change is made only if
    /// the plugin is still at that revision (else [`RegistryError::RevisionConflict`]), checked
    /// under the writer lock, so of two clients racing from the same revision one wins.
    pub async fn replace_code(
        &self,
        name: &str,
        bytes: Vec<u8>,
        if_revision: Option<&str>,
    ) -> Result<Applied, RegistryError> {
        let mut control = self.control.lock().await;
        let i = control.index(name)?;
        control.slots[i].check_revision(if_revision)?;
        let size = bytes.len() as u64;
        let (bytes, sha256) = self.hash(name, bytes).await?;
        let slot = &control.slots[i];
        if slot.active.info.sha256 == sha256 {
            return Ok(Applied {
                version: slot.active.info.clone(),
                changed: false,
                revision: slot.revision(),
            });
        }
        let live = match slot.code(&sha256) {
            Some(plugin) => Live {
                info: version(sha256, Origin::Upload, size),
                plugin,
            },
            None => self.compile(name, bytes, Origin::Upload).await?,
        };
        let version = live.info.clone();
        let mut next = control.clone();
        next.slots[i].set_active(live, self.keep_previous);
        next.manage(name, true);
        let revision = next.slots[i].revision();
        self.commit(&mut control, next)?;
        Ok(Applied {
            version,
            changed: true,
            revision,
        })
    }

    /// Add a plugin that is not loaded now, with `bytes` as its code.
    pub async fn add(
        &self,
        manifest: PluginManifest,
        bytes: Vec<u8>,
    ) -> Result<Applied, RegistryError> {
        manifest.validate()?;
        let mut control = self.control.lock().await;
        if control.index(&manifest.name).is_ok() {
            return Err(RegistryError::Exists(manifest.name));
        }
        let live = self.compile(&manifest.name, bytes, Origin::Upload).await?;
        let version = live.info.clone();
        let name = manifest.name.clone();
        let mut next = control.clone();
        let slot = Slot {
            manifest,
            active: live,
            history: VecDeque::new(),
            stats: Arc::default(),
        };
        let revision = slot.revision();
        next.slots.push(slot);
        next.manage(&name, true);
        self.commit(&mut control, next)?;
        Ok(Applied {
            version,
            changed: true,
            revision,
        })
    }

    /// Change manifest fields of plugin `name` without new code. `patch` is a JSON object
    /// merged into the manifest (RFC 7396: objects merge, `null` removes); it may set
    /// `commands`, `priority`, `limits`, `on_error`, `on_error_code`, `on_error_message`,
    /// `grants`, `enabled`, `delivery`, `instances`, `reuse` and `breaker`. Returns the new
    /// manifest.
    pub async fn patch(
        &self,
        name: &str,
        patch: &serde_json::Value,
        if_revision: Option<&str>,
    ) -> Result<PluginManifest, RegistryError> {
        let mut control = self.control.lock().await;
        let i = control.index(name)?;
        control.slots[i].check_revision(if_revision)?;
        let manifest = patch_manifest(&control.slots[i].manifest, patch)?;
        manifest.validate()?;
        let mut next = control.clone();
        next.slots[i].manifest = manifest.clone();
        next.manage(name, false);
        self.commit(&mut control, next)?;
        Ok(manifest)
    }

    /// Make the most recent kept version of `name` live again. The version rolled back from
    /// is dropped, so repeated rollbacks walk back through the kept versions.
    pub async fn rollback(
        &self,
        name: &str,
        if_revision: Option<&str>,
    ) -> Result<Applied, RegistryError> {
        let mut control = self.control.lock().await;
        let i = control.index(name)?;
        control.slots[i].check_revision(if_revision)?;
        let slot = &control.slots[i];
        let Some(previous) = slot.history.front().cloned() else {
            return Err(RegistryError::NoPreviousVersion(name.to_owned()));
        };
        let plugin = match previous.plugin {
            Some(plugin) => plugin,
            None => self.code_for(name, Some(slot), &previous.info).await?,
        };
        let info = VersionInfo {
            loaded_at_ms: now_ms(),
            ..previous.info
        };
        let mut next = control.clone();
        let slot = &mut next.slots[i];
        slot.history.pop_front();
        slot.active = Live {
            info: info.clone(),
            plugin,
        };
        let revision = slot.revision();
        next.manage(name, true);
        self.commit(&mut control, next)?;
        Ok(Applied {
            version: info,
            changed: true,
            revision,
        })
    }

    /// Remove plugin `name` and its routes. A plugin from the config file stays removed
    /// (across restarts) until its table in the config file changes.
    pub async fn remove(&self, name: &str, if_revision: Option<&str>) -> Result<(), RegistryError> {
        let mut control = self.control.lock().await;
        let i = control.index(name)?;
        control.slots[i].check_revision(if_revision)?;
        let mut next = control.clone();
        next.slots.remove(i);
        next.overrides.retain(|o| o.name != name);
        if let Some(table) = next.config_table(name) {
            next.overrides.push(Override {
                name: name.to_owned(),
                config_table: Some(table),
                manifest: None,
                pinned: false,
                active: None,
                history: Vec::new(),
            });
        }
        self.commit(&mut control, next)
    }

    /// Persist `next`, make it the state, publish its snapshot, and drop files nothing
    /// refers to any more. If persisting fails, nothing changes.
    fn commit(&self, control: &mut Control, mut next: Control) -> Result<(), RegistryError> {
        let capabilities = next
            .slots
            .iter()
            .map(|slot| self.capabilities(slot))
            .collect::<Result<Vec<_>, _>>()?;
        next.sync_overrides();
        if let Some(store) = &self.store {
            store.save_state(&State {
                overrides: next.overrides.clone(),
                ..State::default()
            })?;
        }
        *control = next;
        self.publish(control, capabilities);
        if let Some(store) = &self.store {
            let mut keep = HashSet::new();
            for slot in &control.slots {
                keep.insert(slot.active.info.sha256.clone());
                keep.extend(slot.history.iter().map(|k| k.info.sha256.clone()));
            }
            for o in &control.overrides {
                keep.extend(o.active.iter().map(|v| v.sha256.clone()));
                keep.extend(o.history.iter().map(|v| v.sha256.clone()));
            }
            store.retain(&keep, &self.runtime.engine_fingerprint());
        }
        Ok(())
    }

    /// What `slot`'s plugin may reach: its config and resolved secrets, its buckets, its
    /// outbound hosts. Refuses a component that imports what the manifest does not grant, and
    /// a grant this hookbox cannot honour (a secret's variable unset, kv without a store).
    fn capabilities(&self, slot: &Slot) -> Result<Capabilities, RegistryError> {
        let manifest = &slot.manifest;
        let name = || manifest.name.clone();
        for import in slot.active.plugin.imports() {
            let needs = if import.starts_with("wasi:keyvalue/") && manifest.grants.kv.is_none() {
                Some("grants.kv")
            } else if import.starts_with("wasi:http/") && manifest.grants.outbound_hosts.is_empty()
            {
                Some("grants.outbound_hosts")
            } else {
                None
            };
            if let Some(grant) = needs {
                return Err(RegistryError::NotGranted {
                    name: name(),
                    import: import.clone(),
                    grant,
                });
            }
        }
        let mut config = manifest.grants.config.clone();
        for (key, variable) in &manifest.grants.secrets {
            let value = self
                .secrets
                .get(variable)
                .ok_or_else(|| RegistryError::Unavailable {
                    name: name(),
                    problem: format!(
                        "grants.secrets.{key}: the environment variable {variable} is not set"
                    ),
                })?;
            config.insert(key.clone(), value);
        }
        let kv = match &manifest.grants.kv {
            None => None,
            Some(grant) => {
                let store = self.kv.as_ref().ok_or_else(|| RegistryError::Unavailable {
                    name: name(),
                    problem: "grants.kv needs a key-value store, and this hookbox has none".into(),
                })?;
                let bucket = |namespace: String| {
                    store.bucket(&namespace, grant.quotas()).map_err(|e| {
                        RegistryError::Unavailable {
                            name: name(),
                            problem: format!("grants.kv: {e}"),
                        }
                    })
                };
                let own = bucket(plugin_namespace(&manifest.name))?;
                let shared = grant
                    .buckets
                    .iter()
                    .map(|b| Ok((b.clone(), bucket(shared_namespace(b))?)))
                    .collect::<Result<Vec<_>, RegistryError>>()?;
                Some(Arc::new(KvAccess::new(own, shared, self.kv_op_timeout)))
            }
        };
        Ok(Capabilities {
            config: Arc::new(config),
            kv,
            http: self.http_access(manifest)?,
        })
    }

    /// `manifest`'s outbound HTTP access. The one live for the same grants is kept, so its
    /// count of requests in flight (`grants.max_concurrent_requests`) carries over when
    /// other plugins change or this one gets new code.
    fn http_access(
        &self,
        manifest: &PluginManifest,
    ) -> Result<Option<Arc<HttpAccess>>, RegistryError> {
        let policy = manifest
            .grants
            .http_policy()
            .map_err(|e| RegistryError::Unavailable {
                name: manifest.name.clone(),
                problem: format!("grants.outbound_hosts: {e}"),
            })?;
        let Some(policy) = policy else {
            return Ok(None);
        };
        let live = self.current.load();
        let same = live
            .plugin(&manifest.name)
            .filter(|entry| entry.manifest.grants == manifest.grants)
            .and_then(|entry| entry.capabilities.http.clone());
        Ok(Some(
            same.unwrap_or_else(|| Arc::new(HttpAccess::new(policy))),
        ))
    }

    /// The kv store, if this hookbox has one (the admin API reads plugins' keys from it).
    pub fn kv_store(&self) -> Option<&KvStore> {
        self.kv.as_ref()
    }

    fn publish(&self, control: &Control, capabilities: Vec<Capabilities>) {
        let previous = self.current.load();
        let entries = control
            .slots
            .iter()
            .zip(capabilities)
            .map(|(slot, capabilities)| {
                let limits = slot.manifest.limits.call_limits();
                let pool = slot.manifest.reuse_policy().map(|policy| {
                    // Warm instances survive a publish that does not concern them: same
                    // version, config, limits and policy.
                    previous
                        .plugin(&slot.manifest.name)
                        .filter(|old| {
                            old.sha256 == slot.active.info.sha256
                                && old.manifest.grants == slot.manifest.grants
                                && old.limits == limits
                        })
                        .and_then(|old| old.pool.clone())
                        .filter(|pool| *pool.policy() == policy)
                        .unwrap_or_else(|| {
                            Arc::new(InstancePool::new(
                                slot.active.plugin.clone(),
                                capabilities.clone(),
                                policy,
                            ))
                        })
                });
                let breaker_policy = slot.manifest.breaker.policy();
                let breaker = previous
                    .plugin(&slot.manifest.name)
                    .filter(|old| {
                        old.sha256 == slot.active.info.sha256
                            && old.breaker.policy() == breaker_policy
                    })
                    .map(|old| old.breaker.clone())
                    .unwrap_or_else(|| Arc::new(Breaker::new(breaker_policy)));
                Arc::new(PluginEntry {
                    manifest: slot.manifest.clone(),
                    plugin: slot.active.plugin.clone(),
                    sha256: slot.active.info.sha256.clone(),
                    revision: slot.revision(),
                    version: slot.active.info.clone(),
                    previous: slot.history.iter().map(|k| k.info.clone()).collect(),
                    managed_by: control.managed_by(&slot.manifest.name),
                    capabilities,
                    limits,
                    stats: slot.stats.clone(),
                    breaker,
                    max_concurrency: slot.manifest.limits.max_concurrency,
                    pool,
                })
            })
            .collect();
        self.current.store(Arc::new(Snapshot::new(entries)));
        self.swaps.fetch_add(1, Ordering::Relaxed);
    }

    /// Read `manifest`'s source file and load it, reusing `old`'s code for the same bytes.
    async fn load_file(
        &self,
        manifest: &PluginManifest,
        base_dir: &Path,
        old: Option<&Slot>,
    ) -> Result<Live, RegistryError> {
        let path = base_dir.join(&manifest.source);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|source| RegistryError::Read {
                name: manifest.name.clone(),
                path: path.clone(),
                source,
            })?;
        let size = bytes.len() as u64;
        let origin = Origin::File { path };
        let (bytes, sha256) = self.hash(&manifest.name, bytes).await?;
        if let Some(old) = old {
            if old.active.info.sha256 == sha256 {
                return Ok(old.active.clone());
            }
            if let Some(plugin) = old.code(&sha256) {
                return Ok(Live {
                    info: version(sha256, origin, size),
                    plugin,
                });
            }
        }
        self.compile(&manifest.name, bytes, origin).await
    }

    /// Code for a kept version: from memory if `slot` has it, else from its blob.
    async fn code_for(
        &self,
        name: &str,
        slot: Option<&Slot>,
        info: &VersionInfo,
    ) -> Result<LoadedPlugin, RegistryError> {
        if let Some(plugin) = slot.and_then(|s| s.code(&info.sha256)) {
            return Ok(plugin);
        }
        let gone = || RegistryError::VersionGone {
            name: name.to_owned(),
            sha256: info.sha256.clone(),
        };
        let store = self.store.clone().ok_or_else(gone)?;
        let sha = info.sha256.clone();
        let bytes = tokio::task::spawn_blocking(move || store.read_blob(&sha))
            .await
            .map_err(|_| RegistryError::CompileTask(name.to_owned()))?
            .map_err(|e| {
                tracing::warn!(plugin = name, error = %e, "a kept version cannot be read");
                gone()
            })?;
        Ok(self.compile(name, bytes, info.origin.clone()).await?.plugin)
    }

    /// sha256 of `bytes`, computed on the blocking pool (a component can be tens of MB).
    async fn hash(&self, name: &str, bytes: Vec<u8>) -> Result<(Vec<u8>, String), RegistryError> {
        tokio::task::spawn_blocking(move || {
            let sha = hex::encode(Sha256::digest(&bytes));
            (bytes, sha)
        })
        .await
        .map_err(|_| RegistryError::CompileTask(name.to_owned()))
    }

    /// Compile and validate `bytes` on the blocking pool, within `compile_timeout`, and
    /// keep the bytes in `data_dir` for rollback. A compile that overruns keeps its thread
    /// (Cranelift cannot be interrupted) and the one compile slot until it ends, so a
    /// pathological component delays later compiles, never requests.
    async fn compile(
        &self,
        name: &str,
        bytes: Vec<u8>,
        origin: Origin,
    ) -> Result<Live, RegistryError> {
        let compiled = self.compile_uncounted(name, bytes, origin).await;
        if compiled.is_err() {
            self.load_failures.fetch_add(1, Ordering::Relaxed);
        }
        compiled
    }

    async fn compile_uncounted(
        &self,
        name: &str,
        bytes: Vec<u8>,
        origin: Origin,
    ) -> Result<Live, RegistryError> {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.compile_timeout;
        let timed_out = || RegistryError::CompileTimeout {
            name: name.to_owned(),
            limit: self.compile_timeout,
        };
        let permit = tokio::time::timeout_at(deadline, self.compile_slot.clone().acquire_owned())
            .await
            .map_err(|_| timed_out())?
            .map_err(|_| RegistryError::CompileTask(name.to_owned()))?;
        let runtime = self.runtime.clone();
        let store = self.store.clone();
        let plugin_name = name.to_owned();
        let size = bytes.len() as u64;
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let loaded = runtime
                .load_cached(&plugin_name, &bytes, store.as_ref().map(Store::cache))
                .map_err(CompileFailure::Load)?;
            if let Some(store) = &store {
                store
                    .put_blob(&loaded.sha256, &bytes)
                    .map_err(CompileFailure::Store)?;
            }
            Ok::<CachedLoad, CompileFailure>(loaded)
        });
        let loaded = match tokio::time::timeout_at(deadline, task).await {
            Err(_elapsed) => return Err(timed_out()),
            Ok(Err(_join)) => return Err(RegistryError::CompileTask(name.to_owned())),
            Ok(Ok(Err(CompileFailure::Load(source)))) => {
                return Err(RegistryError::Load {
                    name: name.to_owned(),
                    from: describe(&origin),
                    source,
                });
            }
            Ok(Ok(Err(CompileFailure::Store(e)))) => return Err(e.into()),
            Ok(Ok(Ok(loaded))) => loaded,
        };
        tracing::info!(
            plugin = name,
            sha256 = %loaded.sha256,
            from = %describe(&origin),
            cache = loaded.cache.as_str(),
            load_ms = started.elapsed().as_millis() as u64,
            "plugin version loaded"
        );
        Ok(Live {
            info: version(loaded.sha256, origin, size),
            plugin: loaded.plugin,
        })
    }
}

enum CompileFailure {
    Load(LoadError),
    Store(StoreError),
}

fn describe(origin: &Origin) -> String {
    match origin {
        Origin::File { path } => path.display().to_string(),
        Origin::Upload => "upload".to_owned(),
    }
}

fn version(sha256: String, origin: Origin, size_bytes: u64) -> VersionInfo {
    VersionInfo {
        sha256,
        origin,
        loaded_at_ms: now_ms(),
        size_bytes,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `path` made absolute against the working directory, without touching the file system
/// (the file may be mid-rename while a build replaces it).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Identity of a `[[plugin]]` table: sha256 of its JSON form.
fn table_fingerprint(manifest: &PluginManifest) -> String {
    let json = serde_json::to_vec(manifest).unwrap_or_default();
    hex::encode(Sha256::digest(json))
}

/// The keys a PATCH may change.
const PATCHABLE: &[&str] = &[
    "commands",
    "priority",
    "limits",
    "on_error",
    "on_error_code",
    "on_error_message",
    "grants",
    "enabled",
    "delivery",
    "instances",
    "reuse",
    "breaker",
];

/// `manifest` with `patch` merged in (RFC 7396), checked against the manifest schema.
fn patch_manifest(
    manifest: &PluginManifest,
    patch: &serde_json::Value,
) -> Result<PluginManifest, RegistryError> {
    let serde_json::Value::Object(fields) = patch else {
        return Err(RegistryError::BadPatch(
            "the PATCH body must be a JSON object".into(),
        ));
    };
    if let Some(key) = fields.keys().find(|k| !PATCHABLE.contains(&k.as_str())) {
        return Err(RegistryError::BadPatch(format!(
            "{key:?} cannot be patched; allowed: {}",
            PATCHABLE.join(", ")
        )));
    }
    let mut merged = serde_json::to_value(manifest)
        .map_err(|e| RegistryError::BadPatch(format!("cannot patch this manifest: {e}")))?;
    merge(&mut merged, patch);
    serde_json::from_value(merged).map_err(|e| RegistryError::BadPatch(e.to_string()))
}

fn merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match (target, patch) {
        (serde_json::Value::Object(target), serde_json::Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(
                        target.entry(key.clone()).or_insert(serde_json::Value::Null),
                        value,
                    );
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// The kv namespace of plugin `name`'s own bucket.
pub fn plugin_namespace(name: &str) -> String {
    format!("plugin:{name}")
}

/// The kv namespace of the shared bucket `bucket`.
fn shared_namespace(bucket: &str) -> String {
    format!("shared:{bucket}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> PluginManifest {
        serde_json::from_value(serde_json::json!({
            "name": "a", "source": "a.wasm", "commands": ["c"],
            "limits": { "timeout_ms": 100, "fuel": 5 },
            "grants": { "config": { "x": "1", "y": "2" } }
        }))
        .unwrap()
    }

    #[test]
    fn patch_merges_objects_and_null_removes() {
        let patched = patch_manifest(
            &manifest(),
            &serde_json::json!({
                "priority": 7,
                "limits": { "memory_mb": 8, "fuel": null },
                "grants": { "config": { "y": null, "z": "3" } },
                "enabled": false
            }),
        )
        .unwrap();
        assert_eq!(patched.priority, 7);
        assert_eq!(patched.limits.timeout_ms, 100);
        assert_eq!(patched.limits.memory_mb, 8);
        assert_eq!(patched.limits.fuel, None);
        assert_eq!(patched.grants.config.keys().collect::<Vec<_>>(), ["x", "z"]);
        assert!(!patched.enabled);
        assert_eq!(patched.source, PathBuf::from("a.wasm"));
    }

    #[test]
    fn patch_refuses_identity_fields_unknown_keys_and_bad_types() {
        for bad in [
            serde_json::json!({ "name": "b" }),
            serde_json::json!({ "source": "/etc/passwd" }),
            serde_json::json!({ "build": { "command": "rm -rf /" } }),
            serde_json::json!({ "limits": { "timeout": 5 } }),
            serde_json::json!({ "priority": "high" }),
            serde_json::json!([1]),
        ] {
            assert!(
                matches!(
                    patch_manifest(&manifest(), &bad),
                    Err(RegistryError::BadPatch(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn table_fingerprint_sees_every_field() {
        let a = manifest();
        let mut b = manifest();
        assert_eq!(table_fingerprint(&a), table_fingerprint(&b));
        b.priority = 1;
        assert_ne!(table_fingerprint(&a), table_fingerprint(&b));
    }
}
