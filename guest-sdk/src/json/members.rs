//! Reading a few members of a JSON object without parsing the rest of it.
//!
//! [`visit_members`] walks the top level of an object and hands each member's key and its
//! value, verbatim, to the caller, which keeps the few it wants ([`Raw::string`],
//! [`Raw::int`]) and lets the others go by unread. Every value it passes over is still checked
//! for JSON structure (balanced brackets, terminated strings, valid escapes and numbers,
//! nesting at most 128 deep), so a malformed body is still an error.
//!
//! What it is not: a JSON parser. It builds nothing, and it leaves the fine print of the values
//! nobody reads (a lone UTF-16 surrogate in a `\u` escape, a number beyond f64's range) to the
//! host, which has already parsed every body strictly before a plugin sees it.
//!
//! The decision a reader may question: **why not serde**. The message view reads 8 of the ~20
//! members of an OpenIM message body. Through a `#[derive(Deserialize)]` struct, serde_json
//! matches every key and dispatches every value it skips through its `MapAccess` machinery,
//! and that cost more than the bytes: measured with wasmtime fuel in a probe plugin, the
//! struct parse of a 463-byte message was ~17.7k wasm instructions, skipping it whole with
//! `IgnoredAny` ~10.4k, and this scan ~10.2k (~13.8k with the eight members the view keeps
//! decoded). Strings are scanned eight bytes at a time (a word holds no quote, backslash or
//! control byte, the usual case, in a handful of instructions). A value the caller keeps that
//! is not a plain integer or a string with well-formed escapes goes back through serde_json,
//! so decoding rules and error messages stay serde's.

use core::fmt;
use std::borrow::Cow;

use hookbox_json_text::{self as json_text, BadEscape, BadString, skip_whitespace, unescape};
use serde::de::DeserializeOwned;

/// Containers nested deeper than this are refused, as the host refuses them.
const MAX_DEPTH: u32 = 128;

/// Where a body stopped being the JSON a scan expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanError {
    expected: &'static str,
    at: usize,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {} at byte {}", self.expected, self.at)
    }
}

type Scan<T> = Result<T, ScanError>;

fn expected(expected: &'static str, at: usize) -> ScanError {
    ScanError { expected, at }
}

/// One member's value as the body spells it: `"a\"b"`, `12`, `null`, `{"k":[1]}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Raw<'a> {
    /// The document the value is in, and where: sliced only when read, because most values a
    /// scan passes are never read, and slicing a `str` checks both ends for char boundaries.
    doc: &'a str,
    start: usize,
    end: usize,
    /// A string without escapes: its text is the bytes between the quotes.
    plain_string: bool,
}

impl<'a> Raw<'a> {
    /// The value's JSON text.
    pub(crate) fn get(self) -> &'a str {
        &self.doc[self.start..self.end]
    }

    /// A string value, `None` for `null`.
    ///
    /// # Errors
    ///
    /// Any other type.
    pub(crate) fn string_or_null(self) -> Result<Option<Cow<'a, str>>, serde_json::Error> {
        if self.plain_string {
            return Ok(Some(Cow::Borrowed(&self.doc[self.start + 1..self.end - 1])));
        }
        let json = self.get();
        if let Some(text) = json.strip_prefix('"').and_then(|s| s.strip_suffix('"'))
            && let Some(decoded) = unescape(text)
        {
            return Ok(Some(Cow::Owned(decoded)));
        }
        // `null`, another type, or an escape serde_json refuses: its reading, its message.
        Ok(serde_json::from_str::<Option<String>>(json)?.map(Cow::Owned))
    }

    /// A string value, `""` for `null` (Go encodes a nil string pointer as `null`).
    ///
    /// # Errors
    ///
    /// Any other type.
    pub(crate) fn string(self) -> Result<String, serde_json::Error> {
        Ok(self
            .string_or_null()?
            .map(Cow::into_owned)
            .unwrap_or_default())
    }

    /// An integer value of `T`'s range, `0` for `null`.
    ///
    /// # Errors
    ///
    /// Any other type, a fraction, or a number out of `T`'s range.
    pub(crate) fn int<T>(self) -> Result<T, serde_json::Error>
    where
        T: core::str::FromStr + Default + DeserializeOwned,
    {
        // The scan only passes JSON numbers, so what `FromStr` accepts here (digits with an
        // optional `-`) is what serde_json reads as an integer of `T`, except `-0`, which
        // serde_json reads as the float -0.0. Anything else (null, fractions, overflow,
        // strings) gets serde's reading and serde's message.
        let json = self.get();
        match json.parse::<T>() {
            Ok(n) if !json.starts_with("-0") => Ok(n),
            _ => Ok(serde_json::from_str::<Option<T>>(json)?.unwrap_or_default()),
        }
    }
}

