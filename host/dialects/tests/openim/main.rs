//! Tests of the OpenIM dialect, in one binary: golden files (`golden`), request parsing
//! (`parse`), answer rendering (`render`), modification checks (`modify`) and the command table
//! (`table`).

mod golden;
mod modify;
mod parse;
mod render;
mod support;
mod table;
