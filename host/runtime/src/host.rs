//! The host side of a call: the per-call store data and the imports a plugin may use.
//!
//! Everything here lives as long as one instance: a single call, or up to `max_calls` calls
//! of a plugin in reuse mode, which resets the per-call parts (log budget, memory-cap flag,
//! outbound-request deadline) before each one. Logging is always there: `wasi:logging` lines
//! and the guest's stdout/stderr both end up in the host's `tracing` output, tagged with the
//! plugin name and the callback's operationID, under one byte budget per call so a chatty
//! plugin cannot flood the host's logs. The other ways out (key-value, outbound HTTP) are
//! granted per plugin and live in `kv` and `http`.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{config_store, kv_atomics, kv_batch, kv_store, logging};
use crate::http::{CallHttp, HttpAccess};
use crate::kv::KvAccess;

/// Config values granted to one plugin (`grants.config` and the resolved `grants.secrets`).
pub type ConfigValues = Arc<BTreeMap<String, String>>;

/// What one plugin may reach beyond its own memory, fixed for a plugin version and shared
/// by all its calls. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    /// Values it reads through `wasi:config/store`.
    pub config: ConfigValues,
    /// Its buckets, when it was granted `wasi:keyvalue`.
    pub kv: Option<Arc<KvAccess>>,
    /// Where it may send HTTP requests, when it was granted `grants.outbound_hosts`.
    /// Without it every `wasi:http` request is refused.
    pub http: Option<Arc<HttpAccess>>,
}

impl Capabilities {
    /// Config values and nothing else.
    pub fn config_only(config: ConfigValues) -> Self {
        Capabilities {
            config,
            kv: None,
            http: None,
        }
    }
}

/// Store data for one call.
///
/// The `WasiCtx` is built on first use, not up front: most calls never touch WASI (a Rust
/// guest built for `wasm32-wasip2` imports `wasi:cli`/`wasi:io` for std, but calls them only
/// when it prints or reads its environment), and building one costs about as much as
/// `Store::new` (two default contexts and a ChaCha RNG seed).
pub(crate) struct CallState {
    wasi: Option<WasiCtx>,
    stdio: Option<(CapturedOutput, CapturedOutput)>,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: CallLimiter,
    pub(crate) log: LogBudget,
    config: ConfigValues,
    pub(crate) kv: Option<Arc<KvAccess>>,
    pub(crate) http: CallHttp,
}

impl CallState {
    pub(crate) fn new(
        limiter: CallLimiter,
        log: LogBudget,
        capabilities: &Capabilities,
        stdout: CapturedOutput,
        stderr: CapturedOutput,
    ) -> Self {
        CallState {
            wasi: None,
            stdio: Some((stdout, stderr)),
            table: ResourceTable::new(),
            limiter,
            log,
            config: capabilities.config.clone(),
            kv: capabilities.kv.clone(),
            http: CallHttp::new(capabilities.http.clone()),
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let stdio = &mut self.stdio;
        let ctx = self.wasi.get_or_insert_with(|| {
            let mut builder = WasiCtx::builder();
            if let Some((stdout, stderr)) = stdio.take() {
                builder.stdout(stdout).stderr(stderr);
            }
            builder
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build()
        });
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}

/// Link WASI 0.2 (no preopens, no sockets: the per-call context grants none), the two
/// `wasi:http` interfaces a client needs (`types`, `outgoing-handler`; not the proxy world's
/// `incoming-handler`, a plugin serves no HTTP), and hookbox's own imports. Linking an
/// import grants nothing by itself: the registry refuses a component whose imports its
/// manifest does not grant, and each call's store carries only the plugin's own grants.
pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    logging::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    config_store::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    kv_store::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    kv_atomics::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    kv_batch::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    Ok(())
}

/// Memory accounting for one call: enforces the plugin's cap and remembers the peak and
/// whether the cap was hit (so a trap that follows can be reported as a memory limit).
pub(crate) struct CallLimiter {
    memory_cap: usize,
    pub(crate) peak_memory: usize,
    pub(crate) hit_memory_cap: bool,
}

impl CallLimiter {
    pub(crate) fn new(memory_cap: usize) -> Self {
        CallLimiter {
            memory_cap,
            peak_memory: 0,
            hit_memory_cap: false,
        }
    }

