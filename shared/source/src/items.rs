//! The items of a list, whether a snapshot file's or a cluster's answer: each peeked at for its
//! identity, built only when wanted, on every core; Events read without building their trees.

use crate::filter::{Filter, metadata_only, slim};
use crate::mapped::Pages;
use compact_str::CompactString;
use kubectl_flux_model::event::{Event, is_event_kind};
use kubectl_flux_model::json::Json;
use kubectl_flux_model::lenient::{Pick, Scalar, texts};
use kubectl_flux_model::object::{Object, ObjectRef, split_api_version};
use serde::de::IgnoredAny;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// What one JSON item of a document turned out to be.
pub(super) enum Parsed {
    /// An object the filter keeps.
    Object(Object),
    /// An object the filter keeps with its metadata only (every list that would return it is
    /// metadata-only), and what it judged it by: a later stage may want it whole.
    Partial(Object, Judged),
    /// An Event the filter keeps, read without building its tree (shared: a watch cache keeps
    /// it and hands it to every snapshot read from it).
    Event(Arc<Event>),
    /// A valid object the filter drops, and what it judged it by.
    Skipped(Judged),
    /// Something else (null, a nested list, a `List`): read whole by the caller.
    Other(Value),
}

/// What a [`Filter`] judges an item by before building it: the list it would be on (group and
/// kind), its namespace and, for an Event, its involved object's kind. A later stage of a read
/// asks the same of the items an earlier one passed over, without reading them again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Judged {
    pub group: CompactString,
    pub kind: CompactString,
    pub namespace: CompactString,
    pub involved_kind: Option<CompactString>,
}

impl Judged {
    /// What an object is judged by.
    fn of(object: &Object) -> Judged {
        Judged {
            group: object.id.group.clone(),
            kind: object.id.kind.clone(),
            namespace: object.id.namespace.clone(),
            involved_kind: object.str_at("/involvedObject/kind").map(CompactString::from),
        }
    }

    /// Whether `filter` may keep the item (it decides once the item is built).
    pub fn kept_by(&self, filter: &Filter) -> bool {
        filter.keeps_in(&self.group, &self.kind, &self.namespace, self.involved_kind.as_deref())
    }
}

/// The identity of a JSON object, read without building it: what [`Object::from_value`] checks,
/// and whether it is a `List`.
#[derive(Default)]
struct Peek<'a> {
    api_version: Option<Cow<'a, str>>,
    kind: Option<Cow<'a, str>>,
    metadata: bool,
    name: Option<Cow<'a, str>>,
    namespace: Option<Cow<'a, str>>,
    /// `involvedObject.kind` (Events).
    involved_kind: Option<Cow<'a, str>>,
    items: bool,
}

impl<'de> serde::Deserialize<'de> for Peek<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Peek<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Peek<'de>, A::Error> {
                let mut peek = Peek::default();
                // Duplicate keys: the last one wins, as when the object is built.
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "apiVersion" => peek.api_version = map.next_value::<Scalar<'de>>()?.text(),
                        "kind" => peek.kind = map.next_value::<Scalar<'de>>()?.text(),
                        "metadata" => {
                            peek.metadata = true;
                            [peek.name, peek.namespace] = texts(map.next_value_seed(Pick(["name", "namespace"]))?);
                        }
                        "involvedObject" => [peek.involved_kind] = texts(map.next_value_seed(Pick(["kind"]))?),
                        "items" => {
                            peek.items = true;
                            map.next_value::<IgnoredAny>()?;
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(peek)
            }
        }
        d.deserialize_map(V)
    }
}

/// The kind of a list an API server answered: its items carry no `apiVersion` or `kind` of
/// their own (and a metadata-only list's carry `PartialObjectMetadata`), so the list's are theirs.
#[derive(Debug, Clone, Copy)]
pub(super) struct ListedAs<'a> {
    /// The version the kind was listed at, e.g. `kustomize.toolkit.fluxcd.io/v1`.
    pub api_version: &'a str,
    /// The kind.
    pub kind: &'static str,
}

