//! Small wire-level helpers shared by the dialects: the body rules (UTF-8, a JSON object, a
//! nesting limit, no repeated keys), query string decoding, JSON type names for error
//! messages and command-name validation.
//!
//! Not a JSON or URL parser: serde_json reads bodies, and the visitor here only checks them;
//! [`quick`] checks the common bodies in one pass and leaves every doubt to that visitor.
//!
//! The decision a reader may question: **checking a body builds no value**. The body rules are
//! enforced by a scan that borrows keys and strings from the text, and only the top-level
//! strings are kept (routing reads the command and the operation id). Building the whole
//! `serde_json::Value` cost about two thirds of a typical callback's parse, and the common
//! answer (an allow) never reads it; [`Callback::request`](crate::Callback::request) builds it
//! on first use instead (ADR 022).

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::DialectError;

mod quick;

/// Deepest accepted nesting of arrays/objects in a request body (the top-level object is 1).
pub(crate) const MAX_DEPTH: usize = 64;

/// Longest accepted command name.
pub(crate) const MAX_COMMAND_LEN: usize = 128;

/// A request body that passed the body rules, with its top-level fields in body order.
pub(crate) struct ObjectBody<'a> {
    /// The body itself, unchanged.
    pub(crate) text: &'a str,
    fields: Vec<(Cow<'a, str>, Field<'a>)>,
}

/// A top-level field's value, as far as routing reads it: a string's text, else only its
/// JSON type.
#[derive(Debug, PartialEq)]
pub(crate) enum Field<'a> {
    Text(Cow<'a, str>),
    Other(JsonType),
}

/// The type of a JSON value, as error messages name it ([`JsonType::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonType {
    Null,
    Boolean,
    Integer,
    Fraction,
    String,
    Array,
    Object,
}

impl JsonType {
    /// What an error message calls it: "an integer", "null", ...
    pub(crate) fn name(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Boolean => "a boolean",
            JsonType::Fraction => "a fractional number",
            JsonType::Integer => "an integer",
            JsonType::String => "a string",
            JsonType::Array => "an array",
            JsonType::Object => "an object",
        }
    }
}

impl<'a> ObjectBody<'a> {
    /// The top-level field `name` (keys are unique: the body rules refuse repeats).
    pub(crate) fn field(&self, name: &str) -> Option<&Field<'a>> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// The top-level fields, in body order.
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&str, &Field<'a>)> {
        self.fields.iter().map(|(key, value)| (key.as_ref(), value))
    }

    /// The command the body names in its top-level field `field`, if it has that field.
    ///
    /// # Errors
    ///
    /// The field holds something other than a string.
    pub(crate) fn command(&self, field: &'static str) -> Result<Option<&str>, DialectError> {
        match self.field(field) {
            None => Ok(None),
            Some(Field::Text(command)) => Ok(Some(command)),
            Some(Field::Other(found)) => Err(DialectError::CommandNotString {
                field,
                found: found.name(),
            }),
        }
    }

    /// The top-level field `name` if it is a string.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        match self.field(name)? {
            Field::Text(text) => Some(text),
            Field::Other(_) => None,
        }
    }
}

/// Applies the body rules every dialect shares: UTF-8, not blank, at most [`MAX_DEPTH`] levels
/// deep (refused on entering level `MAX_DEPTH + 1`, long before serde_json's own recursion
/// limit), no object with a repeated key, a JSON object.
pub(crate) fn parse_object_body(body: &[u8]) -> Result<ObjectBody<'_>, DialectError> {
    let text = std::str::from_utf8(body).map_err(|e| DialectError::BodyNotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    if text.trim_ascii().is_empty() {
        return Err(DialectError::BodyEmpty);
    }
    if let Some(fields) = quick::check(text) {
        return Ok(ObjectBody { text, fields });
    }
    full_check(text)
}

/// Whether the fast path's answer for `text`, if it has one, is the full check's: see
/// [`quick`]'s claim.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn body_checks_agree(text: &str) -> bool {
    quick::check(text).is_none_or(|fields| full_check(text).is_ok_and(|body| body.fields == fields))
}

