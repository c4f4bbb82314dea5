//! Printing the answer: one row per controller (and shard), the verdicts with their evidence,
//! the decision, the slowest objects, the shard plan and the API weight; tsv rows, names, the
//! JSON/YAML document, and the alert rules. A fleet's clusters come worst first.

use crate::answer::{Answer, Health};
use crate::verdicts::Thresholds;
use crate::{Severity, rules};
use bytesize::ByteSize;
use kubectl_flux_cli::fleet::{self, Answers, Outcome};
use kubectl_flux_model::duration::format_go;
use kubectl_flux_model::error::{Error, Result};
use kubectl_flux_model::state::State;
use kubectl_flux_output::color::Palette;
use kubectl_flux_output::table::Table;
use kubectl_flux_output::{self as output, Format, Output};
use serde_json::Value;
use std::io::Write;
use std::time::Duration;

/// Output formats of flux-controllers, default first.
pub const FORMATS: &[Format] =
    &[Format::Table, Format::Wide, Format::Json, Format::Yaml, Format::Tsv, Format::Name, Format::PrometheusRules];

/// Prints the answer (one cluster's, or a fleet's worst cluster first) and its notes.
pub fn write(
    out: &mut dyn Write,
    answers: &Answers<Answer>,
    output: &Output,
    namespace: &str,
    thresholds: &Thresholds,
) -> Result<()> {
    if output.format == Format::PrometheusRules {
        let doc = rules::document(namespace, thresholds);
        output::write_document(out, &doc, Format::Yaml, None)?;
        return Ok(());
    }
    let clusters: Vec<(Option<&str>, &Answer)> = match answers {
        Answers::One(a) => vec![(None, a)],
        Answers::Fleet(outcomes) => worst_first(outcomes),
    };
    match output.format {
        Format::Json | Format::Yaml => {
            let doc = match answers {
                Answers::One(a) => document(a),
                Answers::Fleet(outcomes) => {
                    let order: Vec<Value> = clusters.iter().filter_map(|(c, _)| c.map(Value::from)).collect();
                    fleet::document("ControllerReport", outcomes, document, vec![("worstFirst", Value::from(order))])
                }
            };
            output.write_document(out, &doc)?;
        }
        Format::Tsv => {
            for (cluster, a) in &clusters {
                let mut t = tsv(a);
                if let Some(c) = cluster {
                    t.prepend("", c);
                }
                t.write_tsv(out)?;
            }
        }
        Format::Name => {
            for (cluster, a) in &clusters {
                for h in &a.controllers {
                    let prefix = cluster.map(|c| format!("{c}/")).unwrap_or_default();
                    writeln!(out, "{prefix}deployment.apps/{}", h.controller.name)?;
                }
            }
        }
        Format::Table | Format::Wide => {
            let wide = output.format == Format::Wide;
            for (i, (cluster, a)) in clusters.iter().enumerate() {
                if let Some(c) = cluster {
                    if i > 0 {
                        writeln!(out)?;
                    }
                    writeln!(out, "=== cluster {c}")?;
                }
                write_text(out, a, output.palette, wide, output.headers)?;
            }
        }
        other => return Err(Error::usage(format!("-o {} is not supported", other.word()))),
    }
    out.flush()?;
    let notes = match answers {
        Answers::One(a) => a.notes.clone(),
        Answers::Fleet(outcomes) => fleet::notes(
            outcomes.iter().filter_map(|o| Some((o.cluster.clone(), o.result.as_ref().ok()?.notes.clone()))).collect(),
        ),
    };
    output.write_notes(out, &notes)
}

/// The clusters that answered, the one with the most serious verdicts first (then the most
/// verdicts, then by name).
fn worst_first(outcomes: &[Outcome<Answer>]) -> Vec<(Option<&str>, &Answer)> {
    let mut v: Vec<(Option<&str>, &Answer)> =
        outcomes.iter().filter_map(|o| Some((Some(o.cluster.as_str()), o.result.as_ref().ok()?))).collect();
    v.sort_by(|a, b| b.1.weight().cmp(&a.1.weight()).then_with(|| a.0.cmp(&b.0)));
    v
}

fn bytes(b: f64) -> String {
    ByteSize(b.max(0.0) as u64).display().iec().to_string()
}

fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0}ms", s * 1000.0)
    } else if s < 10.0 {
        format!("{s:.1}s")
    } else {
        format_go(Duration::from_secs_f64(s.round()))
    }
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".to_string())
}

