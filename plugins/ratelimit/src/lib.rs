//! `kubectl flux-ratelimit`: GitHub API budget per credential, time to exhaustion, the cheapest
//! fix, and the rate-limit errors already visible.

mod args;
pub mod budget;
pub mod check;
pub mod fix;

pub use args::{Args, FailOn};

use budget::{Analysis, Auth, Budget};
use clap::CommandFactory;
use kubectl_flux_shared::duration::format_go;
use kubectl_flux_shared::error::{EXIT_FINDINGS, Error, Result};
use kubectl_flux_shared::fleet;
use kubectl_flux_shared::health::State;
use kubectl_flux_shared::kinds;
use kubectl_flux_shared::output::color::Palette;
use kubectl_flux_shared::output::table::Table;
use kubectl_flux_shared::output::{self, Format};
use kubectl_flux_shared::source::{self, Want};
use serde_json::{Value, json};
use std::io::Write;

/// Output formats of flux-ratelimit, default first.
pub const FORMATS: &[Format] = &[Format::Table, Format::Wide, Format::Json, Format::Yaml, Format::Name, Format::Tsv];

/// Patch commands shown per credential in tables (json/yaml list all).
const SHOWN_PATCHES: usize = 5;

/// The kinds that call GitHub themselves: their Events carry the rate-limit evidence.
const SPENDERS: [&str; 2] = ["GitRepository", "ImageUpdateAutomation"];

/// What flux-ratelimit lists first: GitHub-calling Flux kinds, Providers and Alerts, and Secrets
/// in full (to tell tokens apart by fingerprint; never printed).
pub fn wants() -> Vec<Want> {
    SPENDERS
        .iter()
        .chain(&["Provider", "Alert", "Secret"])
        .filter_map(|k| kinds::all().find(|i| i.kind == *k))
        .map(Want::all)
        .collect()
}

/// Then only the Events it reads: those about the spenders (rate-limit evidence) and about the
/// kinds Alerts forward to Providers (notification volume); never a cluster's Pod Events.
pub fn event_wants(snapshot: &kubectl_flux_shared::Snapshot) -> Vec<Want> {
    let mut about: std::collections::BTreeSet<&'static str> = SPENDERS.into_iter().collect();
    for alert in snapshot.objects().iter().filter(|o| o.id.kind == "Alert") {
        for source in alert.at("/spec/eventSources").and_then(|v| v.as_array()).into_iter().flatten() {
            let kind = source.get("kind").and_then(|v| v.as_str()).unwrap_or("");
            // Only kinds the suite knows (Flux's own): a static name for the field selector.
            if let Some(k) = kinds::FLUX_KINDS.iter().find(|k| k.kind == kind) {
                about.insert(k.kind);
            }
        }
    }
    about.into_iter().map(Want::events_about).collect()
}

/// Runs the plugin; returns the exit code.
pub fn run(args: Args) -> Result<u8> {
    if let Some(shell) = args.common.completion {
        return kubectl_flux_shared::cli::print_completion(shell, Args::command());
    }
    let jq = args.common.output.jq.clone();
    let format = output::resolve_format(&args.common.output, FORMATS)?;
    let now = kubectl_flux_shared::time::now().map_err(Error::usage)?;
    let (analysis, fleet) = match fleet::members(&args.common)? {
        None => (analyse_cluster(&args.common, &args, now)?, None),
        Some(members) => {
            let outcomes =
                fleet::ask(&members, fleet::parallelism(&args.common), |m| analyse_cluster(&m.flags, &args, now));
            if let Some(line) = fleet::summary(&outcomes) {
                eprintln!("{line}");
            }
            if fleet::all_failed(&outcomes) {
                return Ok(kubectl_flux_shared::error::EXIT_FAILED);
            }
            (merge_fleet(&outcomes), Some(outcomes))
        }
    };
    let checks: Vec<Option<std::result::Result<check::Remaining, String>>> = analysis
        .budgets
        .iter()
        .map(|b| {
            args.check.then(|| {
                let base = check::api_base(&b.key.host, args.github_api_url.as_deref());
                match (b.key.auth, &b.token) {
                    (Auth::App, _) => {
                        Err("GitHub App: installation tokens are minted by the controller; not checked".into())
                    }
                    (Auth::Token, None) => Err("token not readable".into()),
                    (_, token) => check::rate_limit(&base, token.as_deref(), args.common.connection.request_timeout),
                }
            })
        })
        .collect();
    let palette = Palette::new(args.common.output.color);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Table | Format::Wide => {
            write_table(&mut out, &analysis, &checks, &args, palette, format == Format::Wide, fleet.is_some())?
        }
        Format::Tsv => {
            let mut t = tsv(&analysis);
            if fleet.is_some() {
                t.prepend_column("", analysis.budgets.iter().map(clusters_of).collect());
            }
            t.write_tsv(&mut out)?
        }
        Format::Name => {
            for b in &analysis.budgets {
                writeln!(out, "credential/{}", b.key.id)?;
            }
        }
        Format::Json | Format::Yaml => {
            let doc = match &fleet {
                None => to_json(&analysis, &checks, &args),
                // Grouped by cluster, plus the credentials as the fleet shares them.
                Some(outcomes) => {
                    let merged = to_json(&analysis, &checks, &args);
                    let mut credentials = merged["budgets"].clone();
                    for (c, b) in credentials.as_array_mut().into_iter().flatten().zip(&analysis.budgets) {
                        c["clusters"] = json!(clusters_of(b).split(", ").collect::<Vec<_>>());
                    }
                    fleet::document(
                        "RateLimitReport",
                        outcomes,
                        |a| to_json(a, &vec![None; a.budgets.len()], &args),
                        vec![("credentials", credentials)],
                    )
                }
            };
            output::write_document(&mut out, &doc, format, jq.as_deref())?
        }
        other => return Err(Error::usage(format!("-o {} is not supported", other.word()))),
    }
    out.flush()?;
    output::write_notes(format, &analysis.notes)?;
    let over = |b: &Budget, level: f64| b.utilisation().is_some_and(|u| u > level);
    let hit = match args.fail_on {
        Some(FailOn::OverLimit) => analysis.budgets.iter().any(|b| over(b, 1.0)),
        Some(FailOn::OverTarget) => analysis.budgets.iter().any(|b| over(b, args.target)),
        None => false,
    };
    Ok(if hit { EXIT_FINDINGS } else { 0 })
}