/// [`parse_object_body`] after the UTF-8 and blank checks, without the fast path: serde_json
/// reads the body, and words the refusal when there is one.
fn full_check(text: &str) -> Result<ObjectBody<'_>, DialectError> {
    let scan = Scan {
        refusal: Cell::new(None),
        open_keys: RefCell::new(Vec::with_capacity(TYPICAL_KEYS)),
        top_level: RefCell::new(Vec::with_capacity(TYPICAL_KEYS)),
    };
    match check_strictly(text, &scan)? {
        Field::Other(JsonType::Object) => Ok(ObjectBody {
            text,
            fields: scan.top_level.into_inner(),
        }),
        Field::Text(_) => Err(DialectError::BodyNotObject {
            found: JsonType::String.name(),
        }),
        Field::Other(found) => Err(DialectError::BodyNotObject {
            found: found.name(),
        }),
    }
}

/// The body as a JSON object. For a body [`parse_object_body`] accepted, this is the value
/// serde_json builds (a test holds the two parses to agree); anything else is an empty object.
pub(crate) fn object_value(text: &str) -> hookbox_model::JsonObject {
    serde_json::from_str(text).unwrap_or_default()
}

/// serde_json's syntax check of `text`, except that an object holding a key twice, at any
/// depth, is [`DialectError::DuplicateKey`] and nesting past [`MAX_DEPTH`] is
/// [`DialectError::BodyTooDeep`]. Returns what the whole text is, as a [`Field`].
///
/// Every level is checked, not only the fields the host reads: plugins parse the original
/// bytes with parsers of their own (first-wins, last-wins or an error), so any repeated key
/// is a place where the host's reading and a plugin's could differ. IM servers marshal maps
/// and structs, which never repeat a key, so no genuine callback is refused.
fn check_strictly<'a>(text: &'a str, scan: &Scan<'a>) -> Result<Field<'a>, DialectError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let checked = Check { scan, depth: 1 }
        .deserialize(&mut deserializer)
        .and_then(|shape| deserializer.end().map(|()| shape));
    match (checked, scan.refusal.take()) {
        (_, Some(Refusal::DuplicateKey(key))) => {
            Err(DialectError::DuplicateKey { key: excerpt(&key) })
        }
        (_, Some(Refusal::TooDeep)) => Err(DialectError::BodyTooDeep { limit: MAX_DEPTH }),
        (Ok(shape), None) => Ok(shape),
        (Err(e), None) => Err(DialectError::BodyNotJson(e)),
    }
}

/// Why [`Check`] stopped, where serde_json alone would have gone on.
enum Refusal {
    DuplicateKey(String),
    TooDeep,
}

/// Room for a typical callback body's keys up front (OpenIM's message bodies have ~20).
const TYPICAL_KEYS: usize = 32;

/// What one check of a body shares across its levels.
struct Scan<'a> {
    /// The reason a check stopped, because a serde error can only carry a message.
    refusal: Cell<Option<Refusal>>,
    /// The keys of every object still open, innermost last: one buffer for the whole body
    /// instead of one per object.
    open_keys: RefCell<Vec<Cow<'a, str>>>,
    /// The body's own fields.
    top_level: RefCell<Vec<(Cow<'a, str>, Field<'a>)>>,
}

/// Up to this many keys, an object's repeats are found by comparing with each earlier key
/// (most compare only their lengths); beyond it, with a hash set, so that a body of many
/// distinct keys stays linear. Hashing every key of a typical 20-key callback cost more than
/// all of its comparisons.
const LINEAR_KEY_SCAN: usize = 64;

/// Checks one value at `depth` (the level it is at if it is an array or object; the body
/// itself is 1) and says what it is.
#[derive(Clone, Copy)]
struct Check<'s, 'a> {
    scan: &'s Scan<'a>,
    depth: usize,
}

impl<'s, 'a> Check<'s, 'a> {
    /// The check for a value inside this one, or the refusal when this one is one level too
    /// deep to hold anything.
    fn inner<E: serde::de::Error>(&self) -> Result<Check<'s, 'a>, E> {
        if self.depth > MAX_DEPTH {
            self.scan.refusal.set(Some(Refusal::TooDeep));
            return Err(E::custom("nested too deep"));
        }
        Ok(Check {
            scan: self.scan,
            depth: self.depth + 1,
        })
    }

    fn repeated<E: serde::de::Error>(&self, key: &str) -> E {
        self.scan
            .refusal
            .set(Some(Refusal::DuplicateKey(key.to_owned())));
        E::custom("duplicate key")
    }
}

