//! `data_dir`: what hookbox keeps between runs.
//!
//! ```text
//! data_dir/
//!   state.json          admin-API changes: per plugin, its manifest, live version, history
//!   blobs/<sha256>.wasm the bytes of every version that is live or kept for rollback
//!   cache/…​.cwasm       compiled artifacts (hookbox_runtime::cache)
//! ```
//!
//! Every file is written to a temporary name and renamed, so a crash leaves the old file or
//! the new one, never half of one. Blobs are content-addressed and checked against their
//! name when read.
//!
//! This module is *not* where it is decided what the state means: that is
//! [`crate::registry`]. It only reads and writes it.
//!
//! The decision a reader may question: `state.json` is rewritten whole on every admin
//! change instead of appended to as a log. It holds one small record per changed plugin,
//! changes are rare and operator-driven, and a whole-file rename is the simplest write that
//! is atomic.

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use hookbox_runtime::ArtifactCache;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::manifest::PluginManifest;
use crate::snapshot::VersionInfo;

/// The layout version of `state.json`.
const STATE_FORMAT: u32 = 1;

/// Why `data_dir` could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `state.json` is not what hookbox writes.
    #[error("{path}: not a hookbox state file: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// An admin-API change to one plugin, as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// The plugin.
    pub name: String,
    /// sha256 of the plugin's `[[plugin]]` table when the change was made; `None` for a
    /// plugin the config file did not have. An edit of that table ends the override.
    pub config_table: Option<String>,
    /// The manifest now; `None` = the plugin was deleted.
    pub manifest: Option<PluginManifest>,
    /// The code is the `active` version's blob, not the manifest's `source` file.
    pub pinned: bool,
    /// The live version when this was written.
    pub active: Option<VersionInfo>,
    /// Versions kept for rollback, most recent first.
    pub history: Vec<VersionInfo>,
}

/// Everything in `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Layout version.
    pub format: u32,
    /// One record per plugin the admin API changed, in the order they were first changed.
    pub overrides: Vec<Override>,
}

impl Default for State {
    fn default() -> Self {
        State {
            format: STATE_FORMAT,
            overrides: Vec::new(),
        }
    }
}

/// An opened `data_dir`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    blobs: PathBuf,
    cache: ArtifactCache,
}

impl Store {
    /// Open `dir`, creating it and its subdirectories (mode `0700`) if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let dir = dir.into();
        let blobs = dir.join("blobs");
        for d in [&dir, &blobs] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(d)
                .map_err(|source| StoreError::Io {
                    path: d.clone(),
                    source,
                })?;
        }
        let cache_dir = dir.join("cache");
        let cache = ArtifactCache::open(&cache_dir).map_err(|source| StoreError::Io {
            path: cache_dir,
            source,
        })?;
        Ok(Store { dir, blobs, cache })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The compiled-artifact cache inside it.
    pub fn cache(&self) -> &ArtifactCache {
        &self.cache
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        self.blobs.join(format!("{sha256}.wasm"))
    }

    /// Keep `bytes` (whose sha256 is `sha256`) unless a blob of that name exists.
    pub fn put_blob(&self, sha256: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.blob_path(sha256);
        if path.exists() {
            return Ok(());
        }
        write_atomically(&path, bytes).map_err(|source| StoreError::Io { path, source })
    }

    /// The bytes of version `sha256`, checked against their hash.
    pub fn read_blob(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(sha256);
        let bytes = std::fs::read(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        if hex::encode(Sha256::digest(&bytes)) != sha256 {
            return Err(StoreError::Corrupt {
                path,
                message: "the blob does not match its sha256".into(),
            });
        }
        Ok(bytes)
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The persisted state; empty when there is none yet.
    pub fn load_state(&self) -> Result<State, StoreError> {
        let path = self.state_path();
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let state: State = serde_json::from_slice(&text).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if state.format != STATE_FORMAT {
            return Err(StoreError::Corrupt {
                path,
                message: format!(
                    "format {} is not {STATE_FORMAT}: written by another hookbox version",
                    state.format
                ),
            });
        }
        Ok(state)
    }

    /// Replace the persisted state.
    pub fn save_state(&self, state: &State) -> Result<(), StoreError> {
        let path = self.state_path();
        let mut text = serde_json::to_vec_pretty(state).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        text.push(b'\n');
        write_atomically(&path, &text).map_err(|source| StoreError::Io { path, source })
    }

    /// Delete blobs and compiled artifacts of versions not in `keep`; `fingerprint` is the
    /// engine's (artifacts of other engines go too).
    pub fn retain(&self, keep: &HashSet<String>, fingerprint: &str) {
        if let Ok(entries) = std::fs::read_dir(&self.blobs) {
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name();
                let sha = name.to_str().and_then(|n| n.strip_suffix(".wasm"));
                if sha.is_some_and(|sha| !keep.contains(sha)) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        self.cache.retain(fingerprint, |sha| keep.contains(sha));
    }
}

/// Write `bytes` to `path` through a temporary file beside it and a rename, so a reader sees
/// the whole file or none; the temporary file (mode 0600) is removed if any step fails.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(Path::new(".")))?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map(drop).map_err(|failed| failed.error)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hookbox-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn blobs_round_trip_and_are_checked() {
        let dir = temp_dir("blobs");
        let store = Store::open(&dir).unwrap();
        let bytes = b"\0asm\x0d\x00\x01\x00";
        let sha = hex::encode(Sha256::digest(bytes));
        store.put_blob(&sha, bytes).unwrap();
        assert_eq!(store.read_blob(&sha).unwrap(), bytes);
        // Only the owner reads plugin code, and no temporary file stays behind.
        let mode = std::fs::metadata(store.blob_path(&sha))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(&store.blobs).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::write(store.blob_path(&sha), b"tampered").unwrap();
        assert!(matches!(
            store.read_blob(&sha),
            Err(StoreError::Corrupt { .. })
        ));
        store.retain(&HashSet::new(), "fp");
        assert!(!store.blob_path(&sha).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn state_round_trips_and_refuses_garbage() {
        let dir = temp_dir("state");
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.load_state().unwrap(), State::default());
        let state = State {
            format: STATE_FORMAT,
            overrides: vec![Override {
                name: "a".into(),
                config_table: None,
                manifest: None,
                pinned: false,
                active: None,
                history: vec![],
            }],
        };
        store.save_state(&state).unwrap();
        assert_eq!(store.load_state().unwrap(), state);
        std::fs::write(store.state_path(), b"{nope").unwrap();
        assert!(matches!(
            store.load_state(),
            Err(StoreError::Corrupt { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
