//! The compiled-artifact cache: components compiled by this engine, kept on disk so that a
//! restart loads them in milliseconds instead of recompiling (JS and Python components take
//! seconds each).
//!
//! A cache file is named by the sha256 of the component's bytes and a fingerprint of the
//! engine (wasmtime version and every code-generation setting), so a different engine never
//! even looks at another's artifacts. It holds the artifact exactly as
//! `Engine::precompile_component` produced it, from byte 0, followed by a trailer: the
//! artifact's sha256 and a magic string. A file whose trailer is missing or does not match
//! (torn write, disk corruption) is deleted and the component compiled again.
//!
//! An intact file is mapped into memory, not read into it (`Component::deserialize_file`):
//! the process then holds only the pages it touches, clean and backed by the file, which the
//! kernel may drop and read again. Machine code is paged in as it runs, and a component's
//! initial linear memory is mapped copy-on-write from the same file instead of being copied
//! into an anonymous image. With the JS and Python examples loaded this is the difference
//! between 91 MiB of anonymous memory and 8 MiB of file pages. That is why the artifact starts
//! at offset 0 (wasmtime maps the whole file and reads the ELF from its start) and the check
//! data comes after it, where wasmtime's ELF reader, which goes by section headers, never
//! looks. A component is compiled straight into its cache file and then mapped from it, so
//! the first start holds no more code than a restart.
//!
//! Mapping brings a rule: a cache file is never changed in place. The cache only writes a new
//! file and renames it over the old one, and deletes by unlinking; both leave the mapping of
//! a loaded plugin intact. Rewriting or truncating a mapped file would change the code of a
//! running plugin, or kill the process with `SIGBUS` when it touches a page past the end.
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
//! directory is created `0700`. `docs/adr/015-mapped-compiled-artifacts.md` records why the
//! artifacts are mapped.

use std::fs::File;
use std::hash::Hasher;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, InstanceAllocationStrategy};

use crate::engine::Runtime;
use crate::plugin::{LoadError, LoadedPlugin};

/// Last bytes of every cache file, after the artifact's sha256; bump the number when the file
/// layout changes (it is part of the engine fingerprint, so older files are never read).
const MAGIC: &[u8; 16] = b"hookbox-cwasm-2\n";
const HASH_LEN: usize = 32;
const TRAILER_LEN: usize = HASH_LEN + MAGIC.len();

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
    /// Compiled without a cache (none given, or the artifact could not be written or mapped).
    Uncached,
    /// Shared with a plugin already loaded from the same bytes: nothing was compiled or
    /// mapped (see `SharedCode`).
    Shared,
}

