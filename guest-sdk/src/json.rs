//! JSON helpers shared by the typed bodies ([`crate::openim`], [`crate::tencent`]) and the
//! message view ([`crate::message`]): fields that tolerate `null` and absence, integers that
//! may arrive as strings, JSON objects edited one field at a time without touching the
//! bytes of the others, and ([`members`]) a few members read out of a body without parsing
//! the rest.

use core::fmt;

use serde::de::{self, MapAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

mod members;

pub(crate) use members::{Raw, ScanError, keep, visit_elements, visit_members};

/// Read `null` as the type's default (Go encodes nil slices and nil pointers as `null`).
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// How a Tencent body field is read: `null` (and, through `#[serde(default)]`, absence) is the
/// type's default, and integers may also be written as strings (`"EventTime":"1670574414123"`).
pub(crate) trait Tolerant<'de>: Sized {
    /// Read one field value.
    fn read<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

/// `deserialize_with = "tolerant"`: see [`Tolerant`].
pub(crate) fn tolerant<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Tolerant<'de>,
{
    T::read(deserializer)
}

impl<'de> Tolerant<'de> for String {
    fn read<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        nullable(deserializer)
    }
}

impl<'de, T: Deserialize<'de>> Tolerant<'de> for Vec<T> {
    fn read<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        nullable(deserializer)
    }
}

macro_rules! tolerant_int {
    ($($ty:ty),*) => {$(
        impl<'de> Tolerant<'de> for $ty {
            fn read<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                match deserializer.deserialize_any(IntVisitor)? {
                    None => Ok(0),
                    Some(n) => <$ty>::try_from(n).map_err(|_| {
                        de::Error::custom(format!("{n} is out of range for {}", stringify!($ty)))
                    }),
                }
            }
        }
    )*};
}

tolerant_int!(i32, i64, u32, u64);

/// An integer written as a JSON number (integral floats included) or as a decimal string;
/// `null` and `""` read as `None`.
struct IntVisitor;

impl<'de> Visitor<'de> for IntVisitor {
    type Value = Option<i128>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer, or a string holding one")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // 2^64: every integral float below it in magnitude fits an i128 exactly.
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 18_446_744_073_709_551_616.0 {
            Ok(Some(v as i128))
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let trimmed = v.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        trimmed
            .parse::<i128>()
            .map(Some)
            .map_err(|_| E::invalid_value(Unexpected::Str(v), &self))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// A JSON object's fields in document order, values kept verbatim: editing one field leaves
/// every other byte of the object as it was (and needs no `serde_json::Value`).
pub(crate) struct RawFields(pub(crate) Vec<(String, Box<RawValue>)>);

impl RawFields {
    /// The first value under `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| &**v)
    }

    /// Set the first `key` to `value` (or append it, when absent).
    pub(crate) fn set(&mut self, key: &str, value: Box<RawValue>) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, old)) => *old = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }
}

impl<'de> Deserialize<'de> for RawFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = RawFields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFields, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.push(entry);
                }
                Ok(RawFields(fields))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

impl Serialize for RawFields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// `text` as a JSON string value.
pub(crate) fn raw_string(text: &str) -> Box<RawValue> {
    // A &str always serialises, and serde_json's output is always valid JSON.
    let json =
        serde_json::to_string(text).unwrap_or_else(|_| unreachable!("a string always serialises"));
    RawValue::from_string(json).unwrap_or_else(|_| unreachable!("serde_json output is JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Ints {
        #[serde(default, deserialize_with = "tolerant")]
        a: i64,
        #[serde(default, deserialize_with = "tolerant")]
        b: u64,
        #[serde(default, deserialize_with = "tolerant")]
        c: i32,
    }

    fn ints(json: &str) -> Result<(i64, u64, i32), serde_json::Error> {
        serde_json::from_str::<Ints>(json).map(|i| (i.a, i.b, i.c))
    }

    #[test]
    fn integers_as_numbers_strings_null_or_absent() {
        assert_eq!(ints(r#"{"a":1,"b":2,"c":-3}"#).unwrap(), (1, 2, -3));
        assert_eq!(
            ints(r#"{"a":"1670574414123","b":" 18446744073709551615 ","c":"-7"}"#).unwrap(),
            (1_670_574_414_123, u64::MAX, -7)
        );
        assert_eq!(ints(r#"{"a":null,"b":"","c":1.0}"#).unwrap(), (0, 0, 1));
        assert_eq!(ints("{}").unwrap(), (0, 0, 0));
        assert_eq!(ints(r#"{"a":1.67e12}"#).unwrap().0, 1_670_000_000_000);
        for bad in [
            r#"{"a":"x"}"#,
            r#"{"a":1.5}"#,
            r#"{"b":-1}"#,
            r#"{"c":4294967296}"#,
            r#"{"a":true}"#,
            r#"{"a":[1]}"#,
        ] {
            assert!(ints(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn raw_fields_edit_one_field_only() {
        let mut fields: RawFields =
            serde_json::from_str(r#"{"b": [1, 2 ],"a":"x\u003c","c":1.50}"#).unwrap();
        assert_eq!(fields.get("a").map(RawValue::get), Some(r#""x\u003c""#));
        fields.set("a", raw_string("y\"z"));
        fields.set("d", raw_string(""));
        assert_eq!(
            serde_json::to_string(&fields).unwrap(),
            r#"{"b":[1, 2 ],"a":"y\"z","c":1.50,"d":""}"#
        );
        assert!(serde_json::from_str::<RawFields>("[1]").is_err());
    }
}
