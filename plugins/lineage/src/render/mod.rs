//! Printing a lineage answer: the tree and its flat forms (table, tsv, names, dot, mermaid) in
//! [`tree`], the root-cause chains and cycles in [`chains`], the JSON/YAML documents of both; a
//! fleet's answers one cluster after another (trees and tables under a `=== cluster NAME`
//! heading, graphs after a comment naming it, tsv and name lines starting with the cluster) or
//! grouped in one document.

pub mod chains;
pub mod tree;

use crate::FailOn;
use crate::answer::Answer;
use crate::node::NodeInfo;
use crate::view::View;
use chains::Report;
use chrono::{DateTime, Utc};
use kubectl_flux_cli::fleet::{self, Outcome};
use kubectl_flux_model::error::{EXIT_FINDINGS, Error, Result};
use kubectl_flux_model::state::State;
use kubectl_flux_output::table::Table;
use kubectl_flux_output::{Format, Output};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use tree::Lineage;

/// Output formats of flux-lineage, default first.
pub const FORMATS: &[Format] = &[
    Format::Tree,
    Format::Table,
    Format::Wide,
    Format::Json,
    Format::Yaml,
    Format::Name,
    Format::Tsv,
    Format::Dot,
    Format::Mermaid,
];

/// Prints one cluster's answer and its notes (on error too: they say why a target could not
/// be read); returns the exit code `--fail-on` asks for.
pub fn write(
    out: &mut dyn Write,
    answer: &Answer,
    fail_on: Option<FailOn>,
    output: &Output,
    now: DateTime<Utc>,
) -> Result<u8> {
    let result = write_one(out, answer, fail_on, output, now);
    out.flush()?;
    output.write_notes(out, &answer.notes)?;
    result
}

/// One cluster's answer in a fleet, printed as far as the output needs: the value the fleet's
/// printer puts together (its document, its rows, its names) or its text, with its exit code
/// and notes. Made where the cluster was read, so a fleet holds these and not every cluster's
/// objects and graph: memory follows `--parallel`, not the fleet's size.
#[derive(Debug)]
pub struct Part {
    printed: Printed,
    code: u8,
    notes: Vec<String>,
}

#[derive(Debug)]
enum Printed {
    Document(Value),
    Rows(Table),
    Names(Vec<String>),
    Text(Vec<u8>),
}

impl Part {
    /// The part of `answer` the fleet's output prints.
    pub fn of(answer: &Answer, fail_on: Option<FailOn>, output: &Output, now: DateTime<Utc>) -> Result<Part> {
        let printed = match output.format {
            Format::Json | Format::Yaml => Printed::Document(document(answer, now)),
            Format::Tsv => Printed::Rows(table(answer, now, output)?),
            Format::Name => Printed::Names(names(answer, now)?),
            _ => {
                let mut text = Vec::new();
                write_one(&mut text, answer, None, output, now)?;
                Printed::Text(text)
            }
        };
        Ok(Part { printed, code: exit_code(answer, fail_on), notes: answer.notes.clone() })
    }
}

