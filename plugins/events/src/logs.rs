//! Flux controller log lines: JSON objects (`level`, `ts`, `msg`, `error`, `controllerKind`,
//! `name`, `namespace`, see FLUX-FACTS "Controller logs"); lines that are not JSON (panics,
//! klog) are kept as text. Files are read line by line, never whole.

use chrono::{DateTime, Utc};
use kubectl_flux_model::lenient::Scalar;
use serde::Deserialize;
use std::borrow::Cow;
use std::io::BufRead;
use std::time::Duration;

/// One log line, as the timeline needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// `ts`.
    pub time: Option<DateTime<Utc>>,
    /// `level` (info, error, debug), `text` for non-JSON lines.
    pub level: String,
    /// The object: (kind, namespace, name), when the line names one.
    pub object: Option<(String, String, String)>,
    /// `msg`, plus `: error` when there is one.
    pub message: String,
    /// The controller (`controller` field, or the log's source).
    pub controller: String,
    /// Reconcile duration from "Reconciliation finished in 1.5s" / "failed after 467ms".
    pub duration: Option<Duration>,
}

/// Parses one line.
pub fn parse(line: &str, source: &str) -> Option<Line> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let Ok(doc) = serde_json::from_str::<Doc>(line) else {
        let level = if line.contains("panic") || line.starts_with('E') { "error" } else { "text" };
        return Some(Line {
            time: None,
            level: level.into(),
            object: None,
            message: line.to_string(),
            controller: source.to_string(),
            duration: None,
        });
    };
    let s = |k: Field| doc.0[k as usize].as_deref().unwrap_or("").to_string();
    let msg = s(Field::Msg);
    let message = match doc.0[Field::Error as usize].as_deref() {
        Some(e) => format!("{msg}: {e}"),
        None => msg.clone(),
    };
    let kind = s(Field::ControllerKind);
    let object = match (kind.as_str(), doc.0[Field::Name as usize].as_deref()) {
        ("", _) | (_, None) => None,
        (kind, Some(name)) => Some((kind.to_string(), s(Field::Namespace), name.to_string())),
    };
    let controller = match s(Field::Controller) {
        c if c.is_empty() => source.to_string(),
        c => c,
    };
    Some(Line {
        time: kubectl_flux_model::time::parse(&s(Field::Ts)),
        level: s(Field::Level),
        object,
        message,
        controller,
        duration: reconcile_duration(&msg),
    })
}

/// The fields of a JSON log line the timeline reads.
#[derive(Clone, Copy)]
enum Field {
    Level,
    Ts,
    Msg,
    Error,
    ControllerKind,
    Name,
    Namespace,
    Controller,
}

const FIELDS: [(&str, Field); 8] = [
    ("level", Field::Level),
    ("ts", Field::Ts),
    ("msg", Field::Msg),
    ("error", Field::Error),
    ("controllerKind", Field::ControllerKind),
    ("name", Field::Name),
    ("namespace", Field::Namespace),
    ("controller", Field::Controller),
];

/// A JSON object log line, read for its string fields only (a field that is not a string counts
/// as absent; the last of duplicate keys wins), without building the rest: a million lines
/// cost one pass over their text.
struct Doc<'a>([Option<Cow<'a, str>>; 8]);

impl<'de> Deserialize<'de> for Doc<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Doc<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Doc<'de>, A::Error> {
                let mut doc = Doc(Default::default());
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match FIELDS.iter().find(|(name, _)| *name == key) {
                        Some((_, field)) => doc.0[*field as usize] = map.next_value::<Scalar<'de>>()?.text(),
                        None => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(doc)
            }
        }
        d.deserialize_map(V)
    }
}

/// "Reconciliation finished in 1.578240643s, next run in 10m0s" -> 1.578s;
/// "Reconciliation failed after 467.22062ms, next try in 1m0s" -> 467ms.
pub fn reconcile_duration(msg: &str) -> Option<Duration> {
    let rest = msg.split_once("finished in ").or_else(|| msg.split_once("failed after "))?.1;
    let word = rest.split([',', ' ']).next()?;
    kubectl_flux_model::duration::parse(word).ok()
}

/// Reads a log file line by line, handing each parsed line to `sink`.
pub fn read_file(path: &std::path::Path, mut sink: impl FnMut(Line)) -> Result<(), kubectl_flux_model::Error> {
    let file = std::fs::File::open(path)
        .map_err(|source| kubectl_flux_model::Error::Read { path: path.to_path_buf(), source })?;
    let source = path.file_stem().and_then(|s| s.to_str()).unwrap_or("log").to_string();
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut bytes = Vec::new();
    for i in 0.. {
        bytes.clear();
        let read = reader
            .read_until(b'\n', &mut bytes)
            .map_err(|source| kubectl_flux_model::Error::Read { path: path.to_path_buf(), source })?;
        if read == 0 {
            break;
        }
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(&bytes),
        };
        if text.len() > 1 << 20 {
            return Err(kubectl_flux_model::Error::Malformed {
                file: path.display().to_string(),
                message: format!("line {}: longer than 1 MiB", i + 1),
            });
        }
        if let Some(l) = parse(&text, &source) {
            sink(l);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flux_json_lines_and_keeps_the_rest() {
        let l = parse(r#"{"level":"error","ts":"2024-11-13T17:02:59.892Z","msg":"Reconciliation failed after 467.22062ms, next try in 1m0s","controller":"kustomization","controllerGroup":"kustomize.toolkit.fluxcd.io","controllerKind":"Kustomization","Kustomization":{"name":"local-manifests","namespace":"flux-system"},"namespace":"flux-system","name":"local-manifests","reconcileID":"df8f8c19","error":"kustomization path not found"}"#, "kustomize-controller").unwrap();
        assert_eq!(l.level, "error");
        assert_eq!(l.object, Some(("Kustomization".into(), "flux-system".into(), "local-manifests".into())));
        assert_eq!(
            l.message,
            "Reconciliation failed after 467.22062ms, next try in 1m0s: kustomization path not found"
        );
        assert_eq!(l.duration, Some(Duration::from_nanos(467_220_620)));
        assert_eq!(l.controller, "kustomization");
        let text = parse("panic: runtime error: invalid memory address", "source-controller").unwrap();
        assert_eq!((text.level.as_str(), text.object), ("error", None));
        assert!(parse("   ", "x").is_none());
    }
}
