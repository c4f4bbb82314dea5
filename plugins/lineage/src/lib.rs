//! `kubectl flux-lineage`: the dependency and ownership chain around any object, the root cause
//! of a failure first (`--why`), and every deadlock cycle across kinds (`--cycles`).

mod args;
pub mod cycles;
pub mod model;
pub mod plan;
pub mod reach;
pub mod render;
pub mod report;
pub mod traverse;
pub mod why;

pub use args::{Args, FailOn};

use clap::CommandFactory;
use kubectl_flux_shared::error::{EXIT_FINDINGS, Error, Result};
use kubectl_flux_shared::graph::Graph;
use kubectl_flux_shared::health::State;
use kubectl_flux_shared::kinds::{self, FLUX_KINDS};
use kubectl_flux_shared::output::{self, Format, color::Palette};
use kubectl_flux_shared::selector::Selector;
use kubectl_flux_shared::source::{self, Want};
use kubectl_flux_shared::{ObjectRef, Snapshot};
use model::NodeInfo;
use plan::Plan;
use std::collections::BTreeMap;
use std::io::Write;
use traverse::Direction;

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

/// What lineage lists from a cluster first: every Flux kind, the Kubernetes kinds chains run
/// through, Secrets as metadata only, and Helm storage Secrets (`owner=helm`) in full for
/// HelmRelease inventories. Events come after, in the answer's namespaces
/// ([`Plan::event_wants`]).
pub fn wants() -> Vec<Want> {
    let mut wants: Vec<Want> = FLUX_KINDS.iter().map(Want::all).collect();
    for k in reach::chain_kinds() {
        wants.push(reach::kube_want(k));
        if k.kind == "Secret" {
            wants.push(Want::labelled(k, "owner=helm"));
        }
    }
    wants
}