impl<'a> DeserializeSeed<'a> for Check<'_, 'a> {
    type Value = Field<'a>;

    fn deserialize<D: Deserializer<'a>>(self, deserializer: D) -> Result<Field<'a>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'a> Visitor<'a> for Check<'_, 'a> {
    type Value = Field<'a>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Field<'a>, E> {
        Ok(Field::Other(JsonType::Boolean))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Field<'a>, E> {
        Ok(Field::Other(JsonType::Integer))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Field<'a>, E> {
        Ok(Field::Other(JsonType::Integer))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Field<'a>, E> {
        Ok(Field::Other(JsonType::Fraction))
    }

    fn visit_borrowed_str<E>(self, value: &'a str) -> Result<Field<'a>, E> {
        Ok(Field::Text(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Field<'a>, E> {
        // A string with escapes: only the body's own fields are kept, so only they are copied.
        Ok(if self.depth == 2 {
            Field::Text(Cow::Owned(value.to_owned()))
        } else {
            Field::Other(JsonType::String)
        })
    }

    fn visit_unit<E>(self) -> Result<Field<'a>, E> {
        Ok(Field::Other(JsonType::Null))
    }

    fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<Field<'a>, A::Error> {
        let inner = self.inner()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(Field::Other(JsonType::Array))
    }

    fn visit_map<A: MapAccess<'a>>(self, mut entries: A) -> Result<Field<'a>, A::Error> {
        let inner = self.inner()?;
        let start = self.scan.open_keys.borrow().len();
        let mut many: Option<HashSet<Cow<'a, str>>> = None;
        // One bit per key sketch: a key whose bit is still clear was not seen in this object,
        // which spares most keys the comparisons.
        let mut sketches = 0u64;
        while let Some(Key(key)) = entries.next_key()? {
            {
                let mut open = self.scan.open_keys.borrow_mut();
                let bit = 1u64 << key_sketch(key.as_bytes());
                let seen = match &mut many {
                    Some(set) => !set.insert(key.clone()),
                    None => sketches & bit != 0 && open[start..].contains(&key),
                };
                sketches |= bit;
                if seen {
                    return Err(self.repeated(&key));
                }
                if many.is_none() && open.len() - start == LINEAR_KEY_SCAN {
                    many = Some(open.drain(start..).chain([key.clone()]).collect());
                } else if many.is_none() {
                    open.push(key.clone());
                }
            }
            let value = entries.next_value_seed(inner)?;
            if self.depth == 1 {
                self.scan.top_level.borrow_mut().push((key, value));
            }
        }
        self.scan.open_keys.borrow_mut().truncate(start);
        Ok(Field::Other(JsonType::Object))
    }
}

/// A number below 64 that equal keys share: their length, first and last byte mixed.
fn key_sketch(bytes: &[u8]) -> u32 {
    let first = bytes.first().copied().unwrap_or(0);
    let last = bytes.last().copied().unwrap_or(0);
    (bytes.len() as u32)
        .wrapping_add(3 * u32::from(first))
        .wrapping_add(5 * u32::from(last))
        % 64
}

/// An object key, borrowed from the body unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'a> serde::Deserialize<'a> for Key<'a> {
    fn deserialize<D: Deserializer<'a>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyText;

        impl<'a> Visitor<'a> for KeyText {
            type Value = Key<'a>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("an object key")
            }

            fn visit_borrowed_str<E>(self, key: &'a str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E>(self, key: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }

        deserializer.deserialize_str(KeyText)
    }
}

/// The JSON type of `value`, as an error message names it.
pub(crate) fn json_type(value: &Value) -> &'static str {
    let ty = match value {
        Value::Null => JsonType::Null,
        Value::Bool(_) => JsonType::Boolean,
        Value::Number(n) if n.is_f64() => JsonType::Fraction,
        Value::Number(_) => JsonType::Integer,
        Value::String(_) => JsonType::String,
        Value::Array(_) => JsonType::Array,
        Value::Object(_) => JsonType::Object,
    };
    ty.name()
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
        let body =
            parse_object_body(b" {\"a\":1,\"s\":\"x\\ny\",\"t\":\"plain\"}\n").expect("object");
        assert_eq!(body.text, " {\"a\":1,\"s\":\"x\\ny\",\"t\":\"plain\"}\n");
        assert!(matches!(
            body.field("a"),
            Some(Field::Other(JsonType::Integer))
        ));
        assert_eq!(body.text("s"), Some("x\ny"));
        assert_eq!(body.text("t"), Some("plain"));
        assert_eq!(body.text("a"), None);
        let code = |body: &[u8]| parse_object_body(body).err().map(|e| e.code());
        assert_eq!(code(b"\xff{}"), Some("body_not_utf8"));
        assert_eq!(code(b" \n\t"), Some("body_empty"));
        assert_eq!(code(b"[1]"), Some("body_not_object"));
        assert_eq!(code(b"\"{}\""), Some("body_not_object"));
        assert_eq!(code(b"{\"a\":}"), Some("body_not_json"));
        let deep = format!(
            "{{\"a\":{}1{}}}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert_eq!(code(deep.as_bytes()), Some("body_too_deep"));
    }

