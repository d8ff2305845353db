//! Loading a plugin: compile the component once, check it against the host, and keep it
//! pre-instantiated so every call only has to create a store and an instance.
//!
//! This module is *not* where plugins are found, named or swapped: that is the registry.
//! Loading is CPU-heavy (Cranelift compiles the whole component) and blocking; callers on
//! an async runtime run it on a blocking thread. [`crate::cache`] wraps the compile step with
//! an on-disk cache of compiled artifacts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use wasmtime::component::Component;

use crate::bindings::PluginPre;
use crate::engine::Runtime;

/// A compiled, validated, pre-instantiated plugin. Cheap to clone.
#[derive(Clone)]
pub struct LoadedPlugin {
    pub(crate) name: Arc<str>,
    pub(crate) pre: PluginPre<crate::host::CallState>,
    imports: Arc<[String]>,
    /// Whether some import can wait (I/O, clocks, sleep), so that a call can be stuck in the
    /// host where the epoch deadline does not reach it.
    pub(crate) waits_in_host: bool,
    compile_time: Duration,
    /// Keeps the machine code alive for [`SharedCode`], which holds it weakly.
    _code: Arc<Component>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("imports", &self.imports)
            .field("compile_time", &self.compile_time)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// The name the plugin was loaded under (used to tag its logs).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interfaces the component imports, e.g. `wasi:logging/logging@0.1.0-draft`.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// How long compilation and validation took.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }
}

/// Why a plugin was refused at load time.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The bytes are a core wasm module, not a component.
    #[error(
        "not a WebAssembly component: this is a core module; wrap it with `wasm-tools component new` or build for wasm32-wasip2"
    )]
    CoreModule,
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly component: the file does not start with the wasm magic bytes")]
    NotWasm,
    /// Cranelift refused the component (malformed or unsupported).
    #[error("the component does not compile: {0}")]
    Compile(String),
    /// The component imports something the host does not provide.
    #[error("the component imports something hookbox does not provide: {0}")]
    Link(String),
    /// The component does not export `hookbox:plugin/handler@0.1.0`.
    #[error("the component does not implement the hookbox:plugin@0.1.0 world: {0}")]
    WrongWorld(String),
}

impl Runtime {
    /// Compile `bytes` as the plugin `name`, and check that it links against the host and
    /// exports the handler. Blocking and CPU-heavy.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<LoadedPlugin, LoadError> {
        let started = Instant::now();
        let component = self.compile(bytes)?;
        self.finish_load(name, Arc::new(component), started)
    }

    /// Check the header and compile `bytes` with Cranelift. Blocking and CPU-heavy.
    pub(crate) fn compile(&self, bytes: &[u8]) -> Result<Component, LoadError> {
        check_header(bytes)?;
        Component::new(&self.engine, bytes).map_err(|e| LoadError::Compile(format!("{e:#}")))
    }

    /// Link a compiled component against the host and check that it exports the handler.
    pub(crate) fn finish_load(
        &self,
        name: &str,
        component: Arc<Component>,
        started: Instant,
    ) -> Result<LoadedPlugin, LoadError> {
        let imports = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect::<Vec<_>>();
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let pre =
            PluginPre::new(instance_pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        let waits_in_host = imports.iter().any(|import| !returns_at_once(import));
        Ok(LoadedPlugin {
            name: name.into(),
            pre,
            waits_in_host,
            imports: imports.into(),
            compile_time: started.elapsed(),
            _code: component,
        })
    }
}

/// The compiled components that loaded plugins use, by the sha256 of their bytes, so that
/// plugins loaded from the same bytes share one copy of the machine code: one component
/// under several names or configs, a version swapped back in while the old one still
/// drains, the copies in a chain.
///
/// Not a cache: an entry lives exactly as long as some loaded plugin uses its code (the map
/// holds it weakly), so unloading the last plugin of a version frees its code as before.
/// The decision a reader may question: a load holds its entry's lock while it compiles, so a
/// second load of the same bytes waits for the first and shares its code instead of
/// compiling a copy; loads of different bytes do not wait for each other.
#[derive(Default)]
pub(crate) struct SharedCode {
    entries: Mutex<HashMap<String, Arc<Mutex<Weak<Component>>>>>,
}

impl SharedCode {
    /// The entry for `sha256`, created if there is none. Dropping entries nobody uses on the
    /// way keeps the map as small as the set of loaded components.
    pub(crate) fn entry(&self, sha256: &str) -> Arc<Mutex<Weak<Component>>> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        // An entry only the map refers to is not locked by any load, so `try_lock` sees it.
        entries.retain(|_, entry| {
            Arc::strong_count(entry) > 1
                || entry
                    .try_lock()
                    .map_or(true, |code| code.strong_count() > 0)
        });
        entries.entry(sha256.to_owned()).or_default().clone()
    }
}

/// Whether every function of the imported interface returns without waiting: hookbox's own
/// logging and config imports only touch the call's state. Everything else (WASI streams,
/// clocks, `wasi:http`, `wasi:keyvalue`) may wait on I/O or time.
fn returns_at_once(import: &str) -> bool {
    const AT_ONCE: &[&str] = &[
        "wasi:logging/logging",
        "wasi:config/store",
        "hookbox:plugin/types",
    ];
    let interface = import
        .split_once('@')
        .map_or(import, |(name, _version)| name);
    AT_ONCE.contains(&interface)
}

pub(crate) fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8] = b"\0asm";
    const COMPONENT_LAYER: [u8; 2] = [0x01, 0x00];
    match bytes.get(..8) {
        Some(head) if head.starts_with(MAGIC) => {
            if head[6..8] == COMPONENT_LAYER {
                Ok(())
            } else {
                Err(LoadError::CoreModule)
            }
        }
        _ => Err(LoadError::NotWasm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_logging_config_and_types_count_as_returning_at_once() {
        assert!(returns_at_once("wasi:logging/logging@0.1.0-draft"));
        assert!(returns_at_once("wasi:config/store@0.2.0-rc.1"));
        assert!(returns_at_once("hookbox:plugin/types@0.1.0"));
        for waits in [
            "wasi:io/poll@0.2.12",
            "wasi:cli/stdout@0.2.6",
            "wasi:clocks/monotonic-clock@0.2.6",
            "wasi:http/outgoing-handler@0.2.12",
            "wasi:keyvalue/store@0.2.0-draft2",
            "wasi:logging/logging-extra",
        ] {
            assert!(!returns_at_once(waits), "{waits}");
        }
    }

    #[test]
    fn header_tells_components_from_modules_and_garbage() {
        assert!(check_header(b"\0asm\x0d\x00\x01\x00rest").is_ok());
        assert!(matches!(
            check_header(b"\0asm\x01\x00\x00\x00"),
            Err(LoadError::CoreModule)
        ));
        assert!(matches!(
            check_header(b"<html>not wasm"),
            Err(LoadError::NotWasm)
        ));
        assert!(matches!(check_header(b""), Err(LoadError::NotWasm)));
    }
}
