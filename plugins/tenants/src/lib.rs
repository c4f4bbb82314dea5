//! `kubectl flux-tenants`: per-tenant Flux load, the guilty tenant named with its reason,
//! isolation findings, budgets for CI and sizing advice.

mod args;
pub mod load;
pub mod report;
pub mod sizing;

pub use args::{Args, Severity};

use clap::CommandFactory;
use kubectl_flux_shared::error::{EXIT_FINDINGS, Error, Result};
use kubectl_flux_shared::fleet;
use kubectl_flux_shared::kinds::FLUX_KINDS;
use kubectl_flux_shared::output::color::Palette;
use kubectl_flux_shared::output::table::Table;
use kubectl_flux_shared::output::{self, Format};
use kubectl_flux_shared::source::{self, Want};
use report::{Report, Tenant, bytes};
use serde_json::{Value, json};
use std::io::Write;

/// Output formats of flux-tenants, default first.
pub const FORMATS: &[Format] = &[Format::Table, Format::Wide, Format::Json, Format::Yaml, Format::Name, Format::Tsv];

/// What flux-tenants lists from a cluster: every Flux kind, plus Helm storage Secrets
/// (`owner=helm`) in full: the objects each HelmRelease applies are in their `data.release`.
pub fn wants() -> Vec<Want> {
    let mut wants: Vec<Want> = FLUX_KINDS.iter().map(Want::all).collect();
    if let Some(secret) = kubectl_flux_shared::kinds::find("", "Secret") {
        wants.push(Want::labelled(secret, "owner=helm"));
    }
    wants
}

/// Runs the plugin; returns the exit code.
pub fn run(mut args: Args) -> Result<u8> {
    if let Some(shell) = args.common.completion {
        return kubectl_flux_shared::cli::print_completion(shell, Args::command());
    }
    let jq_expr = args.common.output.jq.clone();
    let jq = jq_expr.as_deref();
    let format = output::resolve_format(&args.common.output, FORMATS)?;
    if args.common.scope.namespace.is_none() {
        args.common.scope.all_namespaces = true;
    }
    let (report, fleet) = match fleet::members(&args.common)? {
        None => (report_of(&args.common, &args)?, None),
        Some(members) => {
            let outcomes = fleet::ask(&members, fleet::parallelism(&args.common), |m| report_of(&m.flags, &args));
            if let Some(line) = fleet::summary(&outcomes) {
                eprintln!("{line}");
            }
            if fleet::all_failed(&outcomes) {
                return Ok(kubectl_flux_shared::error::EXIT_FAILED);
            }
            let (report, clusters) = rank_fleet(&outcomes);
            (report, Some((outcomes, clusters)))
        }
    };
    let palette = Palette::new(args.common.output.color);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Table | Format::Wide => {
            let clusters = fleet.as_ref().map(|(_, c)| c.as_slice());
            write_table(&mut out, &report, palette, format == Format::Wide, !args.common.output.no_headers, clusters)?;
            for (cluster, r) in
                fleet.iter().flat_map(|(o, _)| o.iter()).filter_map(|o| Some((&o.cluster, o.result.as_ref().ok()?)))
            {
                write_sizing(&mut out, r, palette, Some(cluster))?;
            }
        }
        Format::Tsv => {
            let mut t = tsv(&report);
            if let Some((_, clusters)) = &fleet {
                t.prepend_column("", clusters.clone());
            }
            t.write_tsv(&mut out)?
        }
        Format::Name => {
            for (i, t) in report.tenants.iter().enumerate() {
                match &fleet {
                    Some((_, clusters)) => writeln!(out, "{}/tenant/{}", clusters[i], t.name)?,
                    None => writeln!(out, "tenant/{}", t.name)?,
                }
            }
        }
        Format::Json | Format::Yaml => {
            let doc = match &fleet {
                None => to_json(&report),
                Some((outcomes, clusters)) => {
                    let ranking: Vec<Value> = report
                        .tenants
                        .iter()
                        .zip(clusters)
                        .map(|(t, c)| {
                            json!({"cluster": c, "tenant": t.name, "fetchBytesPerHour": t.fetch_bytes_per_hour.round() as u64,
                                "fleetShare": (t.share * 10000.0).round() / 10000.0, "failing": t.failing})
                        })
                        .collect();
                    fleet::document("TenantReport", outcomes, to_json, vec![("ranking", Value::from(ranking))])
                }
            };
            output::write_document(&mut out, &doc, format, jq)?
        }
        other => return Err(Error::usage(format!("-o {} is not supported", other.word()))),
    }
    out.flush()?;
    output::write_notes(format, &report.notes)?;
    let hit = args.fail_on.is_some_and(|level| report.findings.iter().any(|f| f.severity >= level));
    Ok(if hit { EXIT_FINDINGS } else { 0 })
}

/// Lists one cluster (or snapshot) and builds its report.
fn report_of(common: &kubectl_flux_shared::flags::CommonFlags, args: &Args) -> Result<Report> {
    let snapshot = source::load(common, &wants())?;
    report::build(&snapshot, args).map_err(|m| Error::Malformed { file: input_name(common), message: m })
}

