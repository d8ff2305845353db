//! End-to-end tests: one binary, one module per area. Every test starts the real server on
//! `127.0.0.1:0` and talks to it over HTTP with real plugins built from `plugins/`.

mod admin;
mod after;
mod cache;
mod chains;
mod failures;
mod hardening;
mod hot_swap;
mod http;
mod kv;
mod kv_admin;
mod languages;
mod metrics;
mod openim;
mod plugin_admission;
mod reuse;
mod runtime;
mod tencent;
