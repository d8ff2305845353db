//! `hookbox serve`'s file watcher: a plugin's `source` file that changes on disk (after a
//! `cargo build`) is reloaded, and so is the config file; both through the registry, so a
//! broken build or an invalid config is refused and the old version keeps serving.
//!
//! Directories are watched, not files: builds and editors often replace a file by renaming
//! a new one over it, which a watch on the old file would miss. Events are debounced
//! ([`DEBOUNCE`]) so a build that writes a file in several steps causes one reload.
//!
//! This is *not* a way to change `[server]`, `[openim]` or `[tencent]` at runtime: a config
//! reload applies the `[[plugin]]` tables only, and logs that the rest needs a restart.
//!
//! The decision a reader may question: the config file is reloaded when it changes rather
//! than on SIGHUP. One mechanism then serves sources and config alike, it works where
//! sending a signal is awkward (a ConfigMap update in Kubernetes is a file swap), and an
//! invalid edit is harmless because it is refused with the old config kept.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hookbox_registry::Registry;
use hookbox_server::Config;
use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use tokio::sync::mpsc;

/// How long a file must be quiet before it is reloaded.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(300);

/// The running watcher; dropping it stops watching.
pub(crate) struct Watcher {
    _task: tokio::task::JoinHandle<()>,
}

/// Watch `config_path` and the live plugins' sources, reloading through `registry`.
/// `current` is the config now serving; `base` the directory its paths are relative to.
pub(crate) async fn start(
    registry: Arc<Registry>,
    config_path: &Path,
    base: PathBuf,
    current: Config,
) -> Result<Watcher> {
    let (tx, rx) = mpsc::unbounded_channel();
    let debouncer = new_debouncer(DEBOUNCE, move |result: DebounceEventResult| {
        // The receiver lives as long as the watcher; a send after shutdown is moot.
        let _ = tx.send(result);
    })
    .context("cannot start the file watcher")?;
    let config_path = std::path::absolute(config_path).unwrap_or_else(|_| config_path.into());
    let mut state = State {
        registry,
        config_path,
        base,
        current,
        debouncer,
        watched: BTreeSet::new(),
    };
    state.watch_dirs().await;
    tracing::info!(
        dirs = state.watched.len(),
        "watching plugin sources and the config file"
    );
    Ok(Watcher {
        _task: tokio::spawn(state.run(rx)),
    })
}

struct State {
    registry: Arc<Registry>,
    config_path: PathBuf,
    base: PathBuf,
    current: Config,
    debouncer: Debouncer<RecommendedWatcher>,
    watched: BTreeSet<PathBuf>,
}

impl State {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<DebounceEventResult>) {
        while let Some(result) = rx.recv().await {
            let paths: BTreeSet<PathBuf> = match result {
                Ok(events) => events.into_iter().map(|e| e.path).collect(),
                Err(error) => {
                    tracing::warn!(%error, "file watcher error");
                    continue;
                }
            };
            if paths.contains(&self.config_path) {
                self.reload_config().await;
            }
            let sources = self.registry.source_files().await;
            for path in paths.iter().filter(|p| sources.contains(p)) {
                match self.registry.reload_source(path).await {
                    Ok(changed) => {
                        for (plugin, version) in changed {
                            tracing::info!(
                                plugin = %plugin,
                                sha256 = %version.sha256,
                                path = %path.display(),
                                "plugin reloaded: its source file changed"
                            );
                        }
                    }
                    Err(error) => tracing::error!(
                        path = %path.display(),
                        "source file change refused, the old version keeps serving: {error}"
                    ),
                }
            }
        }
    }

    async fn reload_config(&mut self) {
        let next = match Config::load(&self.config_path) {
            Ok(next) => next,
            Err(error) => {
                tracing::error!("config change refused, the old config stays: {error}");
                return;
            }
        };
        let outside_plugins = |config: &Config| Config {
            plugins: Vec::new(),
            ..config.clone()
        };
        if outside_plugins(&next) != outside_plugins(&self.current) {
            tracing::warn!(
                "config changes outside [[plugin]] tables take effect only after a restart"
            );
        }
        if next.plugins == self.current.plugins {
            return;
        }
        match self.registry.load_all(&next.plugins, &self.base).await {
            Ok(()) => {
                tracing::info!(plugins = next.plugins.len(), "config reloaded");
                self.current = next;
                self.watch_dirs().await;
            }
            Err(error) => {
                tracing::error!("config change refused, the old config stays: {error}");
            }
        }
    }

    /// Watch the config file's directory and every live source's directory.
    async fn watch_dirs(&mut self) {
        let mut dirs: BTreeSet<PathBuf> = self
            .registry
            .source_files()
            .await
            .iter()
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .collect();
        if let Some(dir) = self.config_path.parent() {
            dirs.insert(dir.to_path_buf());
        }
        for dir in dirs.difference(&self.watched.clone()) {
            match self
                .debouncer
                .watcher()
                .watch(dir, RecursiveMode::NonRecursive)
            {
                Ok(()) => {
                    self.watched.insert(dir.clone());
                }
                Err(error) => {
                    tracing::warn!(dir = %dir.display(), %error, "cannot watch a directory");
                }
            }
        }
    }
}
