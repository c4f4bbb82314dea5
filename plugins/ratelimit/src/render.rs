//! Printing the budgets: one row per credential with who spends it, the interval patches that
//! bring an over-budget credential under target, tsv rows, names, and the JSON/YAML document.
//! A fleet's credentials are shared where the token is, each naming its clusters.

use crate::args::Args;
use crate::budget::{Analysis, Auth, Budget};
use crate::check::Checks;
use crate::fix;
use kubectl_flux_cli::fleet::{self, Answers};
use kubectl_flux_model::duration::format_go;
use kubectl_flux_model::error::{Error, Result};
use kubectl_flux_model::state::State;
use kubectl_flux_output::color::Palette;
use kubectl_flux_output::table::Table;
use kubectl_flux_output::{self as output, Format, Output};
use serde_json::{Value, json};
use std::io::Write;

/// Output formats of flux-ratelimit, default first.
pub const FORMATS: &[Format] = &[Format::Table, Format::Wide, Format::Json, Format::Yaml, Format::Name, Format::Tsv];

/// Patch commands shown per credential in tables (json/yaml list all).
const SHOWN_PATCHES: usize = 5;

/// Prints the budgets (one cluster's, or the fleet's `merged`) and the notes.
pub fn write(
    out: &mut dyn Write,
    answers: &Answers<Analysis>,
    analysis: &Analysis,
    checks: &Checks,
    args: &Args,
    output: &Output,
) -> Result<()> {
    let fleet = matches!(answers, Answers::Fleet(_));
    match output.format {
        Format::Table | Format::Wide => write_table(out, analysis, checks, args, output, fleet)?,
        Format::Tsv => {
            let mut t = tsv(analysis);
            if fleet {
                t.prepend_column("", analysis.budgets.iter().map(clusters_of).collect());
            }
            t.write_tsv(out)?
        }
        Format::Name => {
            for b in &analysis.budgets {
                // In a fleet, a budget of one cluster (anonymous, per egress IP) names it.
                match clusters_of(b) {
                    c if fleet && !c.is_empty() && !c.contains(", ") => writeln!(out, "{c}/credential/{}", b.key.id)?,
                    _ => writeln!(out, "credential/{}", b.key.id)?,
                }
            }
        }
        Format::Json | Format::Yaml => {
            let doc = match answers {
                Answers::One(_) => to_json(analysis, checks, args),
                // Grouped by cluster, plus the credentials as the fleet shares them.
                Answers::Fleet(outcomes) => {
                    let merged = to_json(analysis, checks, args);
                    let mut credentials = merged["budgets"].clone();
                    for (c, b) in credentials.as_array_mut().into_iter().flatten().zip(&analysis.budgets) {
                        c["clusters"] = json!(clusters_of(b).split(", ").collect::<Vec<_>>());
                    }
                    fleet::document(
                        "RateLimitReport",
                        outcomes,
                        |a| to_json(a, &vec![None; a.budgets.len()], args),
                        vec![("credentials", credentials)],
                    )
                }
            };
            output.write_document(out, &doc)?
        }
        other => return Err(Error::usage(format!("-o {} is not supported", other.word()))),
    }
    out.flush()?;
    output.write_notes(out, &analysis.notes)
}

/// The clusters whose objects spend from a budget.
fn clusters_of(b: &Budget) -> String {
    let mut clusters: Vec<&str> = b.spenders.iter().filter_map(|s| s.cluster.as_deref()).collect();
    clusters.sort();
    clusters.dedup();
    clusters.join(", ")
}

fn credential_words(b: &Budget) -> String {
    match (b.key.auth, b.secrets.as_slice()) {
        (Auth::Anonymous, _) => "anonymous".to_string(),
        (_, [one]) => format!("{} ({one})", b.key.id),
        (_, many) => format!("{} ({} Secrets)", b.key.id, many.len()),
    }
}

fn table(analysis: &Analysis, checks: &Checks, palette: Palette) -> Table {
    let mut t = Table::new(&[
        "HOST",
        "AUTH",
        "CREDENTIAL",
        "SOURCES",
        "REQ/H",
        "LIMIT",
        "USED",
        "EXHAUSTED AFTER",
        "RATE-LIMITED",
        "TOP SPENDER+",
        "SECRETS+",
        "REMAINING+",
    ]);
    for (b, check) in analysis.budgets.iter().zip(checks) {
        let used = b.utilisation().map(|u| format!("{:.0}%", u * 100.0)).unwrap_or_else(|| "-".into());
        let state = match b.utilisation() {
            Some(u) if u > 1.0 => State::Failed,
            Some(u) if u > 0.8 => State::Progressing,
            _ => State::Ready,
        };
        let remaining = match check {
            None => "-".to_string(),
            Some(Ok(r)) => format!("{}/{}", r.remaining, r.limit),
            Some(Err(e)) => format!("unknown: {e}"),
        };
        t.row(vec![
            b.key.host.clone(),
            format!("{:?}", b.key.auth).to_lowercase(),
            credential_words(b),
            b.spenders.len().to_string(),
            format!("{:.0}", b.per_hour),
            b.limit.map(|l| l.to_string()).unwrap_or_else(|| "unlimited".into()),
            palette.state(state, &used),
            b.exhausted_after().map(format_go).map(|d| format!("{d} into each hour")).unwrap_or_else(|| "-".into()),
            b.rate_limited.len().to_string(),
            b.spenders.first().map(|s| format!("{} ({:.0}/h)", s.object, s.per_hour)).unwrap_or_default(),
            b.secrets.join(", "),
            remaining,
        ]);
    }
    t
}

