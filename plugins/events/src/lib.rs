//! `kubectl flux-events`: one classified timeline of Flux events and controller logs, with a
//! summary per class and object, and stuck detection.

mod args;
pub mod classify;
pub mod logs;
pub mod stuck;
pub mod timeline;

pub use args::Args;

use chrono::{DateTime, Utc};
use clap::CommandFactory;
use classify::Class;
use kubectl_flux_shared::error::{Error, Result};
use kubectl_flux_shared::fleet;
use kubectl_flux_shared::graph::{Category, Graph};
use kubectl_flux_shared::health::State;
use kubectl_flux_shared::kinds::{self, CORE_KINDS, FLUX_KINDS, is_flux_group};
use kubectl_flux_shared::output::color::Palette;
use kubectl_flux_shared::output::table::Table;
use kubectl_flux_shared::output::{self, Format};
use kubectl_flux_shared::source::{self, Want};
use kubectl_flux_shared::{ObjectRef, Snapshot, time};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use timeline::{Dedup, Entry};

/// Output formats of flux-events, default first.
pub const FORMATS: &[Format] = &[Format::Table, Format::Wide, Format::Json, Format::Yaml, Format::Tsv];

/// Objects shown in the "noisiest" summary.
const NOISIEST: usize = 5;

/// Components whose Events are Flux's own.
use kubectl_flux_shared::flux::CONTROLLERS as FLUX_COMPONENTS;