/// Calls `visit` with each top-level member of the object `json`, in document order: its
/// key (decoded) and its value verbatim. Stops at the first error `visit` returns.
///
/// # Errors
///
/// `json` is not a well-formed object (the [`ScanError`] says where), or `visit` failed.
pub(crate) fn visit_members<'a, E: From<ScanError>>(
    json: &'a str,
    mut visit: impl FnMut(&str, Raw<'a>) -> Result<(), E>,
) -> Result<(), E> {
    let b = json.as_bytes();
    document(b, b'{', "an object", |i| -> Result<usize, E> {
        let (key_end, escaped) = key_end(b, i)?;
        let raw_key = &json[i + 1..key_end - 1];
        let decoded;
        let key = if escaped {
            decoded = decode_key(raw_key, i)?;
            decoded.as_str()
        } else {
            raw_key
        };
        let value = colon_then(b, key_end)?;
        let (end, plain_string) = value_end(b, value, MAX_DEPTH - 1)?;
        visit(
            key,
            Raw {
                doc: json,
                start: value,
                end,
                plain_string,
            },
        )?;
        Ok(end)
    })
}

/// Calls `visit` with each element of the array `json`, verbatim, in order.
///
/// # Errors
///
/// `json` is not a well-formed array (the [`ScanError`] says where), or `visit` failed.
pub(crate) fn visit_elements<'a, E: From<ScanError>>(
    json: &'a str,
    mut visit: impl FnMut(Raw<'a>) -> Result<(), E>,
) -> Result<(), E> {
    let b = json.as_bytes();
    document(b, b'[', "an array", |i| -> Result<usize, E> {
        let (end, plain_string) = value_end(b, i, MAX_DEPTH - 1)?;
        visit(Raw {
            doc: json,
            start: i,
            end,
            plain_string,
        })?;
        Ok(end)
    })
}

/// A whole document that is one object or array opening with `open`: its items through
/// [`items`], then nothing but whitespace.
fn document<E: From<ScanError>>(
    b: &[u8],
    open: u8,
    what: &'static str,
    item: impl FnMut(usize) -> Result<usize, E>,
) -> Result<(), E> {
    let start = skip_whitespace(b, 0);
    if b.get(start) != Some(&open) {
        return Err(expected(what, start).into());
    }
    let close = if open == b'{' { b'}' } else { b']' };
    let end = items(b, start, close, item)?;
    Ok(end_of_document(b, end)?)
}

// `#[inline(always)]` on this and the helpers below (and on the string and number scans of
// `hookbox-json-text`): LLVM keeps them out of line (at opt-level "s", which a plugin may
// choose for size, and even at 3 for the string scan), and in wasmtime's code every call
// costs a prologue with a stack, a fuel and an epoch check, plus results passed through
// linear memory. Inlining them, with values sliced only when read, took keyword-filter from
// ~27.7k to ~23.2k x86 instructions per message body under callgrind.

/// Walks the items of the object or array whose opening bracket is at `open` and which
/// closes with `close`: `item` gets the offset where each item starts and returns the
/// offset after it. Returns the offset after the closing bracket.
#[inline(always)]
fn items<E: From<ScanError>>(
    b: &[u8],
    open: usize,
    close: u8,
    mut item: impl FnMut(usize) -> Result<usize, E>,
) -> Result<usize, E> {
    let mut i = skip_whitespace(b, open + 1);
    if b.get(i) == Some(&close) {
        return Ok(i + 1);
    }
    loop {
        i = skip_whitespace(b, item(i)?);
        match b.get(i) {
            Some(b',') => i = skip_whitespace(b, i + 1),
            Some(&c) if c == close => return Ok(i + 1),
            _ if close == b'}' => return Err(expected("',' or '}'", i).into()),
            _ => return Err(expected("',' or ']'", i).into()),
        }
    }
}

/// The offset after the key (a string) starting at `i`, and whether it has escapes.
#[inline(always)]
fn key_end(b: &[u8], i: usize) -> Scan<(usize, bool)> {
    if b.get(i) != Some(&b'"') {
        return Err(expected("a key", i));
    }
    string_end(b, i + 1)
}

/// The offset of the value after the `:` that follows a key ending at `i`.
#[inline(always)]
fn colon_then(b: &[u8], i: usize) -> Scan<usize> {
    let i = skip_whitespace(b, i);
    if b.get(i) != Some(&b':') {
        return Err(expected("':'", i));
    }
    Ok(skip_whitespace(b, i + 1))
}