/// Lists and analyses one cluster (or snapshot).
fn analyse_cluster(
    common: &kubectl_flux_shared::flags::CommonFlags,
    args: &Args,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Analysis> {
    let mut flags = common.clone();
    if flags.scope.namespace.is_none() {
        flags.scope.all_namespaces = true;
    }
    // Offline, the Events about the spenders are read in the first pass over the files; a
    // second pass only when Alerts forward Events of other kinds.
    let spender_events: Vec<Want> = SPENDERS.into_iter().map(Want::events_about).collect();
    let snapshot = source::load_staged(&flags, &wants(), &spender_events, event_wants)?;
    budget::analyse(&snapshot, args, now).map_err(|m| {
        if m.starts_with("--cost") { Error::usage(m) } else { Error::Malformed { file: "input".into(), message: m } }
    })
}

/// The fleet's budgets: one GitHub token (same fingerprint) or App installation spends one
/// budget wherever it is used, so its spenders across clusters add up; anonymous budgets
/// (per egress IP) and unreadable credentials stay per cluster.
fn merge_fleet(outcomes: &[fleet::Outcome<Analysis>]) -> Analysis {
    let mut merged: Vec<(budget::Key, Option<String>, Budget)> = Vec::new();
    let mut notes = Vec::new();
    for outcome in outcomes {
        let Ok(analysis) = &outcome.result else { continue };
        notes.push((outcome.cluster.clone(), analysis.notes.clone()));
        for b in &analysis.budgets {
            let shared = b.key.auth == Auth::App || (b.key.auth == Auth::Token && b.key.id.starts_with("sha256:"));
            let scope = (!shared).then(|| outcome.cluster.clone());
            let mut part = b.clone();
            for s in &mut part.spenders {
                s.cluster = Some(outcome.cluster.clone());
            }
            part.secrets = part.secrets.iter().map(|s| format!("{}/{s}", outcome.cluster)).collect();
            match merged.iter_mut().find(|(k, c, _)| *k == b.key && *c == scope) {
                Some((_, _, m)) => {
                    m.per_hour += part.per_hour;
                    m.spenders.extend(part.spenders);
                    m.secrets.extend(part.secrets);
                    m.rate_limited.extend(part.rate_limited);
                    m.rate_limit_events += part.rate_limit_events;
                    m.token = m.token.take().or(part.token);
                }
                None => merged.push((b.key.clone(), scope, part)),
            }
        }
    }
    let mut budgets: Vec<Budget> = merged.into_iter().map(|(_, _, b)| b).collect();
    for b in &mut budgets {
        b.spenders.sort_by(|x, y| {
            y.per_hour.total_cmp(&x.per_hour).then_with(|| (&x.cluster, &x.object).cmp(&(&y.cluster, &y.object)))
        });
    }
    budgets.sort_by(|a, b| {
        let u = |x: &Budget| x.utilisation().unwrap_or(-1.0);
        u(b).total_cmp(&u(a)).then(b.per_hour.total_cmp(&a.per_hour)).then(a.key.cmp(&b.key))
    });
    Analysis { budgets, notes: fleet::notes(notes) }
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

fn table(
    analysis: &Analysis,
    checks: &[Option<std::result::Result<check::Remaining, String>>],
    palette: Palette,
) -> Table {
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
    checks: &[Option<std::result::Result<check::Remaining, String>>],
    args: &Args,
    palette: Palette,
    wide: bool,
    fleet: bool,
) -> std::io::Result<()> {
    let headers = !args.common.output.no_headers;
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

fn to_json(
    analysis: &Analysis,
    checks: &[Option<std::result::Result<check::Remaining, String>>],
    args: &Args,
) -> Value {
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
                "spenders": b.spenders.iter().map(|s| json!({
                    "object": s.object.to_string(),
                    "interval": s.interval.map(format_go),
                    "requestsPerHour": (s.per_hour * 10.0).round() / 10.0,
                    "cost": s.cost,
                })).collect::<Vec<_>>(),
                "fix": fix,
                "check": c.as_ref().map(|r| match r {
                    Ok(rem) => json!(rem),
                    Err(e) => json!({"error": e}),
                }),
            })
        })
        .collect();
    let costs = budget::Costs::from_args(args).ok();
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
