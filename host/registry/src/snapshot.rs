//! Loading plugins and publishing the routing snapshot.
//!
//! Compilation runs on tokio's blocking pool, never on a request's task, and a snapshot is
//! published only once every plugin in it has compiled and linked: a broken plugin fails
//! the load and leaves whatever was serving before untouched.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use hookbox_runtime::invoke::ConfigValues;
use hookbox_runtime::{CallLimits, LoadError, LoadedPlugin, Runtime};
use sha2::{Digest, Sha256};

use crate::manifest::{ManifestError, PluginManifest};

/// A loaded plugin version with everything a call needs.
#[derive(Debug)]
pub struct PluginEntry {
    /// The manifest it was loaded from.
    pub manifest: PluginManifest,
    /// The compiled, pre-instantiated component.
    pub plugin: LoadedPlugin,
    /// Lower-case hex sha256 of the component bytes: the version's identity.
    pub sha256: String,
    /// Where the bytes came from (resolved path).
    pub source: PathBuf,
    /// The config values the plugin may read.
    pub config: ConfigValues,
    /// The limits each call runs under.
    pub limits: CallLimits,
}

/// An immutable routing table: which plugins run, in which order, for each command.
#[derive(Debug, Default)]
pub struct Snapshot {
    plugins: Vec<Arc<PluginEntry>>,
    routes: HashMap<String, Arc<[Arc<PluginEntry>]>>,
}

impl Snapshot {
    /// Build the routes of `plugins` (in config order): each command's chain is sorted by
    /// priority, ties keeping config order; disabled plugins get no routes.
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

    /// Every loaded plugin, in config order.
    pub fn plugins(&self) -> &[Arc<PluginEntry>] {
        &self.plugins
    }
}

/// Why plugins could not be loaded.
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
    /// The component was refused.
    #[error("plugin {name:?} ({path}): {source}")]
    Load {
        /// The plugin.
        name: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: LoadError,
    },
    /// The compile task died (it panicked or the runtime shut down).
    #[error("plugin {0:?}: the compile task did not finish")]
    CompileTask(String),
}

/// The plugins currently serving, behind an atomic pointer.
pub struct Registry {
    runtime: Arc<Runtime>,
    current: ArcSwap<Snapshot>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("plugins", &self.current.load().plugins.len())
            .finish()
    }
}

impl Registry {
    /// An empty registry on `runtime`.
    pub fn new(runtime: Arc<Runtime>) -> Self {
        Registry {
            runtime,
            current: ArcSwap::from_pointee(Snapshot::default()),
        }
    }

    /// The runtime plugins run on.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The snapshot to serve one request from: take it once, use it to the end.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Load every manifest (sources relative to `base_dir`) and publish them as the new
    /// snapshot, or change nothing if any of them fails.
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
        let mut entries = Vec::with_capacity(manifests.len());
        for manifest in manifests {
            entries.push(Arc::new(self.load(manifest.clone(), base_dir).await?));
        }
        self.current.store(Arc::new(Snapshot::new(entries)));
        Ok(())
    }

    /// Read, hash, compile and validate one plugin. Publishes nothing.
    pub async fn load(
        &self,
        manifest: PluginManifest,
        base_dir: &Path,
    ) -> Result<PluginEntry, RegistryError> {
        manifest.validate()?;
        let path = base_dir.join(&manifest.source);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|source| RegistryError::Read {
                name: manifest.name.clone(),
                path: path.clone(),
                source,
            })?;
        let runtime = self.runtime.clone();
        let name = manifest.name.clone();
        let (sha256, loaded) = tokio::task::spawn_blocking(move || {
            let sha256 = hex::encode(Sha256::digest(&bytes));
            (sha256, runtime.load(&name, &bytes))
        })
        .await
        .map_err(|_| RegistryError::CompileTask(manifest.name.clone()))?;
        let plugin = loaded.map_err(|source| RegistryError::Load {
            name: manifest.name.clone(),
            path: path.clone(),
            source,
        })?;
        tracing::info!(
            plugin = %manifest.name,
            sha256 = %sha256,
            compile_ms = plugin.compile_time().as_millis() as u64,
            "plugin loaded"
        );
        let config: BTreeMap<String, String> = manifest.grants.config.clone();
        Ok(PluginEntry {
            limits: manifest.limits.call_limits(),
            config: Arc::new(config),
            manifest,
            plugin,
            sha256,
            source: path,
        })
    }
}