/// Puts `value` into `slot`, unless the key was there before.
///
/// # Errors
///
/// The slot is taken: the object repeats `key` (serde_json refuses that for the fields of a
/// struct, and so does the host).
pub(crate) fn keep<'a>(
    slot: &mut Option<Raw<'a>>,
    key: &str,
    value: Raw<'a>,
) -> Result<(), crate::Error> {
    match slot.replace(value) {
        None => Ok(()),
        Some(_) => Err(crate::Error::new(format!("duplicate key {key:?}"))),
    }
}

/// A key with escapes (`"send\u0049D"`; rare), decoded.
fn decode_key(raw: &str, at: usize) -> Scan<String> {
    unescape(raw).ok_or_else(|| expected("a valid key", at))
}

fn end_of_document(b: &[u8], i: usize) -> Scan<()> {
    let i = skip_whitespace(b, i);
    if i == b.len() {
        Ok(())
    } else {
        Err(expected("the end of the document", i))
    }
}

/// The offset just past the closing quote of the string whose text starts at `i`, and
/// whether the string has escapes.
#[inline(always)]
fn string_end(b: &[u8], i: usize) -> Scan<(usize, bool)> {
    match json_text::string_end(b, i) {
        Ok(string) => Ok((string.end, string.escaped)),
        Err(BadString::ControlByte(at)) => Err(expected("no control character in a string", at)),
        Err(BadString::Unterminated(at)) => Err(expected("'\"'", at)),
        Err(BadString::Escape(BadEscape::NotHex(at))) => Err(expected("four hex digits", at)),
        Err(BadString::Escape(BadEscape::Unknown(at))) => Err(expected("an escape sequence", at)),
    }
}

/// The offset after the value starting at `i`, and whether it is a string without escapes.
/// Inlined for the scalars a body is mostly made of; containers go out of line, because they
/// recurse.
#[inline(always)]
fn value_end(b: &[u8], i: usize, depth: u32) -> Scan<(usize, bool)> {
    let end = match b.get(i) {
        Some(b'"') => return string_end(b, i + 1).map(|(end, escaped)| (end, !escaped)),
        Some(b'-' | b'0'..=b'9') => match json_text::number_end(b, i) {
            Ok(number) => number.end,
            Err(at) => return Err(expected("a digit", at)),
        },
        Some(b'n') => literal_end(b, i, b"null")?,
        Some(b't') => literal_end(b, i, b"true")?,
        Some(b'f') => literal_end(b, i, b"false")?,
        Some(b'{') => container_end(b, i, depth, b'}')?,
        Some(b'[') => container_end(b, i, depth, b']')?,
        _ => return Err(expected("a value", i)),
    };
    Ok((end, false))
}

#[inline(always)]
fn literal_end(b: &[u8], i: usize, literal: &[u8]) -> Scan<usize> {
    json_text::literal_end(b, i, literal).ok_or_else(|| expected("a value", i))
}

