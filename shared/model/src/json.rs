//! [`Json`]: the JSON of an object as a snapshot keeps it, read-only and compact. A cluster of
//! 10,000 apps holds 123,000 objects besides its Events; as `serde_json::Value` trees (a hash
//! index per map, a heap string per key) they took 850 MB for 82 MB of text. Here a map is one
//! boxed slice of (key, value) pairs in the order read, and keys and short strings are kept
//! inline ([`CompactString`]): about a third of that.

use compact_str::CompactString;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::{Number, Value};
use smallvec::SmallVec;
use std::fmt;

/// A JSON value, with the accessors of `serde_json::Value` that reading needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Json {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json reads it.
    Number(Number),
    /// A string.
    String(CompactString),
    /// A list.
    Array(Box<[Json]>),
    /// A map.
    Object(Fields),
}

/// The fields of a JSON map, in the order read. A key read twice keeps its first place and its
/// last value, as `serde_json::Map` with `preserve_order` does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fields(Box<[(CompactString, Json)]>);

impl Fields {
    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of a key, to change it.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether the key is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Keys and values, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Json)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Keys, in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// Values, in order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Json> {
        self.0.iter().map(|(_, v)| v)
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets a key: in its place when present, last otherwise.
    pub fn insert(&mut self, key: &str, value: Json) {
        match self.get_mut(key) {
            Some(slot) => *slot = value,
            None => self.edit(|fields| fields.push((key.into(), value))),
        }
    }

    /// Removes a key; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Json> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        let mut removed = None;
        self.edit(|fields| removed = Some(fields.remove(i).1));
        removed
    }

    /// Keeps the fields `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &Json) -> bool) {
        if self.0.iter().all(|(k, v)| keep(k, v)) {
            return;
        }
        self.edit(|fields| fields.retain(|(k, v)| keep(k, v)));
    }

    fn edit(&mut self, change: impl FnOnce(&mut Vec<(CompactString, Json)>)) {
        let mut fields = std::mem::take(&mut self.0).into_vec();
        change(&mut fields);
        self.0 = fields.into_boxed_slice();
    }
}

impl Json {
    /// A map's field; `None` for anything else.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.as_object()?.get(key)
    }

    /// A map's field, to change it; `None` for anything else.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        match self {
            Json::Object(fields) => fields.get_mut(key),
            _ => None,
        }
    }

    /// The value a JSON pointer (RFC 6901) names: `/spec/sourceRef/name`, `/items/0`, `~1` for
    /// `/` and `~0` for `~` in a token. Tokens without escapes are not copied.
    pub fn pointer(&self, pointer: &str) -> Option<&Json> {
        if pointer.is_empty() {
            return Some(self);
        }
        pointer.strip_prefix('/')?.split('/').try_fold(self, |value, token| {
            let unescaped;
            let token = if token.contains('~') {
                unescaped = token.replace("~1", "/").replace("~0", "~");
                unescaped.as_str()
            } else {
                token
            };
            match value {
                Json::Object(fields) => fields.get(token),
                // An index as RFC 6901 writes it: no sign, no leading zero.
                Json::Array(list) if token == "0" || !token.starts_with(['0', '+']) => {
                    list.get(token.parse::<usize>().ok()?)
                }
                _ => None,
            }
        })
    }

    /// A string's text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// A boolean's value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A number that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// A number that fits a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// A number as an `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    /// A list's items.
    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(list) => Some(list),
            _ => None,
        }
    }

    /// A map's fields.
    pub fn as_object(&self) -> Option<&Fields> {
        match self {
            Json::Object(fields) => Some(fields),
            _ => None,
        }
    }

    /// A map's fields, to change them.
    pub fn as_object_mut(&mut self) -> Option<&mut Fields> {
        match self {
            Json::Object(fields) => Some(fields),
            _ => None,
        }
    }

    /// Whether it is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// The same value as a `serde_json::Value`, for code that builds or edits JSON.
    pub fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.to_string()),
            Json::Array(list) => Value::Array(list.iter().map(Json::to_value).collect()),
            Json::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.to_string(), v.to_value())).collect()),
        }
    }
}

impl From<Value> for Json {
    fn from(value: Value) -> Self {
        match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(b),
            Value::Number(n) => Json::Number(n),
            Value::String(s) => Json::String(s.into()),
            Value::Array(list) => Json::Array(list.into_iter().map(Json::from).collect()),
            // A serde_json map has no duplicate keys.
            Value::Object(map) => Json::Object(Fields(map.into_iter().map(|(k, v)| (k.into(), v.into())).collect())),
        }
    }
}

impl PartialEq<Value> for Json {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Json::Null, Value::Null) => true,
            (Json::Bool(a), Value::Bool(b)) => a == b,
            (Json::Number(a), Value::Number(b)) => a == b,
            (Json::String(a), Value::String(b)) => a == b,
            (Json::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y),
            (Json::Object(a), Value::Object(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v == w))
            }
            _ => false,
        }
    }
}

