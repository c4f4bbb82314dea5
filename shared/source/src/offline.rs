//! Reading snapshot files: `kubectl get -o json|yaml` output (single objects, `List`s,
//! multi-document YAML), `flux export` output, the reset plugin's backups, directories of such
//! files, and `-` for standard input.

use crate::filter::{Filter, slim};
use crate::items::{Judged, Parsed, invalid_json, json_reason, parse_item, parse_items};
use crate::mapped::{self, Mapped};
use kubectl_flux_model::error::{Error, Result};
use kubectl_flux_model::json::Json;
use kubectl_flux_model::lenient::Scalar;
use kubectl_flux_model::object::Object;
use kubectl_flux_model::snapshot::Snapshot;
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Files larger than this are refused rather than read into memory.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Reads every path (files, directories, `-`) into one snapshot.
pub fn read_paths(paths: &[PathBuf]) -> Result<Snapshot> {
    read_paths_filtered(paths, &Filter::all())
}

/// Reads every path (files, directories, `-`) into one snapshot, keeping what `filter` keeps.
pub fn read_paths_filtered(paths: &[PathBuf], filter: &Filter) -> Result<Snapshot> {
    let mut snapshot = Snapshot::new();
    for source in sources(paths)? {
        read_source(&source, filter, &mut None, &mut snapshot, None)?;
    }
    Ok(snapshot)
}

/// Reads every path keeping what `first` keeps, then, when `then` asks for more after seeing
/// those objects, reads what its filter keeps: the objects of a large kind (Events) an answer
/// needs only a few of are never built. The first pass remembers where the items it passed
/// over lie in each JSON file, and what it judged them by (kind, namespace, involved kind), so
/// the second reads those items only, not the files again; a file that is not one JSON List
/// or array, or that changed in between, is read again whole. Standard input is read once and
/// kept for the second pass.
pub fn read_paths_staged(
    paths: &[PathBuf],
    first: &Filter,
    then: impl FnOnce(&Snapshot) -> Option<Filter>,
) -> Result<Snapshot> {
    let mut snapshot = Snapshot::new();
    let mut stdin = None;
    let sources = sources(paths)?;
    let mut records = Vec::with_capacity(sources.len());
    for source in &sources {
        let mut record = Record::default();
        read_source(source, first, &mut stdin, &mut snapshot, Some(&mut record))?;
        records.push(record);
    }
    if let Some(more) = then(&snapshot) {
        for (source, record) in sources.iter().zip(&records) {
            match source {
                Source::File(path) if record.complete && record.stamp.is_some() => {
                    read_passed_over(path, record, &more, &mut snapshot)?
                }
                _ => read_source(source, &more, &mut stdin, &mut snapshot, None)?,
            }
        }
    }
    Ok(snapshot)
}

/// One input: a file (named, or found in a named directory) or standard input.
enum Source {
    Stdin,
    File(PathBuf),
}

/// The inputs the paths name, in reading order.
fn sources(paths: &[PathBuf]) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            out.push(Source::Stdin);
        } else if path.is_dir() {
            out.extend(files_in(path)?.into_iter().map(Source::File));
        } else {
            out.push(Source::File(path.clone()));
        }
    }
    Ok(out)
}

/// Reads one input into `snapshot`; standard input's bytes are read into `stdin` the first time
/// and taken from there after.
fn read_source(
    source: &Source,
    filter: &Filter,
    stdin: &mut Option<Vec<u8>>,
    snapshot: &mut Snapshot,
    record: Option<&mut Record>,
) -> Result<()> {
    match source {
        Source::Stdin => {
            if stdin.is_none() {
                *stdin = Some(read_limited(std::io::stdin(), "-", Path::new("-"))?);
            }
            read_text("-", stdin.as_deref().unwrap_or_default(), snapshot, filter, record)
        }
        Source::File(path) => read_file(path, snapshot, filter, record),
    }
}

/// What the first pass of a staged read learnt of one input, for the second.
#[derive(Debug, Default)]
struct Record {
    /// The file's size and time of change when it was read.
    stamp: Option<(u64, Option<SystemTime>)>,
    /// Whether every item of the input was either kept or is in `passed_over`: true of JSON
    /// Lists and arrays, whose items are delimited before they are parsed.
    complete: bool,
    /// The items the filter passed over or kept only the metadata of, by what it judged them by.
    passed_over: HashMap<Judged, Vec<Span>>,
}

/// Where a passed-over item lies in its file's bytes, and its place for error messages.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
    document: usize,
    item: usize,
}