impl CacheUse {
    /// `hit`, `miss`, `uncached` or `shared`, for logs and the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheUse::Hit => "hit",
            CacheUse::Miss => "miss",
            CacheUse::Uncached => "uncached",
            CacheUse::Shared => "shared",
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
        fingerprint(&self.engine)
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
        let entry = self.shared_code.entry(&sha256);
        let mut shared = entry.lock().unwrap_or_else(PoisonError::into_inner);
        let (component, cache_use) = match shared.upgrade() {
            Some(component) => (component, CacheUse::Shared),
            None => {
                let (component, cache_use) = self.load_code(bytes, &sha256, cache)?;
                let component = Arc::new(component);
                *shared = Arc::downgrade(&component);
                (component, cache_use)
            }
        };
        drop(shared);
        let plugin = self.finish_load(name, component, started)?;
        Ok(CachedLoad {
            plugin,
            sha256,
            cache: cache_use,
        })
    }

    /// The compiled component for `bytes`: mapped from `cache`, or compiled (into `cache`
    /// when there is one).
    fn load_code(
        &self,
        bytes: &[u8],
        sha256: &str,
        cache: Option<&ArtifactCache>,
    ) -> Result<(Component, CacheUse), LoadError> {
        let Some(cache) = cache else {
            return Ok((self.compile(bytes)?, CacheUse::Uncached));
        };
        let path = cache.path(sha256, &self.engine_fingerprint());
        if let Some(component) = read_artifact(&self.engine, &path) {
            return Ok((component, CacheUse::Hit));
        }
        // Compiled into the file, then mapped from it like any later start does: code
        // compiled in memory would stay resident, all of it, for as long as the plugin is
        // loaded. If the file cannot be written or read back, the component is compiled
        // again in memory, which only costs time.
        let artifact = self.precompile(bytes)?;
        let written = write_artifact(&path, &artifact);
        drop(artifact);
        let mapped = match written {
            Ok(()) => read_artifact(&self.engine, &path),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot write to the compiled cache; compiling again");
                None
            }
        };
        Ok(match mapped {
            Some(component) => (component, CacheUse::Miss),
            None => (self.compile(bytes)?, CacheUse::Uncached),
        })
    }

    /// Compile `bytes` into an artifact for this engine, with a compiler that is dropped
    /// afterwards. Blocking and CPU-heavy.
    ///
    /// The engine's own compiler keeps the scratch buffers of every thread that compiled
    /// with it, each sized for the largest function that thread has seen, for the engine's
    /// lifetime: about 130 MiB after the JS and Python examples, used again only when a
    /// plugin is compiled again. A second engine with the same settings compiles the same
    /// artifact (wasmtime guarantees it when the compatibility hashes match, which is
    /// checked), and takes its buffers with it when it is dropped.
    fn precompile(&self, bytes: &[u8]) -> Result<Vec<u8>, LoadError> {
        crate::plugin::check_header(bytes)?;
        let compile_error = |e: wasmtime::Error| LoadError::Compile(format!("{e:#}"));
        let mut config = self.engine.config().clone();
        // It never instantiates anything: no instance pool to reserve.
        config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
        let compiler = match Engine::new(&config) {
            Ok(engine) if fingerprint(&engine) == fingerprint(&self.engine) => engine,
            _ => {
                tracing::debug!("no separate compiler engine; compiling with the runtime's");
                self.engine.clone()
            }
        };
        compiler.precompile_component(bytes).map_err(compile_error)
    }
}

/// A short hex digest of everything that makes a compiled artifact usable by `engine`.
fn fingerprint(engine: &Engine) -> String {
    let mut hasher = ShaHasher(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
    hasher.0.update(MAGIC);
    hex::encode(&hasher.0.finalize()[..8])
}

/// The artifact at `path`, mapped, if it is a complete, intact file of ours that this engine
/// accepts; otherwise `None`, and a damaged or incompatible file is removed.
fn read_artifact(engine: &Engine, path: &Path) -> Option<Component> {
    let checked = match CheckedFile::open(path) {
        Ok(Some(checked)) => checked,
        Ok(None) => {
            tracing::warn!(path = %path.display(), "damaged compiled artifact removed; compiling");
            let _ = std::fs::remove_file(path);
            return None;
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read a compiled artifact; compiling");
            return None;
        }
    };
    let component = match deserialize_own(engine, &checked) {
        Ok(component) => component,
        Err(error) => {
            tracing::warn!(path = %path.display(), error = %format!("{error:#}"), "compiled artifact refused by the engine; compiling");
            let _ = std::fs::remove_file(path);
            return None;
        }
    };
    // wasmtime opened the path again to map it; a concurrent load of the same component
    // may have renamed a new file over it in between. That file is ours too, but it is not
    // the one whose hash was checked.
    match checked.still_named() {
        Ok(true) => Some(component),
        Ok(false) | Err(_) => {
            tracing::debug!(path = %path.display(), "compiled artifact replaced while loading; compiling");
            None
        }
    }
}

/// A cache file whose trailer matched its contents, and the handle they were read through.
struct CheckedFile<'a> {
    path: &'a Path,
    file: File,
}

impl<'a> CheckedFile<'a> {
    /// Hash the artifact in `path` and compare with its trailer: `Ok(None)` if the file is not
    /// a complete cache file. Reads through a small buffer, so a large artifact never sits
    /// in this process's memory.
    fn open(path: &'a Path) -> std::io::Result<Option<Self>> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let Some(artifact_len) = len.checked_sub(TRAILER_LEN as u64).filter(|&n| n > 0) else {
            return Ok(None);
        };
        let mut hasher = Sha256::new();
        let hashed = std::io::copy(
            &mut std::io::BufReader::with_capacity(64 << 10, (&mut file).take(artifact_len)),
            &mut hasher,
        )?;
        let mut trailer = [0; TRAILER_LEN];
        file.read_exact(&mut trailer)?;
        let (hash, magic) = trailer.split_at(HASH_LEN);
        let intact =
            hashed == artifact_len && magic == MAGIC && hasher.finalize().as_slice() == hash;
        Ok(intact.then_some(CheckedFile { path, file }))
    }

    /// Whether the path still names the file that was checked (renames always bring a new
    /// inode, and ours cannot be reused while `file` holds it open).
    fn still_named(&self) -> std::io::Result<bool> {
        let (checked, named) = (self.file.metadata()?, std::fs::metadata(self.path)?);
        Ok(checked.dev() == named.dev() && checked.ino() == named.ino())
    }
}

