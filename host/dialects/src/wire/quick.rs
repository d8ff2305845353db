//! The body check's fast path: one pass over the bytes for the bodies IM servers actually
//! send, with a conservative answer for everything else.
//!
//! [`check`] either returns the body's top-level fields, and then the full check
//! ([`super::check_strictly`], through serde_json) would have returned the same fields, or it
//! returns `None`, "ask the full check", which then decides and words any refusal. It says
//! `None` for anything it does not read with certainty: a syntax error, a repeated key, deep
//! nesting, a key with escapes, a `\u` escape of a UTF-16 surrogate, an integer of more than
//! 18 digits, a float with more than 17 significant digits or an exponent past 99, `-0`,
//! an object of more than [`LINEAR_KEY_SCAN`] keys. Genuine callbacks have none of these.
//!
//! What it is not: a JSON parser, and not a second set of body rules. Its only claim is the
//! one above, and a test holds it to that on generated bodies (`quick_check_agrees_...` in
//! the parent module) and a fuzz target on arbitrary ones.
//!
//! The decision a reader may question: **a second reader of the same syntax**. serde_json's
//! `Deserializer` drives a visitor through `MapAccess`/`SeqAccess` for every token: for the
//! 490-byte OpenIM seed message (before-send, text) the full check cost ~13.2k x86 instructions
//! (callgrind), this path ~8.6k with its allocations and the decoding of `content`, which took
//! hookbox from ~78.5k to ~73.8k instructions per callback. A scan that only has to be right
//! when it says yes is much simpler than one that must also explain every no, so refusals and
//! their wording stay serde_json's.

use std::borrow::Cow;

use hookbox_json_text::{literal_end, number_end, skip_whitespace, string_end, unescape};

use super::{Field, JsonType, LINEAR_KEY_SCAN, MAX_DEPTH, TYPICAL_KEYS, key_sketch};

/// The top-level fields of `text`, in body order, if it is beyond doubt an object the full
/// check accepts; `None` to ask the full check.
pub(super) fn check(text: &str) -> Option<Vec<(Cow<'_, str>, Field<'_>)>> {
    let mut scan = Quick {
        text,
        b: text.as_bytes(),
        open_keys: Vec::with_capacity(TYPICAL_KEYS),
        top_level: Vec::with_capacity(TYPICAL_KEYS),
    };
    let start = scan.skip_ws(0);
    if scan.b.get(start) != Some(&b'{') {
        return None;
    }
    let end = scan.object(start, 1)?;
    (scan.skip_ws(end) == scan.b.len()).then_some(scan.top_level)
}

struct Quick<'a> {
    text: &'a str,
    b: &'a [u8],
    /// The keys of every object still open, innermost last.
    open_keys: Vec<&'a [u8]>,
    top_level: Vec<(Cow<'a, str>, Field<'a>)>,
}

impl<'a> Quick<'a> {
    /// The offset after the object that opens at `i`, at `depth` (the body is 1).
    fn object(&mut self, i: usize, depth: usize) -> Option<usize> {
        if depth > MAX_DEPTH {
            return None;
        }
        let first_key = self.open_keys.len();
        let mut sketches = 0u64;
        let mut i = self.skip_ws(i + 1);
        if self.b.get(i) == Some(&b'}') {
            return Some(i + 1);
        }
        loop {
            if self.b.get(i) != Some(&b'"') {
                return None;
            }
            let key_start = i + 1;
            let (key_end, escaped) = self.string_end(key_start)?;
            if escaped {
                return None;
            }
            let key = &self.b[key_start..key_end - 1];
            let bit = 1u64 << key_sketch(key);
            let open = &self.open_keys[first_key..];
            if open.len() == LINEAR_KEY_SCAN || (sketches & bit != 0 && open.contains(&key)) {
                return None;
            }
            sketches |= bit;
            self.open_keys.push(key);

            i = self.skip_ws(key_end);
            if self.b.get(i) != Some(&b':') {
                return None;
            }
            let value = self.skip_ws(i + 1);
            let (end, field) = self.value(value, depth + 1)?;
            if depth == 1 {
                let key = self.text.get(key_start..key_end - 1)?;
                self.top_level.push((Cow::Borrowed(key), field));
            }
            i = self.skip_ws(end);
            match self.b.get(i) {
                Some(b',') => i = self.skip_ws(i + 1),
                Some(b'}') => {
                    self.open_keys.truncate(first_key);
                    return Some(i + 1);
                }
                _ => return None,
            }
        }
    }

    /// The offset after the array that opens at `i`, at `depth`.
    fn array(&mut self, i: usize, depth: usize) -> Option<usize> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut i = self.skip_ws(i + 1);
        if self.b.get(i) == Some(&b']') {
            return Some(i + 1);
        }
        loop {
            let (end, _) = self.value(i, depth + 1)?;
            i = self.skip_ws(end);
            match self.b.get(i) {
                Some(b',') => i = self.skip_ws(i + 1),
                Some(b']') => return Some(i + 1),
                _ => return None,
            }
        }
    }

    /// The offset after the value at `i` (which is at `depth` if it is an array or object),
    /// and what it is as a top-level field.
    fn value(&mut self, i: usize, depth: usize) -> Option<(usize, Field<'a>)> {
        let (end, ty) = match self.b.get(i)? {
            b'"' => {
                let (end, escaped) = self.string_end(i + 1)?;
                let field = if !escaped {
                    Field::Text(Cow::Borrowed(self.text.get(i + 1..end - 1)?))
                } else if depth == 2 {
                    // A top-level string with escapes (OpenIM's `content` is one) is decoded
                    // as serde_json decodes it.
                    Field::Text(Cow::Owned(unescape(self.text.get(i + 1..end - 1)?)?))
                } else {
                    Field::Other(JsonType::String)
                };
                return Some((end, field));
            }
            b'{' => (self.object(i, depth)?, JsonType::Object),
            b'[' => (self.array(i, depth)?, JsonType::Array),
            b't' => (literal_end(self.b, i, b"true")?, JsonType::Boolean),
            b'f' => (literal_end(self.b, i, b"false")?, JsonType::Boolean),
            b'n' => (literal_end(self.b, i, b"null")?, JsonType::Null),
            b'-' | b'0'..=b'9' => self.number(i)?,
            _ => return None,
        };
        Some((end, Field::Other(ty)))
    }

    /// A number serde_json reads without doubt: an integer of at most 18 digits (an i64 or
    /// u64 whatever its sign; `-0` is a float there, so it is left to the full check), or a
    /// float of at most 17 significant digits and an exponent of at most two digits (never
    /// out of f64's range).
    fn number(&self, i: usize) -> Option<(usize, JsonType)> {
        let n = number_end(self.b, i).ok()?;
        if n.float {
            let sure = n.int_digits + n.fraction_digits <= 17 && n.exponent_digits <= 2;
            sure.then_some((n.end, JsonType::Fraction))
        } else {
            let minus_zero = n.negative && self.b[i + 1] == b'0';
            (n.int_digits <= 18 && !minus_zero).then_some((n.end, JsonType::Integer))
        }
    }

    /// The offset just past the closing quote of the string whose text starts at `i`, and
    /// whether it has escapes; `None` for anything but a well-formed string without a `\u`
    /// escape of a surrogate (whose pairing the full check judges).
    fn string_end(&self, i: usize) -> Option<(usize, bool)> {
        let string = string_end(self.b, i).ok().filter(|s| !s.surrogate)?;
        Some((string.end, string.escaped))
    }

    fn skip_ws(&self, i: usize) -> usize {
        skip_whitespace(self.b, i)
    }
}
