//! Counters are stored as the canonical decimal ASCII of an `i64`: what Redis `INCRBY`
//! reads and writes, and what an operator reads in a dump.
//!
//! "Canonical" is exactly Redis's rule: an optional `-`, no `+`, no leading zeros, no
//! spaces, no `-0`. Parsing by round trip (`parse` then `to_string` gives the input back)
//! is that rule, so both backends accept the same values as counters.

use crate::KvError;

/// The counter a stored value holds.
pub(crate) fn parse(value: &[u8]) -> Result<i64, KvError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse::<i64>().ok().filter(|n| n.to_string() == text))
        .ok_or(KvError::NotAnInteger)
}

/// The stored form of a counter.
pub(crate) fn encode(counter: i64) -> Vec<u8> {
    counter.to_string().into_bytes()
}

/// The counter after adding `delta` to `current` (a missing key counts as 0).
pub(crate) fn add(current: Option<&[u8]>, delta: i64) -> Result<i64, KvError> {
    let base = current.map(parse).transpose()?.unwrap_or(0);
    base.checked_add(delta).ok_or(KvError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_canonical_form_is_a_counter() {
        for good in [
            "0",
            "7",
            "-7",
            "9223372036854775807",
            "-9223372036854775808",
        ] {
            assert_eq!(encode(parse(good.as_bytes()).unwrap()), good.as_bytes());
        }
        for bad in [
            "",
            "-",
            "+7",
            "07",
            "-0",
            " 7",
            "7 ",
            "7.0",
            "1e3",
            "x",
            "9223372036854775808",
            "\u{0663}",
        ] {
            assert_eq!(parse(bad.as_bytes()), Err(KvError::NotAnInteger), "{bad:?}");
        }
    }

    #[test]
    fn add_counts_from_zero_and_refuses_to_wrap() {
        assert_eq!(add(None, -3), Ok(-3));
        assert_eq!(add(Some(b"40"), 2), Ok(42));
        assert_eq!(add(Some(b"9223372036854775807"), 1), Err(KvError::Overflow));
        assert_eq!(
            add(Some(b"-9223372036854775808"), -1),
            Err(KvError::Overflow)
        );
    }
}