/// The fleet's tenants ranked together (each tenant of each cluster, heaviest first, shares
/// of the fleet's load), with their clusters; findings and notes name their cluster.
fn rank_fleet(outcomes: &[fleet::Outcome<Report>]) -> (Report, Vec<String>) {
    let mut ranked: Vec<(String, Tenant)> = Vec::new();
    let mut merged = Report {
        tenants: Vec::new(),
        ..outcomes.iter().find_map(|o| o.result.as_ref().ok()).cloned().expect("one cluster answered")
    };
    merged.findings.clear();
    merged.advice.clear();
    let mut notes = Vec::new();
    for o in outcomes {
        let Ok(r) = &o.result else { continue };
        ranked.extend(r.tenants.iter().map(|t| (o.cluster.clone(), t.clone())));
        merged.findings.extend(r.findings.iter().map(|f| {
            let mut f = f.clone();
            f.tenant = format!("{}/{}", o.cluster, f.tenant);
            f
        }));
        notes.push((o.cluster.clone(), r.notes.clone()));
    }
    merged.findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.tenant.cmp(&b.tenant)));
    let total: f64 = ranked.iter().map(|(_, t)| t.fetch_bytes_per_hour).sum();
    for (_, t) in &mut ranked {
        t.share = if total > 0.0 { t.fetch_bytes_per_hour / total } else { 0.0 };
    }
    ranked.sort_by(|(ca, a), (cb, b)| {
        b.fetch_bytes_per_hour
            .total_cmp(&a.fetch_bytes_per_hour)
            .then(b.api_calls_per_hour.total_cmp(&a.api_calls_per_hour))
            .then(b.failing.cmp(&a.failing))
            .then((ca, &a.name).cmp(&(cb, &b.name)))
    });
    let (clusters, tenants): (Vec<String>, Vec<Tenant>) = ranked.into_iter().unzip();
    merged.tenants = tenants;
    merged.notes = fleet::notes(notes);
    (merged, clusters)
}

fn input_name(common: &kubectl_flux_shared::flags::CommonFlags) -> String {
    match common.input.filenames.as_slice() {
        [] => "cluster".to_string(),
        files => files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "),
    }
}

/// A ten-cell bar and the percentage: `██████████ 97%`.
fn bar(share: f64) -> String {
    let filled = (share * 10.0).round().clamp(0.0, 10.0) as usize;
    format!("{}{} {:.0}%", "█".repeat(filled), "░".repeat(10 - filled), share * 100.0)
}

fn table(report: &Report, palette: Palette) -> Table {
    let mut t = Table::new(&[
        "TENANT",
        "OBJECTS",
        "KINDS+",
        "MIN INTERVAL",
        "ARTIFACTS",
        "FETCH/H",
        "SHARE",
        "GIT/H+",
        "API/H+",
        "FAILING",
        "STALLED",
        "SUSPENDED",
        "FINDINGS",
    ]);
    for (i, tenant) in report.tenants.iter().enumerate() {
        let kinds: Vec<String> = tenant.by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let artifacts = match tenant.unknown_sizes {
            0 => bytes(tenant.artifact_bytes as f64),
            n => format!("{} (+{n} unknown)", bytes(tenant.artifact_bytes as f64)),
        };
        let name = if i == 0 && tenant.share > 0.0 {
            palette.state(kubectl_flux_shared::health::State::Failed, &tenant.name)
        } else {
            tenant.name.clone()
        };
        t.row(vec![
            name,
            tenant.objects().to_string(),
            kinds.join(", "),
            tenant
                .shortest
                .as_ref()
                .map(|(d, _)| kubectl_flux_shared::duration::format_go(*d))
                .unwrap_or_else(|| "-".into()),
            artifacts,
            bytes(tenant.fetch_bytes_per_hour),
            bar(tenant.share),
            format!("{:.0}", tenant.git_calls_per_hour),
            format!("{:.0}", tenant.api_calls_per_hour),
            tenant.failing.to_string(),
            tenant.stalled.to_string(),
            tenant.suspended.to_string(),
            tenant.findings.len().to_string(),
        ]);
    }
    t
}

/// Machine-readable rows (raw numbers), guilty first; columns as documented in --help.
fn tsv(report: &Report) -> Table {
    let mut t = Table::new(&["", "", "", "", "", "", "", "", "", "", "", ""]);
    for tenant in &report.tenants {
        t.row(vec![
            tenant.name.clone(),
            tenant.objects().to_string(),
            tenant.shortest.as_ref().map(|(d, _)| d.as_secs().to_string()).unwrap_or_else(|| "-".into()),
            tenant.artifact_bytes.to_string(),
            format!("{:.0}", tenant.fetch_bytes_per_hour),
            format!("{:.1}", tenant.share * 100.0),
            format!("{:.0}", tenant.git_calls_per_hour),
            format!("{:.0}", tenant.api_calls_per_hour),
            tenant.failing.to_string(),
            tenant.stalled.to_string(),
            tenant.suspended.to_string(),
            tenant.findings.len().to_string(),
        ]);
    }
    t
}

