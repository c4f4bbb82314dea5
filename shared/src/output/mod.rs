//! Rendering answers: kubectl-like tables, tsv, names, JSON/YAML documents with a stable schema,
//! `--jq`, colour and progress.

pub mod color;
pub mod jq;
pub mod progress;
pub mod table;

use crate::error::{Error, Result};
use serde_json::Value;
use std::io::Write;

/// The API version every JSON/YAML document of the suite carries.
pub const API_VERSION: &str = "kubectl-flux.io/v1alpha1";

/// An output format a user can ask for with `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns (default for most plugins).
    Table,
    /// Table with extra columns.
    Wide,
    /// One JSON document.
    Json,
    /// One YAML document.
    Yaml,
    /// `kind/name` per line.
    Name,
    /// Tab-separated rows without a header, for `cut`/`awk`/`head -1`.
    Tsv,
    /// An indented tree (lineage).
    Tree,
    /// Graphviz dot (lineage).
    Dot,
    /// Mermaid flowchart (lineage).
    Mermaid,
}

impl Format {
    /// The `-o` word for this format.
    pub fn word(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Wide => "wide",
            Format::Json => "json",
            Format::Yaml => "yaml",
            Format::Name => "name",
            Format::Tsv => "tsv",
            Format::Tree => "tree",
            Format::Dot => "dot",
            Format::Mermaid => "mermaid",
        }
    }

    /// Resolves `-o WORD` against the formats a plugin supports; the first is the default.
    pub fn resolve(word: Option<&str>, supported: &[Format]) -> Result<Format> {
        let Some(word) = word else { return Ok(supported[0]) };
        supported.iter().copied().find(|f| f.word() == word).ok_or_else(|| {
            let words: Vec<&str> = supported.iter().map(|f| f.word()).collect();
            Error::usage(format!("--output {word:?} is not supported here; use one of: {}", words.join(", ")))
        })
    }
}

/// Writes a structured document as JSON (pretty, trailing newline) or YAML, or runs `--jq` on it.
pub fn write_document(out: &mut dyn Write, doc: &Value, format: Format, jq: Option<&str>) -> Result<()> {
    if let Some(expr) = jq {
        return jq::run(out, expr, doc);
    }
    match format {
        Format::Yaml => {
            let text = serde_saphyr::to_string(doc).map_err(|e| Error::Output(std::io::Error::other(e.to_string())))?;
            out.write_all(text.as_bytes())?;
        }
        _ => {
            serde_json::to_writer_pretty(&mut *out, doc).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// Wraps a plugin's answer in the suite's envelope: `apiVersion`, `kind`, then the fields.
pub fn envelope(kind: &str, mut fields: serde_json::Map<String, Value>) -> Value {
    let mut doc = serde_json::Map::new();
    doc.insert("apiVersion".into(), Value::from(API_VERSION));
    doc.insert("kind".into(), Value::from(kind));
    doc.append(&mut fields);
    Value::Object(doc)
}

/// Resolves `-o` together with `--jq`, the same way in every plugin: `--jq` alone means JSON,
/// and `--jq` with a format that is not JSON or YAML is a usage error.
pub fn resolve_format(flags: &crate::flags::OutputFlags, supported: &[Format]) -> Result<Format> {
    let format = match (flags.output.as_deref(), &flags.jq) {
        (None, Some(_)) => Format::Json,
        (word, _) => Format::resolve(word, supported)?,
    };
    if flags.jq.is_some() && !matches!(format, Format::Json | Format::Yaml) {
        return Err(Error::usage(format!("--jq filters JSON; it cannot be combined with -o {}", format.word())));
    }
    Ok(format)
}

/// Prints notes (what an answer lacks or assumes) on stderr, so stdout stays parseable; JSON and
/// YAML documents carry them in their `notes` field instead.
pub fn write_notes(format: Format, notes: &[String]) -> Result<()> {
    if matches!(format, Format::Json | Format::Yaml) {
        return Ok(());
    }
    let mut err = std::io::stderr().lock();
    for note in notes {
        writeln!(err, "note: {note}")?;
    }
    Ok(())
}
