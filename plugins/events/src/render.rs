//! Printing the timeline: one row per entry with a summary per class and the noisiest objects,
//! the stuck objects, tsv rows, and the JSON/YAML document (a fleet's: each cluster's timeline
//! and the merged one).

use crate::classify::Class;
use crate::gather::Timeline;
use crate::stuck;
use crate::timeline::Entry;
use chrono::{DateTime, Utc};
use kubectl_flux_cli::fleet;
use kubectl_flux_model::error::{Error, Result};
use kubectl_flux_model::state::State;
use kubectl_flux_model::time;
use kubectl_flux_output::color::Palette;
use kubectl_flux_output::table::Table;
use kubectl_flux_output::{self as output, Format, Output};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;

/// Output formats of flux-events, default first.
pub const FORMATS: &[Format] = &[Format::Table, Format::Wide, Format::Json, Format::Yaml, Format::Tsv];

/// Objects shown in the "noisiest" summary.
const NOISIEST: usize = 5;

/// Prints `shown` (one cluster's timeline, or the fleet's merged by time: [`crate::gather::merge_fleet`]) and
/// its notes; a fleet's json/yaml document also holds each cluster's own timeline (`clusters`).
pub fn write(
    out: &mut dyn Write,
    shown: &Timeline,
    clusters: Option<&[fleet::Outcome<Timeline>]>,
    output: &Output,
    now: DateTime<Utc>,
) -> Result<()> {
    let (entries, stuck, notes) = shown;
    let doc = clusters
        .filter(|_| output.is_document())
        .map(|outcomes| fleet::document("EventTimeline", outcomes, |(e, s, n)| to_json(e, s, n), vec![]));
    match output.format {
        Format::Table | Format::Wide => {
            write_table(out, entries, stuck, now, output.palette, output.format == Format::Wide, output.headers)?
        }
        Format::Tsv => tsv(entries).write_tsv(out)?,
        Format::Json | Format::Yaml => {
            let doc = match doc {
                Some(mut doc) => {
                    doc["timeline"] = Value::Array(entries.iter().map(entry_json).collect());
                    doc
                }
                None => to_json(entries, stuck, notes),
            };
            output.write_document(out, &doc)?
        }
        other => return Err(Error::usage(format!("-o {} is not supported", other.word()))),
    }
    out.flush()?;
    output.write_notes(out, notes)
}

pub fn object_words(e: &Entry) -> String {
    e.object.as_ref().map(|o| o.to_string()).unwrap_or_else(|| "-".into())
}

/// The object with its cluster, for the fleet's summaries.
fn where_words(e: &Entry) -> String {
    match &e.cluster {
        Some(c) => format!("{c}: {}", object_words(e)),
        None => object_words(e),
    }
}

