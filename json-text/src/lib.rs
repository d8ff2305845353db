//! JSON text at the byte level, shared by hookbox's body check (`host/dialects`) and the Rust
//! SDK's member scan (`guest-sdk`): where whitespace, a string (its next quote, backslash or
//! control byte found eight bytes at a time), a number or a literal ends; what an escape
//! sequence is; what escapes decode to.
//!
//! What it is not: a JSON parser. Both callers walk a body's structure themselves, for
//! different ends (the host must be sure, the SDK keeps a few members), and share only these
//! lexical rules, where a slip (a missed control byte, a wrongly decoded surrogate pair, a
//! number serde_json refuses) would make them read a body differently from serde_json.
//!
//! The decision a reader may question: **a crate of its own**. The host and the guest SDK need
//! the same rules, and the SDK cannot depend on the host's crates: it builds for wasm, and
//! plugin authors take only it. Everything on a scan's path is `#[inline(always)]`: in
//! wasmtime's code each call costs a prologue with stack, fuel and epoch checks.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The offset of the first `"`, `\` or control byte (below 0x20) at or after `i` in `b`, or
/// `b.len()` if there is none.
///
/// ```
/// use hookbox_json_text::next_string_special;
/// assert_eq!(next_string_special(br#"{"key":"a long value\n"}"#, 2), 5);
/// assert_eq!(next_string_special(br#"{"key":"a long value\n"}"#, 8), 20);
/// assert_eq!(next_string_special(b"plain", 0), 5);
/// ```
#[inline(always)]
pub fn next_string_special(b: &[u8], i: usize) -> usize {
    let mut rest = b.get(i..).unwrap_or_default();
    // Eight bytes at a time: a word without a special byte, the usual case, costs a handful of
    // instructions.
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        let specials = string_specials(u64::from_le_bytes(*word));
        if specials != 0 {
            return b.len() - rest.len() + (specials.trailing_zeros() / 8) as usize;
        }
        rest = tail;
    }
    let tail = rest
        .iter()
        .position(|&c| matches!(c, b'"' | b'\\' | 0..=0x1f));
    b.len() - rest.len() + tail.unwrap_or(rest.len())
}

/// The high bit of each byte of `word` that is `"`, `\` or a control byte. Only the lowest
/// flagged byte is sure to be one (a borrow can flag bytes above a real one), and it is the
/// only one [`next_string_special`] reads.
#[inline(always)]
fn string_specials(word: u64) -> u64 {
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    ((quote.wrapping_sub(ONES) & !quote)
        | (backslash.wrapping_sub(ONES) & !backslash)
        | (word.wrapping_sub(ONES * 0x20) & !word))
        & HIGH_BITS
}

/// The offset of the first byte at or after `i` that is not JSON whitespace.
#[inline(always)]
pub fn skip_whitespace(b: &[u8], i: usize) -> usize {
    // Most bodies have no whitespace between tokens: one test before entering a loop, whose
    // every entry costs a fuel and an epoch check in a plugin's compiled code.
    match b.get(i) {
        Some(b' ' | b'\t' | b'\n' | b'\r') => whitespace_end(b, i + 1),
        _ => i,
    }
}

fn whitespace_end(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// Where a string ends, and what its text holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StringEnd {
    /// The offset just past the closing quote.
    pub end: usize,
    /// Whether the text has escapes.
    pub escaped: bool,
    /// Whether one of them is a `\u` escape of a UTF-16 surrogate, whose pairing a reader
    /// must still judge (serde_json refuses a lone one).
    pub surrogate: bool,
}

/// Why a string is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadString {
    /// A control byte (below 0x20) at this offset.
    ControlByte(usize),
    /// The text runs to the end of the input (its length).
    Unterminated(usize),
    /// A bad escape sequence.
    Escape(BadEscape),
}

/// Where the string whose text starts at `i` (just after its opening quote) ends.
///
/// # Errors
///
/// A control byte, a bad escape or no closing quote.
///
/// ```
/// use hookbox_json_text::{BadString, StringEnd, string_end};
/// let end = |text: &str| string_end(text.as_bytes(), 1);
/// assert_eq!(end(r#""plain", 1"#), Ok(StringEnd { end: 7, escaped: false, surrogate: false }));
/// assert_eq!(end(r#""\ud83d\ude00""#).map(|s| (s.escaped, s.surrogate)), Ok((true, true)));
/// assert_eq!(end("\"tab\there\""), Err(BadString::ControlByte(4)));
/// assert_eq!(end(r#""open"#), Err(BadString::Unterminated(5)));
/// ```
#[inline(always)]
pub fn string_end(b: &[u8], mut i: usize) -> Result<StringEnd, BadString> {
    let (mut escaped, mut surrogate) = (false, false);
    loop {
        i = next_string_special(b, i);
        match b.get(i) {
            Some(b'"') => {
                return Ok(StringEnd {
                    end: i + 1,
                    escaped,
                    surrogate,
                });
            }
            Some(b'\\') => {
                let (next, unit) = escape_at(b, i).map_err(BadString::Escape)?;
                escaped = true;
                surrogate |= unit.is_some_and(|unit| (0xD800..=0xDFFF).contains(&unit));
                i = next;
            }
            Some(_) => return Err(BadString::ControlByte(i)),
            None => return Err(BadString::Unterminated(i)),
        }
    }
}

