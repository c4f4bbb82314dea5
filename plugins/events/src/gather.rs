//! Gathering one cluster's timeline: its Flux Events (and, with `--related` or `--for`, those
//! of what Flux manages), its controllers' log lines (`--logs` through the API, `--logs-file`
//! offline), deduplicated, filtered, and the objects that look stuck.

use crate::args::Args;
use crate::filter::{Filters, tenant_of};
use crate::timeline::{self, Dedup, Entry};
use crate::{logs, stuck};
use kubectl_flux_cli::Resolved;
use kubectl_flux_cli::fleet;
use kubectl_flux_graph::graph::{Category, Graph};
use kubectl_flux_model::error::{Error, Result};
use kubectl_flux_model::kinds::{self, CORE_KINDS, FLUX_KINDS, is_flux_group};
use kubectl_flux_model::{ObjectRef, Snapshot};
use kubectl_flux_source::{Namespaces, Source, Want};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Components whose Events are Flux's own.
pub use kubectl_flux_graph::flux::CONTROLLERS as FLUX_COMPONENTS;

/// What flux-events lists: Flux kinds and the Events that can be about them. Flux's
/// controllers record their Events on the Flux object they reconcile ("events are always
/// associated with an object, which is a Flux resource", fluxcd.io/flux/monitoring/events), so
/// the Events about the Kubernetes kinds the suite knows (Pods and Nodes above all) stay on the
/// API server: one list with `involvedObject.kind!=` terms. A list per Flux kind would leave
/// them there too, but each list makes the API server filter every Event of the cluster: with
/// 20,000 Events (1,000 apps), the 14 lists took flux-events 2.8 s where one takes 1.0 s, for
/// the same answer. With --related, the kinds Flux objects manage and every Event. With
/// `--tenant` (`by_tenant`), the Namespaces' metadata too: their tenant label.
pub fn wants(related: bool, by_tenant: bool) -> Vec<Want> {
    let mut wants: Vec<Want> = FLUX_KINDS.iter().map(Want::all).collect();
    if !related {
        wants.push(Want::events_not_about(CORE_KINDS.iter().map(|k| k.kind).filter(|k| *k != "Event")));
        if by_tenant {
            wants.push(Want::namespaces());
        }
    }
    for k in CORE_KINDS {
        match k.kind {
            "Event" if related => wants.push(Want::all(k)),
            "Event" => {}
            "Secret" if related => wants.push(Want::metadata(k, None)),
            "Node" | "CustomResourceDefinition" | "Secret" => {}
            _ if related => wants.push(Want::all(k)),
            _ => {}
        }
    }
    wants
}

/// One cluster's (or snapshot's) timeline: entries, stuck objects and notes.
pub type Timeline = (Vec<Entry>, Vec<stuck::Stuck>, Vec<String>);

