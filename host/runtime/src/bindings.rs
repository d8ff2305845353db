//! The only `bindgen!` over `wit/`: everything else in hookbox uses these types through
//! the conversions in this module, never the WIT files directly.
//!
//! The host binds `plugin-with-kv`: a component built against `plugin` imports a subset of
//! it and links just the same. `wasi:http` (in `plugin-with-http`) is not bound here:
//! wasmtime-wasi-http brings its own bindings and host implementation, and `crate::http`
//! only supplies the sender behind them.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "hookbox:plugin/plugin-with-kv",
    imports: {
        // Key-value calls wait on the store (a file's fsync, a Redis round trip).
        "wasi:keyvalue": async | trappable,
    },
    exports: { default: async },
    // `handle` borrows the event's strings: the host owns them already, and cloning the
    // payload for each call only to copy it into the guest cost an allocation and a copy.
    ownership: Borrowing { duplicate_if_necessary: true },
    with: {
        "wasi:keyvalue/store.bucket": hookbox_kv::Bucket,
        "wasi:keyvalue/atomics.cas": crate::kv::Cas,
    },
});

pub(crate) use PluginWithKv as Plugin;
pub(crate) use PluginWithKvPre as PluginPre;
pub(crate) use exports::hookbox::plugin::handler::{Event as WitEvent, Verdict as WitVerdict};
pub(crate) use hookbox::plugin::types::Dialect as WitDialect;
pub(crate) use wasi::config::store as config_store;
pub(crate) use wasi::keyvalue::{atomics as kv_atomics, batch as kv_batch, store as kv_store};
pub(crate) use wasi::logging::logging;

impl From<hookbox_model::DialectKind> for WitDialect {
    fn from(kind: hookbox_model::DialectKind) -> Self {
        match kind {
            hookbox_model::DialectKind::Openim => WitDialect::Openim,
            hookbox_model::DialectKind::Tencent => WitDialect::Tencent,
        }
    }
}