/// A number as JSON spells it, `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`: where it ends
/// and how many digits each part has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number {
    /// The offset after the number.
    pub end: usize,
    /// Whether it starts with `-`.
    pub negative: bool,
    /// Digits before the point (at least 1).
    pub int_digits: usize,
    /// Digits after the point (0 without a point).
    pub fraction_digits: usize,
    /// Digits of the exponent, without its sign (0 without an exponent).
    pub exponent_digits: usize,
    /// Whether it has a point or an exponent: serde_json reads it as a float.
    pub float: bool,
}

/// The number that starts at `i` (with `-` or a digit).
///
/// # Errors
///
/// The offset where a digit was expected.
///
/// ```
/// use hookbox_json_text::number_end;
/// let n = number_end(b"-12.50e+3,", 0).unwrap();
/// assert_eq!((n.end, n.int_digits, n.fraction_digits, n.exponent_digits), (9, 2, 2, 1));
/// assert_eq!(number_end(b"1.}", 0), Err(2));
/// assert_eq!(number_end(b"01", 0).map(|n| n.end), Ok(1)); // a second number; the caller refuses
/// ```
#[inline(always)]
pub fn number_end(b: &[u8], i: usize) -> Result<Number, usize> {
    let negative = b.get(i) == Some(&b'-');
    let int_start = i + usize::from(negative);
    let int_end = match b.get(int_start) {
        Some(b'0') => int_start + 1,
        _ => digits_end(b, int_start)?,
    };
    let mut number = Number {
        end: int_end,
        negative,
        int_digits: int_end - int_start,
        fraction_digits: 0,
        exponent_digits: 0,
        float: false,
    };
    if b.get(number.end) == Some(&b'.') {
        let start = number.end + 1;
        number.end = digits_end(b, start)?;
        number.fraction_digits = number.end - start;
        number.float = true;
    }
    if let Some(b'e' | b'E') = b.get(number.end) {
        let mut start = number.end + 1;
        if let Some(b'+' | b'-') = b.get(start) {
            start += 1;
        }
        number.end = digits_end(b, start)?;
        number.exponent_digits = number.end - start;
        number.float = true;
    }
    Ok(number)
}

/// The offset after one or more digits starting at `i`; `Err(i)` when there is none.
#[inline(always)]
fn digits_end(b: &[u8], start: usize) -> Result<usize, usize> {
    let mut i = start;
    while let Some(b'0'..=b'9') = b.get(i) {
        i += 1;
    }
    if i == start { Err(start) } else { Ok(i) }
}

/// The offset after `literal` (`true`, `false`, `null`) if the input has it at `i`.
#[inline(always)]
pub fn literal_end(b: &[u8], i: usize, literal: &[u8]) -> Option<usize> {
    (b.get(i..i + literal.len())? == literal).then_some(i + literal.len())
}

/// What is wrong with an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadEscape {
    /// The byte after the backslash (at this offset) starts no escape.
    Unknown(usize),
    /// `\u` is not followed by four hex digits (from this offset).
    NotHex(usize),
}

/// The escape sequence whose backslash is at `i`: the offset after it, and for a `\u` escape
/// the UTF-16 code unit it names (a surrogate is the caller's to judge).
///
/// # Errors
///
/// The bytes after the backslash are not an escape JSON has.
///
/// ```
/// use hookbox_json_text::{BadEscape, escape_at};
/// assert_eq!(escape_at(br#"a\nb"#, 1), Ok((3, None)));
/// assert_eq!(escape_at(br#"\u00e9"#, 0), Ok((6, Some(0xe9))));
/// assert_eq!(escape_at(br#"\x"#, 0), Err(BadEscape::Unknown(1)));
/// assert_eq!(escape_at(br#"\u12g4"#, 0), Err(BadEscape::NotHex(2)));
/// ```
#[inline]
pub fn escape_at(b: &[u8], i: usize) -> Result<(usize, Option<u16>), BadEscape> {
    match b.get(i + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok((i + 2, None)),
        Some(b'u') => match b.get(i + 2..i + 6).and_then(hex4) {
            Some(unit) => Ok((i + 6, Some(unit))),
            None => Err(BadEscape::NotHex(i + 2)),
        },
        _ => Err(BadEscape::Unknown(i + 1)),
    }
}