fn memory_cell(h: &Health) -> String {
    match (h.vitals.memory, h.controller.resources.memory_limit) {
        (Some(m), Some(l)) if l > 0.0 => format!("{}/{} ({:.0}%)", bytes(m), bytes(l), m / l * 100.0),
        (Some(m), _) => bytes(m),
        (None, Some(l)) => format!("-/{}", bytes(l)),
        (None, None) => "-".to_string(),
    }
}

fn verdict_cell(a: &Answer, h: &Health, palette: Palette) -> String {
    let mine: Vec<&str> = a.verdicts.iter().filter(|v| v.controller == h.controller.name).map(|v| v.check).collect();
    if mine.is_empty() {
        return palette.state(State::Ready, "ok");
    }
    let worst = a.verdicts.iter().filter(|v| v.controller == h.controller.name).map(|v| v.severity).max();
    let state = if worst == Some(Severity::Critical) { State::Failed } else { State::Progressing };
    palette.state(state, &mine.join(","))
}

fn table(a: &Answer, palette: Palette) -> Table {
    let mut t = Table::new(&[
        "CONTROLLER",
        "SHARD",
        "VERSION",
        "PODS",
        "RESTARTS",
        "OBJECTS",
        "RECONCILES/MIN",
        "ERRORS",
        "P50",
        "P99",
        "QUEUE",
        "WORKERS",
        "MEMORY",
        "GROWTH/H+",
        "CPU+",
        "LONGEST+",
        "WAIT P95+",
        "429s+",
        "VERDICTS",
    ]);
    for h in &a.controllers {
        let (c, v) = (&h.controller, &h.vitals);
        let ready = c.pods.iter().filter(|p| p.ready).count();
        let count = c.object_count();
        t.row(vec![
            c.name.clone(),
            c.shard.clone().unwrap_or_else(|| "-".into()),
            c.version.clone(),
            format!("{ready}/{}", c.replicas.0),
            c.restarts().to_string(),
            if count.not_ready > 0 {
                format!("{} ({} not Ready)", count.total, count.not_ready)
            } else {
                count.total.to_string()
            },
            opt(v.reconciles_per_minute, |r| format!("{r:.1}")),
            opt(v.error_ratio, |e| format!("{:.0}%", e * 100.0)),
            opt(v.reconcile_seconds, |q| secs(q[0])),
            opt(v.reconcile_seconds, |q| secs(q[2])),
            opt(v.queue_depth, |d| match v.queue_depth_before {
                Some(b) if b != d => format!("{d:.0} (was {b:.0})"),
                _ => format!("{d:.0}"),
            }),
            match v.workers {
                Some((busy, all)) => format!("{busy:.0}/{all:.0}"),
                None => format!("-/{}", c.concurrent),
            },
            memory_cell(h),
            opt(v.memory_growth_per_hour, |g| {
                let mb = ByteSize(g.abs() as u64).display().si().to_string();
                format!("{}{mb}", if g < 0.0 { "-" } else { "" })
            }),
            opt(v.cpu_cores, |c| format!("{:.0}m", c * 1000.0)),
            opt(v.longest_running, secs),
            opt(v.queue_wait_p95, secs),
            format!("{:.0}", v.throttled),
            verdict_cell(a, h, palette),
        ]);
    }
    t
}

fn tsv(a: &Answer) -> Table {
    let mut t = Table::new(&[""; 15]);
    for h in &a.controllers {
        let (c, v) = (&h.controller, &h.vitals);
        let n = |x: Option<f64>| opt(x, |x| format!("{x:.3}"));
        let verdicts: Vec<&str> = a.verdicts.iter().filter(|x| x.controller == c.name).map(|x| x.check).collect();
        t.row(vec![
            c.component.to_string(),
            c.shard.clone().unwrap_or_else(|| "-".into()),
            c.pods.len().to_string(),
            c.restarts().to_string(),
            c.object_count().total.to_string(),
            n(v.reconciles_per_minute),
            n(v.error_ratio.map(|e| e * 100.0)),
            n(v.reconcile_seconds.map(|q| q[0])),
            n(v.reconcile_seconds.map(|q| q[2])),
            opt(v.queue_depth, |d| format!("{d:.0}")),
            opt(v.workers, |(b, a)| format!("{b:.0}/{a:.0}")),
            opt(v.memory, |m| format!("{m:.0}")),
            opt(c.resources.memory_limit, |m| format!("{m:.0}")),
            opt(v.memory_growth_per_hour, |g| format!("{g:.0}")),
            if verdicts.is_empty() { "-".to_string() } else { verdicts.join(",") },
        ]);
    }
    t
}