/// Runs the plugin; returns the exit code.
pub fn run(args: Args) -> Result<u8> {
    if let Some(shell) = args.common.completion {
        return kubectl_flux_shared::cli::print_completion(shell, Args::command());
    }
    let format = output::resolve_format(&args.common.output, FORMATS)?;
    if let Some(members) = kubectl_flux_shared::fleet::members(&args.common)? {
        return fleet_run(&args, format, members);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut notes = Vec::new();
    let result = answer(&args, &args.common, format, args.common.output.jq.as_deref(), &mut out, &mut notes);
    out.flush()?;
    output::write_notes(format, &notes)?;
    result
}

/// Several clusters: each answers on its own; trees and tables come one cluster after another
/// under a `=== cluster NAME` heading, tsv and name lines start with the cluster, json/yaml
/// group the clusters' documents (`--jq` runs on the whole).
fn fleet_run(args: &Args, format: Format, members: Vec<kubectl_flux_shared::fleet::Member>) -> Result<u8> {
    use kubectl_flux_shared::fleet;
    let outcomes = fleet::ask(&members, fleet::parallelism(&args.common), |m| {
        let mut buf = Vec::new();
        let mut notes = Vec::new();
        let code = answer(args, &m.flags, format, None, &mut buf, &mut notes)?;
        Ok((code, buf, notes))
    });
    if let Some(line) = fleet::summary(&outcomes) {
        eprintln!("{line}");
    }
    if fleet::all_failed(&outcomes) {
        return Ok(kubectl_flux_shared::error::EXIT_FAILED);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut notes = Vec::new();
    let mut code = 0;
    match format {
        Format::Json | Format::Yaml => {
            let doc = fleet::document(
                "Lineage",
                &outcomes,
                |(_, buf, _)| serde_json::from_slice(buf).unwrap_or(serde_json::Value::Null),
                vec![],
            );
            output::write_document(&mut out, &doc, format, args.common.output.jq.as_deref())?;
        }
        _ => {
            for o in &outcomes {
                let Ok((_, buf, _)) = &o.result else { continue };
                let text = String::from_utf8_lossy(buf);
                match format {
                    Format::Tsv => text.lines().try_for_each(|l| writeln!(out, "{}\t{l}", o.cluster))?,
                    Format::Name => text.lines().try_for_each(|l| writeln!(out, "{}/{l}", o.cluster))?,
                    _ => write!(out, "=== cluster {}\n{text}", o.cluster)?,
                }
            }
        }
    }
    for o in &outcomes {
        if let Ok((c, _, n)) = &o.result {
            code = code.max(*c);
            notes.push((o.cluster.clone(), n.clone()));
        }
    }
    out.flush()?;
    output::write_notes(format, &fleet::notes(notes))?;
    Ok(code)
}

/// The answer for one cluster (or snapshot), written to `out`; the notes it carries are
/// handed back for the caller to print after it.
fn answer(
    args: &Args,
    common: &kubectl_flux_shared::flags::CommonFlags,
    format: Format,
    jq: Option<&str>,
    mut out: &mut dyn Write,
    notes_out: &mut Vec<String>,
) -> Result<u8> {
    let now = kubectl_flux_shared::time::now().map_err(Error::usage)?;
    let selector = match &args.common.scope.selector {
        Some(_) if !args.cycles => {
            return Err(Error::usage(
                "-l/--selector restricts --cycles to loops through matching objects; use it with --cycles",
            ));
        }
        Some(text) => Some(Selector::parse(text).map_err(Error::usage)?),
        None => None,
    };
    let target_spec = match &args.target {
        Some(t) => Some(parse_target(t, args.name.as_deref())?),
        None => None,
    };
    let mut flags = common.clone();
    flags.scope.all_namespaces = true;
    // Events come in a second stage, only in the namespaces the answer shows: the largest kind
    // of a cluster by far (200,000 of 323,000 objects at 10,000 apps), of which an answer shows
    // a handful. Live that is a second round of lists; offline a second pass over the files,
    // cheaper than building every Event.
    // Live, `--why` reads only what its target can reach ([`reach`]): the Kubernetes kinds in
    // the namespaces it leads to, found in rounds, rather than every object of the cluster.
    let namespace = args.common.scope.namespace.as_deref();
    let mut reach = None;
    let mut live_first = wants();
    if let Some((_, namespaced)) = target_spec.as_ref().filter(|_| args.why && flags.input.filenames.is_empty()) {
        // A namespaced target's namespace is read in the first round.
        let first = namespace.filter(|_| *namespaced == Some(true));
        reach = Some(reach::Reach::new(first));
        live_first = reach::first_wants(first);
    }
    let mut decided: Option<(Graph, Result<Plan>)> = None;
    let snapshot = source::load_rounds(&flags, &live_first, &wants(), |read| {
        if decided.is_some() {
            return Vec::new();
        }
        let graph = Graph::build(read);
        if let (Some(reach), Some((id, namespaced))) = (reach.as_mut(), &target_spec) {
            let mut id = id.clone();
            if *namespaced == Some(true) {
                id.namespace = target_namespace(read, namespace).into();
            }
            let more = reach.more(&graph, &id, *namespaced);
            if !more.is_empty() {
                return more;
            }
        }
        let plan = decide(args, &graph, read, selector.as_ref(), target_spec.clone());
        let events = plan.as_ref().map(|p| p.event_wants(&graph)).unwrap_or_default();
        decided = Some((graph, plan));
        events
    })?;
    let (graph, plan) = decided.expect("load_rounds hands every round over, live or offline, until the plan is made");
    let mut notes = snapshot.notes.clone();
    notes.extend(graph.notes.iter().cloned());
    notes_out.clone_from(&notes);
    // On error, the caller prints the notes (they say why a target could not be read).
    let plan = plan?;
    let palette = Palette::new(args.common.output.color);
    let report = report::Report { graph: &graph, snapshot: &snapshot, now, palette };
    let headers = !args.common.output.no_headers;

    match plan {
        Plan::Cycles(all_cycles) => {
            let findings = if all_cycles.is_empty() { Vec::new() } else { vec![State::Missing] };
            match format {
                Format::Json | Format::Yaml => {
                    output::write_document(&mut out, &report.cycles_json(&all_cycles, &notes), format, jq)?
                }
                Format::Table | Format::Wide => {
                    report.cycles_table(&all_cycles).write(&mut out, format == Format::Wide, headers)?
                }
                Format::Tsv => report.cycles_table(&all_cycles).write_tsv(&mut out)?,
                Format::Tree => report.write_cycles(&mut out, &all_cycles)?,
                other => {
                    return Err(Error::usage(format!(
                        "--cycles prints tree, table, wide, tsv, json or yaml, not {}",
                        other.word()
                    )));
                }
            }
            Ok(exit_code(args.fail_on, &findings, !all_cycles.is_empty()))
        }
        Plan::Why { target, chains, cycles } => {
            let mut findings: Vec<State> = chains.iter().map(|c| graph.nodes[c.root()].health.state).collect();
            if !cycles.is_empty() {
                findings.push(State::Missing);
            }
            match format {
                Format::Json | Format::Yaml => {
                    output::write_document(&mut out, &report.why_json(target, &chains, &cycles, &notes), format, jq)?
                }
                Format::Tree => {
                    report.write_chains(&mut out, target, &chains, &cycles)?;
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
                    report.write_evidence(&mut out, &evidence)?;
                }
                other => return Err(Error::usage(format!("--why prints tree, json or yaml, not {}", other.word()))),
            }
            Ok(exit_code(args.fail_on, &findings, !cycles.is_empty()))
        }
        Plan::Tree { target, sections } => {
            let mut info = BTreeMap::new();
            info.insert(target, NodeInfo::of(&snapshot, &graph.nodes[target]));
            for (_, lines) in &sections {
                for l in lines {
                    info.entry(l.node).or_insert_with(|| NodeInfo::of(&snapshot, &graph.nodes[l.node]));
                }
            }
            let lineage = render::Lineage { graph: &graph, target, sections, info, now, notes: notes.clone() };
            let findings: Vec<State> = lineage.info.values().map(|i| i.state).collect();
            match format {
                Format::Tree => lineage.write_tree(&mut out, palette, false, headers)?,
                Format::Wide => lineage.write_tree(&mut out, palette, true, headers)?,
                Format::Table => lineage.write_table(&mut out, palette, false, headers)?,
                Format::Tsv => lineage.write_tsv(&mut out)?,
                Format::Name => lineage.write_names(&mut out)?,
                Format::Dot => lineage.write_dot(&mut out)?,
                Format::Mermaid => lineage.write_mermaid(&mut out)?,
                Format::Json | Format::Yaml => output::write_document(&mut out, &lineage.to_json(), format, jq)?,
            }
            Ok(exit_code(args.fail_on, &findings, false))
        }
    }
}

/// What the answer shows, from the graph alone: the cycles (`--cycles`, through a selected
/// object with `-l`), or the target's chains (`--why`) or tree.
fn decide(
    args: &Args,
    graph: &Graph,
    snapshot: &Snapshot,
    selector: Option<&Selector>,
    target_spec: Option<TargetSpec>,
) -> Result<Plan> {
    if args.cycles {
        let mut all_cycles = cycles::find(graph);
        if let Some(selector) = selector {
            all_cycles.retain(|c| {
                c.steps.iter().any(|s| snapshot.get(&graph.nodes[s.from].id).is_some_and(|o| selector.matches(o)))
            });
        }
        return Ok(Plan::Cycles(all_cycles));
    }
    let (id, namespace_given) = target_spec.expect("clap requires a target without --cycles");
    let target = resolve_target(graph, snapshot, id, namespace_given, args.common.scope.namespace.as_deref())?;
    if args.why {
        return Ok(Plan::why(graph, target));
    }
    let directions: Vec<Direction> = if args.upstream {
        vec![Direction::Upstream]
    } else if args.downstream {
        vec![Direction::Downstream, Direction::UsedBy]
    } else {
        vec![Direction::Upstream, Direction::Downstream, Direction::UsedBy]
    };
    Ok(Plan::tree(graph, target, directions, args.depth))
}

fn exit_code(fail_on: Option<FailOn>, states: &[State], cycle: bool) -> u8 {
    let level = match fail_on {
        None => return 0,
        Some(level) => level,
    };
    let hit = match level {
        FailOn::Cycle => cycle,
        FailOn::Missing => cycle || states.contains(&State::Missing),
        FailOn::Failed => cycle || states.iter().any(|s| matches!(s, State::Missing | State::Failed)),
    };
    if hit { EXIT_FINDINGS } else { 0 }
}

/// A target as typed: kind (resolved if known), name, and whether the kind is namespaced.
type TargetSpec = (ObjectRef, Option<bool>);

/// Parses `KIND/NAME` or `KIND NAME`.
fn parse_target(target: &str, name: Option<&str>) -> Result<TargetSpec> {
    let (kind, name) = match (target.split_once('/'), name) {
        (Some((k, n)), None) => (k, n),
        (None, Some(n)) => (target, n),
        (Some(_), Some(_)) => return Err(Error::usage("give the object as KIND/NAME or as KIND NAME, not both")),
        (None, None) => {
            return Err(Error::usage(format!("{target:?}: give the object as KIND/NAME, e.g. kustomization/apps")));
        }
    };
    if kind.is_empty() || name.is_empty() {
        return Err(Error::usage(format!("{target:?}: give the object as KIND/NAME, e.g. kustomization/apps")));
    }
    Ok(match kinds::resolve(kind) {
        Some(k) => (ObjectRef::new(k.group, k.kind, "", name), Some(k.namespaced)),
        None => (ObjectRef::new("", kind, "", name), None),
    })
}

/// The namespace a namespaced target is in: `-n`, else the context's, else `default`.
fn target_namespace<'a>(snapshot: &'a Snapshot, namespace: Option<&'a str>) -> &'a str {
    namespace.or(snapshot.default_namespace.as_deref()).unwrap_or("default")
}

/// Finds the target node: known kinds directly; other kinds by case-insensitive kind name among
/// the snapshot's objects.
fn resolve_target(
    graph: &Graph,
    snapshot: &Snapshot,
    mut id: ObjectRef,
    namespaced: Option<bool>,
    namespace: Option<&str>,
) -> Result<usize> {
    let ns = target_namespace(snapshot, namespace);
    match namespaced {
        Some(true) => id.namespace = ns.into(),
        Some(false) => {}
        None => {
            let wanted = id.kind.to_ascii_lowercase();
            let found = graph.nodes.iter().find(|n| {
                n.id.name == id.name
                    && (n.id.namespace == ns || n.id.namespace.is_empty())
                    && (n.id.kind.to_ascii_lowercase() == wanted
                        || format!("{}s", n.id.kind.to_ascii_lowercase()) == wanted)
            });
            return match found {
                Some(n) => Ok(graph.find(&n.id).expect("node exists")),
                None => Err(Error::usage(format!(
                    "unknown kind {:?}: not a kind kubectl-flux knows and no such object in the snapshot",
                    id.kind
                ))),
            };
        }
    }
    let node = graph.find(&id).ok_or_else(|| Error::NotFound(id.to_string()))?;
    // Known only as someone's reference, of a kind that could not be listed (403, missing
    // CRD): there is nothing to trace, and "missing" would be a guess.
    if !graph.nodes[node].exists && !snapshot.is_listed_at(&id.group, &id.kind, &id.namespace) {
        return Err(Error::Unreadable(id.to_string()));
    }
    Ok(node)
}
