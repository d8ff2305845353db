//! Small wire-level helpers shared by the dialects: the body rules (UTF-8, a JSON object, a
//! nesting limit, no repeated keys), query string decoding, JSON type names for error
//! messages and command-name validation.
//!
//! Not a JSON or URL parser: serde_json parses bodies; the visitor here only builds the value,
//! counting its depth and refusing repeated keys as it goes.

use hookbox_model::JsonObject;
use serde_json::Value;

use crate::DialectError;

/// Deepest accepted nesting of arrays/objects in a request body (the top-level object is 1).
pub(crate) const MAX_DEPTH: usize = 64;

/// Longest accepted command name.
pub(crate) const MAX_COMMAND_LEN: usize = 128;

/// Applies the body rules every dialect shares: UTF-8, not blank, at most [`MAX_DEPTH`] levels
/// deep (refused on entering level `MAX_DEPTH + 1`, long before serde_json's own recursion
/// limit), no object with a repeated key, a JSON object.
/// Returns the text (the body itself, unchanged) and the parsed object.
pub(crate) fn parse_object_body(body: &[u8]) -> Result<(&str, JsonObject), DialectError> {
    let text = std::str::from_utf8(body).map_err(|e| DialectError::BodyNotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    if text.trim_ascii().is_empty() {
        return Err(DialectError::BodyEmpty);
    }
    match parse_strictly(text)? {
        Value::Object(map) => Ok((text, map)),
        other => Err(DialectError::BodyNotObject {
            found: json_type(&other),
        }),
    }
}

/// `serde_json::from_str::<Value>`, except that an object holding a key twice, at any depth,
/// is [`DialectError::DuplicateKey`] instead of silently keeping the last value, and nesting
/// past [`MAX_DEPTH`] is [`DialectError::BodyTooDeep`].
///
/// Every level is checked, not only the fields the host reads: plugins parse the original
/// bytes with parsers of their own (first-wins, last-wins or an error), so any repeated key
/// is a place where the host's reading and a plugin's could differ. IM servers marshal maps
/// and structs, which never repeat a key, so no genuine callback is refused.
fn parse_strictly(text: &str) -> Result<Value, DialectError> {
    let refusal = std::cell::Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = serde::de::DeserializeSeed::deserialize(
        StrictValue {
            refusal: &refusal,
            depth: 1,
        },
        &mut deserializer,
    )
    .and_then(|value| deserializer.end().map(|()| value));
    match (parsed, refusal.take()) {
        (_, Some(Refusal::DuplicateKey(key))) => {
            Err(DialectError::DuplicateKey { key: excerpt(&key) })
        }
        (_, Some(Refusal::TooDeep)) => Err(DialectError::BodyTooDeep { limit: MAX_DEPTH }),
        (Ok(value), None) => Ok(value),
        (Err(e), None) => Err(DialectError::BodyNotJson(e)),
    }
}

/// Why [`StrictValue`] stopped, where serde_json alone would have gone on.
enum Refusal {
    DuplicateKey(String),
    TooDeep,
}

/// Builds a [`Value`] like serde_json's own visitor, refusing repeated object keys and
/// nesting past [`MAX_DEPTH`]. The reason is left in `refusal`, because a serde error can
/// only carry a message.
#[derive(Clone, Copy)]
struct StrictValue<'a> {
    refusal: &'a std::cell::Cell<Option<Refusal>>,
    /// The level this value is at if it is an array or object (the body itself is 1).
    depth: usize,
}