fn write_table(
    out: &mut dyn Write,
    entries: &[Entry],
    stuck: &[stuck::Stuck],
    now: DateTime<Utc>,
    palette: Palette,
    wide: bool,
    headers: bool,
) -> std::io::Result<()> {
    let age = |t: Option<DateTime<Utc>>| t.map(|t| time::age(now, t)).unwrap_or_else(|| "-".into());
    let mut t =
        Table::new(&["LAST SEEN", "TYPE", "CLASS", "OBJECT", "REASON", "COUNT", "FIRST SEEN+", "SOURCE+", "MESSAGE"]);
    for e in entries {
        let kind = if e.is_warning() { palette.state(State::Failed, &e.kind) } else { e.kind.clone() };
        t.row(vec![
            age(e.last),
            kind,
            e.class.word().to_string(),
            object_words(e),
            e.reason.clone(),
            format!("x{}", e.count),
            age(e.first),
            e.source.clone(),
            e.message.replace('\n', " "),
        ]);
    }
    if entries.iter().any(|e| e.cluster.is_some()) {
        t.prepend_column("CLUSTER", entries.iter().map(|e| e.cluster.clone().unwrap_or_default()).collect());
    }
    if entries.is_empty() {
        writeln!(out, "No events match.")?;
    } else {
        t.write(out, wide, headers)?;
    }
    let mut by_class: BTreeMap<Class, u64> = BTreeMap::new();
    let mut by_object: BTreeMap<String, (u64, BTreeMap<Class, u64>)> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.is_warning()) {
        *by_class.entry(e.class).or_default() += e.count;
        let o = by_object.entry(where_words(e)).or_default();
        o.0 += e.count;
        *o.1.entry(e.class).or_default() += e.count;
    }
    if !by_class.is_empty() {
        writeln!(out)?;
        let classes: Vec<String> = by_class.iter().map(|(c, n)| format!("{} {n}", c.word())).collect();
        writeln!(out, "{} {}", palette.bold("Warnings by class:"), classes.join(", "))?;
        let mut objects: Vec<_> = by_object.iter().collect();
        objects.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
        writeln!(out, "{}", palette.bold("Noisiest objects:"))?;
        for (name, (n, classes)) in objects.into_iter().take(NOISIEST) {
            let top = classes.iter().max_by_key(|(_, n)| **n).map(|(c, _)| c.word()).unwrap_or("");
            writeln!(out, "  {n:>6}  {name} (mostly {top})")?;
        }
    }
    if !stuck.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", palette.bold("Stuck:"))?;
        for s in stuck {
            match &s.cluster {
                Some(c) => writeln!(out, "  {c}: {}: {}", s.object, s.reason)?,
                None => writeln!(out, "  {}: {}", s.object, s.reason)?,
            }
        }
    }
    Ok(())
}

fn tsv(entries: &[Entry]) -> Table {
    let mut t = Table::new(&["", "", "", "", "", "", ""]);
    let ts = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_else(|| "-".into())
    };
    for e in entries {
        t.row(vec![
            ts(e.last),
            e.kind.clone(),
            e.class.word().into(),
            object_words(e),
            e.reason.clone(),
            e.count.to_string(),
            e.message.replace('\n', " "),
        ]);
    }
    if entries.iter().any(|e| e.cluster.is_some()) {
        t.prepend_column("", entries.iter().map(|e| e.cluster.clone().unwrap_or_default()).collect());
    }
    t
}

/// One entry in the stable JSON schema (RFC 3339 times).
pub fn entry_json(e: &Entry) -> Value {
    let ts = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let mut v = json!({
        "origin": e.origin,
        "type": e.kind,
        "class": e.class,
        "object": e.object.as_ref().map(|o| json!({"group": o.group, "kind": o.kind, "namespace": o.namespace, "name": o.name})),
        "reason": e.reason,
        "message": e.message,
        "source": e.source,
        "count": e.count,
        "firstSeen": ts(e.first),
        "lastSeen": ts(e.last),
    });
    if let Some(c) = &e.cluster {
        v["cluster"] = json!(c);
    }
    v
}

fn to_json(entries: &[Entry], stuck: &[stuck::Stuck], notes: &[String]) -> Value {
    let ts = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let mut by_class: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_object: BTreeMap<String, u64> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.is_warning()) {
        *by_class.entry(e.class.word()).or_default() += e.count;
        *by_object.entry(where_words(e)).or_default() += e.count;
    }
    let mut noisiest: Vec<(String, u64)> = by_object.into_iter().collect();
    noisiest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut fields = serde_json::Map::new();
    fields.insert("entries".into(), Value::Array(entries.iter().map(entry_json).collect()));
    fields.insert(
        "summary".into(),
        json!({
            "warningsByClass": by_class,
            "noisiest": noisiest.iter().map(|(o, n)| json!({"object": o, "warnings": n})).collect::<Vec<_>>(),
        }),
    );
    fields.insert(
        "stuck".into(),
        Value::Array(
            stuck
                .iter()
                .map(|s| {
                    let mut v =
                        json!({"object": s.object.to_string(), "reason": s.reason, "lastSuccess": ts(s.last_success)});
                    if let Some(c) = &s.cluster {
                        v["cluster"] = json!(c);
                    }
                    v
                })
                .collect(),
        ),
    );
    fields.insert("notes".into(), json!(notes));
    output::envelope("EventTimeline", fields)
}