/// Prints a fleet's parts, one cluster after another (trees and tables under a `=== cluster`
/// heading, graphs after a comment naming it, tsv and name lines starting with the cluster) or
/// its documents grouped in one; returns the highest exit code of its clusters. Each cluster
/// holds one part per printer: `which` is this printer's.
pub fn write_fleet(out: &mut dyn Write, outcomes: &[Outcome<Vec<Part>>], which: usize, output: &Output) -> Result<u8> {
    let answered = || outcomes.iter().filter_map(|o| Some((o.cluster.as_str(), &o.result.as_ref().ok()?[which])));
    if output.is_document() {
        let doc = fleet::document(
            "Lineage",
            outcomes,
            |parts| match &parts[which].printed {
                Printed::Document(d) => d.clone(),
                _ => Value::Null,
            },
            vec![],
        );
        output.write_document(out, &doc)?;
    } else {
        for (cluster, part) in answered() {
            match &part.printed {
                Printed::Rows(t) => {
                    let mut t = t.clone();
                    t.prepend("", cluster);
                    t.write_tsv(out)?
                }
                Printed::Names(names) => {
                    for name in names {
                        writeln!(out, "{cluster}/{name}")?;
                    }
                }
                Printed::Text(text) => {
                    // Comments keep a fleet's graphs valid: `dot` draws several graphs of one
                    // file, and a mermaid block starts at its `flowchart` line.
                    match output.format {
                        Format::Dot => writeln!(out, "// === cluster {cluster}")?,
                        Format::Mermaid => writeln!(out, "%% === cluster {cluster}")?,
                        _ => writeln!(out, "=== cluster {cluster}")?,
                    }
                    out.write_all(text)?;
                }
                Printed::Document(_) => {}
            }
        }
    }
    let code = answered().map(|(_, p)| p.code).max().unwrap_or(0);
    let notes = answered().map(|(c, p)| (c.to_string(), p.notes.clone())).collect();
    out.flush()?;
    output.write_notes(out, &fleet::notes(notes))?;
    Ok(code)
}

/// The findings that `--fail-on` weighs: the states of the answer's nodes, and whether it
/// shows a cycle.
fn exit_code(answer: &Answer, fail_on: Option<FailOn>) -> u8 {
    let Ok(view) = &answer.view else { return 0 };
    let graph = &answer.graph;
    let (states, cycle): (Vec<State>, bool) = match view {
        View::Cycles(all) => (if all.is_empty() { Vec::new() } else { vec![State::Missing] }, !all.is_empty()),
        View::Why { chains, cycles, .. } => {
            let mut states: Vec<State> = chains.iter().map(|c| graph.nodes[c.root()].health.state).collect();
            if !cycles.is_empty() {
                states.push(State::Missing);
            }
            (states, !cycles.is_empty())
        }
        View::Tree { .. } => (lineage_info(answer).values().map(|i| i.state).collect(), false),
    };
    let Some(level) = fail_on else { return 0 };
    let hit = match level {
        FailOn::Cycle => cycle,
        FailOn::Missing => cycle || states.contains(&State::Missing),
        FailOn::Failed => cycle || states.iter().any(|s| matches!(s, State::Missing | State::Failed)),
    };
    if hit { EXIT_FINDINGS } else { 0 }
}

/// Details of every node a tree view shows.
fn lineage_info(answer: &Answer) -> BTreeMap<usize, NodeInfo> {
    let mut info = BTreeMap::new();
    if let Ok(View::Tree { target, sections }) = &answer.view {
        let node = |n: usize| NodeInfo::of(&answer.snapshot, &answer.graph.nodes[n]);
        info.insert(*target, node(*target));
        for (_, lines) in sections {
            for l in lines {
                info.entry(l.node).or_insert_with(|| node(l.node));
            }
        }
    }
    info
}

fn lineage(answer: &Answer, now: DateTime<Utc>) -> Option<Lineage<'_>> {
    match &answer.view {
        Ok(View::Tree { target, sections }) => Some(Lineage {
            graph: &answer.graph,
            target: *target,
            sections: sections.clone(),
            info: lineage_info(answer),
            now,
            notes: answer.notes.clone(),
        }),
        _ => None,
    }
}

fn report<'a>(answer: &'a Answer, output: &Output, now: DateTime<Utc>) -> Report<'a> {
    Report { graph: &answer.graph, snapshot: &answer.snapshot, now, palette: output.palette }
}