/// Map an artifact from our cache as a component.
///
/// Sound because of where the file comes from, which is the contract
/// `Component::deserialize_file` asks for ("contents previously produced by
/// `Engine::precompile_component` or `Component::serialize`", and "the file referenced must
/// remain unchanged ... for the entire lifetime" of the component):
/// - its only caller, [`read_artifact`], maps it from the cache directory, where the only
///   writer is [`write_artifact`], called by [`Runtime::load_cached`] with the output of
///   `Engine::precompile_component` for wasm bytes, from an engine whose compatibility hash
///   is this engine's; nothing uploaded or supplied by a caller ever reaches this function,
///   only wasm does, and wasm is always compiled here;
/// - the artifact's sha256 was checked against the file's trailer just before (a
///   [`CheckedFile`] exists only for a file that matched), so a torn write or a damaged disk
///   is not loaded; the caller then checks that the path still names the file it hashed;
/// - the trailer follows the artifact and is not part of it: wasmtime 48 (pinned exactly in
///   the workspace) finds everything in the artifact through its ELF header and section
///   headers at their recorded offsets, and never reads bytes past them; this needs checking
///   again when wasmtime is upgraded;
/// - the file is never modified in place while mapped: the cache writes new files and
///   renames them over, and deletes by unlinking;
/// - the file name holds the engine fingerprint, and wasmtime itself also checks the
///   artifact's header against this engine's version and settings and refuses a mismatch
///   with an error, not undefined behaviour.
///
/// What it cannot defend against is someone with write access to `data_dir` planting a file,
/// or rewriting one in place while a plugin maps it (which changes that plugin's code or
/// crashes hookbox with `SIGBUS`): that person can already replace the hookbox binary's
/// state, so `data_dir` is documented as hookbox's alone and created `0700`.
#[allow(
    unsafe_code,
    reason = "loading our own compiled artifacts is the point of the cache; soundness argued above"
)]
fn deserialize_own(engine: &Engine, checked: &CheckedFile<'_>) -> wasmtime::Result<Component> {
    // SAFETY: `checked.path` is a hash-checked cache file whose artifact is the output of
    // `Engine::precompile_component` with this engine's settings, and cache files are never
    // modified in place (see the function's documentation).
    unsafe { Component::deserialize_file(engine, checked.path) }
}