    #[test]
    fn objects_with_many_keys_are_checked_in_linear_time() {
        let keys = |n: usize| (0..n).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>();
        let many = keys(200_000);
        let body = format!("{{\"o\":{{{}}}}}", many.join(","));
        assert!(parse_object_body(body.as_bytes()).is_ok());
        // A repeat on either side of the switch from comparing to hashing.
        for (at, of) in [
            (5, 2),
            (LINEAR_KEY_SCAN, 0),
            (LINEAR_KEY_SCAN + 1, 3),
            (150_000, 7),
        ] {
            let mut fields = keys(at);
            fields.push(format!("\"k{of}\":true"));
            let body = format!("{{\"o\":{{{}}},\"p\":{{\"k{of}\":1}}}}", fields.join(","));
            match parse_object_body(body.as_bytes()) {
                Err(DialectError::DuplicateKey { key }) => assert_eq!(key, format!("k{of}")),
                other => panic!("repeat at {at}: {:?}", other.map(|b| b.text.len())),
            }
        }
    }

    /// The oracle for [`checks_agree_with_an_independent_reading`]: serde_json parses
    /// `text` into a tree that keeps every key, and the body rules are applied to the tree in
    /// document order.
    #[derive(Debug, serde::Deserialize)]
    #[serde(untagged)]
    enum Tree {
        Text(String),
        Array(Vec<Tree>),
        Object(Entries),
        Scalar(serde::de::IgnoredAny),
    }

    #[derive(Debug)]
    struct Entries(Vec<(String, Tree)>);

