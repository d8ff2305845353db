//! Tencent's callback authentication, checked on the raw query string before anything else of
//! the request is read: `SdkAppid` names a configured app; if that app has a token,
//! `Sign = hex(sha256(token + RequestTime))` and `|now − RequestTime| <= max_skew_secs`.
//!
//! Not a replay cache: within the skew window a captured request can be replayed, and the
//! signature does not cover the body (Tencent's scheme signs only the token and the time), so
//! only HTTPS keeps a body from being swapped under a captured signature.
//!
//! The decision a reader may question: every authentication parameter must appear exactly once
//! and `Sign` must be lower-case hex, as Tencent sends it. A duplicated parameter or an upper-case
//! signature is refused rather than normalised: nothing legitimate produces them, and refusing
//! leaves no room for a proxy and hookbox to read different values.

use sha2::{Digest, Sha256};

use super::{Auth, SDK_APP_ID, TencentApp};
use crate::DialectError;
use crate::wire;

/// The query parameter that carries the signature.
pub(crate) const SIGN: &str = "Sign";

/// The query parameter that carries the signing time (Unix seconds).
pub(crate) const REQUEST_TIME: &str = "RequestTime";

/// Length of a hex SHA-256 digest.
const SIGN_LEN: usize = 64;

/// Longest accepted decimal number (u64 and i64 both fit in 20 digits).
const MAX_DIGITS: usize = 20;

/// Checks the request's authentication parameters and returns the app it belongs to.
pub(crate) fn authenticate<'a>(
    query: Option<&str>,
    auth: &Auth<'a>,
) -> Result<&'a TencentApp, DialectError> {
    let query = query.unwrap_or("");
    let sdk_app_id = match unique(query, SDK_APP_ID)? {
        None => return Err(DialectError::MissingAppId),
        Some(Err(raw)) => return Err(bad_app_id(raw)),
        Some(Ok(value)) => decimal(&value)
            .and_then(|digits| digits.parse::<u64>().ok())
            .ok_or_else(|| bad_app_id(&value))?,
    };
    let Some(app) = auth.apps.iter().find(|a| a.sdk_app_id == sdk_app_id) else {
        return Err(DialectError::UnknownApp { sdk_app_id });
    };
    let Some(token) = app.token.as_deref() else {
        return Ok(app);
    };

    let sign = match unique(query, SIGN)? {
        None => return Err(DialectError::MissingSignature),
        Some(Err(_)) => return Err(bad_signature("not valid UTF-8")),
        Some(Ok(sign)) => sign,
    };
    let time_text = match unique(query, REQUEST_TIME)? {
        None => return Err(DialectError::MissingRequestTime),
        Some(Err(raw)) => return Err(bad_request_time(raw)),
        Some(Ok(text)) => text,
    };
    let request_time = decimal(&time_text)
        .and_then(|digits| digits.parse::<i64>().ok())
        .ok_or_else(|| bad_request_time(&time_text))?;

    if sign.len() != SIGN_LEN
        || !sign
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(bad_signature("not 64 lower-case hex digits"));
    }
    if !constant_time_eq(sign.as_bytes(), expected_sign(token, &time_text).as_bytes()) {
        return Err(bad_signature("does not match the app's token"));
    }

    let skew = i128::from(auth.now_unix_secs) - i128::from(request_time);
    let max = i128::from(auth.max_skew_secs);
    if skew > max {
        return Err(DialectError::StaleRequest {
            age_secs: skew.unsigned_abs(),
            max_skew_secs: auth.max_skew_secs,
        });
    }
    if -skew > max {
        return Err(DialectError::RequestFromFuture {
            ahead_secs: skew.unsigned_abs(),
            max_skew_secs: auth.max_skew_secs,
        });
    }
    Ok(app)
}

/// `hex(sha256(token + request_time))`, lower case: the `Sign` Tencent computes.
pub(crate) fn expected_sign(token: &str, request_time: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(token.as_bytes());
    hasher.update(request_time.as_bytes());
    hex::encode(hasher.finalize())
}

/// The single value of the query parameter `name`: `None` if absent, `Err(raw)` if it does not
/// decode to UTF-8; a parameter given more than once is an error.
fn unique<'q>(
    query: &'q str,
    name: &'static str,
) -> Result<Option<Result<String, &'q str>>, DialectError> {
    let mut values = wire::query_values(query, name);
    let first = values.next();
    if values.next().is_some() {
        return Err(DialectError::DuplicateAuthParameter { name });
    }
    Ok(first)
}

/// `text` if it is 1 to [`MAX_DIGITS`] ASCII digits (no sign, no spaces).
fn decimal(text: &str) -> Option<&str> {
    (!text.is_empty() && text.len() <= MAX_DIGITS && text.bytes().all(|b| b.is_ascii_digit()))
        .then_some(text)
}

fn bad_app_id(value: &str) -> DialectError {
    DialectError::BadAppId {
        value: wire::excerpt(value),
    }
}

fn bad_request_time(value: &str) -> DialectError {
    DialectError::BadRequestTime {
        value: wire::excerpt(value),
    }
}

fn bad_signature(reason: &'static str) -> DialectError {
    DialectError::BadSignature { reason }
}

/// Compares two byte strings in time that depends only on their lengths (which are public: the
/// expected length is always 64).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_vector() {
        assert_eq!(
            expected_sign("xxxxyyyy", "1669872112"),
            "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
        );
    }

    #[test]
    fn constant_time_eq_compares_lengths_and_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn decimal_is_digits_only() {
        assert_eq!(decimal("1669872112"), Some("1669872112"));
        for bad in [
            "",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1.0",
            "1e3",
            "١",
            &"9".repeat(21),
        ] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }
}
