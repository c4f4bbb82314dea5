//! Printing the tenants: the ranked table with the guilty tenant's reason, findings and sizing
//! advice; tsv rows for scripts; names; the JSON/YAML document. A fleet's tenants are ranked
//! together, each row naming its cluster.

use crate::Severity;
use crate::tenants::{Report, Tenant, bytes};
use kubectl_flux_cli::fleet::{self, Answers};
use kubectl_flux_model::error::{Error, Result};
use kubectl_flux_model::state::State;
use kubectl_flux_output::color::Palette;
use kubectl_flux_output::table::Table;
use kubectl_flux_output::{self as output, Format, Output};
use serde_json::{Value, json};
use std::io::Write;

/// Output formats of flux-tenants, default first.
pub const FORMATS: &[Format] = &[Format::Table, Format::Wide, Format::Json, Format::Yaml, Format::Name, Format::Tsv];

/// Prints the answer (one cluster's, or the fleet's ranked together) and its notes.
pub fn write(out: &mut dyn Write, answers: &Answers<Report>, output: &Output) -> Result<()> {
    let (report, clusters) = match answers {
        Answers::One(report) => (report.clone(), None),
        Answers::Fleet(outcomes) => {
            let (report, clusters) = crate::tenants::rank_fleet(outcomes);
            (report, Some(clusters))
        }
    };
    let palette = output.palette;
    match output.format {
        Format::Table | Format::Wide => {
            write_table(out, &report, palette, output.format == Format::Wide, output.headers, clusters.as_deref())?;
            if let Answers::Fleet(outcomes) = answers {
                for (cluster, r) in outcomes.iter().filter_map(|o| Some((&o.cluster, o.result.as_ref().ok()?))) {
                    write_sizing(out, r, palette, Some(cluster))?;
                }
            }
        }
        Format::Tsv => {
            let mut t = tsv(&report);
            if let Some(clusters) = &clusters {
                t.prepend_column("", clusters.clone());
            }
            t.write_tsv(out)?
        }
        Format::Name => {
            for (i, t) in report.tenants.iter().enumerate() {
                match &clusters {
                    Some(clusters) => writeln!(out, "{}/tenant/{}", clusters[i], t.name)?,
                    None => writeln!(out, "tenant/{}", t.name)?,
                }
            }
        }
        Format::Json | Format::Yaml => {
            let doc = match (answers, &clusters) {
                (Answers::Fleet(outcomes), Some(clusters)) => {
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
                _ => to_json(&report),
            };
            output.write_document(out, &doc)?
        }
        other => return Err(Error::usage(format!("-o {} is not supported", other.word()))),
    }
    out.flush()?;
    output.write_notes(out, &report.notes)
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
        "SERVICEACCOUNTS+",
    ]);
    for (i, tenant) in report.tenants.iter().enumerate() {
        let kinds: Vec<String> = tenant.by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let artifacts = match tenant.unknown_sizes {
            0 => bytes(tenant.artifact_bytes as f64),
            n => format!("{} (+{n} unknown)", bytes(tenant.artifact_bytes as f64)),
        };
        let name =
            if i == 0 && tenant.share > 0.0 { palette.state(State::Failed, &tenant.name) } else { tenant.name.clone() };
        t.row(vec![
            name,
            tenant.objects().to_string(),
            kinds.join(", "),
            tenant
                .shortest
                .as_ref()
                .map(|(d, _)| kubectl_flux_model::duration::format_go(*d))
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
            match tenant.service_accounts.len() {
                0 => "-".to_string(),
                _ => tenant.service_accounts.iter().cloned().collect::<Vec<_>>().join(", "),
            },
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
        writeln!(out, "{} {place}{}", palette.bold("Guilty:"), crate::tenants::reason(guilty))?;
        for l in guilty.top.iter().skip(1) {
            writeln!(
                out,
                "  also {} every {}: {}/h",
                l.id,
                l.interval.map(kubectl_flux_model::duration::format_go).unwrap_or_default(),
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
                Severity::Error => palette.state(State::Failed, "error"),
                Severity::Warning => palette.state(State::Progressing, "warning"),
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
        kubectl_flux_model::duration::format_go(b.interval),
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
    let go = kubectl_flux_model::duration::format_go;
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
                "serviceAccounts": t.service_accounts,
                "reason": crate::tenants::reason(t),
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
        guilty(report).map(|t| json!({"tenant": t.name, "reason": crate::tenants::reason(t)})).unwrap_or(Value::Null),
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