/// The offset after the object or array that opens at `i` and closes with `close`.
#[inline(never)]
fn container_end(b: &[u8], i: usize, depth: u32, close: u8) -> Scan<usize> {
    let Some(depth) = depth.checked_sub(1) else {
        return Err(expected("at most 128 levels of nesting", i));
    };
    items(b, i, close, |i| {
        let value = match close {
            b'}' => colon_then(b, key_end(b, i)?.0)?,
            _ => i,
        };
        Ok(value_end(b, value, depth)?.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every member as (key, raw value), or the scan error's text.
    fn members(json: &str) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        visit_members(json, |key, value| {
            out.push((key.to_owned(), value.get().to_owned()));
            Ok::<(), ScanError>(())
        })
        .map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    impl<'a> Raw<'a> {
        /// All of `json` as one value, read the slow way (as a string with escapes).
        fn whole(json: &'a str) -> Self {
            Raw {
                doc: json,
                start: 0,
                end: json.len(),
                plain_string: false,
            }
        }
    }

    #[test]
    fn members_come_verbatim_in_document_order() {
        let json = " {\"b\" : [1, {\"x\":\"]\"} ] ,\"a\":\"q\\\"}\",\"c\":-1.5e+3,\"d\":null,\"e\":{},\"send\\u0049D\":true}\n";
        assert_eq!(
            members(json).unwrap(),
            pairs(&[
                ("b", "[1, {\"x\":\"]\"} ]"),
                ("a", "\"q\\\"}\""),
                ("c", "-1.5e+3"),
                ("d", "null"),
                ("e", "{}"),
                ("sendID", "true"),
            ])
        );
        assert_eq!(members("{}").unwrap(), pairs(&[]));
    }

    #[test]
    fn what_serde_json_refuses_the_scan_refuses() {
        for bad in [
            "",
            "[]",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":1}x",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":-}",
            "{\"a\":1e}",
            "{\"a\":tru}",
            "{\"a\":\"x}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12g4\"}",
            "{\"a\":\"tab\there\"}",
            "{\"a\":\"unit\u{1f}separator\"}",
            "{\"a\":[1 2]}",
            "{\"a\":{\"b\" 1}}",
            "{\"a\":[}",
            "{a:1}",
            "{\"a\":1 \"b\":2}",
        ] {
            assert!(members(bad).is_err(), "accepted {bad:?}");
            assert!(
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(bad).is_err(),
                "serde_json accepts {bad:?}"
            );
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            members(&deep).unwrap_err(),
            "expected at most 128 levels of nesting at byte 132"
        );
        assert_eq!(members("{\"a\" 1}").unwrap_err(), "expected ':' at byte 5");
    }

    #[test]
    fn strings_are_scanned_a_word_at_a_time_to_the_right_quote() {
        // Quotes, backslashes and control bytes at every offset within and across words.
        for len in 0..24 {
            for special in ["\\\"", "\\\\", "\\n", "\\u00e9", "é", "\""] {
                let text = format!("{}{special}{}", "x".repeat(len), "y".repeat(len % 5));
                let json = format!("{{\"k\":\"{text}\",\"z\":1}}");
                let parsed = members(&json);
                if special == "\"" {
                    assert!(parsed.is_err(), "{json}");
                    continue;
                }
                assert_eq!(
                    parsed.unwrap(),
                    pairs(&[("k", &format!("\"{text}\"")), ("z", "1")]),
                    "{json}"
                );
            }
        }
    }

    #[test]
    fn values_decode_as_serde_json_would() {
        let mut values = Vec::new();
        visit_members(
            r#"{"s":"plain","e":"a\"b\u00e9","n":null,"i":-42,"big":4294967296,"f":1.0,"q":"7","z":-0}"#,
            |_, v| {
                values.push(v);
                Ok::<(), ScanError>(())
            },
        )
        .unwrap();
        let [s, e, n, i, big, f, q, z] = values[..] else {
            panic!("{values:?}")
        };
        assert_eq!(s.string().unwrap(), "plain");
        assert!(matches!(
            s.string_or_null(),
            Ok(Some(Cow::Borrowed("plain")))
        ));
        assert_eq!(e.string().unwrap(), "a\"bé");
        assert_eq!(n.string().unwrap(), "");
        assert_eq!(n.string_or_null().unwrap(), None);
        assert!(i.string().is_err());
        assert_eq!(i.int::<i32>().unwrap(), -42);
        assert_eq!(n.int::<i64>().unwrap(), 0);
        assert_eq!(big.int::<i64>().unwrap(), 4_294_967_296);
        assert!(big.int::<i32>().is_err());
        assert!(f.int::<i32>().is_err());
        assert!(q.int::<i32>().is_err());
        // serde_json reads `-0` as a float, which no integer field takes.
        assert!(z.int::<i64>().is_err());
        assert!(serde_json::from_str::<i64>(z.get()).is_err());
    }

    #[test]
    fn strings_with_escapes_read_as_serde_json_reads_them() {
        // The decoding itself is hookbox-json-text's, tested there; this is the fallback to
        // serde_json (and its message) where that decoding refuses.
        for text in [
            r#"a\"b\u00e9"#,
            r#"pair \ud83d\ude00"#,
            r#"lone \ud83d end"#,
            r#"\ude00"#,
        ] {
            let json = format!("\"{text}\"");
            let serde = serde_json::from_str::<String>(&json).map_err(|e| e.to_string());
            let read = Raw::whole(&json).string().map_err(|e| e.to_string());
            assert_eq!(read, serde, "{text}");
        }
    }

    #[test]
    fn elements_come_verbatim() {
        let mut out = Vec::new();
        visit_elements(r#" [ {"a":[1]} ,"x\"y", 3 ,null]"#, |v| {
            out.push(v.get().to_owned());
            Ok::<(), ScanError>(())
        })
        .unwrap();
        assert_eq!(out, [r#"{"a":[1]}"#, r#""x\"y""#, "3", "null"]);
        for bad in ["{}", "[1,]", "[1", "[1]]"] {
            assert!(
                visit_elements(bad, |_| Ok::<(), ScanError>(())).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_repeated_key_is_an_error_for_the_slot_that_keeps_it() {
        let mut slot = None;
        let raw = Raw::whole("1");
        keep(&mut slot, "a", raw).unwrap();
        assert_eq!(
            keep(&mut slot, "a", raw).unwrap_err().message(),
            "duplicate key \"a\""
        );
    }
}
