//! Tests of the Tencent Cloud Chat dialect, in one binary: golden files (`golden`), request
//! authentication (`auth`), request parsing (`parse`), answer rendering (`render`), modification
//! checks (`modify`), the command table (`table`) and the delivery keys of after-callbacks
//! (`delivery`).

mod auth;
mod delivery;
mod golden;
#[path = "../common/golden.rs"]
mod golden_support;
mod modify;
mod parse;
mod render;
mod support;
mod table;