fn write_table(
    out: &mut dyn Write,
    report: &Report,
    palette: Palette,
    wide: bool,
    headers: bool,
    clusters: Option<&[String]>,
) -> std::io::Result<()> {
    if report.tenants.is_empty() {
        return writeln!(out, "No Flux objects found.");
    }
    let mut t = table(report, palette);
    if let Some(clusters) = clusters {
        t.prepend_column("CLUSTER", clusters.to_vec());
    }
    t.write(out, wide, headers)?;
    if let Some(guilty) = guilty(report) {
        writeln!(out)?;
        let place = clusters.map(|c| format!("in cluster {}: ", c[0])).unwrap_or_default();
        writeln!(out, "{} {place}{}", palette.bold("Guilty:"), report::reason(guilty))?;
        for l in guilty.top.iter().skip(1) {
            writeln!(
                out,
                "  also {} every {}: {}/h",
                l.id,
                l.interval.map(kubectl_flux_shared::duration::format_go).unwrap_or_default(),
                bytes(l.fetch_bytes_per_hour.unwrap_or(0.0))
            )?;
        }
    }
    if !report.findings.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", palette.bold("Findings:"))?;
        let mut t = Table::new(&["SEVERITY", "TENANT", "OBJECT", "FINDING"]);
        for f in &report.findings {
            let sev = match f.severity {
                Severity::Error => palette.state(kubectl_flux_shared::health::State::Failed, "error"),
                Severity::Warning => palette.state(kubectl_flux_shared::health::State::Progressing, "warning"),
            };
            t.row(vec![sev, f.tenant.clone(), f.object.clone(), f.message.clone()]);
        }
        let mut buf = Vec::new();
        t.write(&mut buf, true, false)?;
        for line in String::from_utf8_lossy(&buf).lines() {
            writeln!(out, "  {line}")?;
        }
    }
    if clusters.is_none() {
        write_sizing(out, report, palette, None)?;
    }
    Ok(())
}

/// Sizing advice for one cluster (controllers are sized per cluster).
fn write_sizing(out: &mut dyn Write, report: &Report, palette: Palette, cluster: Option<&str>) -> std::io::Result<()> {
    writeln!(out)?;
    let b = &report.band;
    let label = match cluster {
        Some(c) => format!("Sizing ({c}):"),
        None => "Sizing:".to_string(),
    };
    writeln!(
        out,
        "{} {} apps ({}): {} controllers, {} memory and {} CPU each, intervals of {} or more, up to {} repositories per controller{}",
        palette.bold(&label),
        report.apps,
        b.scale,
        b.controllers,
        b.memory_per_controller,
        b.cpu_per_controller,
        kubectl_flux_shared::duration::format_go(b.interval),
        b.max_repos,
        if b.sharded { ", sharded" } else { "" }
    )?;
    for a in &report.advice {
        writeln!(out, "  - {a}")?;
    }
    Ok(())
}

/// The guilty tenant: the first one, when it carries any load.
fn guilty(report: &Report) -> Option<&Tenant> {
    report.tenants.first().filter(|t| t.fetch_bytes_per_hour > 0.0 || t.failing > 0)
}

fn to_json(report: &Report) -> Value {
    let go = kubectl_flux_shared::duration::format_go;
    let tenants: Vec<Value> = report
        .tenants
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "objects": t.objects(),
                "byKind": t.by_kind,
                "shortestInterval": t.shortest.as_ref().map(|(d, _)| go(*d)),
                "shortestIntervalObject": t.shortest.as_ref().map(|(_, id)| id.to_string()),
                "artifactBytes": t.artifact_bytes,
                "unknownArtifactSizes": t.unknown_sizes,
                "fetchBytesPerHour": t.fetch_bytes_per_hour.round() as u64,
                "share": (t.share * 10000.0).round() / 10000.0,
                "gitCallsPerHour": t.git_calls_per_hour.round() as u64,
                "apiCallsPerHour": t.api_calls_per_hour.round() as u64,
                "failing": t.failing,
                "stalled": t.stalled,
                "suspended": t.suspended,
                "reason": report::reason(t),
                "top": t.top.iter().map(|l| json!({
                    "object": l.id.to_string(),
                    "interval": l.interval.map(go),
                    "artifactBytes": l.artifact_bytes,
                    "fetchBytesPerHour": l.fetch_bytes_per_hour.map(|f| f.round() as u64),
                })).collect::<Vec<_>>(),
                "findings": t.findings,
            })
        })
        .collect();
    let mut fields = serde_json::Map::new();
    fields.insert("tenants".into(), Value::Array(tenants));
    fields.insert(
        "guilty".into(),
        guilty(report).map(|t| json!({"tenant": t.name, "reason": report::reason(t)})).unwrap_or(Value::Null),
    );
    fields.insert("findings".into(), json!(report.findings));
    fields.insert(
        "sizing".into(),
        json!({
            "apps": report.apps,
            "objects": report.objects,
            "failingShare": (report.failing_share * 10000.0).round() / 10000.0,
            "band": report.band,
            "advice": report.advice,
        }),
    );
    fields.insert("notes".into(), json!(report.notes));
    output::envelope("TenantReport", fields)
}
