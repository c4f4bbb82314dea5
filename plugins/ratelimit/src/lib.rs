//! `kubectl flux-ratelimit`: GitHub API budget per credential, time to exhaustion, the cheapest
//! fix, and the rate-limit errors already visible.

mod args;
pub mod budget;
pub mod check;
pub mod fix;
pub mod render;

pub use args::{Args, FailOn};
pub use render::FORMATS;

use budget::{Analysis, Budget};
use kubectl_flux_cli::Resolved;
use kubectl_flux_cli::fleet::{self, Answers};
use kubectl_flux_model::error::{EXIT_FINDINGS, Error, Result};
use kubectl_flux_model::kinds;
use kubectl_flux_source::{self as source, Source, Want};
use std::io::Write;

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
pub fn event_wants(snapshot: &kubectl_flux_model::Snapshot) -> Vec<Want> {
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
pub fn run(args: Args, resolved: Resolved) -> Result<u8> {
    let answers = fleet::answers(&resolved.origin, |source| analyse_cluster(source, &args, &resolved))?;
    let merged;
    let analysis = match &answers {
        Answers::One(analysis) => analysis,
        Answers::Fleet(outcomes) => {
            merged = budget::merge_fleet(outcomes);
            &merged
        }
    };
    let checks = check::all(analysis, &args, resolved.request_timeout);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    render::write(&mut out, &answers, analysis, &checks, &args, &resolved.output)?;
    out.flush()?;
    let over = |b: &Budget, level: f64| b.utilisation().is_some_and(|u| u > level);
    let hit = match args.fail_on {
        Some(FailOn::OverLimit) => analysis.budgets.iter().any(|b| over(b, 1.0)),
        Some(FailOn::OverTarget) => analysis.budgets.iter().any(|b| over(b, args.target)),
        None => false,
    };
    Ok(if hit { EXIT_FINDINGS } else { 0 })
}

/// Lists and analyses one cluster (or snapshot), every namespace unless `-n` names one.
fn analyse_cluster(source: &Source, args: &Args, resolved: &Resolved) -> Result<Analysis> {
    // Offline, the Events about the spenders are read in the first pass over the files; a
    // second pass only when Alerts forward Events of other kinds.
    let spender_events: Vec<Want> = SPENDERS.into_iter().map(Want::events_about).collect();
    let snapshot =
        source::load_staged(source, &resolved.scope.namespaces_or_all(), &wants(), &spender_events, event_wants)?;
    budget::analyse(&snapshot, args, resolved.now).map_err(|m| {
        if m.starts_with("--cost") { Error::usage(m) } else { Error::Malformed { file: "input".into(), message: m } }
    })
}