/// Parses one JSON item (already syntax-checked): an object is peeked at first, and built only
/// when the filter keeps its kind. An Event is read into an [`Event`] without building its tree.
/// A file's objects lose what no plugin reads ([`slim`]); a cluster's (`served`) are kept as
/// the API server sent them, with the list's `apiVersion` and `kind`.
pub(super) fn parse_item(text: &str, filter: &Filter, served: Option<ListedAs>) -> std::result::Result<Parsed, String> {
    if !text.starts_with('{') {
        return Ok(Parsed::Other(serde_json::from_str(text).map_err(invalid_json)?));
    }
    // A cluster's list holds what was asked for: an item that is not an Event is built at once.
    if let Some(s) = served
        && filter.keeps_all()
        && !is_event_kind(split_api_version(s.api_version).0, s.kind)
    {
        return build(text, filter, served);
    }
    let peek: Peek = serde_json::from_str(text).map_err(invalid_json)?;
    let (api_version, kind) = match served {
        Some(s) => (Cow::Borrowed(s.api_version), Cow::Borrowed(s.kind)),
        None if peek.items && peek.kind.as_deref().is_some_and(|k| k.ends_with("List")) => {
            return Ok(Parsed::Other(serde_json::from_str(text).map_err(invalid_json)?));
        }
        // The same checks, in the same order, as Object::from_value.
        None => (peek.api_version.ok_or("object has no apiVersion")?, peek.kind.ok_or("object has no kind")?),
    };
    if !peek.metadata {
        return Err(format!("{kind} has no metadata"));
    }
    let name = peek.name.ok_or_else(|| format!("{kind} has no metadata.name"))?;
    let (group, _) = split_api_version(&api_version);
    let namespace = peek.namespace.as_deref().unwrap_or("");
    if !filter.keeps_in(group, &kind, namespace, peek.involved_kind.as_deref()) {
        return Ok(Parsed::Skipped(Judged {
            group: group.into(),
            kind: kind.as_ref().into(),
            namespace: namespace.into(),
            involved_kind: peek.involved_kind.as_deref().map(CompactString::from),
        }));
    }
    if is_event_kind(group, &kind) && filter.keeps_whole(group, &kind) {
        let id = ObjectRef::new(group, &kind, namespace, &name);
        return Ok(Parsed::Event(Arc::new(Event::from_json(id, text).map_err(invalid_json)?)));
    }
    build(text, filter, served)
}

/// Builds an item's object: a file's slimmed, a cluster's given its list's `apiVersion` and
/// `kind`; then as the filter admits it.
fn build(text: &str, filter: &Filter, served: Option<ListedAs>) -> std::result::Result<Parsed, String> {
    let mut raw: Json = serde_json::from_str(text).map_err(invalid_json)?;
    let Some(fields) = raw.as_object_mut() else {
        return Err("expected a Kubernetes object".to_string());
    };
    let mut managed_fields_bytes = 0;
    match served {
        None => managed_fields_bytes = slim(&mut raw),
        Some(s) => {
            fields.insert("apiVersion", Json::String(s.api_version.into()));
            fields.insert("kind", Json::String(s.kind.into()));
        }
    }
    let mut object = Object::from_json(raw)?;
    object.bytes = u32::try_from(compact_len(text)).unwrap_or(u32::MAX);
    object.managed_fields_bytes = managed_fields_bytes;
    Ok(match filter.admits(&object) {
        Some(true) => Parsed::Object(object),
        Some(false) => {
            let judged = Judged::of(&object);
            metadata_only(&mut object);
            Parsed::Partial(object, judged)
        }
        None => Parsed::Skipped(Judged::of(&object)),
    })
}

