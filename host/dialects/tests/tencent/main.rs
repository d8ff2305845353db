//! Tests of the Tencent Cloud Chat dialect, in one binary: golden files (`golden`), request
//! authentication (`auth`), request parsing (`parse`), answer rendering (`render`), modification
//! checks (`modify`) and the command table (`table`).

mod auth;
mod golden;
mod modify;
mod parse;
mod render;
mod support;
mod table;