/// The second pass over a file the first one recorded: reads the passed-over items `filter`
/// may keep, from the file's bytes where they lie, in file order; every other item was either
/// kept already or is not wanted. A file changed since is read again whole.
fn read_passed_over(path: &Path, record: &Record, filter: &Filter, snapshot: &mut Snapshot) -> Result<()> {
    let mut spans: Vec<Span> =
        record.passed_over.iter().filter(|(judged, _)| judged.kept_by(filter)).flat_map(|(_, s)| s).copied().collect();
    if spans.is_empty() {
        return Ok(());
    }
    spans.sort_unstable_by_key(|s| s.start);
    let name = path.display().to_string();
    let failed = |source| Error::Read { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(failed)?;
    let meta = file.metadata().map_err(failed)?;
    if record.stamp != Some((meta.len(), meta.modified().ok())) {
        return read_file(path, snapshot, filter, None);
    }
    let malformed = |span: &Span, message: String| Error::Malformed {
        file: name.clone(),
        message: format!("document {}: item {}: {message}", span.document, span.item),
    };
    with_bytes(&file, &meta, path, |bytes| {
        let mut texts = Vec::with_capacity(spans.len());
        for span in &spans {
            let text = bytes.get(span.start..span.start + span.len).and_then(|b| std::str::from_utf8(b).ok());
            texts.push(text.ok_or_else(|| malformed(span, "changed while it was read".to_string()))?);
        }
        let items = parse_items(&texts, |text| text, filter, None, false);
        for (n, parsed) in items.kept.into_iter().flatten() {
            parsed.and_then(|p| add_parsed(p, snapshot, filter)).map_err(|m| malformed(&spans[n], m))?;
        }
        Ok(())
    })
}

/// The snapshot files below a directory: `.json`, `.yaml` and `.yml`, recursively, sorted, hidden
/// entries skipped. Other files (READMEs, scripts) are not snapshots and are passed over.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| Error::Read { path: d.clone(), source })?;
        for entry in entries {
            let entry = entry.map_err(|source| Error::Read { path: d.clone(), source })?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if matches!(path.extension().and_then(|e| e.to_str()), Some("json" | "yaml" | "yml")) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn check_size(name: &str, len: u64) -> Result<()> {
    if len > MAX_FILE_BYTES {
        return Err(Error::Malformed {
            file: name.to_string(),
            message: format!("larger than {} MiB; split the snapshot into several files", MAX_FILE_BYTES >> 20),
        });
    }
    Ok(())
}

/// Files from this size on are mapped rather than copied into memory.
const MAP_FROM_BYTES: u64 = 1 << 20;

fn read_file(path: &Path, snapshot: &mut Snapshot, filter: &Filter, mut record: Option<&mut Record>) -> Result<()> {
    let name = path.display().to_string();
    let failed = |source| Error::Read { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(failed)?;
    let meta = file.metadata().map_err(failed)?;
    check_size(&name, meta.len())?;
    if let Some(record) = record.as_deref_mut()
        && meta.is_file()
    {
        record.stamp = Some((meta.len(), meta.modified().ok()));
    }
    with_bytes(&file, &meta, path, |bytes| read_text(&name, bytes, snapshot, filter, record))
}

/// Runs `read` on an open file's bytes: mapped from [`MAP_FROM_BYTES`] on (its pages released
/// as reading passes them), else read into memory.
fn with_bytes<T>(
    file: &std::fs::File,
    meta: &std::fs::Metadata,
    path: &Path,
    read: impl FnOnce(&[u8]) -> Result<T>,
) -> Result<T> {
    if meta.is_file() && meta.len() >= MAP_FROM_BYTES {
        let map = Mapped::open(file).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
        return map.releasing(|| read(map.bytes()));
    }
    read(&read_limited(file, &path.display().to_string(), path)?)
}

/// Reads a stream whole, refusing it past [`MAX_FILE_BYTES`] (standard input, a FIFO: their size
/// is known only once read).
fn read_limited(stream: impl Read, name: &str, path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    stream
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    check_size(name, bytes.len() as u64)?;
    Ok(bytes)
}

/// Parses one file's bytes (JSON or YAML, detected by the first non-blank character) into the
/// snapshot. Every error names the file and the line or document.
pub fn read_bytes(name: &str, bytes: &[u8], snapshot: &mut Snapshot) -> Result<()> {
    read_bytes_filtered(name, bytes, snapshot, &Filter::all())
}

/// [`read_bytes`], keeping what `filter` keeps.
pub fn read_bytes_filtered(name: &str, bytes: &[u8], snapshot: &mut Snapshot, filter: &Filter) -> Result<()> {
    read_text(name, bytes, snapshot, filter, None)
}

/// [`read_bytes_filtered`], recording what a second pass needs in `record`, if given.
fn read_text(
    name: &str,
    bytes: &[u8],
    snapshot: &mut Snapshot,
    filter: &Filter,
    mut record: Option<&mut Record>,
) -> Result<()> {
    let malformed = |message: String| Error::Malformed { file: name.to_string(), message };
    let text = mapped::text(bytes).map_err(|valid_up_to| {
        let line = bytes[..valid_up_to].iter().filter(|&&b| b == b'\n').count() + 1;
        malformed(format!("line {line}: not UTF-8 text"))
    })?;
    let first = text.trim_start_matches('\u{feff}').trim_start().chars().next();
    let mut count = 0;
    if let Some(record) = record.as_deref_mut() {
        record.complete = matches!(first, Some('{' | '['));
    }
    match first {
        None => return Err(malformed("empty file: no objects".to_string())),
        Some('{') | Some('[') => {
            // One pass delimits the documents and the items of their Lists (borrowed slices of
            // the text, syntax checked); the items are then parsed one by one, on every core.
            let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Top>();
            let mut index = 0;
            loop {
                let start = stream.byte_offset();
                let Some(top) = stream.next() else { break };
                let top = top.map_err(|e| {
                    malformed(format!("line {}, column {}: invalid JSON: {}", e.line(), e.column(), json_reason(&e)))
                })?;
                index += 1;
                let doc = text[start..stream.byte_offset()].trim_start();
                let place = format!("document {index}");
                let at = Place { text, document: index };
                count += add_json_document(doc, top, snapshot, filter, at, record.as_deref_mut())
                    .map_err(|m| malformed(format!("{place}: {m}")))?;
            }
        }
        Some(_) => {
            let docs: Vec<Value> = serde_saphyr::from_multiple(text)
                .map_err(|e| malformed(format!("invalid YAML: {}", one_line(&e.to_string()))))?;
            let starts = document_lines(text);
            for (index, doc) in docs.into_iter().enumerate() {
                let line = starts.get(index).copied().unwrap_or(0);
                let place = if line > 0 { format!("line {line}") } else { format!("document {}", index + 1) };
                count += add_document(doc, snapshot, filter).map_err(|m| malformed(format!("{place}: {m}")))?;
            }
        }
    }
    if count == 0 {
        return Err(malformed("no Kubernetes objects found".to_string()));
    }
    Ok(())
}

/// A top-level JSON document, delimited in one pass: the items of a `List` (or of an array) as
/// slices of the text, or `Other` for anything else (read again, whole, by the general path).
enum Top<'a> {
    Items(Vec<&'a RawValue>),
    Other,
}

impl<'de> serde::Deserialize<'de> for Top<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Top<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON document")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> std::result::Result<Top<'de>, A::Error> {
                delimit(seq).map(Top::Items)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Top<'de>, A::Error> {
                let (mut kind, mut items, mut repeated) = (None, None, false);
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "kind" => kind = map.next_value::<Scalar<'de>>()?.text(),
                        "items" => {
                            repeated |= items.is_some();
                            items = Some(map.next_value::<ItemList<'de>>()?.0);
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(match (kind, items) {
                    (Some(k), Some(Some(items))) if k.ends_with("List") && !repeated => Top::Items(items),
                    _ => Top::Other,
                })
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<Top<'de>, E> {
                Ok(Top::Other)
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<Top<'de>, E> {
                Ok(Top::Other)
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<Top<'de>, E> {
                Ok(Top::Other)
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<Top<'de>, E> {
                Ok(Top::Other)
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<Top<'de>, E> {
                Ok(Top::Other)
            }
            fn visit_unit<E>(self) -> std::result::Result<Top<'de>, E> {
                Ok(Top::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// A list's items as slices of the text; a mapped file's pages are released behind them.
fn delimit<'de, A: serde::de::SeqAccess<'de>>(mut seq: A) -> std::result::Result<Vec<&'de RawValue>, A::Error> {
    let mut items = Vec::new();
    while let Some(item) = seq.next_element::<&'de RawValue>()? {
        mapped::passed(item.get().as_ptr());
        items.push(item);
    }
    Ok(items)
}

/// The `items` of a List: the items' slices if it is an array, `None` otherwise.
struct ItemList<'a>(Option<Vec<&'a RawValue>>);

impl<'de> serde::Deserialize<'de> for ItemList<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match d.deserialize_any(TopVisitorForItems)? {
            Top::Items(items) => Ok(ItemList(Some(items))),
            Top::Other => Ok(ItemList(None)),
        }
    }
}