pub fn timeline(source: &Source, args: &Args, resolved: &Resolved, filters: &Filters) -> Result<Timeline> {
    let now = resolved.now;
    // The log files are read while the objects are listed or read: a cluster's answer is mostly
    // waiting, and a million log lines take seconds.
    let mut shared: Option<Arc<Dedup>> = None;
    let (snapshot, log_files) = std::thread::scope(|scope| {
        let reading = (!args.logs_files.is_empty()).then(|| scope.spawn(|| read_log_files(&args.logs_files)));
        let wants = wants(args.related || args.for_object.is_some(), filters.tenant.is_some());
        // Without --for, the Events' entries depend on the snapshot alone: a watch cache's
        // repeated question builds them once while the lists stay unchanged.
        let snapshot = kubectl_flux_source::load_staged(source, &Namespaces::All, &wants, &[], |read| {
            if args.for_object.is_none() {
                let build = || {
                    let objects = if args.related { related_objects(read, None, true) } else { HashSet::new() };
                    Arc::new(events_dedup(read, false, &objects))
                };
                shared = Some(match args.related {
                    true => source.derived(|| FluxEvents::<true>(build())).0.clone(),
                    false => source.derived(|| FluxEvents::<false>(build())).0.clone(),
                });
            }
            Vec::new()
        });
        let log_files = reading.map(|r| r.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        (snapshot, log_files)
    });
    let snapshot = snapshot?;
    let log_files = log_files.transpose()?;
    let mut notes = snapshot.notes.clone();
    let namespace = resolved.scope.namespace.as_deref();
    let target = args.for_object.as_deref().map(|t| parse_for(t, namespace, &snapshot)).transpose()?;
    let (events, related) = match (shared, &target) {
        (Some(events), None) => (events, HashSet::new()),
        (_, target) => {
            let related = related_objects(&snapshot, target.as_ref(), args.related);
            (Arc::new(events_dedup(&snapshot, target.is_some(), &related)), related)
        }
    };
    let wanted_log = |entry: &Entry| target.is_none() || entry.object.as_ref().is_some_and(|o| related.contains(o));
    let keeps = |e: &Entry| filters.keeps(e, &snapshot, now);
    let (entries, slow) = match log_files {
        None if !args.logs => (events.sorted(keeps), Slowest::new()),
        log_files => {
            let mut dedup = Arc::unwrap_or_clone(events);
            let slow = add_logs(&mut dedup, log_files, args, source, now, wanted_log, &mut notes)?;
            (dedup.into_sorted().into_iter().filter(keeps).collect(), slow)
        }
    };
    let stuck = stuck::find(&snapshot, now, args.stuck_factor, &slow)
        .into_iter()
        .filter(|s| target.is_none() || related.contains(&s.object))
        .filter(|s| filters.tenant.as_ref().is_none_or(|t| tenant_of(&snapshot, &s.object) == *t))
        .collect::<Vec<_>>();
    if !args.logs && args.logs_files.is_empty() {
        notes.push("controller logs not merged: add --logs (through the API) or --logs-file FILE".into());
    }

    Ok((entries, stuck, notes))
}

/// Every Event entry the timeline shows, deduplicated: about the `objects` (the target and, with
/// `--related`, what it holds and uses); without a target (`for_target` false), also every
/// Event about a Flux object or from Flux's controllers.
fn events_dedup(snapshot: &Snapshot, for_target: bool, objects: &HashSet<ObjectRef>) -> Dedup {
    let mut dedup = Dedup::default();
    for event in snapshot.events() {
        let object = timeline::subject(event);
        let flux =
            || object.is_some_and(|o| is_flux_group(&o.group)) || FLUX_COMPONENTS.contains(&event.source.as_str());
        if (!for_target && flux()) || object.is_some_and(|o| objects.contains(o)) {
            dedup.add_event(event);
        }
    }
    dedup
}

/// The entries of one cluster without `--for`, shared by the calls a watch cache answers from
/// the same unchanged lists (`RELATED`: with `--related`).
struct FluxEvents<const RELATED: bool>(Arc<Dedup>);

/// Adds the controllers' log lines the timeline wants, from `--logs-file` (read already) and
/// `--logs` (read now), after the Events; returns the longest reconcile per object.
fn add_logs(
    dedup: &mut Dedup,
    log_files: Option<(Dedup, Slowest)>,
    args: &Args,
    source: &Source,
    now: chrono::DateTime<chrono::Utc>,
    wanted_log: impl Fn(&Entry) -> bool,
    notes: &mut Vec<String>,
) -> Result<Slowest> {
    let mut slow = Slowest::new();
    if let Some((files, files_slow)) = log_files {
        dedup.merge(files, &wanted_log);
        slow = files_slow;
    }
    if args.logs {
        let since = args.since.map(|d| now - chrono::Duration::from_std(d).unwrap_or_default());
        let connection = source
            .connection()
            .ok_or_else(|| Error::usage("--logs reads a cluster's controllers; offline, use --logs-file"))?;
        let (texts, log_notes) = kubectl_flux_source::live::pod_logs(connection, "flux-system", since)?;
        notes.extend(log_notes);
        for (pod, text) in texts {
            let controller = pod.split('/').next().unwrap_or("").rsplitn(3, '-').last().unwrap_or("").to_string();
            for line in text.lines() {
                if let Some(l) = logs::parse(line, &controller) {
                    let entry = log_entry(&mut slow, l);
                    if wanted_log(&entry) {
                        dedup.add(entry);
                    }
                }
            }
        }
    }
    Ok(slow)
}

/// The longest reconcile each object's log lines report.
type Slowest = HashMap<ObjectRef, std::time::Duration>;

/// A log line's entry, after recording its reconcile duration, if it reports one about an object.
fn log_entry(slow: &mut Slowest, line: logs::Line) -> Entry {
    let duration = line.duration;
    let entry = timeline::from_log(line);
    if let (Some(d), Some(o)) = (duration, &entry.object) {
        match slow.get_mut(o) {
            Some(max) => *max = (*max).max(d),
            None => {
                slow.insert(o.clone(), d);
            }
        }
    }
    entry
}

/// Every line of the log files, deduplicated (in reading order, before any filter), and the
/// longest reconcile per object.
fn read_log_files(files: &[std::path::PathBuf]) -> Result<(Dedup, Slowest)> {
    let (mut dedup, mut slow) = (Dedup::default(), Slowest::new());
    for file in files {
        logs::read_file(file, |line| dedup.add(log_entry(&mut slow, line)))?;
    }
    Ok((dedup, slow))
}

/// The fleet's timelines merged: every entry and stuck object named with its cluster, ordered
/// by when it happened; notes per cluster.
pub fn merge_fleet(outcomes: &[fleet::Outcome<Timeline>]) -> Timeline {
    let (mut entries, mut stuck, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    for o in outcomes {
        let Ok((e, s, n)) = &o.result else { continue };
        entries.extend(e.iter().map(|e| {
            let mut e = e.clone();
            e.cluster = Some(o.cluster.clone());
            e
        }));
        stuck.extend(s.iter().map(|s| {
            let mut s = s.clone();
            s.cluster = Some(o.cluster.clone());
            s
        }));
        notes.push((o.cluster.clone(), n.clone()));
    }
    // Stable: entries of one time keep their cluster's order.
    entries.sort_by_key(|e| e.last);
    (entries, stuck, fleet::notes(notes))
}

/// `--for KIND/NAME`, namespace from -n (else default).
fn parse_for(text: &str, namespace: Option<&str>, snapshot: &Snapshot) -> Result<ObjectRef> {
    let (kind, name) =
        text.split_once('/').ok_or_else(|| Error::usage(format!("--for {text:?}: use KIND/NAME, e.g. ks/apps")))?;
    let info = kinds::resolve(kind).ok_or_else(|| Error::usage(format!("--for {text:?}: unknown kind {kind:?}")))?;
    let ns = if info.namespaced {
        namespace.map(str::to_string).or_else(|| snapshot.default_namespace.clone()).unwrap_or_else(|| "default".into())
    } else {
        String::new()
    };
    Ok(ObjectRef::new(info.group, info.kind, &ns, name))
}

/// The objects whose events belong in the timeline: the target and, with --related, everything
/// it holds and uses (or, without a target, everything every Flux object holds and uses).
fn related_objects(snapshot: &Snapshot, target: Option<&ObjectRef>, related: bool) -> HashSet<ObjectRef> {
    let graph = Graph::build(snapshot);
    let starts: Vec<usize> = match target {
        Some(t) => graph.find(t).into_iter().collect(),
        None => graph.nodes.iter().enumerate().filter(|(_, n)| is_flux_group(&n.id.group)).map(|(i, _)| i).collect(),
    };
    let mut seen: HashSet<usize> = starts.iter().copied().collect();
    let mut queue = starts;
    while related && let Some(n) = queue.pop() {
        for e in graph.outgoing(n) {
            if matches!(e.relation.category(), Category::Holds | Category::Uses) && seen.insert(e.to) {
                queue.push(e.to);
            }
        }
    }
    let mut out: HashSet<ObjectRef> = seen.into_iter().map(|i| graph.nodes[i].id.clone()).collect();
    if let Some(t) = target {
        out.insert(t.clone());
    }
    out
}