    impl<'de> serde::Deserialize<'de> for Entries {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct EntriesVisitor;
            impl<'de> Visitor<'de> for EntriesVisitor {
                type Value = Entries;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                    let mut entries = Vec::new();
                    while let Some(entry) = map.next_entry()? {
                        entries.push(entry);
                    }
                    Ok(Entries(entries))
                }
            }
            deserializer.deserialize_map(EntriesVisitor)
        }
    }

    /// The first rule `tree` (at `depth`) breaks, in document order: the error code and, for a
    /// repeat, the key.
    fn first_breach(tree: &Tree, depth: usize) -> Option<(&'static str, String)> {
        let children: Vec<&Tree> = match tree {
            Tree::Array(items) => items.iter().collect(),
            Tree::Object(Entries(entries)) => entries.iter().map(|(_, v)| v).collect(),
            Tree::Text(_) | Tree::Scalar(_) => return None,
        };
        if depth > MAX_DEPTH {
            return Some(("body_too_deep", String::new()));
        }
        for (i, child) in children.into_iter().enumerate() {
            if let Tree::Object(Entries(entries)) = tree {
                let key = &entries[i].0;
                if entries[..i].iter().any(|(earlier, _)| earlier == key) {
                    return Some(("duplicate_key", key.clone()));
                }
            }
            if let Some(breach) = first_breach(child, depth + 1) {
                return Some(breach);
            }
        }
        None
    }

    /// A reproducible stream of numbers below the bound asked for (xorshift from `seed`).
    fn numbers_below(mut state: u64) -> impl FnMut(usize) -> usize {
        move |bound| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        }
    }

    /// Appends a random JSON value to `out`, at `depth`: keys from a small pool (so that objects
    /// repeat some), strings with and without escapes, every kind of number, and now and then a
    /// long run of nested arrays around the nesting limit. An object when `object` is set.
    fn random_json(
        next: &mut impl FnMut(usize) -> usize,
        out: &mut String,
        depth: usize,
        object: bool,
    ) {
        const KEYS: [&str; 10] = [
            "a",
            "b",
            "ab",
            "a\\u0062",
            "k",
            "é",
            "operationID",
            "OPERATIONID",
            "callbackCommand",
            "MsgKey",
        ];
        const SCALARS: [&str; 12] = [
            "\"plain\"",
            "\"tab\\there\"",
            "\"\\u00e9\"",
            "\"\"",
            "0",
            "-12",
            "1.5",
            "2e3",
            "18446744073709551615",
            "true",
            "false",
            "null",
        ];
        let kind = if object {
            0
        } else {
            next(if depth > 8 { 12 } else { 6 })
        };
        match kind {
            0 => {
                out.push('{');
                for i in 0..next(6) {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&format!("\"{}\":", KEYS[next(KEYS.len())]));
                    random_json(next, out, depth + 1, false);
                }
                out.push('}');
            }
            1 => {
                out.push('[');
                for i in 0..next(4) {
                    if i > 0 {
                        out.push(',');
                    }
                    random_json(next, out, depth + 1, false);
                }
                out.push(']');
            }
            2 if next(8) == 0 => {
                let levels = MAX_DEPTH - 4 + next(8);
                out.push_str(&"[".repeat(levels));
                out.push('1');
                out.push_str(&"]".repeat(levels));
            }
            _ => out.push_str(SCALARS[next(SCALARS.len())]),
        }
    }

    #[test]
    fn checks_agree_with_an_independent_reading() {
        let mut next = numbers_below(0x9E37_79B9_7F4A_7C15_u64);
        let mut agreed = [0usize; 4];
        for round in 0..20_000 {
            let mut text = String::new();
            random_json(&mut next, &mut text, 1, round % 5 != 0);
            // Now and then one edit that may break the syntax.
            if next(4) == 0 {
                let mut chars: Vec<char> = text.chars().collect();
                let at = next(chars.len() + 1);
                match next(3) {
                    0 => chars.insert(at, ['{', '}', '[', ']', '"', ',', ':', '\\'][next(8)]),
                    _ if at < chars.len() => {
                        chars.remove(at);
                    }
                    _ => chars.push(' '),
                }
                text = chars.into_iter().collect();
            }
            let checked = parse_object_body(text.as_bytes());
            let mut reference = serde_json::Deserializer::from_str(&text);
            let tree = serde::Deserialize::deserialize(&mut reference)
                .and_then(|tree: Tree| reference.end().map(|()| tree));
            let Ok(tree) = tree else {
                // serde_json refuses it (or nests past its own limit): so must the check,
                // with whichever rule the text breaks first.
                assert!(checked.is_err(), "accepted what serde_json refuses: {text}");
                agreed[0] += 1;
                continue;
            };
            match (first_breach(&tree, 1), &tree, checked) {
                (Some((code, key)), _, Err(e)) => {
                    assert_eq!(e.code(), code, "{text}");
                    if let DialectError::DuplicateKey { key: found } = e {
                        assert_eq!(found, excerpt(&key), "{text}");
                    }
                    agreed[1] += 1;
                }
                (None, Tree::Object(Entries(entries)), Ok(body)) => {
                    assert_eq!(body.fields().count(), entries.len(), "{text}");
                    for ((key, field), (expected_key, value)) in body.fields().zip(entries) {
                        assert_eq!(key, expected_key, "{text}");
                        match (field, value) {
                            (Field::Text(found), Tree::Text(expected)) => {
                                assert_eq!(found, expected, "{text}")
                            }
                            (
                                Field::Other(found),
                                Tree::Array(_) | Tree::Object(_) | Tree::Scalar(_),
                            ) => {
                                let value: Value = serde_json::to_value(
                                    object_value(&text).get(key).expect("the key is there"),
                                )
                                .expect("a value");
                                assert_eq!(found.name(), json_type(&value), "{text}");
                            }
                            (_, other) => panic!("{text}: `{key}` read wrongly: {other:?}"),
                        }
                    }
                    let built: Value = serde_json::from_str(&text).expect("serde_json parses it");
                    assert_eq!(Value::Object(object_value(&text)), built, "{text}");
                    agreed[2] += 1;
                }
                (None, _, Err(e)) => {
                    assert_eq!(e.code(), "body_not_object", "{text}");
                    agreed[3] += 1;
                }
                (expected, _, Ok(_)) => panic!("{text}: accepted, expected {expected:?}"),
            }
        }
        // The mutations reach every outcome, or the test proves little.
        assert!(agreed.iter().all(|&n| n > 300), "{agreed:?}");
    }

    /// What the full check reads from `text`: its fields, or its refusal's code.
    fn fully(text: &str) -> Result<Vec<(Cow<'_, str>, Field<'_>)>, &'static str> {
        full_check(text)
            .map(|body| body.fields)
            .map_err(|e| e.code())
    }

    #[test]
    fn quick_check_agrees_with_the_full_check() {
        let mut next = numbers_below(0x2545_F491_4F6C_DD1D_u64);
        // Tokens at the edges of what the quick check reads, spliced into generated bodies.
        const EDGES: [&str; 16] = [
            "123456789012345678",
            "-123456789012345678",
            "1234567890123456789",
            "1.2345678901234567",
            "1.23456789012345678",
            "1e99",
            "-1E-99",
            "1e100",
            "1e400",
            "-0",
            "-0.0",
            "\"\\ud83d\\ude00\"",
            "\"\\ud83d\"",
            "\"\\uFFFF\\/\"",
            "\"a\u{1}b\"",
            "\"\u{7f}\"",
        ];
        let mut quick_said_yes = 0;
        for round in 0..20_000 {
            let mut text = String::new();
            random_json(&mut next, &mut text, 1, round % 7 != 0);
            if next(2) == 0 {
                // Replace the first scalar after a colon with an edge token.
                if let Some(at) = text.find(':') {
                    let rest = &text[at + 1..];
                    let len = rest.find([',', '}', ']']).unwrap_or(rest.len());
                    if !rest.starts_with(['{', '[']) {
                        let edge = EDGES[next(EDGES.len())];
                        text = format!("{}{edge}{}", &text[..=at], &rest[len..]);
                    }
                }
            }
            if next(4) == 0 {
                let mut chars: Vec<char> = text.chars().collect();
                let at = next(chars.len() + 1);
                chars.insert(at, ['{', '}', '"', ',', ':', '\\', ' ', '-'][next(8)]);
                text = chars.into_iter().collect();
            }
            if let Some(fields) = quick::check(&text) {
                assert_eq!(Ok(fields), fully(&text), "{text}");
                assert!(body_checks_agree(&text));
                quick_said_yes += 1;
            }
        }
        // It must be the common path, or the test proves little.
        assert!(quick_said_yes > 5_000, "{quick_said_yes}");

        for plain in [
            r#"{"n":123456789012345678,"f":1.2345678901234567,"e":[1e99,-1E-99,-0.0,0]}"#,
            r#"{"s":"\u00e9\n\uFFFF","t":"x\"y","u":"é\u007f"," ":{"":[{}]}}"#,
        ] {
            assert_eq!(quick::check(plain).map(Ok), Some(fully(plain)), "{plain}");
        }
        // What it leaves to the full check, which accepts some and refuses others.
        for (doubt, verdict) in [
            (r#"{"n":1234567890123456789}"#, None),
            (r#"{"f":1.23456789012345678}"#, None),
            (r#"{"e":1e100}"#, None),
            (r#"{"z":-0}"#, None),
            (r#"{"s":"\ud83d\ude00"}"#, None),
            (r#"{"a\u0062":1}"#, None),
            (r#"{"e":1e400}"#, Some("body_not_json")),
            (r#"{"s":"\ud83d"}"#, Some("body_not_json")),
            ("{\"s\":\"\u{1}\"}", Some("body_not_json")),
            (r#"{"a":1,"a":2}"#, Some("duplicate_key")),
            (r#"{"a":01}"#, Some("body_not_json")),
            (r#"[{"a":1}]"#, Some("body_not_object")),
        ] {
            assert!(quick::check(doubt).is_none(), "{doubt}");
            assert_eq!(fully(doubt).err(), verdict, "{doubt}");
        }
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
