//! The only `bindgen!` over `wit/`: everything else in hookbox uses these types through
//! the conversions in this module, never the WIT files directly.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "hookbox:plugin/plugin",
    exports: { default: async },
});

pub(crate) use exports::hookbox::plugin::handler::{Event as WitEvent, Verdict as WitVerdict};
pub(crate) use hookbox::plugin::types::Dialect as WitDialect;
pub(crate) use wasi::config::store as config_store;
pub(crate) use wasi::logging::logging;

impl From<hookbox_model::DialectKind> for WitDialect {
    fn from(kind: hookbox_model::DialectKind) -> Self {
        match kind {
            hookbox_model::DialectKind::Openim => WitDialect::Openim,
            hookbox_model::DialectKind::Tencent => WitDialect::Tencent,
        }
    }
}
