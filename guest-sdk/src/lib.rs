//! Write hookbox plugins in Rust.
//!
//! hookbox is a webhook endpoint for instant-messaging servers (OpenIM Server, Tencent Cloud
//! Chat). It answers each callback by running the plugins subscribed to that callback command,
//! each a sandboxed WebAssembly component implementing the WIT world
//! `hookbox:plugin/plugin@0.1.0`. This crate is the Rust side of that contract: implement
//! [`Plugin`], export it with [`export_plugin!`], build for `wasm32-wasip2`.
//!
//! # A complete plugin
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "no-spam"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! hookbox-sdk = { path = "../guest-sdk" }
//!
//! [profile.release]
//! opt-level = 3
//! lto = true
//! codegen-units = 1
//! strip = true
//! panic = "abort"
//! ```
//!
//! `src/lib.rs`:
//!
//! ```no_run
//! use hookbox_sdk::openim::{self, command};
//! use hookbox_sdk::prelude::*;
//!
//! struct NoSpam;
//!
//! impl Plugin for NoSpam {
//!     fn handle(event: Event) -> Result<Verdict, Error> {
//!         // Words come from the operator: grants = { config = { word = "spam" } }.
//!         let word = config::get("word").unwrap_or_else(|| "spam".to_owned());
//!         match event.command() {
//!             command::BEFORE_SEND_SINGLE_MSG => {
//!                 let msg: openim::SendSingleMsgReq = event.json()?;
//!                 match msg.text() {
//!                     Some(text) if text.contains(word.as_str()) => {
//!                         hookbox_sdk::info!("blocked {} -> {}", msg.send_id, msg.recv_id);
//!                         Ok(Verdict::reject(5001, "no spam, please").with_detail("rule=no-spam"))
//!                     }
//!                     _ => Ok(Verdict::allow()),
//!                 }
//!             }
//!             command::BEFORE_MSG_MODIFY => {
//!                 let msg: openim::MsgModifyReq = event.json()?;
//!                 match msg.text() {
//!                     Some(text) if text.contains(word.as_str()) => {
//!                         Ok(Verdict::replace_text(&text.replace(word.as_str(), "***")))
//!                     }
//!                     _ => Ok(Verdict::allow()),
//!                 }
//!             }
//!             _ => Ok(Verdict::allow()),
//!         }
//!     }
//! }
//!
//! hookbox_sdk::export_plugin!(NoSpam);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (the output is already a
//! component), then try it on one event:
//!
//! ```text
//! hookbox run target/wasm32-wasip2/release/no_spam.wasm --event event.json --command callbackBeforeSendSingleMsgCommand
//! ```
//!
//! # The lean build: fewer imports, cheaper fresh instances
//!
//! Rust std for `wasm32-wasip2` brings WASI imports into every component (environment, exit,
//! stdio, terminal: 19 functions, 6 of them resource drops) even when the plugin never prints or
//! reads the clock, and hookbox links them on every fresh instance. A plugin that needs only
//! the SDK can build for `wasm32-unknown-unknown` instead and let the toolchain's
//! `wasm-component-ld` (shipped with rustc for `wasm32-wasip2`) make the component; it then
//! imports only the capabilities its code calls. `keyword-filter`, `message-logger` and
//! `message-archive` in `plugins/` are built this way; each fresh call of keyword-filter
//! costs about 1.5 µs less (docs/adr/018).
//!
//! ```toml
//! # .cargo/config.toml
//! [target.wasm32-unknown-unknown]
//! linker = "wasm-component-ld"
//! # A 64 KiB stack and 4 pages of initial memory: the SDK's allocator starts its heap in
//! # the memory the component begins with instead of growing it on every instance.
//! rustflags = ["-C", "link-arg=-zstack-size=65536", "-C", "link-arg=--initial-memory=262144"]
//! ```
//!
//! `cargo build --release --target wasm32-unknown-unknown` then writes the component to
//! `target/wasm32-unknown-unknown/release/`. What std cannot do on that target: read clocks
//! (`SystemTime::now` panics), sleep, or print (`println!` goes nowhere; use [`log`]). A panic
//! still reaches the host's log (the SDK reports it through `wasi:logging`) and traps.
//!
//! # What a plugin gets
//!
//! - [`Event`]: the dialect, the command, the raw JSON body, request metadata
//!   (`operationID`; for Tencent `SdkAppid`, `ClientIP`, `OptPlatform`) and the time left.
//!   Parse the body with [`Event::json`] into one of the [`openim`] or [`tencent`] structs, or
//!   with [`Event::value`] into a [`serde_json::Value`].
//! - [`message::TextMessage`]: one view of a chat message for both dialects (sender, target,
//!   text, phase) with the verdicts that change its text in the dialect's own terms, so one
//!   plugin serves OpenIM and Tencent Cloud Chat.
//! - [`Verdict`]: allow, reject (code, message, detail), discard, or modify (a JSON object of
//!   response fields in the dialect's own names: OpenIM `content`, ...; Tencent `MsgBody`,
//!   `CloudCustomData`, `ResultItem`, see [`tencent::SendMsgModify`]).
//! - [`Error`]: the plugin could not decide; the host then applies the plugin's `on_error`
//!   policy. Anything returned as `Err` is logged by the host, never shown to the IM client.
//! - [`config`] (`wasi:config/store`) and [`log`] (`wasi:logging`): host capabilities. A
//!   component imports only the capabilities its code calls.
//! - [`kv`] (`wasi:keyvalue`, needs `grants.kv`) and [`http`] (`wasi:http/outgoing-handler`,
//!   needs `grants.outbound_hosts`): granted per plugin; a component that imports one without
//!   its grant is refused when it loads.
//!
//! Every call runs in a fresh instance: nothing in memory survives from one call to the next.
//!
//! # Testing plugin logic natively
//!
//! Outside WebAssembly the capability functions do not reach a host: [`config::get`] reads a
//! per-thread map filled with `config::set_native`, log lines go to stderr and to
//! `log::take_captured()`, [`kv`] buckets are per-thread maps, and [`http`] requests are
//! recorded (`http::take_native_requests()`) and answered with `http::set_native_response`.
//! Build an [`Event`] with [`Event::new`], call your `Plugin::handle`
//! directly and compare the returned [`Verdict`].
//!
//! # Raw bindings
//!
//! [`bindings`] holds what `wit_bindgen::generate!` made from the WIT contract. Plugins do not
//! need it; it is public for the [`export_plugin!`] macro.