impl<'a> StrictValue<'a> {
    /// The seed for a value inside this one, or the refusal when this one is one level too
    /// deep to hold anything.
    fn inner<E: serde::de::Error>(&self) -> Result<StrictValue<'a>, E> {
        if self.depth > MAX_DEPTH {
            self.refusal.set(Some(Refusal::TooDeep));
            return Err(E::custom("nested too deep"));
        }
        Ok(StrictValue {
            refusal: self.refusal,
            depth: self.depth + 1,
        })
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        // serde_json refuses non-finite numbers while parsing, so this never yields null.
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        // Room for a typical callback body up front (OpenIM's message bodies have ~20 keys):
        // growing the map rehashes every key, which showed in the request profile.
        let expected = if self.depth == 1 { 24 } else { 0 };
        let inner = self.inner()?;
        let mut map = JsonObject::with_capacity(entries.size_hint().unwrap_or(expected));
        while let Some(key) = entries.next_key::<String>()? {
            // One lookup per key: the vacant entry is filled once its value is parsed.
            match map.entry(key) {
                serde_json::map::Entry::Occupied(repeated) => {
                    let key = repeated.key().clone();
                    self.refusal.set(Some(Refusal::DuplicateKey(key)));
                    return Err(serde::de::Error::custom("duplicate key"));
                }
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(entries.next_value_seed(inner)?);
                }
            }
        }
        Ok(Value::Object(map))
    }
}

/// The JSON type of `value`, as an error message names it.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// All values of the query parameter `name`, decoded as `application/x-www-form-urlencoded`
/// (`+` is a space, then percent-decoding). `Err(raw)` for a value that is not UTF-8 once
/// decoded. Parameters whose *name* does not decode are skipped.
pub(crate) fn query_values<'q>(
    query: &'q str,
    name: &'q str,
) -> impl Iterator<Item = Result<String, &'q str>> + 'q {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(move |pair| {
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            match form_decode(raw_key) {
                Some(key) if key == name => Some(form_decode(raw_value).ok_or(raw_value)),
                _ => None,
            }
        })
}

/// The first value of the query parameter `name` that decodes to UTF-8, unless it is empty.
pub(crate) fn first_query_value(query: Option<&str>, name: &str) -> Option<String> {
    query_values(query?, name)
        .find_map(Result::ok)
        .filter(|v| !v.is_empty())
}

