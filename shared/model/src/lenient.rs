//! Reading a few fields of a JSON object without building the rest: a value of the expected type
//! is read, any other value counts as absent and is only skipped. The offline reader peeks at
//! every item this way, and Events are read this way into [`crate::event::Event`].
//!
//! Duplicate keys: the last one wins, as when `serde_json` builds the object.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// One JSON value, read for a string or a count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar<'a> {
    /// A string (borrowed from the text when it has no escapes).
    Str(Cow<'a, str>),
    /// A non-negative integer, what `serde_json::Value::as_u64` gives.
    Count(u64),
    /// Anything else: null, a boolean, another number, a list, a map.
    Other,
}

impl<'a> Scalar<'a> {
    /// The string, if it is one.
    pub fn text(self) -> Option<Cow<'a, str>> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string, if it is one, borrowed.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The count, if it is one.
    pub fn count(&self) -> Option<u64> {
        match self {
            Scalar::Count(n) => Some(*n),
            _ => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Count(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(u64::try_from(v).map_or(Scalar::Other, Scalar::Count))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other)
            }
            fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads the named keys of a map (`map.next_value_seed(Pick(["name", "namespace"]))`): each
/// key's value in the same position, `None` for a key the map lacks. A value that is not a map
/// lacks every key.
#[derive(Debug, Clone, Copy)]
pub struct Pick<const N: usize>(pub [&'static str; N]);

impl<'de, const N: usize> DeserializeSeed<'de> for Pick<N> {
    type Value = [Option<Scalar<'de>>; N];

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Pick<N> {
    type Value = [Option<Scalar<'de>>; N];

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = std::array::from_fn(|_| None);
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.0.iter().position(|k| *k == key) {
                Some(i) => found[i] = Some(map.next_value::<Scalar<'de>>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(std::array::from_fn(|_| None))
    }
    fn visit_borrowed_str<E>(self, _: &'de str) -> Result<Self::Value, E> {
        Ok(std::array::from_fn(|_| None))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(std::array::from_fn(|_| None))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(std::array::from_fn(|_| None))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(std::array::from_fn(|_| None))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(std::array::from_fn(|_| None))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(std::array::from_fn(|_| None))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(std::array::from_fn(|_| None))
    }
}

/// The string under each named key (see [`Pick`]).
pub fn texts<'a, const N: usize>(found: [Option<Scalar<'a>>; N]) -> [Option<Cow<'a, str>>; N] {
    found.map(|s| s.and_then(Scalar::text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeSeed;

    fn pick<'j, const N: usize>(keys: [&'static str; N], json: &'j str) -> [Option<Scalar<'j>>; N] {
        Pick(keys).deserialize(&mut serde_json::Deserializer::from_str(json)).unwrap()
    }

    #[test]
    fn picks_strings_and_counts_and_nothing_else() {
        let found = pick(
            ["a", "b", "c", "d", "e", "f"],
            r#"{"a": "x", "b": 3, "c": -1, "d": null, "e": {"a": "deep"}, "z": [1], "a": "last\n"}"#,
        );
        assert_eq!(found[0], Some(Scalar::Str("last\n".into())));
        assert_eq!(found[1].as_ref().and_then(Scalar::count), Some(3));
        assert_eq!(found[2], Some(Scalar::Other));
        assert_eq!(found[3], Some(Scalar::Other));
        assert_eq!(found[4], Some(Scalar::Other));
        assert_eq!(found[5], None);
        for not_a_map in ["[1, {\"a\": 1}]", "\"a\"", "7", "null", "true", "1.5"] {
            assert_eq!(pick(["a"], not_a_map), [None], "{not_a_map}");
        }
    }

    #[test]
    fn reads_a_built_value_the_same_way() {
        let value = serde_json::json!({"a": "x", "b": 2, "c": 2.5});
        let found = Pick(["a", "b", "c"]).deserialize(&value).unwrap();
        assert_eq!(texts(found.clone()), [Some("x".into()), None, None]);
        assert_eq!(found.map(|s| s.and_then(|s| s.count())), [None, Some(2), None]);
    }
}
