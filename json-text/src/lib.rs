//! JSON string text at the byte level, shared by hookbox's body check (`host/dialects`) and the
//! Rust SDK's member scan (`guest-sdk`): where the next quote, backslash or control byte of a
//! string is, found eight bytes at a time; what an escape sequence is; what escapes decode to.
//!
//! What it is not: a JSON parser. Both callers walk a body's structure themselves and need only
//! these string rules, where a slip (a missed control byte, a wrongly decoded surrogate pair)
//! would make them read a body differently from serde_json.
//!
//! The decision a reader may question: **a crate for three functions**. The host and the guest
//! SDK need the same scan and the same decoding, and the SDK cannot depend on the host's crates:
//! it builds for wasm, and plugin authors take only it.

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
/// decodes them; `None` for text serde_json refuses there: a bad escape, or a `\u` escape of a
/// lone UTF-16 surrogate.
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
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
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
        ] {
            let serde = serde_json::from_str::<String>(&format!("\"{text}\"")).ok();
            assert_eq!(unescape(text), serde, "{text}");
        }
    }
}