/// Decodes one form-encoded component; `None` if the bytes are not UTF-8.
fn form_decode(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Whether `name` is 1 to [`MAX_COMMAND_LEN`] characters of `[A-Za-z0-9._]`.
pub(crate) fn is_valid_command(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_COMMAND_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
}

/// A short, safe excerpt of untrusted text for an error message (at most 64 characters).
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_arrays_and_objects_not_brackets_in_strings() {
        let code = |body: &str| parse_object_body(body.as_bytes()).err().map(|e| e.code());
        // `{"a":` is level 1, so n brackets inside it reach level n + 1.
        let nested = |open: &str, close: &str, n: usize| {
            format!("{{\"a\":{}1{}}}", open.repeat(n), close.repeat(n))
        };
        assert_eq!(code(&nested("[", "]", MAX_DEPTH - 1)), None);
        assert_eq!(code(&nested("[", "]", MAX_DEPTH)), Some("body_too_deep"));
        assert_eq!(code(&nested("{\"b\":", "}", MAX_DEPTH - 1)), None);
        assert_eq!(
            code(&nested("{\"b\":", "}", MAX_DEPTH)),
            Some("body_too_deep")
        );
        let brackets_in_a_string =
            format!("{{\"a\":\"{}\\\"{}\"}}", "[".repeat(500), "{".repeat(500));
        assert_eq!(code(&brackets_in_a_string), None);
        // Unclosed and far past serde_json's own recursion limit: refused at level 65.
        assert_eq!(
            code(&format!("{{\"a\":{}", "[".repeat(100_000))),
            Some("body_too_deep")
        );
        // Broken before it gets deep: not JSON.
        assert_eq!(
            code(&format!("{{\"a\":}}{}", "[".repeat(100))),
            Some("body_not_json")
        );
    }

    #[test]
    fn query_values_form_decode() {
        let q = "a=1&command=callbackX&key=eyJ%2B%2F%3D&command=two+words&bad=%FF";
        let commands: Vec<_> = query_values(q, "command").collect();
        assert_eq!(
            commands,
            vec![Ok("callbackX".to_owned()), Ok("two words".to_owned())]
        );
        let keys: Vec<_> = query_values(q, "key").collect();
        assert_eq!(keys, vec![Ok("eyJ+/=".to_owned())]);
        let bad: Vec<_> = query_values(q, "bad").collect();
        assert_eq!(bad, vec![Err("%FF")]);
        assert_eq!(query_values("command", "command").count(), 1);
        assert_eq!(query_values("", "command").count(), 0);
    }

    #[test]
    fn object_body_rules() {
        let (text, map) = parse_object_body(b" {\"a\":1}\n").expect("object");
        assert_eq!(text, " {\"a\":1}\n");
        assert_eq!(map.get("a"), Some(&Value::from(1)));
        let code = |body: &[u8]| parse_object_body(body).err().map(|e| e.code());
        assert_eq!(code(b"\xff{}"), Some("body_not_utf8"));
        assert_eq!(code(b" \n\t"), Some("body_empty"));
        assert_eq!(code(b"[1]"), Some("body_not_object"));
        assert_eq!(code(b"{\"a\":}"), Some("body_not_json"));
        let deep = format!(
            "{{\"a\":{}1{}}}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert_eq!(code(deep.as_bytes()), Some("body_too_deep"));
    }

    #[test]
    fn a_repeated_key_is_refused_at_any_depth() {
        let key = |body: &str| match parse_object_body(body.as_bytes()) {
            Err(DialectError::DuplicateKey { key }) => Some(key),
            Err(other) => panic!("{body}: {other}"),
            Ok(_) => None,
        };
        assert_eq!(key(r#"{"a":1,"b":2,"a":3}"#), Some("a".to_owned()));
        assert_eq!(key(r#"{"x":[{"id":1,"id":1}]}"#), Some("id".to_owned()));
        // Escapes are decoded before comparing: these are the same key.
        assert_eq!(key(r#"{"ab":1,"a\u0062":2}"#), Some("ab".to_owned()));
        // The same key in sibling objects, or differing in case, is not a repeat.
        assert_eq!(
            key(r#"{"a":{"k":1},"b":{"k":1},"A":0,"k":[{"k":2}]}"#),
            None
        );
    }

    #[test]
    fn the_strict_parse_builds_what_serde_json_builds() {
        let text = r#"{"s":"x\n\u00e9","n":-5,"u":18446744073709551615,"f":1.5,"e":1e3,
            "t":true,"z":null,"a":[1,[2,{}],"3"],"o":{"p":{}}}"#;
        let (_, strict) = parse_object_body(text.as_bytes()).expect("valid");
        let reference: Value = serde_json::from_str(text).expect("valid");
        assert_eq!(Value::Object(strict), reference);
        let code = |body: &[u8]| parse_object_body(body).err().map(|e| e.code());
        assert_eq!(code(b"{\"a\":1} x"), Some("body_not_json"));
        assert_eq!(code(b"{\"a\":1e400}"), Some("body_not_json"));
    }

    #[test]
    fn first_query_value_skips_undecodable_and_refuses_empty() {
        let q = "a=%FF&a=x+y&a=z";
        assert_eq!(first_query_value(Some(q), "a"), Some("x y".to_owned()));
        assert_eq!(first_query_value(Some("a=&a=x"), "a"), None);
        assert_eq!(first_query_value(None, "a"), None);
    }

    #[test]
    fn command_names() {
        assert!(is_valid_command("callbackBeforeSendSingleMsgCommand"));
        assert!(is_valid_command("Group.CallbackBeforeSendMsg"));
        assert!(is_valid_command(&"a".repeat(128)));
        assert!(!is_valid_command(&"a".repeat(129)));
        assert!(!is_valid_command(""));
        assert!(!is_valid_command("a/b"));
        assert!(!is_valid_command("a b"));
        assert!(!is_valid_command("é"));
    }

    #[test]
    fn excerpt_cuts_on_char_boundaries() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(100);
        assert_eq!(excerpt(&long).chars().count(), 65);
    }
}
