//! The Rust SDK's message view (`hookbox_sdk::message::TextMessage`), which reads a body with
//! its own scan instead of serde (docs/adr/020). Any body, read as an OpenIM msg-modify and as a
//! Tencent C2C before-send callback, must give exactly what the serde structs it replaced read
//! (the oracle shared with `guest-sdk/tests/message_parse.rs`): the same fields, or an error for
//! the same bodies. Its text verdicts must not panic, and a modification they write must be a
//! JSON object.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = std::str::from_utf8(data) {
        hookbox_fuzz::message_view::check(body);
    }
});