/// What flux-events lists: Flux kinds and the Events that can be about them. Flux's
/// controllers record their Events on the Flux object they reconcile ("events are always
/// associated with an object, which is a Flux resource", fluxcd.io/flux/monitoring/events), so
/// the Events about the Kubernetes kinds the suite knows (Pods and Nodes above all) stay on the
/// API server: one list with `involvedObject.kind!=` terms. A list per Flux kind would leave
/// them there too, but each list makes the API server filter every Event of the cluster: with
/// 20,000 Events (1,000 apps), the 14 lists took flux-events 2.8 s where one takes 1.0 s, for
/// the same answer. With --related, the kinds Flux objects manage and every Event.
pub fn wants(related: bool) -> Vec<Want> {
    let mut wants: Vec<Want> = FLUX_KINDS.iter().map(Want::all).collect();
    if !related {
        wants.push(Want::events_not_about(CORE_KINDS.iter().map(|k| k.kind).filter(|k| *k != "Event")));
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

/// Runs the plugin; returns the exit code.
pub fn run(args: Args) -> Result<u8> {
    if let Some(shell) = args.common.completion {
        return kubectl_flux_shared::cli::print_completion(shell, Args::command());
    }
    let jq = args.common.output.jq.clone();
    let format = output::resolve_format(&args.common.output, FORMATS)?;
    let grep = match &args.grep {
        Some(p) => Some(regex::Regex::new(p).map_err(|e| Error::usage(format!("--grep {p:?}: {e}")))?),
        None => None,
    };
    if let Some(t) = &args.kind
        && !matches!(t.as_str(), "Warning" | "Normal")
    {
        return Err(Error::usage(format!("--type {t:?}: use Warning or Normal")));
    }
    if args.stuck_factor.is_nan() || args.stuck_factor <= 0.0 {
        return Err(Error::usage("--stuck-factor must be a positive number"));
    }
    let now = time::now().map_err(Error::usage)?;
    if args.watch {
        return watch(&args, format, grep.as_ref(), now);
    }
    let (entries, stuck, notes, failed, mut fleet_doc) = match fleet::members(&args.common)? {
        None => {
            let (entries, stuck, notes) = timeline_of(&args.common, &args, now, grep.as_ref())?;
            (entries, stuck, notes, None, None)
        }
        Some(members) => {
            let outcomes = fleet::ask(&members, fleet::parallelism(&args.common), |m| {
                timeline_of(&m.flags, &args, now, grep.as_ref())
            });
            if fleet::all_failed(&outcomes) {
                eprintln!("{}", fleet::summary(&outcomes).unwrap_or_default());
                return Ok(kubectl_flux_shared::error::EXIT_FAILED);
            }
            let failed = fleet::summary(&outcomes);
            // json/yaml: each cluster's own timeline, and the merged one.
            let doc = fleet::document("EventTimeline", &outcomes, |(e, s, n)| to_json(e, s, n), vec![]);
            let (entries, stuck, notes) = merge_fleet(outcomes);
            (entries, stuck, notes, failed, Some(doc))
        }
    };
    if let Some(line) = &failed {
        eprintln!("{line}");
    }

    let palette = Palette::new(args.common.output.color);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Table | Format::Wide => write_table(
            &mut out,
            &entries,
            &stuck,
            now,
            palette,
            format == Format::Wide,
            !args.common.output.no_headers,
        )?,
        Format::Tsv => tsv(&entries).write_tsv(&mut out)?,
        Format::Json | Format::Yaml => {
            let doc = match fleet_doc.as_mut() {
                Some(doc) => {
                    doc["timeline"] = Value::Array(entries.iter().map(entry_json).collect());
                    doc.clone()
                }
                None => to_json(&entries, &stuck, &notes),
            };
            output::write_document(&mut out, &doc, format, jq.as_deref())?
        }
        other => return Err(Error::usage(format!("-o {} is not supported", other.word()))),
    }
    out.flush()?;
    output::write_notes(format, &notes)?;
    Ok(0)
}

/// One cluster's (or snapshot's) timeline: entries, stuck objects and notes.
type Timeline = (Vec<Entry>, Vec<stuck::Stuck>, Vec<String>);

fn timeline_of(
    common: &kubectl_flux_shared::flags::CommonFlags,
    args: &Args,
    now: DateTime<Utc>,
    grep: Option<&regex::Regex>,
) -> Result<Timeline> {
    let mut flags = common.clone();
    flags.scope.all_namespaces = true;
    // The log files are read while the objects are listed or read: a cluster's answer is mostly
    // waiting, and a million log lines take seconds.
    let (snapshot, log_files) = std::thread::scope(|scope| {
        let reading = (!args.logs_files.is_empty()).then(|| scope.spawn(|| read_log_files(&args.logs_files)));
        let snapshot = source::load(&flags, &wants(args.related || args.for_object.is_some()));
        let log_files = reading.map(|r| r.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        (snapshot, log_files)
    });
    let snapshot = snapshot?;
    let log_files = log_files.transpose()?;
    let mut notes = snapshot.notes.clone();
    let target = args.for_object.as_deref().map(|t| parse_for(t, args, &snapshot)).transpose()?;
    let related = if args.related || target.is_some() {
        related_objects(&snapshot, target.as_ref(), args.related)
    } else {
        HashSet::new()
    };

    let mut dedup = Dedup::default();
    for event in snapshot.events() {
        let e = timeline::from_event(event);
        let flux_object =
            e.object.as_ref().is_some_and(|o| is_flux_group(&o.group)) || FLUX_COMPONENTS.contains(&e.source.as_str());
        let wanted = match &target {
            Some(_) => e.object.as_ref().is_some_and(|o| related.contains(o)),
            None => flux_object || e.object.as_ref().is_some_and(|o| related.contains(o)),
        };
        if wanted {
            dedup.add(e);
        }
    }
    let wanted_log = |entry: &Entry| target.is_none() || entry.object.as_ref().is_some_and(|o| related.contains(o));
    let mut slow = Slowest::new();
    if let Some((files, files_slow)) = log_files {
        dedup.merge(files, wanted_log);
        slow = files_slow;
    }
    if args.logs {
        let since = args.since.map(|d| now - chrono::Duration::from_std(d).unwrap_or_default());
        let (texts, log_notes) = source::live::pod_logs(&common.connection, "flux-system", since)?;
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
    let entries: Vec<Entry> = dedup.into_sorted().into_iter().filter(|e| keep(e, args, &snapshot, now, grep)).collect();
    let stuck = stuck::find(&snapshot, now, args.stuck_factor, &slow)
        .into_iter()
        .filter(|s| target.is_none() || related.contains(&s.object))
        .filter(|s| args.tenant.as_ref().is_none_or(|t| tenant_of(&snapshot, &s.object) == *t))
        .collect::<Vec<_>>();
    if !args.logs && args.logs_files.is_empty() {
        notes.push("controller logs not merged: add --logs (through the API) or --logs-file FILE".into());
    }

    Ok((entries, stuck, notes))
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
fn merge_fleet(outcomes: Vec<fleet::Outcome<Timeline>>) -> Timeline {
    let (mut entries, mut stuck, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    for o in outcomes {
        let Ok((e, s, n)) = o.result else { continue };
        entries.extend(e.into_iter().map(|mut e| {
            e.cluster = Some(o.cluster.clone());
            e
        }));
        stuck.extend(s.into_iter().map(|mut s| {
            s.cluster = Some(o.cluster.clone());
            s
        }));
        notes.push((o.cluster, n));
    }
    // Stable: entries of one time keep their cluster's order.
    entries.sort_by_key(|e| e.last);
    (entries, stuck, fleet::notes(notes))
}

/// `--watch`: the current timeline, then every new or changed Event as it happens, one line (or
/// one JSON object) each. An Event already printed at the same resourceVersion is never printed
/// again, so a resumed or relisted watch repeats nothing.
fn watch(args: &Args, format: Format, grep: Option<&regex::Regex>, now: DateTime<Utc>) -> Result<u8> {
    if !args.common.input.filenames.is_empty() || !args.logs_files.is_empty() || args.logs {
        return Err(Error::usage(
            "--watch follows a cluster's Events; it cannot be combined with -f, --logs or --logs-file",
        ));
    }
    if args.related || args.for_object.is_some() {
        return Err(Error::usage("--watch shows Flux objects' Events; --related and --for are not supported with it"));
    }
    if !matches!(format, Format::Table | Format::Json) || args.common.output.jq.is_some() {
        return Err(Error::usage("--watch prints table lines or, with -o json, one JSON object per line"));
    }
    let mut flags = args.common.clone();
    flags.scope.all_namespaces = true;
    let snapshot = source::load(&flags, &FLUX_KINDS.iter().map(Want::all).collect::<Vec<_>>())?;
    let event_kind = kinds::find("", "Event").expect("Event is a known kind");
    let mut printed: HashMap<String, String> = HashMap::new();
    let stdout = std::io::stdout();
    let mut failed: Option<std::io::Error> = None;
    source::live::watch(&args.common.connection, None, event_kind, |change, obj| {
        if change == source::live::Change::Deleted {
            return true;
        }
        let rv = obj.str_at("/metadata/resourceVersion").unwrap_or("").to_string();
        if printed.get(obj.uid()).is_some_and(|seen| *seen == rv) {
            return true;
        }
        printed.insert(obj.uid().to_string(), rv);
        let e = timeline::from_event(&kubectl_flux_shared::event::Event::from_object(&obj));
        let flux_object =
            e.object.as_ref().is_some_and(|o| is_flux_group(&o.group)) || FLUX_COMPONENTS.contains(&e.source.as_str());
        let since_ok = change != source::live::Change::Listed || keep(&e, args, &snapshot, now, grep);
        let live_ok = change == source::live::Change::Listed
            || keep(&e, &Args { since: None, ..args.clone() }, &snapshot, time::now().unwrap_or(now), grep);
        if !flux_object || !since_ok || !live_ok {
            return true;
        }
        let mut out = stdout.lock();
        let line = match format {
            Format::Json => serde_json::to_string(&entry_json(&e)).map_err(std::io::Error::from),
            _ => Ok(format!(
                "{} {} {} {} {} x{} {}",
                e.last.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_else(|| "-".into()),
                e.kind,
                e.class.word(),
                object_words(&e),
                e.reason,
                e.count,
                e.message.replace('\n', " ")
            )),
        };
        match line.and_then(|l| writeln!(out, "{l}").and_then(|_| out.flush())) {
            Ok(()) => true,
            Err(err) => {
                failed = Some(err);
                false
            }
        }
    })?;
    match failed {
        Some(e) => Err(Error::Output(e)),
        None => Ok(0),
    }
}

/// `--for KIND/NAME`, namespace from -n (else default).
fn parse_for(text: &str, args: &Args, snapshot: &Snapshot) -> Result<ObjectRef> {
    let (kind, name) =
        text.split_once('/').ok_or_else(|| Error::usage(format!("--for {text:?}: use KIND/NAME, e.g. ks/apps")))?;
    let info = kinds::resolve(kind).ok_or_else(|| Error::usage(format!("--for {text:?}: unknown kind {kind:?}")))?;
    let ns = if info.namespaced {
        args.common
            .scope
            .namespace
            .clone()
            .or_else(|| snapshot.default_namespace.clone())
            .unwrap_or_else(|| "default".into())
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

fn tenant_of(snapshot: &Snapshot, id: &ObjectRef) -> String {
    snapshot
        .get(id)
        .and_then(|o| o.label("toolkit.fluxcd.io/tenant"))
        .map(str::to_string)
        .unwrap_or_else(|| id.namespace.to_string())
}

fn keep(e: &Entry, args: &Args, snapshot: &Snapshot, now: DateTime<Utc>, grep: Option<&regex::Regex>) -> bool {
    if let Some(since) = args.since {
        let from = now - chrono::Duration::from_std(since).unwrap_or_default();
        if e.last.is_none_or(|t| t < from) {
            return false;
        }
    }
    if let Some(t) = &args.kind
        && (t == "Warning") != e.is_warning()
    {
        return false;
    }
    if !args.reasons.is_empty() && !args.reasons.iter().any(|r| r == &e.reason) {
        return false;
    }
    if let Some(t) = &args.tenant
        && e.object.as_ref().is_none_or(|o| tenant_of(snapshot, o) != *t)
    {
        return false;
    }
    grep.is_none_or(|g| g.is_match(&e.message))
}

fn object_words(e: &Entry) -> String {
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
fn entry_json(e: &Entry) -> Value {
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