/// Arrays become their items; anything else (a map included) is skipped.
struct TopVisitorForItems;

impl<'de> serde::de::Visitor<'de> for TopVisitorForItems {
    type Value = Top<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any value")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> std::result::Result<Top<'de>, A::Error> {
        delimit(seq).map(Top::Items)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Top<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Top::Other)
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_unit<E>(self) -> std::result::Result<Top<'de>, E> {
        Ok(Top::Other)
    }
}

/// Which file text and document a JSON document is, to record where its items lie.
#[derive(Clone, Copy)]
struct Place<'a> {
    text: &'a str,
    document: usize,
}

/// Adds one JSON document (its text and what the first pass found in it): an object, a `List`
/// (or `*List`) of objects, or a JSON array. With a `record`, the items the filter passes over
/// are recorded where they lie in the file.
fn add_json_document(
    text: &str,
    top: Top,
    snapshot: &mut Snapshot,
    filter: &Filter,
    at: Place,
    mut record: Option<&mut Record>,
) -> std::result::Result<usize, String> {
    let items = match top {
        Top::Items(items) => items,
        other => {
            // Read whole again by a second pass.
            if let Some(record) = record {
                record.complete = false;
            }
            return match other {
                // A single object (or a List whose items are not a list: the general path says so).
                _ if text.starts_with('{') => add_parsed(parse_item(text, filter, None)?, snapshot, filter),
                _ => add_document(serde_json::from_str(text).map_err(invalid_json)?, snapshot, filter),
            };
        }
    };
    let read = parse_items(&items, |item| item.get(), filter, None, record.is_some());
    if let Some(record) = record.as_deref_mut() {
        for (judged, indexes) in read.passed_over {
            let spans = indexes.into_iter().map(|i| {
                let item = items[i].get();
                let start = item.as_ptr() as usize - at.text.as_ptr() as usize;
                Span { start, len: item.len(), document: at.document, item: i }
            });
            record.passed_over.entry(judged).or_default().extend(spans);
        }
    }
    let mut count = read.skipped;
    snapshot.reserve_events(read.kept.iter().flatten().filter(|(_, p)| matches!(p, Ok(Parsed::Event(_)))).count());
    for (i, parsed) in read.kept.into_iter().flatten() {
        if let (Some(record), Ok(Parsed::Other(_))) = (record.as_deref_mut(), &parsed) {
            record.complete = false;
        }
        count += parsed.and_then(|p| add_parsed(p, snapshot, filter)).map_err(|m| format!("item {i}: {m}"))?;
    }
    Ok(count)
}