#![deny(missing_docs)]

/// The lean build (`wasm32-unknown-unknown`, see the crate docs) takes its heap from the
/// linear memory the component starts with. Rust std's allocator for that target always asks
/// for a fresh page with `memory.grow`, which hookbox pays for on every fresh instance
/// (several µs per call, more than a small plugin's own work); this `dlmalloc` hands out the memory
/// between the linker's `__heap_base` and `__heap_end` first.
#[cfg(all(target_family = "wasm", target_os = "unknown"))]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

pub mod config;
mod error;
mod event;
pub mod http;
mod json;
pub mod kv;
pub mod log;
pub mod message;
pub mod openim;
pub mod tencent;
mod verdict;

pub use error::Error;
pub use event::{Dialect, Event};
pub use verdict::{Rejection, Verdict};

/// Re-exported so plugins need no direct dependency for JSON work.
pub use serde;
/// Re-exported so plugins need no direct dependency for JSON work.
pub use serde_json;

/// Bindings generated from the WIT world `hookbox:plugin/plugin-with-kv-and-http@0.1.0` (the
/// crate's `wit/`). A plugin that never calls [`kv`] does not import `wasi:keyvalue`, one that
/// never calls [`http`] does not import `wasi:http`: unused imports do not reach the component.
///
/// This is the only `generate!` for hookbox guests; plugins export through
/// [`export_plugin!`] instead of using these directly.
#[allow(
    unsafe_code,
    missing_docs,
    unreachable_pub,
    clippy::all,
    reason = "generated by wit-bindgen: the canonical ABI glue is unsafe by nature"
)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "hookbox:plugin/plugin-with-kv-and-http",
        path: "../wit",
        pub_export_macro: true,
        default_bindings_module: "hookbox_sdk::bindings",
        generate_all,
    });
}

/// The one thing a plugin implements.
///
/// There is no `self`: hookbox runs every call in a fresh instance (unless the manifest opts
/// into bounded reuse), so a plugin keeps state between calls in [`kv`], not in memory.
pub trait Plugin {
    /// Decide on one callback.
    ///
    /// # Errors
    ///
    /// Return `Err` when the plugin cannot decide (bad payload, missing configuration); the
    /// host then answers with the plugin's `on_error` policy.
    fn handle(event: Event) -> Result<Verdict, Error>;
}

/// Everything a plugin usually needs: `use hookbox_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::message::{MessagePhase, Target, TextMessage};
    pub use crate::{
        Dialect, Error, Event, Plugin, Rejection, Verdict, config, http, kv, log, message, openim,
        tencent,
    };
}

/// Export a [`Plugin`] as the component's `hookbox:plugin/handler` interface. Use it once per
/// plugin crate, at the top level of the crate's `lib.rs`:
///
/// ```ignore
/// struct MyPlugin;
/// impl hookbox_sdk::Plugin for MyPlugin { /* ... */ }
/// hookbox_sdk::export_plugin!(MyPlugin);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct HookboxSdkExport;

            impl $crate::bindings::exports::hookbox::plugin::handler::Guest for HookboxSdkExport {
                fn handle(
                    event: $crate::bindings::exports::hookbox::plugin::handler::Event,
                ) -> ::core::result::Result<
                    $crate::bindings::exports::hookbox::plugin::handler::Verdict,
                    ::std::string::String,
                > {
                    $crate::__private::handle::<$plugin>(event)
                }
            }

    $crate::bindings::export!(HookboxSdkExport with_types_in $crate::bindings);
        };
    };
}

#[doc(hidden)]
pub mod __private {
    use crate::bindings::hookbox::plugin::types as wit;
    use crate::{Event, Plugin};

    /// Calls this instance has started, this one included.
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

    /// Whether this instance served a call before this one: only then can something kept
    /// for later calls ever be used (a fresh instance serves one call). Never in a native
    /// build: unit tests of plugin logic change config between calls on one thread.
    pub(crate) fn instance_is_warm() -> bool {
        cfg!(target_arch = "wasm32") && CALLS.load(std::sync::atomic::Ordering::Relaxed) > 1
    }

    /// The WIT `handle` for plugin `P`: convert the event, run the plugin, convert the verdict.
    pub fn handle<P: Plugin>(event: wit::Event) -> Result<wit::Verdict, String> {
        CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        report_panics_through_the_host();
        P::handle(Event::from_wit(event))
            .map(crate::Verdict::into_wit)
            .map_err(crate::Error::into_message)
    }

    /// A panic traps the call either way (plugins build with `panic = "abort"`); this makes
    /// its message reach the operator as an error log line carrying the plugin's name and the
    /// request, on every target. Rust std's own hook writes to stderr, which the lean build
    /// does not have and which the host can only forward as anonymous text.
    fn report_panics_through_the_host() {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            std::panic::set_hook(Box::new(|panic| {
                crate::log::log(crate::log::Level::Error, "panic", &panic.to_string());
            }));
        });
    }
}