fn write_text(out: &mut dyn Write, a: &Answer, palette: Palette, wide: bool, headers: bool) -> std::io::Result<()> {
    if a.controllers.is_empty() {
        writeln!(out, "No Flux controllers found.")?;
    } else {
        table(a, palette).write(out, wide, headers)?;
    }
    if !a.verdicts.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", palette.bold("Verdicts:"))?;
        for v in &a.verdicts {
            let (state, word) = match v.severity {
                Severity::Critical => (State::Failed, "critical"),
                Severity::Warning => (State::Progressing, "warning"),
            };
            writeln!(out, "  {} {} {}: {}", palette.state(state, word), v.controller, v.check, v.message)?;
            for e in &v.evidence {
                writeln!(out, "      {}", palette.dim(e))?;
            }
        }
    }
    if !a.decision.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", palette.bold("Decision:"))?;
        for (i, s) in a.decision.iter().enumerate() {
            writeln!(out, "  {}. {}", i + 1, s.message)?;
            if let Some(through) = &s.through {
                writeln!(out, "     {}", palette.dim(through))?;
            }
        }
    }
    let slow: Vec<(&str, &crate::vitals::Slow)> = a
        .controllers
        .iter()
        .flat_map(|h| h.vitals.slowest.iter().map(move |s| (h.controller.name.as_str(), s)))
        .collect();
    if !slow.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", palette.bold("Slowest objects:"))?;
        let mut t = Table::new(&["CONTROLLER", "OBJECT", "MEAN", "RECONCILES", "TENANT"]);
        for (c, s) in slow {
            t.row(vec![
                c.to_string(),
                s.object.to_string(),
                secs(s.mean_seconds),
                format!("{:.0}", s.reconciles),
                s.tenant.clone(),
            ]);
        }
        indented(out, &t)?;
    }
    if let Some(plan) = &a.shard_plan {
        writeln!(out)?;
        let n = plan.shards.iter().filter(|s| !s.key.is_empty()).count();
        writeln!(out, "{} ({n} shards, whole namespaces; {} apps)", palette.bold("Shard plan:"), a.apps)?;
        for s in &plan.shards {
            let name = if s.key.is_empty() { "main".to_string() } else { s.key.clone() };
            writeln!(
                out,
                "  {name}: {} objects in {}",
                s.objects,
                if s.namespaces.is_empty() { "-".to_string() } else { s.namespaces.join(", ") }
            )?;
            writeln!(out, "      {} --watch-label-selector={}", s.deployments.join(", "), s.watch_label_selector)?;
        }
        for c in &plan.commands {
            writeln!(out, "  {c}")?;
        }
    }
    let w = &a.api_weight;
    if !w.kinds.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", palette.bold("API weight (what listing Flux objects costs):"))?;
        let mut t = Table::new(&["KIND", "OBJECTS", "BYTES", "MANAGEDFIELDS"]);
        for k in &w.kinds {
            let share = if k.bytes > 0 { k.managed_fields_bytes as f64 / k.bytes as f64 * 100.0 } else { 0.0 };
            t.row(vec![k.kind.clone(), k.objects.to_string(), bytes(k.bytes as f64), format!("{share:.0}%")]);
        }
        indented(out, &t)?;
        let list = |items: Vec<String>| items.join(", ");
        writeln!(
            out,
            "  largest: {}",
            list(w.largest.iter().map(|(o, b)| format!("{o} {}", bytes(*b as f64))).collect())
        )?;
        if !w.inventories.is_empty() {
            writeln!(
                out,
                "  largest inventories: {}",
                list(w.inventories.iter().map(|(o, n)| format!("{o} {n} entries")).collect())
            )?;
        }
        if !w.helm_releases.is_empty() {
            writeln!(
                out,
                "  Helm storage: {}",
                list(
                    w.helm_releases.iter().map(|(r, n, b)| format!("{r} {n} revisions {}", bytes(*b as f64))).collect()
                )
            )?;
        }
    }
    Ok(())
}

fn indented(out: &mut dyn Write, t: &Table) -> std::io::Result<()> {
    let mut buf = Vec::new();
    t.write(&mut buf, true, true)?;
    for line in String::from_utf8_lossy(&buf).lines() {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

/// The answer's JSON document (`kubectl-flux.io/v1alpha1`, kind `ControllerReport`).
pub fn document(a: &Answer) -> Value {
    let Value::Object(fields) = serde_json::to_value(a).unwrap_or(Value::Null) else {
        return Value::Null;
    };
    output::envelope("ControllerReport", fields)
}