/// The answer's JSON document.
fn document(answer: &Answer, now: DateTime<Utc>) -> Value {
    let output = Output::plain(Format::Json);
    match &answer.view {
        Ok(View::Cycles(all)) => report(answer, &output, now).cycles_json(all, &answer.notes),
        Ok(View::Why { target, chains, cycles }) => {
            report(answer, &output, now).why_json(*target, chains, cycles, &answer.notes)
        }
        Ok(View::Tree { .. }) => lineage(answer, now).map(|l| l.to_json()).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// The answer's rows, for tsv.
fn table(answer: &Answer, now: DateTime<Utc>, output: &Output) -> Result<Table> {
    match &answer.view {
        Ok(View::Cycles(all)) => Ok(report(answer, output, now).cycles_table(all)),
        Ok(View::Tree { .. }) => Ok(lineage(answer, now)
            .map(|l| l.flat_table(kubectl_flux_output::color::Palette::plain()))
            .unwrap_or_default()),
        Ok(View::Why { .. }) => Err(Error::usage("--why prints tree, json or yaml, not tsv")),
        Err(e) => Err(Error::usage(e.to_string())),
    }
}

/// The answer's nodes as `kubectl get -o name` would name them.
fn names(answer: &Answer, now: DateTime<Utc>) -> Result<Vec<String>> {
    match lineage(answer, now) {
        Some(l) => Ok(l.kubectl_names()),
        None => Err(Error::usage("--cycles and --why print no names; use -o tree, json or yaml")),
    }
}

/// One cluster's answer in the output's format; the exit code `--fail-on` asks for.
fn write_one(
    out: &mut dyn Write,
    answer: &Answer,
    fail_on: Option<FailOn>,
    output: &Output,
    now: DateTime<Utc>,
) -> Result<u8> {
    let (format, palette, headers) = (output.format, output.palette, output.headers);
    let view = answer.view.as_ref().map_err(clone_error)?;
    let report = report(answer, output, now);
    let notes = &answer.notes;
    match view {
        View::Cycles(all) => match format {
            Format::Json | Format::Yaml => output.write_document(out, &report.cycles_json(all, notes))?,
            Format::Table | Format::Wide => report.cycles_table(all).write(out, format == Format::Wide, headers)?,
            Format::Tsv => report.cycles_table(all).write_tsv(out)?,
            Format::Tree => report.write_cycles(out, all)?,
            other => {
                return Err(Error::usage(format!(
                    "--cycles prints tree, table, wide, tsv, json or yaml, not {}",
                    other.word()
                )));
            }
        },
        View::Why { target, chains, cycles } => match format {
            Format::Json | Format::Yaml => {
                output.write_document(out, &report.why_json(*target, chains, cycles, notes))?
            }
            Format::Tree => {
                report.write_chains(out, *target, chains, cycles)?;
                let mut evidence: Vec<usize> = Vec::new();
                for n in chains
                    .iter()
                    .flat_map(|c| c.hops.iter().map(|h| h.node))
                    .chain(cycles.iter().flat_map(|c| c.steps.iter().map(|s| s.from)))
                {
                    if !evidence.contains(&n) {
                        evidence.push(n);
                    }
                }
                report.write_evidence(out, &evidence)?;
            }
            other => return Err(Error::usage(format!("--why prints tree, json or yaml, not {}", other.word()))),
        },
        View::Tree { .. } => {
            let lineage = lineage(answer, now).expect("a tree view");
            match format {
                Format::Tree => lineage.write_tree(out, palette, false, headers)?,
                Format::Wide => lineage.write_tree(out, palette, true, headers)?,
                Format::Table => lineage.write_table(out, palette, false, headers)?,
                Format::Tsv => lineage.write_tsv(out)?,
                Format::Name => lineage.write_names(out)?,
                Format::Dot => lineage.write_dot(out)?,
                Format::Mermaid => lineage.write_mermaid(out)?,
                Format::Json | Format::Yaml => output.write_document(out, &lineage.to_json())?,
                other => return Err(Error::usage(format!("-o {} is not supported", other.word()))),
            }
        }
    }
    Ok(exit_code(answer, fail_on))
}

/// The error of an answer without a view, to hand to the caller (errors are not Clone).
fn clone_error(e: &Error) -> Error {
    match e {
        Error::NotFound(id) => Error::NotFound(id.clone()),
        Error::Unreadable(id) => Error::Unreadable(id.clone()),
        Error::Usage(m) => Error::Usage(m.clone()),
        other => Error::Usage(other.to_string()),
    }
}