impl fmt::Display for Json {
    /// Compact JSON text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| fmt::Error)?)
    }
}

impl serde::Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(text) => s.serialize_str(text),
            Json::Array(list) => {
                let mut seq = s.serialize_seq(Some(list.len()))?;
                list.iter().try_for_each(|v| seq.serialize_element(v))?;
                seq.end()
            }
            Json::Object(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                fields.iter().try_for_each(|(k, v)| map.serialize_entry(k, v))?;
                map.end()
            }
        }
    }
}

/// Maps with more fields than this find a repeated key through a hash set rather than by
/// looking at every earlier key.
const LINEAR_KEYS: usize = 16;

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json, E> {
        // As serde_json: a number JSON cannot write (NaN, infinity) reads as null.
        Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.into()))
    }

    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s.into()))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items: SmallVec<[Json; 8]> = SmallVec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items.into_boxed_slice()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut fields: SmallVec<[(CompactString, Json); 8]> = SmallVec::new();
        let mut seen: Option<std::collections::HashMap<CompactString, usize, foldhash::fast::RandomState>> = None;
        while let Some(key) = map.next_key_seed(Key)? {
            let value = map.next_value()?;
            let earlier = match &mut seen {
                Some(seen) => seen.get(&key).copied(),
                None => fields.iter().position(|(k, _)| *k == key),
            };
            match earlier {
                Some(i) => fields[i].1 = value,
                None => {
                    if let Some(seen) = &mut seen {
                        seen.insert(key.clone(), fields.len());
                    }
                    fields.push((key, value));
                    if seen.is_none() && fields.len() > LINEAR_KEYS {
                        seen = Some(fields.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect());
                    }
                }
            }
        }
        Ok(Json::Object(Fields(fields.into_boxed_slice())))
    }
}

/// A map key, read into a [`CompactString`] without an intermediate `String`.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = CompactString;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<CompactString, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = CompactString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_str<E>(self, s: &str) -> Result<CompactString, E> {
                Ok(s.into())
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_three_words() {
        assert_eq!(std::mem::size_of::<Json>(), 24);
    }

    #[test]
    fn reads_and_writes_as_serde_json_does() {
        let text = r#"{"b":1,"a":[true,null,-2,1.5,"x"],"c":{"d":{}},"b":2,"e":"a longer string than twenty-four bytes","f":18446744073709551615}"#;
        let json: Json = serde_json::from_str(text).unwrap();
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&json).unwrap(), serde_json::to_string(&value).unwrap());
        assert!(json == value);
        assert_eq!(json.to_value(), value);
        assert_eq!(Json::from(value.clone()), json);
        assert_eq!(json.get("b").and_then(Json::as_i64), Some(2));
        assert_eq!(json.as_object().unwrap().keys().collect::<Vec<_>>(), ["b", "a", "c", "e", "f"]);
        // The same from YAML, through serde_json's tree.
        let yaml: Value = serde_saphyr::from_str("b: 2\na: [true, null, -2, 1.5, x]\n").unwrap();
        assert_eq!(Json::from(yaml).get("a").and_then(Json::as_array).map(<[Json]>::len), Some(5));
    }

    #[test]
    fn a_repeated_key_keeps_its_place_and_last_value_in_large_maps_too() {
        for n in [3, LINEAR_KEYS + 5] {
            let mut text: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
            text.push("\"k1\":\"again\"".to_string());
            let text = format!("{{{}}}", text.join(","));
            let json: Json = serde_json::from_str(&text).unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(serde_json::to_string(&json).unwrap(), serde_json::to_string(&value).unwrap(), "{n} keys");
        }
    }

    #[test]
    fn pointers_read_like_rfc_6901() {
        let value = serde_json::json!({
            "metadata": {"name": "c", "annotations": {"a/b": "slash", "m~n": "tilde"}},
            "list": [{"x": 1}, {"x": 2}], "": {"": "empty keys"}
        });
        let json = Json::from(value.clone());
        for pointer in [
            "",
            "/metadata/name",
            "/list/1/x",
            "/list/01/x",
            "/list/+1/x",
            "/list/2",
            "/list/x",
            "/metadata/name/x",
            "/metadata/annotations/a~1b",
            "/metadata/annotations/m~0n",
            "/metadata/annotations/a/b",
            "/",
            "//",
            "metadata",
            "/list/-1",
        ] {
            assert_eq!(json.pointer(pointer).map(Json::to_value), value.pointer(pointer).cloned(), "{pointer:?}");
        }
    }

    #[test]
    fn fields_change_in_place() {
        let mut json: Json = serde_json::from_str(r#"{"a":1,"b":2,"c":3}"#).unwrap();
        let fields = json.as_object_mut().unwrap();
        fields.insert("b", Json::Bool(true));
        fields.insert("d", Json::Null);
        assert_eq!(fields.remove("a"), Some(Json::Number(1.into())));
        assert_eq!(fields.remove("z"), None);
        fields.retain(|k, _| k != "c");
        assert_eq!(json.to_string(), r#"{"b":true,"d":null}"#);
    }
}