fn tsv(analysis: &Analysis) -> Table {
    let mut t = Table::new(&["", "", "", "", "", "", "", "", ""]);
    for b in &analysis.budgets {
        t.row(vec![
            b.key.host.clone(),
            format!("{:?}", b.key.auth).to_lowercase(),
            b.key.id.clone(),
            b.spenders.len().to_string(),
            format!("{:.0}", b.per_hour),
            b.limit.map(|l| l.to_string()).unwrap_or_else(|| "-".into()),
            b.utilisation().map(|u| format!("{:.1}", u * 100.0)).unwrap_or_else(|| "-".into()),
            b.exhausted_after().map(|d| d.as_secs().to_string()).unwrap_or_else(|| "-".into()),
            b.rate_limited.len().to_string(),
        ]);
    }
    t
}

fn write_table(
    out: &mut dyn Write,
    analysis: &Analysis,
    checks: &Checks,
    args: &Args,
    output: &Output,
    fleet: bool,
) -> std::io::Result<()> {
    let (palette, wide, headers) = (output.palette, output.format == Format::Wide, output.headers);
    if analysis.budgets.is_empty() {
        return writeln!(out, "No GitHub-calling Flux objects found.");
    }
    let mut t = table(analysis, checks, palette);
    if fleet {
        t.prepend_column("CLUSTERS", analysis.budgets.iter().map(clusters_of).collect());
    }
    t.write(out, wide, headers)?;
    for b in &analysis.budgets {
        let Some(fix) = fix::plan(b, args.target) else { continue };
        writeln!(out)?;
        let used = b.utilisation().unwrap_or(0.0) * 100.0;
        writeln!(
            out,
            "{} {} on {}: {:.0}/h is {used:.0}% of {}/h{}",
            palette.bold("Over budget:"),
            credential_words(b),
            b.key.host,
            b.per_hour,
            b.limit.unwrap_or(0),
            b.exhausted_after().map(|d| format!("; it runs out {} into every hour", format_go(d))).unwrap_or_default()
        )?;
        if !b.rate_limited.is_empty() {
            writeln!(
                out,
                "  already failing: {} sources with 403/429 from GitHub ({} warning events)",
                b.rate_limited.len(),
                b.rate_limit_events
            )?;
        }
        let after = fix.per_hour_after / b.limit.unwrap_or(1) as f64 * 100.0;
        let mut moves: Vec<(String, String, usize)> = Vec::new();
        for p in &fix.patches {
            let (from, to) = (format_go(p.from), format_go(p.to));
            match moves.iter_mut().find(|m| m.0 == from && m.1 == to) {
                Some(m) => m.2 += 1,
                None => moves.push((from, to, 1)),
            }
        }
        let moves: Vec<String> = moves.iter().map(|(f, t, n)| format!("{n} intervals {f} -> {t}")).collect();
        writeln!(
            out,
            "  {} {}: {:.0}/h ({after:.0}%, under the {:.0}% target)",
            palette.bold("fix:"),
            moves.join(", "),
            fix.per_hour_after,
            args.target * 100.0
        )?;
        for p in fix.patches.iter().take(SHOWN_PATCHES) {
            writeln!(out, "    {}", p.command())?;
        }
        if fix.patches.len() > SHOWN_PATCHES {
            writeln!(out, "    ... and {} more (-o json lists every patch)", fix.patches.len() - SHOWN_PATCHES)?;
        }
        for a in &fix.alternatives {
            writeln!(out, "  {a}")?;
        }
    }
    Ok(())
}

fn to_json(analysis: &Analysis, checks: &Checks, args: &Args) -> Value {
    let budgets: Vec<Value> = analysis
        .budgets
        .iter()
        .zip(checks)
        .map(|(b, c)| {
            let fix = fix::plan(b, args.target).map(|f| {
                json!({
                    "requestsPerHourAfter": f.per_hour_after.round() as u64,
                    "patches": f.patches.iter().map(|p| json!({
                        "object": p.object.to_string(),
                        "from": format_go(p.from),
                        "to": format_go(p.to),
                        "command": p.command(),
                    })).collect::<Vec<_>>(),
                    "alternatives": f.alternatives,
                })
            });
            json!({
                "host": b.key.host,
                "auth": b.key.auth,
                "credential": b.key.id,
                "secrets": b.secrets,
                "sources": b.spenders.len(),
                "requestsPerHour": b.per_hour.round() as u64,
                "limit": b.limit,
                "utilisation": b.utilisation().map(|u| (u * 10000.0).round() / 10000.0),
                "exhaustedAfter": b.exhausted_after().map(format_go),
                "rateLimited": b.rate_limited.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                "rateLimitEvents": b.rate_limit_events,
                "spenders": b.spenders.iter().map(|s| {
                    let mut spender = json!({
                        "object": s.object.to_string(),
                        "interval": s.interval.map(format_go),
                        "requestsPerHour": (s.per_hour * 10.0).round() / 10.0,
                        "cost": s.cost,
                    });
                    if let Some(g) = &s.generated_by {
                        spender["generatedBy"] = json!(g.to_string());
                    }
                    spender
                }).collect::<Vec<_>>(),
                "fix": fix,
                "check": c.as_ref().map(|r| match r {
                    Ok(rem) => json!(rem),
                    Err(e) => json!({"error": e}),
                }),
            })
        })
        .collect();
    let costs = crate::budget::Costs::from_args(args).ok();
    let mut fields = serde_json::Map::new();
    fields.insert("target".into(), json!(args.target));
    fields.insert(
        "costModel".into(),
        costs
            .map(|c| json!({"gitrepository": c.git_repository, "imageupdate": c.image_update, "provider": c.provider}))
            .unwrap_or(Value::Null),
    );
    fields.insert("budgets".into(), Value::Array(budgets));
    fields.insert("notes".into(), json!(analysis.notes));
    output::envelope("RateLimitReport", fields)
}
