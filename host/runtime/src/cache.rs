//! The compiled-artifact cache: components compiled by this engine, kept on disk so that a
//! restart loads them in milliseconds instead of recompiling (JS and Python components take
//! seconds each).
//!
//! A cache file is named by the sha256 of the component's bytes and a fingerprint of the
//! engine (wasmtime version and every code-generation setting), so a different engine never
//! even looks at another's artifacts. Each file carries the sha256 of the artifact it holds;
//! a file whose hash does not match (torn write, disk corruption) is deleted and the
//! component compiled again.
//!
//! This is *not* a way to load precompiled code from anywhere else: nothing here accepts an
//! artifact from a caller. The only artifacts ever loaded are ones [`Runtime::load_cached`]
//! itself compiled from wasm bytes and wrote into the cache directory.
//!
//! The decision a reader may question: loading an artifact is `unsafe` in wasmtime (it is
//! machine code, trusted as such), and the workspace otherwise forbids `unsafe`. It is
//! allowed in exactly one function, [`deserialize_own`], whose soundness rests on the file
//! being our own output (see there). Anyone who can write into the cache directory can make
//! hookbox run arbitrary native code, so `data_dir` must be writable by hookbox alone; the
//! directory is created `0700`.

use std::hash::Hasher;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::engine::Runtime;
use crate::plugin::{LoadError, LoadedPlugin};

/// First bytes of every cache file; bump the number when the file layout changes.
const MAGIC: &[u8; 16] = b"hookbox-cwasm-1\n";
const HASH_LEN: usize = 32;

/// A directory of compiled components, owned by this process's engine configuration.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
}

impl ArtifactCache {
    /// Use (and create, mode `0700`) `dir` for compiled artifacts.
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Ok(ArtifactCache { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, sha256: &str, fingerprint: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{fingerprint}.cwasm"))
    }

    /// Delete every artifact that is not for `fingerprint` (another engine's, never usable
    /// again) or whose component sha256 `keep` rejects. Returns how many files were removed.
    pub fn retain(&self, fingerprint: &str, keep: impl Fn(&str) -> bool) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(stem) = name.strip_suffix(".cwasm") else {
                continue;
            };
            let wanted = stem
                .split_once('-')
                .is_some_and(|(sha, fp)| fp == fingerprint && keep(sha));
            if !wanted && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

/// Where a loaded plugin's machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    /// Loaded from the cache: nothing was compiled.
    Hit,
    /// Compiled, and the artifact written to the cache.
    Miss,
    /// Compiled without a cache (none given, or the artifact could not be written).
    Uncached,
}

impl CacheUse {
    /// `hit`, `miss` or `uncached`, for logs and the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheUse::Hit => "hit",
            CacheUse::Miss => "miss",
            CacheUse::Uncached => "uncached",
        }
    }
}

/// A plugin loaded through [`Runtime::load_cached`].
#[derive(Debug, Clone)]
pub struct CachedLoad {
    /// The validated, pre-instantiated plugin.
    pub plugin: LoadedPlugin,
    /// Lower-case hex sha256 of the component bytes.
    pub sha256: String,
    /// Whether the machine code came from the cache.
    pub cache: CacheUse,
}