    /// Start another call on the same instance: the cap may differ, the peak stays (linear
    /// memory never shrinks, so it is still the instance's size).
    pub(crate) fn begin_call(&mut self, memory_cap: usize) {
        self.memory_cap = memory_cap;
        self.hit_memory_cap = false;
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool> {
        if desired > self.memory_cap || maximum.is_some_and(|max| desired > max) {
            self.hit_memory_cap = true;
            return Ok(false);
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool> {
        Ok(maximum.is_none_or(|max| desired <= max) && desired <= TABLE_ELEMENTS_CAP)
    }

    fn instances(&self) -> usize {
        INSTANCES_CAP
    }

    fn tables(&self) -> usize {
        INSTANCES_CAP
    }

    fn memories(&self) -> usize {
        INSTANCES_CAP
    }
}

/// A component instance is a handful of core instances; this bounds a malicious one.
const INSTANCES_CAP: usize = 64;
/// JavaScript and Python components need tables of a few thousand entries.
const TABLE_ELEMENTS_CAP: usize = 100_000;

/// Who is logging, and how many bytes of log output this call may still write.
pub(crate) struct LogBudget {
    plugin: Arc<str>,
    operation_id: Option<Arc<str>>,
    remaining: usize,
    truncated: bool,
}

impl LogBudget {
    pub(crate) fn new(plugin: Arc<str>, operation_id: Option<Arc<str>>, bytes: usize) -> Self {
        LogBudget {
            plugin,
            operation_id,
            remaining: bytes,
            truncated: false,
        }
    }

    /// Start another call on the same instance with a fresh budget.
    pub(crate) fn begin_call(&mut self, operation_id: Option<Arc<str>>, bytes: usize) {
        self.operation_id = operation_id;
        self.remaining = bytes;
        self.truncated = false;
    }

    /// The plugin's name, for other host logs about this call.
    pub(crate) fn plugin(&self) -> Arc<str> {
        self.plugin.clone()
    }

    /// The current call's operationID, for other host logs about this call.
    pub(crate) fn operation_id(&self) -> Option<Arc<str>> {
        self.operation_id.clone()
    }

    /// Emit one line if the budget allows, else note (once) that output was cut.
    pub(crate) fn emit(&mut self, level: logging::Level, context: &str, message: &str) {
        let cost = message.len() + context.len();
        if cost > self.remaining {
            self.remaining = 0;
            if !self.truncated {
                self.truncated = true;
                tracing::warn!(
                    plugin = %self.plugin,
                    operation_id = self.operation_id.as_deref().unwrap_or(""),
                    "plugin log output truncated: per-call log budget exhausted"
                );
            }
            return;
        }
        self.remaining -= cost;
        let plugin = &*self.plugin;
        let op = self.operation_id.as_deref().unwrap_or("");
        match level {
            logging::Level::Trace => {
                tracing::trace!(plugin, operation_id = op, context, "{message}")
            }
            logging::Level::Debug => {
                tracing::debug!(plugin, operation_id = op, context, "{message}")
            }
            logging::Level::Info => tracing::info!(plugin, operation_id = op, context, "{message}"),
            logging::Level::Warn => tracing::warn!(plugin, operation_id = op, context, "{message}"),
            logging::Level::Error | logging::Level::Critical => {
                tracing::error!(plugin, operation_id = op, context, "{message}")
            }
        }
    }
}

impl logging::Host for CallState {
    fn log(&mut self, level: logging::Level, context: String, message: String) {
        self.log.emit(level, &context, &message);
    }
}

impl config_store::Host for CallState {
    fn get(&mut self, key: String) -> Result<Option<String>, config_store::Error> {
        Ok(self.config.get(&key).cloned())
    }

    fn get_all(&mut self) -> Result<Vec<(String, String)>, config_store::Error> {
        Ok(self
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

/// A guest's stdout or stderr: kept in memory up to a cap, then emitted line by line
/// through [`LogBudget`] after the call. Writes past the cap succeed and are dropped, so
/// a guest that prints too much is cut off rather than trapped.
#[derive(Clone)]
pub(crate) struct CapturedOutput {
    inner: Arc<Mutex<Captured>>,
}

struct Captured {
    bytes: Vec<u8>,
    cap: usize,
}

impl CapturedOutput {
    pub(crate) fn new(cap: usize) -> Self {
        CapturedOutput {
            inner: Arc::new(Mutex::new(Captured {
                bytes: Vec::new(),
                cap,
            })),
        }
    }

    /// Everything captured so far, leaving the buffer empty.
    pub(crate) fn take(&self) -> Vec<u8> {
        std::mem::take(&mut self.lock().bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Captured> {
        // The buffer holds plain bytes; a panic while holding the lock cannot corrupt it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut captured = self.lock();
        let room = captured.cap.saturating_sub(captured.bytes.len());
        let keep = room.min(buf.len());
        captured.bytes.extend_from_slice(&buf[..keep]);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