/// The length of a JSON text without the white space outside its strings: what the API server,
/// which writes compact JSON, serves for the object a file holds indented.
fn compact_len(text: &str) -> usize {
    let (mut len, mut in_string, mut escaped) = (0, false, false);
    for &b in text.as_bytes() {
        if in_string {
            len += 1;
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if !b.is_ascii_whitespace() {
            len += 1;
            in_string = b == b'"';
        }
    }
    len
}

/// Items below this count are parsed on the calling thread.
pub(super) const PARALLEL_MIN_ITEMS: usize = 2048;

/// One item's index in its list and what parsing it gave.
pub(super) type Numbered = (usize, std::result::Result<Parsed, String>);

/// The items a filter passed over or kept only the metadata of, by what it judged them by:
/// their indexes in the list, in order.
pub(super) type PassedOver = HashMap<Judged, Vec<usize>>;

/// What [`parse_items`] gives.
pub(super) struct ItemsRead {
    /// What is to be added, in item order and with each item's index, one list per chunk
    /// (each freed as soon as it is consumed, never copied into one).
    pub kept: Vec<Vec<Numbered>>,
    /// How many valid items the filter dropped.
    pub skipped: usize,
    /// Those items, when asked to remember them.
    pub passed_over: PassedOver,
}

/// Parses items (each a JSON text: a list's item slices, or slices of a file) on every
/// available core, in order-preserving chunks. Items the filter drops leave nothing behind (a
/// 200,000-Event file read by a plugin that wants a few of them costs no per-item memory),
/// unless `remember` asks for their places, a few bytes each, grouped by what the filter
/// judged them by.
pub(super) fn parse_items<T: Sync>(
    items: &[T],
    text: impl Fn(&T) -> &str + Sync,
    filter: &Filter,
    served: Option<ListedAs>,
    remember: bool,
) -> ItemsRead {
    // A mapped file's pages are released behind each thread's part as it goes.
    let pages = Pages::current();
    let parse_part = |offset: usize, part: &[T]| {
        let mut read = ItemsRead { kept: vec![Vec::new()], skipped: 0, passed_over: PassedOver::new() };
        let mut done = part.first().and_then(|item| pages?.offset(text(item).as_ptr()));
        for (i, item) in part.iter().enumerate() {
            let item = text(item);
            match parse_item(item, filter, served) {
                Ok(Parsed::Skipped(judged)) => {
                    read.skipped += 1;
                    if remember {
                        read.passed_over.entry(judged).or_default().push(offset + i);
                    }
                }
                // Kept as it is, and remembered: a later stage may want it whole.
                Ok(Parsed::Partial(object, judged)) => {
                    if remember {
                        read.passed_over.entry(judged).or_default().push(offset + i);
                    }
                    read.kept[0].push((offset + i, Ok(Parsed::Object(object))));
                }
                other => read.kept[0].push((offset + i, other)),
            }
            if let (Some(pages), Some(done)) = (pages, done.as_mut()) {
                let end = item.as_bytes().as_ptr_range().end;
                pages.release(end, done, i + 1 == part.len());
            }
        }
        read
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 || items.len() < PARALLEL_MIN_ITEMS {
        return parse_part(0, items);
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parse_part = &parse_part;
        let handles: Vec<_> =
            items.chunks(chunk).enumerate().map(|(n, part)| scope.spawn(move || parse_part(n * chunk, part))).collect();
        let mut all = ItemsRead { kept: Vec::new(), skipped: 0, passed_over: PassedOver::new() };
        for handle in handles {
            match handle.join() {
                Ok(part) => {
                    all.kept.extend(part.kept);
                    all.skipped += part.skipped;
                    // Parts come in order: each judged group's indexes stay in order.
                    for (judged, indexes) in part.passed_over {
                        all.passed_over.entry(judged).or_default().extend(indexes);
                    }
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    })
}

/// "invalid JSON: " and serde_json's reason, for an error that names its place elsewhere.
pub(crate) fn invalid_json(e: serde_json::Error) -> String {
    format!("invalid JSON: {}", json_reason(&e))
}

/// serde_json's message without its trailing " at line L column C" (we print those first).
pub(crate) fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::compact_len;

    #[test]
    fn an_indented_object_weighs_what_the_api_server_serves() {
        let indented = "{\n  \"a\": \"x y\",\n  \"b\": [1, 2],\n  \"c\": \"q\\\" \\\\\"\n}";
        let compact = r#"{"a":"x y","b":[1,2],"c":"q\" \\"}"#;
        assert_eq!(compact_len(indented), compact.len());
        assert_eq!(compact_len(compact), compact.len());
    }
}