/// Write `artifact` (with its hash and the magic after it) to `path` atomically: a reader
/// sees the whole file or none, and a file already mapped is replaced, never rewritten.
fn write_artifact(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(Path::new(".")))?;
    file.write_all(artifact)?;
    file.write_all(&Sha256::digest(artifact))?;
    file.write_all(MAGIC)?;
    file.as_file().sync_all()?;
    file.persist(path).map(drop).map_err(|failed| failed.error)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuntimeConfig;

    /// `(component)`: the smallest component there is; it compiles, and fails only the
    /// world check.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn engine_and_artifact() -> (Engine, Vec<u8>) {
        let engine = Engine::default();
        let artifact = engine.precompile_component(EMPTY_COMPONENT).unwrap();
        (engine, artifact)
    }

    /// An engine, its artifact, and a cache file holding it (in a directory that lives as
    /// long as the returned guard).
    fn written_artifact() -> (Engine, Vec<u8>, tempfile::TempDir, PathBuf) {
        let (engine, artifact) = engine_and_artifact();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cwasm");
        write_artifact(&path, &artifact).unwrap();
        (engine, artifact, dir, path)
    }

    /// Whether this process maps `path`; `None` where `/proc` cannot tell.
    fn is_mapped(path: &Path) -> Option<bool> {
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        Some(
            maps.lines()
                .any(|line| line.ends_with(path.to_str().unwrap())),
        )
    }

    #[test]
    fn the_artifact_starts_the_file_and_is_mapped_from_it() {
        let (engine, artifact, _dir, path) = written_artifact();

        let file = std::fs::read(&path).unwrap();
        assert_eq!(file.len(), artifact.len() + TRAILER_LEN);
        assert!(file.starts_with(&artifact), "wasmtime maps from offset 0");
        assert!(file.ends_with(MAGIC));

        let component = read_artifact(&engine, &path).expect("an intact file loads");
        assert_ne!(
            is_mapped(&path),
            Some(false),
            "the component maps the file, not a copy"
        );
        drop(component);
        assert_ne!(is_mapped(&path), Some(true));
    }

    #[test]
    fn a_truncated_or_altered_file_is_removed_not_loaded() {
        let (engine, artifact, _dir, path) = written_artifact();
        let whole = std::fs::read(&path).unwrap();

        let mut damaged: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("only the trailer", whole[artifact.len()..].to_vec()),
            ("no trailer", artifact.clone()),
            ("torn in the middle", whole[..whole.len() / 2].to_vec()),
            ("last byte missing", whole[..whole.len() - 1].to_vec()),
            ("a byte appended", [&whole[..], b"x"].concat()),
        ];
        for (what, at) in [
            ("artifact's first byte", 0),
            ("artifact's middle", artifact.len() / 2),
            ("hash", artifact.len()),
            ("magic", whole.len() - 1),
        ] {
            let mut flipped = whole.clone();
            flipped[at] ^= 0x01;
            damaged.push((what, flipped));
        }
        // The layout before artifacts were mapped: magic and hash in front.
        let old_layout = [
            &b"hookbox-cwasm-1\n"[..],
            &Sha256::digest(&artifact),
            &artifact,
        ]
        .concat();
        damaged.push(("the old layout", old_layout));

        for (what, bytes) in damaged {
            std::fs::write(&path, &bytes).unwrap();
            assert!(read_artifact(&engine, &path).is_none(), "{what} was loaded");
            assert!(!path.exists(), "{what} was not removed");
        }
        assert!(
            read_artifact(&engine, &path).is_none(),
            "a missing file is a miss"
        );
    }

    #[test]
    fn a_file_renamed_over_the_checked_one_is_noticed() {
        let (_, artifact, _dir, path) = written_artifact();
        let checked = CheckedFile::open(&path).unwrap().expect("intact");
        assert!(checked.still_named().unwrap());
        // What a concurrent load of the same component does.
        write_artifact(&path, &artifact).unwrap();
        assert!(!checked.still_named().unwrap());
    }

    #[test]
    fn a_mapped_component_outlives_its_file_being_replaced_or_removed() {
        let (engine, artifact) = engine_and_artifact();
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::open(dir.path().join("cache")).unwrap();
        let path = cache.path("sha", "fp");
        write_artifact(&path, &artifact).unwrap();
        let component = read_artifact(&engine, &path).unwrap();
        write_artifact(&path, &artifact).unwrap();
        assert_eq!(cache.retain("other", |_| true), 1);
        assert!(!path.exists());
        // Reading the component's type touches its mapped metadata.
        assert_eq!(component.component_type().exports(&engine).count(), 0);
    }

    #[test]
    fn the_compiler_engine_makes_artifacts_the_runtime_accepts() {
        let runtime = Runtime::new(RuntimeConfig {
            max_concurrent_calls: 1,
            ..RuntimeConfig::default()
        })
        .unwrap();
        // If wasmtime ever counted the allocation strategy in, `precompile` would silently
        // compile with the runtime's own engine and keep its scratch memory.
        let mut config = runtime.engine.config().clone();
        config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
        assert_eq!(
            fingerprint(&Engine::new(&config).unwrap()),
            runtime.engine_fingerprint()
        );

        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::open(dir.path()).unwrap();
        for expected in ["miss", "hit"] {
            // The empty component fails the world check, after the artifact is cached.
            let error = runtime
                .load_cached("empty", EMPTY_COMPONENT, Some(&cache))
                .unwrap_err();
            assert!(
                matches!(error, LoadError::WrongWorld(_)),
                "{expected}: {error}"
            );
            let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert_eq!(files.len(), 1, "{expected}: {files:?}");
        }
        assert!(matches!(
            runtime.load_cached("garbage", b"not wasm", Some(&cache)),
            Err(LoadError::NotWasm)
        ));
    }
}
