//! How the plugins print answers: kubectl-like tables ([`table`]), tsv, names, JSON/YAML
//! documents with a stable schema, `--jq` ([`jq`]) and colour ([`color`]). It knows nothing of
//! clusters or flags: it takes the decisions the command line resolved.

pub mod color;
pub mod jq;
pub mod table;

use color::Palette;

use kubectl_flux_model::error::{Error, Result};
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
    /// A PrometheusRule of alerts (controllers).
    PrometheusRules,
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
            Format::PrometheusRules => "prometheus-rules",
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

/// Prints notes (what an answer lacks or assumes), each as `note: ...`.
fn write_notes(out: &mut dyn Write, notes: &[String]) -> Result<()> {
    for note in notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

/// How to print an answer, as the command line resolved it once: the format, `--jq`, colour
/// and headers.
#[derive(Debug, Clone)]
pub struct Output {
    /// `-o`, or its default; JSON when only `--jq` was given.
    pub format: Format,
    /// `--jq EXPR`: the JSON document filtered in-process.
    pub jq: Option<String>,
    /// Whether and how to colour (`--color`, `NO_COLOR`, a terminal).
    pub palette: Palette,
    /// Table headers (`--no-headers` turns them off).
    pub headers: bool,
    /// Notes follow the answer in its own writer (a tool's text, read by a person and a
    /// model) instead of going to stderr.
    pub inline_notes: bool,
}

impl Output {
    /// Plain output in `format`: no `--jq`, no colour, headers (tests and fleet parts).
    pub fn plain(format: Format) -> Self {
        Output { format, jq: None, palette: Palette::plain(), headers: true, inline_notes: false }
    }

    /// Whether the answer is one structured document (JSON or YAML).
    pub fn is_document(&self) -> bool {
        matches!(self.format, Format::Json | Format::Yaml)
    }

    /// Writes the answer's document as this output wants it (`--jq` applied).
    pub fn write_document(&self, out: &mut dyn Write, doc: &Value) -> Result<()> {
        write_document(out, doc, self.format, self.jq.as_deref())
    }

    /// Prints notes on stderr (stdout stays parseable), or after the answer in `out` with
    /// `inline_notes`; JSON and YAML documents carry them in their `notes` field instead.
    pub fn write_notes(&self, out: &mut dyn Write, notes: &[String]) -> Result<()> {
        if self.is_document() {
            Ok(())
        } else if self.inline_notes {
            write_notes(out, notes)
        } else {
            write_notes(&mut std::io::stderr().lock(), notes)
        }
    }
}

/// One way to print an answer, and where to: the command line prints once, to stdout, as the
/// user asked; the MCP server prints the same answer twice, as its JSON document and as the
/// text a person reads, without reading the cluster again.
pub struct Printer<'a> {
    /// How to print.
    pub output: Output,
    /// Where to.
    pub out: &'a mut dyn Write,
}