fn add_parsed(parsed: Parsed, snapshot: &mut Snapshot, filter: &Filter) -> std::result::Result<usize, String> {
    match parsed {
        Parsed::Object(object) | Parsed::Partial(object, _) => {
            snapshot.insert(object);
            Ok(1)
        }
        Parsed::Event(event) => {
            snapshot.insert_event(event);
            Ok(1)
        }
        Parsed::Skipped(_) => Ok(1),
        Parsed::Other(value) => add_document(value, snapshot, filter),
    }
}

/// Adds one parsed document: an object, a `List` (or `*List`) of objects, or a JSON array.
fn add_document(doc: Value, snapshot: &mut Snapshot, filter: &Filter) -> std::result::Result<usize, String> {
    match doc {
        Value::Null => Ok(0),
        Value::Array(items) => add_items(items, snapshot, filter),
        Value::Object(mut map) => {
            let is_list = map.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List"))
                && map.contains_key("items");
            if is_list {
                // Moved out, not copied: a List may be most of a large snapshot.
                let Some(Value::Array(items)) = map.remove("items") else {
                    return Err("items of a List must be a list of objects".to_string());
                };
                add_items(items, snapshot, filter)
            } else {
                // What the API server would serve: the object as compact JSON.
                let bytes = serde_json::to_string(&map).map_or(0, |t| u32::try_from(t.len()).unwrap_or(u32::MAX));
                let mut raw = Json::from(Value::Object(map));
                let managed_fields_bytes = slim(&mut raw);
                let mut object = Object::from_json(raw)?;
                object.bytes = bytes;
                object.managed_fields_bytes = managed_fields_bytes;
                if filter.keeps(&object.id.group, &object.id.kind)
                    && let Some(object) = filter.admit(object)
                {
                    snapshot.insert(object);
                }
                Ok(1)
            }
        }
        other => Err(format!("expected a Kubernetes object or List, found {}", json_type(&other))),
    }
}

