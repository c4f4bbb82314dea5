//! Reading snapshot files: `kubectl get -o json|yaml` output (single objects, `List`s,
//! multi-document YAML), `flux export` output, the reset plugin's backups, directories of such
//! files, and `-` for standard input.

use crate::error::{Error, Result};
use crate::object::Object;
use crate::snapshot::Snapshot;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Files larger than this are refused rather than read into memory.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Reads every path (files, directories, `-`) into one snapshot.
pub fn read_paths(paths: &[PathBuf]) -> Result<Snapshot> {
    let mut snapshot = Snapshot::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(MAX_FILE_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|source| Error::Read { path: path.clone(), source })?;
            check_size("-", bytes.len() as u64)?;
            read_bytes("-", &bytes, &mut snapshot)?;
        } else if path.is_dir() {
            for file in files_in(path)? {
                read_file(&file, &mut snapshot)?;
            }
        } else {
            read_file(path, &mut snapshot)?;
        }
    }
    Ok(snapshot)
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

fn read_file(path: &Path, snapshot: &mut Snapshot) -> Result<()> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    check_size(&name, meta.len())?;
    let bytes = std::fs::read(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    read_bytes(&name, &bytes, snapshot)
}

/// Parses one file's bytes (JSON or YAML, detected by the first non-blank character) into the
/// snapshot. Every error names the file and the line or document.
pub fn read_bytes(name: &str, bytes: &[u8], snapshot: &mut Snapshot) -> Result<()> {
    let malformed = |message: String| Error::Malformed { file: name.to_string(), message };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        malformed(format!("line {line}: not UTF-8 text"))
    })?;
    let first = text.trim_start_matches('\u{feff}').trim_start().chars().next();
    let documents: Vec<(usize, Value)> = match first {
        None => return Err(malformed("empty file: no objects".to_string())),
        Some('{') | Some('[') => {
            let mut docs = Vec::new();
            let stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
            for doc in stream {
                let doc = doc.map_err(|e| {
                    malformed(format!("line {}, column {}: invalid JSON: {}", e.line(), e.column(), json_reason(&e)))
                })?;
                docs.push((0, doc));
            }
            docs
        }
        Some(_) => {
            let docs: Vec<Value> = serde_saphyr::from_multiple(text)
                .map_err(|e| malformed(format!("invalid YAML: {}", one_line(&e.to_string()))))?;
            let starts = document_lines(text);
            docs.into_iter().enumerate().map(|(i, d)| (starts.get(i).copied().unwrap_or(0), d)).collect()
        }
    };
    let mut count = 0;
    for (index, (line, doc)) in documents.into_iter().enumerate() {
        let place = if line > 0 { format!("line {line}") } else { format!("document {}", index + 1) };
        count += add_document(doc, snapshot).map_err(|m| malformed(format!("{place}: {m}")))?;
    }
    if count == 0 {
        return Err(malformed("no Kubernetes objects found".to_string()));
    }
    Ok(())
}

/// Adds one parsed document: an object, a `List` (or `*List`) of objects, or a JSON array.
fn add_document(doc: Value, snapshot: &mut Snapshot) -> std::result::Result<usize, String> {
    match doc {
        Value::Null => Ok(0),
        Value::Array(items) => add_items(items, snapshot),
        Value::Object(mut map) => {
            let is_list = map.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List"))
                && map.contains_key("items");
            if is_list {
                // Moved out, not copied: a List may be most of a large snapshot.
                let Some(Value::Array(items)) = map.remove("items") else {
                    return Err("items of a List must be a list of objects".to_string());
                };
                add_items(items, snapshot)
            } else {
                slim(&mut map);
                let object = Object::from_value(Value::Object(map))?;
                snapshot.insert(object);
                Ok(1)
            }
        }
        other => Err(format!("expected a Kubernetes object or List, found {}", json_type(&other))),
    }
}

/// Drops what no plugin reads and that dominates `kubectl get -o json` output: managedFields and
/// the last-applied-configuration annotation (a second copy of the object).
fn slim(map: &mut serde_json::Map<String, Value>) {
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        meta.remove("managedFields");
        if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
}

fn add_items(items: Vec<Value>, snapshot: &mut Snapshot) -> std::result::Result<usize, String> {
    let mut count = 0;
    for (i, item) in items.into_iter().enumerate() {
        count += add_document(item, snapshot).map_err(|m| format!("item {i}: {m}"))?;
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

/// serde_json's message without its trailing " at line L column C" (we print those first).
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
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

    fn read(text: &str) -> Result<Snapshot> {
        let mut s = Snapshot::new();
        read_bytes("test.yaml", text.as_bytes(), &mut s)?;
        Ok(s)
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