impl Runtime {
    /// A short hex digest of everything that makes a compiled artifact usable by this engine:
    /// the wasmtime version and its code-generation settings.
    pub fn engine_fingerprint(&self) -> String {
        let mut hasher = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&self.engine.precompile_compatibility_hash(), &mut hasher);
        hasher.0.update(MAGIC);
        hex::encode(&hasher.0.finalize()[..8])
    }

    /// Like [`Runtime::load`], but reuse the artifact compiled earlier for the same bytes
    /// and engine when `cache` has one, and store a newly compiled one there. Linking and the
    /// world check always run. A cache that cannot be read or written only costs a compile.
    pub fn load_cached(
        &self,
        name: &str,
        bytes: &[u8],
        cache: Option<&ArtifactCache>,
    ) -> Result<CachedLoad, LoadError> {
        let started = Instant::now();
        let sha256 = hex::encode(Sha256::digest(bytes));
        let Some(cache) = cache else {
            let plugin = self.load(name, bytes)?;
            return Ok(CachedLoad {
                plugin,
                sha256,
                cache: CacheUse::Uncached,
            });
        };
        let path = cache.path(&sha256, &self.engine_fingerprint());
        if let Some(component) = read_artifact(&self.engine, &path) {
            let plugin = self.finish_load(name, &component, started)?;
            return Ok(CachedLoad {
                plugin,
                sha256,
                cache: CacheUse::Hit,
            });
        }
        let component = self.compile(bytes)?;
        let cache_use = match component.serialize() {
            Ok(artifact) => match write_artifact(&path, &artifact) {
                Ok(()) => CacheUse::Miss,
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "cannot write to the compiled cache");
                    CacheUse::Uncached
                }
            },
            Err(error) => {
                tracing::warn!(plugin = name, error = %format!("{error:#}"), "cannot serialize a compiled component");
                CacheUse::Uncached
            }
        };
        let plugin = self.finish_load(name, &component, started)?;
        Ok(CachedLoad {
            plugin,
            sha256,
            cache: cache_use,
        })
    }
}

/// The artifact at `path` if it is a complete, intact file of ours that this engine accepts;
/// otherwise `None`, and a damaged or incompatible file is removed.
fn read_artifact(engine: &Engine, path: &Path) -> Option<Component> {
    let file = match std::fs::read(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read a compiled artifact; compiling");
            return None;
        }
    };
    let intact = file.len() > MAGIC.len() + HASH_LEN && file.starts_with(MAGIC) && {
        let (hash, artifact) = file[MAGIC.len()..].split_at(HASH_LEN);
        Sha256::digest(artifact).as_slice() == hash
    };
    if !intact {
        tracing::warn!(path = %path.display(), "damaged compiled artifact removed; compiling");
        let _ = std::fs::remove_file(path);
        return None;
    }
    match deserialize_own(engine, &file[MAGIC.len() + HASH_LEN..]) {
        Ok(component) => Some(component),
        Err(error) => {
            tracing::warn!(path = %path.display(), error = %format!("{error:#}"), "compiled artifact refused by the engine; compiling");
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

/// Turn an artifact from our cache back into a component.
///
/// Sound because of where `artifact` comes from, which is the contract
/// `Component::deserialize` asks for ("bytes previously produced by `Component::serialize`"):
/// - its only caller, [`read_artifact`], reads it from the cache directory, where the only
///   writer is [`write_artifact`], called by [`Runtime::load_cached`] with the output of
///   `Component::serialize` for a component this process compiled from wasm bytes; nothing
///   uploaded or supplied by a caller ever reaches this function, only wasm does, and wasm
///   is always compiled here;
/// - the file carries the sha256 of the artifact, checked before this call, so a torn write
///   or a damaged disk is not loaded;
/// - the file name holds the engine fingerprint, and wasmtime itself also checks the
///   artifact's header against this engine's version and settings and refuses a mismatch
///   with an error, not undefined behaviour.
///
/// What it cannot defend against is someone with write access to `data_dir` planting a file:
/// that person can already replace the hookbox binary's state, so `data_dir` is documented
/// as hookbox's alone and created `0700`.
#[allow(
    unsafe_code,
    reason = "loading our own compiled artifacts is the point of the cache; soundness argued above"
)]
fn deserialize_own(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `artifact` is the hash-checked output of `Component::serialize` from this
    // process's engine configuration (see the function's documentation).
    unsafe { Component::deserialize(engine, artifact) }
}

/// Write `artifact` (with the magic and its hash in front) to `path` atomically: a reader
/// sees the whole file or none.
fn write_artifact(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "tmp-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(MAGIC)?;
        file.write_all(&Sha256::digest(artifact))?;
        file.write_all(artifact)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Feeds `Hash` output into sha256, so the engine's compatibility hash becomes a digest that
/// is stable across processes (std's `DefaultHasher` promises no such thing).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0 // only `write` is used; the digest is read from the inner hasher
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