fn add_items(items: Vec<Value>, snapshot: &mut Snapshot, filter: &Filter) -> std::result::Result<usize, String> {
    let mut count = 0;
    for (i, item) in items.into_iter().enumerate() {
        count += add_document(item, snapshot, filter).map_err(|m| format!("item {i}: {m}"))?;
    }
    Ok(count)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// First line (1-based) of each YAML document, for error messages.
fn document_lines(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut pending = Some(());
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if line.starts_with("---") {
            pending = Some(());
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') || line.starts_with("%") {
            continue;
        }
        if pending.take().is_some() {
            starts.push(i + 1);
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Want;
    use crate::items::PARALLEL_MIN_ITEMS;

    fn read(text: &str) -> Result<Snapshot> {
        let mut s = Snapshot::new();
        read_bytes("test.yaml", text.as_bytes(), &mut s)?;
        Ok(s)
    }

    /// A `kubectl get -o json` List of these items.
    fn list_of(items: &[&str]) -> String {
        format!(r#"{{"apiVersion":"v1","kind":"List","items":[{}]}}"#, items.join(","))
    }

    #[test]
    fn reads_lists_and_documents() {
        let s = read("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: x}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n").unwrap();
        assert_eq!(s.len(), 2);
        let s = read(r#"{"apiVersion":"v1","kind":"ConfigMapList","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}]}"#).unwrap();
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn errors_name_file_and_line() {
        let err = read("{\"apiVersion\": \"v1\",").unwrap_err().to_string();
        assert!(err.starts_with("test.yaml: line 1, column 20: invalid JSON"), "{err}");
        let err =
            read("# first\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Pod\n")
                .unwrap_err()
                .to_string();
        assert_eq!(err, "test.yaml: line 6: Pod has no metadata");
        let err = read("  \n").unwrap_err().to_string();
        assert_eq!(err, "test.yaml: empty file: no objects");
        let err = read("just a string").unwrap_err().to_string();
        assert_eq!(err, "test.yaml: line 1: expected a Kubernetes object or List, found a string");
    }

    fn read_json(text: &str, filter: &Filter) -> Result<Snapshot> {
        let mut s = Snapshot::new();
        read_bytes_filtered("test.json", text.as_bytes(), &mut s, filter)?;
        Ok(s)
    }

    fn tenants_filter() -> Filter {
        Filter::wants(&kubectl_flux_model::kinds::FLUX_KINDS.iter().map(Want::all).collect::<Vec<_>>())
    }

    #[test]
    fn lists_in_kubectl_order_and_json_arrays() {
        // kubectl writes `items` before `kind`.
        let s = read_json(
            r#"{"apiVersion":"v1","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"x"}}],"kind":"List","metadata":{}}"#,
            &Filter::all(),
        )
        .unwrap();
        assert_eq!(s.len(), 1);
        let s = read_json(
            r#"[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}, null]
               {"apiVersion":"v1","kind":"Namespace","metadata":{"name":"y"}}"#,
            &Filter::all(),
        )
        .unwrap();
        assert_eq!(s.objects().iter().map(|o| o.id.name.as_str()).collect::<Vec<_>>(), ["x", "y"]);
        let err = read_json(r#"{"apiVersion":"v1","kind":"List","items":{"a":1}}"#, &Filter::all()).unwrap_err();
        assert_eq!(err.to_string(), "test.json: document 1: items of a List must be a list of objects");
    }

    #[test]
    fn unwanted_kinds_are_checked_but_not_kept() {
        let list = r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"x"}},
            {"apiVersion":"cert-manager.io/v1","kind":"Certificate","metadata":{"name":"c","namespace":"x"}},
            {"apiVersion":"source.toolkit.fluxcd.io/v1","kind":"GitRepository","metadata":{"name":"g","namespace":"x"}}]}"#;
        let s = read_json(list, &tenants_filter()).unwrap();
        // The Pod is not read, a kind the suite does not know is kept, as is what is wanted.
        let kept: Vec<&str> = s.objects().iter().map(|o| o.id.kind.as_str()).collect();
        assert_eq!(kept, ["Certificate", "GitRepository"]);
        assert!(!s.is_listed("", "Pod"));
        assert_eq!(read_json(list, &Filter::all()).unwrap().len(), 3);
        // Dropped objects are still checked, with the same message as kept ones.
        let bad =
            r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"nom":"p"}}]}"#;
        let err = read_json(bad, &tenants_filter()).unwrap_err().to_string();
        assert_eq!(err, "test.json: document 1: item 0: Pod has no metadata.name");
        // A file of only unwanted objects is not "no objects".
        let pods = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}"#;
        assert!(read_json(pods, &tenants_filter()).unwrap().is_empty());
    }

    #[test]
    fn selectors_and_metadata_only_lists_see_what_the_api_server_would_return() {
        let secret = kubectl_flux_model::kinds::find("", "Secret").unwrap();
        let items = [
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"plain","namespace":"x"},"data":{"token":"c2VjcmV0"}}"#,
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"helm","namespace":"x","labels":{"owner":"helm"}},"data":{"release":"eA=="}}"#,
        ];
        let json = list_of(&items);
        let yaml = format!("# two documents\n{}", items.join("\n---\n"));
        let names = |s: &Snapshot| s.objects().iter().map(|o| o.id.name.clone()).collect::<Vec<_>>();
        let read_with = |as_yaml: bool, f: &Filter| {
            let (name, text) = if as_yaml { ("test.yaml", &yaml) } else { ("test.json", &json) };
            let mut s = Snapshot::new();
            read_bytes_filtered(name, text.as_bytes(), &mut s, f).map(|()| s)
        };
        for as_yaml in [false, true] {
            let read_with = |f: &Filter| read_with(as_yaml, f);
            // A label selector keeps only what it matches, in full.
            let s = read_with(&Filter::wants(&[Want::labelled(secret, "owner=helm")])).unwrap();
            assert_eq!(names(&s), ["helm"]);
            assert_eq!(s.objects()[0].str_at("/data/release"), Some("eA=="));
            // Metadata only: no data, ever.
            let s = read_with(&Filter::wants(&[Want::metadata(secret, None)])).unwrap();
            assert_eq!(names(&s), ["plain", "helm"]);
            assert!(s.objects().iter().all(|o| o.raw.get("data").is_none()), "{:?}", s.objects());
            assert_eq!(s.objects()[1].str_at("/metadata/labels/owner"), Some("helm"));
            // Metadata of all plus the labelled ones in full: the full list wins where both match.
            let s = read_with(&Filter::wants(&[Want::metadata(secret, None), Want::labelled(secret, "owner=helm")]))
                .unwrap();
            assert_eq!(s.objects()[0].raw.get("data"), None);
            assert_eq!(s.objects()[1].str_at("/data/release"), Some("eA=="));
        }
    }

    #[test]
    fn a_second_stage_reads_only_what_the_first_stage_asked_for() {
        let event = kubectl_flux_model::kinds::find("", "Event").unwrap();
        let cm = kubectl_flux_model::kinds::find("", "ConfigMap").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let items = [
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"apps"}}"#,
            r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"e1","namespace":"apps"},"involvedObject":{"kind":"ConfigMap","namespace":"apps","name":"settings"}}"#,
            r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"e2","namespace":"shop"},"involvedObject":{"kind":"Pod","namespace":"shop","name":"web"}}"#,
            r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","namespace":"apps"}}"#,
        ];
        let json = dir.path().join("snapshot.json");
        std::fs::write(&json, list_of(&items)).unwrap();
        let yaml = dir.path().join("snapshot.yaml");
        std::fs::write(&yaml, format!("# documents\n{}", items.join("\n---\n"))).unwrap();
        let names = |s: &Snapshot| {
            s.objects()
                .iter()
                .map(|o| &o.id)
                .chain(s.events().iter().map(|e| &e.id))
                .map(|id| id.name.clone())
                .collect::<Vec<_>>()
        };
        for path in [json, yaml] {
            let paths = [path.clone()];
            let mut seen = Vec::new();
            let s = read_paths_staged(&paths, &Filter::wants(&[Want::all(cm)]), |first| {
                // The first stage built no Event; the unknown Widget is kept.
                seen = names(first);
                let namespaces: Vec<Want> =
                    first.of_kind("", "ConfigMap").map(|c| Want::all(event).in_namespace(&c.id.namespace)).collect();
                Some(Filter::wants_only(&namespaces))
            })
            .unwrap();
            assert_eq!(seen, ["settings", "w"], "{}", path.display());
            // The second stage adds only the Event in apps.
            assert_eq!(names(&s), ["settings", "w", "e1"], "{}", path.display());
            assert_eq!(
                s.events_for(&kubectl_flux_model::ObjectRef::new("", "ConfigMap", "apps", "settings")).count(),
                1
            );
            // No second stage: one pass.
            let s = read_paths_staged(&paths, &Filter::wants(&[Want::all(cm)]), |_| None).unwrap();
            assert_eq!(names(&s), ["settings", "w"]);
        }
    }

    #[test]
    fn a_second_stage_can_want_whole_what_the_first_read_as_metadata() {
        let secret = kubectl_flux_model::kinds::find("", "Secret").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let items = [
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"token","namespace":"apps"},"data":{"token":"YQ=="}}"#,
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"token","namespace":"shop"},"data":{"token":"Yg=="}}"#,
        ];
        let path = dir.path().join("snapshot.json");
        std::fs::write(&path, format!("[{}]", items.join(","))).unwrap();
        let mut first_data = Vec::new();
        let s =
            read_paths_staged(std::slice::from_ref(&path), &Filter::wants(&[Want::metadata(secret, None)]), |first| {
                first_data = first.objects().iter().map(|o| o.at("/data").is_some()).collect();
                Some(Filter::wants_only(&[Want::all(secret).in_namespace("apps")]))
            })
            .unwrap();
        assert_eq!(first_data, [false, false], "the first stage reads metadata only");
        let data: Vec<(&str, bool)> =
            s.objects().iter().map(|o| (o.id.namespace.as_str(), o.at("/data/token").is_some())).collect();
        assert_eq!(data, [("apps", true), ("shop", false)]);
    }

    #[test]
    fn a_second_stage_reads_the_passed_over_items_where_they_lie_unless_the_file_changed() {
        let event = kubectl_flux_model::kinds::find("", "Event").unwrap();
        let cm = kubectl_flux_model::kinds::find("", "ConfigMap").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let items = [
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"apps"}}"#,
            r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"e1","namespace":"apps"},"involvedObject":{"kind":"ConfigMap","name":"settings"}}"#,
            r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"e2","namespace":"shop"},"involvedObject":{"kind":"Pod","name":"web"}}"#,
            r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"e3","namespace":"apps"},"involvedObject":{"kind":"Pod","name":"web"}}"#,
        ];
        let path = dir.path().join("snapshot.json");
        let text = list_of(&items);
        let events_in_apps = || Some(Filter::wants_only(&[Want::all(event).in_namespace("apps")]));
        // Between the stages, the Event in shop (passed over, not wanted) becomes invalid JSON of
        // the same length; with the file's time of change put back, only the wanted items are
        // read again and the damage goes unseen.
        let damage = |keep_time: bool| {
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            let modified = file.metadata().unwrap().modified().unwrap();
            let damaged = text.replace(r#""name":"e2","#, r#""name":"e2";"#);
            assert_eq!(damaged.len(), text.len());
            std::fs::write(&path, damaged).unwrap();
            if keep_time {
                file.set_modified(modified).unwrap();
            }
        };
        std::fs::write(&path, &text).unwrap();
        let s = read_paths_staged(std::slice::from_ref(&path), &Filter::wants(&[Want::all(cm)]), |_| {
            damage(true);
            events_in_apps()
        })
        .unwrap();
        let events: Vec<&str> = s.events().iter().map(|e| e.id.name.as_str()).collect();
        assert_eq!(events, ["e1", "e3"], "the Events in apps, in file order");
        assert_eq!(s.objects().len(), 1);
        // A file that changed in between is read again whole, and the damage is found.
        std::fs::write(&path, &text).unwrap();
        let err = read_paths_staged(std::slice::from_ref(&path), &Filter::wants(&[Want::all(cm)]), |_| {
            // Times of change are not always finer than this test is fast.
            std::thread::sleep(std::time::Duration::from_millis(20));
            damage(false);
            events_in_apps()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("snapshot.json") && err.contains("invalid JSON"), "{err}");
    }

    #[test]
    fn events_are_read_by_involved_kind_as_the_field_selector_lists_them() {
        let items = [
            r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"about-cm","namespace":"apps"},"involvedObject":{"kind":"ConfigMap","name":"settings"}}"#,
            r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"about-pod","namespace":"apps"},"involvedObject":{"name":"web","kind":"Pod"}}"#,
            r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"about-nothing","namespace":"apps"}}"#,
            r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"odd","namespace":"apps"},"involvedObject":{"kind":7}}"#,
        ];
        let about =
            |kinds: &[&'static str]| Filter::wants(&kinds.iter().map(|k| Want::events_about(k)).collect::<Vec<_>>());
        let names = |s: &Snapshot| s.events().iter().map(|e| e.id.name.clone()).collect::<Vec<_>>();
        let json = list_of(&items);
        let yaml = format!("# documents\n{}", items.join("\n---\n"));
        for (name, text) in [("test.json", json), ("test.yaml", yaml)] {
            let read = |f: &Filter| {
                let mut s = Snapshot::new();
                read_bytes_filtered(name, text.as_bytes(), &mut s, f).map(|()| s).unwrap()
            };
            assert_eq!(names(&read(&about(&["Pod"]))), ["about-pod"], "{name}");
            assert_eq!(names(&read(&about(&["Pod", "ConfigMap"]))), ["about-cm", "about-pod"], "{name}");
            assert!(read(&about(&["Kustomization"])).is_empty(), "{name}");
            // Every Event but those about Pods: one without an involved kind is kept, as the API
            // server's `involvedObject.kind!=Pod` keeps it.
            let not_pods = Filter::wants(&[Want::events_not_about(["Pod"])]);
            assert_eq!(names(&read(&not_pods)), ["about-cm", "about-nothing", "odd"], "{name}");
            let neither = Filter::wants(&[Want::events_not_about(["Pod", "ConfigMap"])]);
            assert_eq!(names(&read(&neither)), ["about-nothing", "odd"], "{name}");
            assert_eq!(read(&Filter::wants(&[Want::events()])).len(), 4, "{name}");
        }
        // JSON Events are read from their text, YAML ones from a built tree: the same Events.
        let read = |name: &str, text: &str| {
            let mut s = Snapshot::new();
            read_bytes_filtered(name, text.as_bytes(), &mut s, &Filter::all()).unwrap();
            s.events().to_vec()
        };
        let json = read("a.json", &format!("[{}]", items.join(",")));
        assert_eq!(json, read("a.yaml", &format!("# documents\n{}", items.join("\n---\n"))));
        assert_eq!(
            json.iter().map(|e| e.about()).collect::<Vec<_>>(),
            [Some(("ConfigMap", "", "settings")), Some(("Pod", "", "web")), None, Some(("", "", ""))]
        );
    }

    #[test]
    fn an_invalid_item_after_many_passed_over_is_named_by_its_index() {
        let n = 2 * PARALLEL_MIN_ITEMS + 1;
        let mut items: Vec<String> =
            (0..n).map(|i| format!(r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p-{i}"}}}}"#)).collect();
        items.push(r#"{"apiVersion":"v1","kind":"Pod","metadata":{}}"#.into());
        items.push(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}"#.into());
        let err = read_json(
            &format!(r#"{{"kind":"List","apiVersion":"v1","items":[{}]}}"#, items.join(",")),
            &tenants_filter(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, format!("test.json: document 1: item {n}: Pod has no metadata.name"));
    }

    #[test]
    fn large_lists_keep_their_order_and_last_copy() {
        let n = 3 * PARALLEL_MIN_ITEMS;
        let mut items: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"cm-{i}","namespace":"x"}},"data":{{"v":"{i}"}}}}"#))
            .collect();
        items.push(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-0","namespace":"x"},"data":{"v":"last"}}"#
                .into(),
        );
        let s =
            read_json(&format!(r#"{{"kind":"List","apiVersion":"v1","items":[{}]}}"#, items.join(",")), &Filter::all())
                .unwrap();
        assert_eq!(s.len(), n);
        assert!(s.objects().iter().skip(1).enumerate().all(|(i, o)| o.id.name == format!("cm-{}", i + 1)));
        assert_eq!(s.objects()[0].str_at("/data/v"), Some("last"));
        let bad = items.iter().take(n - 1).cloned().chain(["{\"kind\":\"Pod\"}".to_string()]).collect::<Vec<_>>();
        let err = read_json(&format!(r#"{{"kind":"List","items":[{}]}}"#, bad.join(",")), &Filter::all()).unwrap_err();
        assert_eq!(err.to_string(), format!("test.json: document 1: item {}: object has no apiVersion", n - 1));
    }

    #[test]
    fn a_mapped_file_reads_as_its_bytes_do() {
        let items: Vec<String> = (0..12_000)
            .map(|i| format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"cm-{i}","namespace":"x"}},"data":{{"v":"{i}"}}}}"#))
            .collect();
        let text = format!(r#"{{"kind":"List","apiVersion":"v1","items":[{}]}}"#, items.join(","));
        assert!(text.len() as u64 >= MAP_FROM_BYTES, "the file is mapped");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        std::fs::write(&path, &text).unwrap();
        let mapped = read_paths(std::slice::from_ref(&path)).unwrap();
        let copied = read_json(&text, &Filter::all()).unwrap();
        assert_eq!(mapped.len(), 12_000);
        assert!(mapped.objects().iter().zip(copied.objects()).all(|(a, b)| a.id == b.id && a.raw == b.raw));
        // An error names the file, as for a file read whole.
        std::fs::write(&path, format!("{}x", &text[..text.len() - 1])).unwrap();
        let err = read_paths(std::slice::from_ref(&path)).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: line 1, column", path.display())), "{err}");
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..30 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = read(&bomb).unwrap_err().to_string();
        assert!(err.starts_with("test.yaml: invalid YAML"), "{err}");
    }
}