/// Four hex digits as a number.
#[inline]
fn hex4(digits: &[u8]) -> Option<u16> {
    digits.iter().try_fold(0u16, |n, &d| {
        let digit = char::from(d).to_digit(16)?;
        Some(n << 4 | digit as u16)
    })
}

/// The text of a JSON string (between its quotes) with its escapes decoded, as serde_json
/// decodes them; `None` for text serde_json refuses there: a bad escape, a `\u` escape of a
/// lone UTF-16 surrogate, or an unescaped quote or control byte.
///
/// ```
/// use hookbox_json_text::unescape;
/// assert_eq!(unescape(r#"a\"b\u00e9\ud83d\ude00"#).as_deref(), Some("a\"bé😀"));
/// assert_eq!(unescape(r#"lone \ud83d"#), None);
/// ```
pub fn unescape(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut i) = (0, 0);
    loop {
        // A word at a time to the next backslash: the text between escapes is most of it.
        i = next_string_special(b, i);
        if i == b.len() {
            break;
        }
        if b[i] != b'\\' {
            // A quote or a control byte: not the text of a JSON string.
            return None;
        }
        out.push_str(text.get(copied..i)?);
        let (decoded, next) = match *b.get(i + 1)? {
            b'"' => ('"', i + 2),
            b'\\' => ('\\', i + 2),
            b'/' => ('/', i + 2),
            b'b' => ('\u{8}', i + 2),
            b'f' => ('\u{c}', i + 2),
            b'n' => ('\n', i + 2),
            b'r' => ('\r', i + 2),
            b't' => ('\t', i + 2),
            b'u' => match hex4(b.get(i + 2..i + 6)?)? {
                high @ 0xD800..=0xDBFF => {
                    // A high surrogate must be followed by `\u` and a low one.
                    if b.get(i + 6..i + 8)? != b"\\u" {
                        return None;
                    }
                    let low = hex4(b.get(i + 8..i + 12)?)?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return None;
                    }
                    let c =
                        0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                    (char::from_u32(c)?, i + 12)
                }
                unit => (char::from_u32(u32::from(unit))?, i + 6),
            },
            _ => return None,
        };
        out.push(decoded);
        (copied, i) = (next, next);
    }
    out.push_str(text.get(copied..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_are_found_at_every_offset_within_and_across_words() {
        for len in 0..40 {
            for special in [b'"', b'\\', b'\n', 0, 0x1f] {
                for filler in [b'x', 0x7f, 0x20, 0xc3, 0xff] {
                    let mut bytes = vec![filler; len];
                    bytes.push(special);
                    bytes.extend([b'y'; 9]);
                    bytes.push(b'"');
                    for start in 0..=len {
                        assert_eq!(
                            next_string_special(&bytes, start),
                            len,
                            "{bytes:?} from {start}"
                        );
                    }
                }
            }
            let plain = vec![b'a'; len];
            assert_eq!(next_string_special(&plain, 0), len);
            assert_eq!(next_string_special(&plain, len + 3), len);
        }
    }

    #[test]
    fn escapes_decode_as_serde_json_decodes_them() {
        for text in [
            r#"a\"b\\c\/d\be\ff\ng\rh\ti"#,
            r#"\u00e9\u4e2d\u0000\u001f\uFFFF"#,
            r#"pair \ud83d\ude00 end"#,
            r#"\uD83D\uDE00"#,
            r#"lone \ud83d end"#,
            r#"lone \ude00 end"#,
            r#"high then high \ud83d\ud83d"#,
            r#"high then text \ud83dxx"#,
            r#"high then escape \ud83d\n"#,
            r#"\ud83d"#,
            r#"\x"#,
            r#"\u12"#,
            r#"\u+123"#,
            r#"trailing \"#,
            "plain é",
            "",
            "raw \" quote",
            "raw \u{1} control",
        ] {
            let serde = serde_json::from_str::<String>(&format!("\"{text}\"")).ok();
            assert_eq!(unescape(text), serde, "{text}");
        }
        // Escapes at every offset within and across the words the scan reads.
        for len in 0..20 {
            for escape in [r#"\""#, r#"\\"#, r#"\u00e9"#, r#"\ud83d\ude00"#, "é", "\""] {
                let text = format!("{}{escape}{}{escape}", "x".repeat(len), "y".repeat(len % 7));
                let serde = serde_json::from_str::<String>(&format!("\"{text}\"")).ok();
                assert_eq!(unescape(&text), serde, "{text}");
            }
        }
    }
}
